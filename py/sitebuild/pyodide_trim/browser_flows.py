"""Every flow the page's worker drives, run in Pyodide by run.mjs at build time; returns the
modules they loaded. Photos are made here (every format and colour mode the app reads, and the
bad inputs it refuses), so the trace needs no test data. A flow the worker gains must be added
here, or the modules only it imports are not shipped (tests/test_python_bundle.py runs the
page's own flows on the trimmed bundle)."""

import io
import json
import sys
from pathlib import Path

import numpy as np
from js import Uint8Array, sceneseg_trace_runner
from PIL import Image

from sceneseg import batch_zip, browser, video
from sceneseg.outputs import MIME  # every export kind


def js_bytes(data):
    array = Uint8Array.new(len(data))
    array.assign(data)
    return array


def photos():
    y, x = np.mgrid[0:48, 0:64]
    rgb = Image.fromarray(np.stack([x * 2, y * 2, (x + y)], -1).astype(np.uint8))
    modes = [rgb, *(rgb.convert(mode) for mode in ("L", "P", "CMYK", "RGBA", "LA", "1", "I", "F"))]
    modes.append(Image.fromarray((x * 500).astype(np.uint16)))  # 16-bit grey
    saves = [
        ("JPEG", {}),
        ("PNG", {}),
        ("WEBP", {}),
        ("WEBP", {"lossless": True}),
        ("GIF", {}),
        ("BMP", {}),
        ("TIFF", {}),
        ("TIFF", {"compression": "tiff_lzw"}),
        ("TIFF", {"compression": "tiff_adobe_deflate"}),
        ("TIFF", {"compression": "packbits"}),
    ]
    for image in modes:
        for fmt, options in saves:
            data = io.BytesIO()
            try:
                image.save(data, fmt, **options)
            except (OSError, ValueError, KeyError):
                continue  # a mode this format cannot hold
            yield data.getvalue()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: EXIF orientation is applied
    data = io.BytesIO()
    rgb.save(data, "JPEG", exif=exif, icc_profile=b"\0" * 128)
    yield data.getvalue()
    frames = io.BytesIO()  # animated GIF and multi-page TIFF: the first frame
    rgb.save(frames, "GIF", save_all=True, append_images=[rgb.rotate(90)])
    yield frames.getvalue()
    yield data.getvalue()[:300]  # truncated
    yield b""
    yield b"not an image at all"
    yield b"\0\0\0\x18ftypheic" + bytes(64)
    yield b"\0\0\0\x18ftypavif" + bytes(64)


errors = []


async def run_flows():
    config = Path("/model/config.json").read_text()
    # A small model input: the same code paths, a fraction of the time.
    preprocessor = json.loads(Path("/model/preprocessor_config.json").read_text())
    preprocessor["size"] = {"height": 64, "width": 64}
    preprocessor = json.dumps(preprocessor)
    model_file = json.dumps({"id": "trace", "file": "trace.onnx", "sha256": "0", "precision": "q8"})
    browser.init(sceneseg_trace_runner, config, preprocessor, model_file)
    await browser.warm_up()
    for i, data in enumerate(photos()):
        options = {"confidence": [False, True, "after"][i % 3]}
        try:
            await browser.segment(js_bytes(data), json.dumps(options))
        except Exception as exc:  # the trace wants imports; errors are reported
            errors.append(repr(exc))
    first = next(photos())
    await browser.segment(js_bytes(first), json.dumps({"confidence": "after"}))
    while browser.confidence_step(1000) is None:
        pass
    for kind in MIME:
        options = {"classId": 0, "threshold": 0.3, "opacity": 0.5, "name": "photo.png"}
        browser.export_file(kind, json.dumps(options))
        browser.export_file(kind, "{}")
    # The video's class shares (and the batches' layout), every format and a refused one.
    rows = [
        {"photo": "v.webm#t=0.000", "width": 2, "height": 1, "classes": [{"id": 0, "pixels": 2}]}
    ]
    for fmt in ("csv", "json", "xml"):
        browser.shares_file(fmt, json.dumps(rows))
    rgba = np.zeros((72, 96, 4), np.uint8)
    for reset in (True, False):
        await video.segment_frame(js_bytes(rgba.tobytes()), 96, 72, {"alpha": 0.6, "reset": reset})
    batch_zip.start()
    for data in list(photos())[:2]:
        await batch_zip.add(js_bytes(data), "photo.png")
    await batch_zip.add(js_bytes(b"bad"), "bad.png")
    batch_zip.fail("other.png", "reason")
    batch_zip.finish()
    worker_extras()
    modules = sorted(
        (name, getattr(module, "__file__", None)) for name, module in sys.modules.items()
    )
    return json.dumps({"modules": modules, "errors": errors})


def worker_extras():
    """What web/worker/ runs besides sceneseg: file hashes without Web Crypto, and the Python
    snapshot's self-check and reseeding (python-runtime.js)."""
    import hashlib
    import random

    hashlib.sha256(b"").hexdigest()
    random.seed(0)

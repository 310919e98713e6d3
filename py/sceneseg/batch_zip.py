"""Many photos into one zip, written as each photo finishes: only one photo's full-resolution
result is ever held, whatever the batch's length.

Contents (``STEM`` is the photo's name without its extension, made unique within the zip):

    labels/STEM.png      8-bit greyscale, pixel value = class id (as the single-photo download)
    overlays/STEM.png    RGBA, each pixel in its class colour (as the overlay download)
    json/STEM.json       the photo's summary (docs/summary-schema.md)
    class-shares.csv     one row per photo and class (outputs.SHARES_COLUMNS), as the CLI's
    failed.csv           photos that could not be segmented and why (only if there were any)

Every file comes from ``sceneseg.outputs``, as the single-photo downloads and the CLI's do.
PNG files are stored (they are compressed already), JSON and CSV deflated.
"""

from __future__ import annotations

import csv
import io
import posixpath
import zipfile

import numpy as np

from . import outputs
from .pipeline import Segmentation

SHARES_CSV = "class-shares.csv"
FAILED_CSV = "failed.csv"


class BatchZip:
    def __init__(self, fileobj, labels: tuple[str, ...]):
        """``fileobj``: writable binary file; need not be seekable (written as a stream)."""
        self._zip = zipfile.ZipFile(fileobj, "w")
        self._labels = labels
        self._stems: set[str] = set()
        self._shares = [outputs.class_shares_csv([], labels)]  # the header, then photo by photo
        self._failed: list[tuple[str, str]] = []
        self.done = 0

    def _stem(self, name: str) -> str:
        base = posixpath.basename(name.replace("\\", "/")) or "photo"
        stem = base.rsplit(".", 1)[0] if "." in base[1:] else base
        unique, n = stem, 2
        while unique in self._stems:
            unique, n = f"{stem}-{n}", n + 1
        self._stems.add(unique)
        return unique

    def add(self, name: str, result: Segmentation) -> str:
        """Append one photo's files; returns the stem used inside the zip."""
        stem = self._stem(name)
        self._write(f"labels/{stem}.png", outputs.labels_png(result), zipfile.ZIP_STORED)
        overlay = outputs.overlay_png(result, level=outputs.FAST_PNG_LEVEL)
        self._write(f"overlays/{stem}.png", overlay, zipfile.ZIP_STORED)
        # No confidence per photo in a batch: it would double a 12 MP photo's time.
        summary = outputs.summary_json(result, photo=name, confidence=False)
        self._write(f"json/{stem}.json", summary)
        row = outputs.share_row(name, result)
        self._shares.append(outputs.class_shares_csv([row], self._labels, header=False))
        self.done += 1
        return stem

    def fail(self, name: str, reason: str) -> None:
        self._failed.append((name, reason))

    def close(self) -> None:
        self._write(SHARES_CSV, b"".join(self._shares))
        if self._failed:
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["photo", "reason"])
            writer.writerows(self._failed)
            self._write(FAILED_CSV, out.getvalue().encode())
        self._zip.close()

    def _write(self, arcname: str, data: bytes, compress: int = zipfile.ZIP_DEFLATED) -> None:
        self._zip.writestr(arcname, data, compress_type=compress)


class JsSyncFile:
    """A write-only binary stream onto a JS ``FileSystemSyncAccessHandle`` (OPFS), so the zip
    lives on disk instead of in WASM memory. Not seekable: zipfile then streams."""

    def __init__(self, handle):
        self._handle = handle
        self._pos = 0

    def write(self, data) -> int:
        from pyodide.ffi import to_js

        view = to_js(memoryview(data).cast("B"))
        written = int(self._handle.write(view, to_js({"at": self._pos}, dict_converter=_obj)))
        self._pos += written
        return written

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        self._handle.flush()


def _obj(entries):
    from js import Object

    return Object.fromEntries(entries)


# ---- What the web worker calls (Pyodide only). ----

_batch: BatchZip | None = None
_file = None  # the stream under _batch
_MEMFS_PATH = "/tmp/sceneseg-batch.zip"


def start(opfs_handle=None) -> str:
    """Start a zip; into the OPFS file behind ``opfs_handle`` if given, else Pyodide's MEMFS."""
    global _batch, _file
    from . import browser

    cancel()
    seg = browser._segmenter
    if seg is None:
        raise RuntimeError("init() first")
    _file = JsSyncFile(opfs_handle) if opfs_handle is not None else open(_MEMFS_PATH, "wb")  # noqa: SIM115
    _batch = BatchZip(_file, seg.model.labels)
    return "opfs" if opfs_handle is not None else "memfs"


async def add(js_bytes, name: str, resolution: str | None = None) -> dict:
    """Segment one photo and append its files; {"error": message} for a photo it cannot read.
    ``resolution``: square (None: the default), keep or detail (``sceneseg.resolution``)."""
    import time

    from js import Uint8Array

    from . import browser
    from .processing import ImageError
    from .resolution import ResolutionError, check_mode

    if _batch is None:
        raise RuntimeError("start() first")
    try:
        mode = check_mode(resolution)
    except ResolutionError as exc:
        return {"error": str(exc)}
    try:
        seg = await browser._segmenter.segment(js_bytes.to_bytes(), resolution=mode)
    except ImageError as exc:
        _batch.fail(name, str(exc))
        return {"error": str(exc)}
    except MemoryError:
        message = "There is not enough memory for this image here; try a smaller one."
        _batch.fail(name, message)
        return {"error": message}
    t = time.perf_counter()
    stem = _batch.add(name, seg)
    seg.timings_ms["zip"] = (time.perf_counter() - t) * 1000
    # A small label map for browsing (every n-th pixel): the page never holds full resolution.
    step = max(1, -(-max(seg.width, seg.height) // 320))
    small = np.ascontiguousarray(seg.labels[::step, ::step])
    thumb = Uint8Array.new(small.size)
    thumb.assign(small.reshape(-1))
    return {
        "stem": stem,
        "width": seg.width,
        "height": seg.height,
        "thumb": thumb,
        "thumbWidth": int(small.shape[1]),
        "thumbHeight": int(small.shape[0]),
        "classes": seg.classes(),
        "backend": seg.backend,
        "timings": seg.timings_ms,
        "resolution": seg.resolution,
    }


def fail(name: str, reason: str) -> None:
    if _batch is not None:
        _batch.fail(name, reason)


def finish():
    """Close the zip. MEMFS: returns its bytes (and deletes the file); OPFS: returns None."""
    global _batch, _file
    import os

    if _batch is None:
        raise RuntimeError("start() first")
    _batch.close()
    memfs = not isinstance(_file, JsSyncFile)
    if memfs:
        _file.close()
    else:
        _file.flush()
    _batch = _file = None
    if not memfs:
        return None
    with open(_MEMFS_PATH, "rb") as f:
        data = f.read()
    os.remove(_MEMFS_PATH)
    return data


def cancel() -> None:
    global _batch, _file
    import os

    _batch = None
    if _file is not None and not isinstance(_file, JsSyncFile):
        _file.close()
        if os.path.exists(_MEMFS_PATH):
            os.remove(_MEMFS_PATH)
    _file = None

"""What the web worker (``web/worker/segment-worker.js``) calls, inside Pyodide.

Kept thin: the pipeline itself is ``sceneseg.pipeline``, shared with CPython. This module
only converts between JS values and numpy at the boundary.
"""

from __future__ import annotations

import json
import time

import numpy as np

from .backends.web import OnnxRuntimeWebBackend
from .model import ModelInfo
from .outputs import MIME, SHARES_MIME, class_shares_csv, class_shares_json, export
from .pipeline import Cancelled, Segmentation, Segmenter
from .processing import ImageError, decode
from .resolution import ResolutionError, check_mode
from .threshold import ExportError

_segmenter: Segmenter | None = None
_last: Segmentation | None = None  # the latest result, for export_file() and confidence_step()


def init(
    js_runner, config_json: str, preprocessor_config_json: str, model_file_json: str | None = None
) -> None:
    """``model_file_json``: {"id", "file", "sha256", "precision"} for the results' summaries."""
    global _segmenter
    model = ModelInfo.from_json(config_json, preprocessor_config_json)
    model_file = json.loads(model_file_json) if model_file_json else None
    _segmenter = Segmenter(model, OnnxRuntimeWebBackend(js_runner), model_file)


def _to_js_bytes(data):
    """A numpy array or bytes -> a new JS Uint8Array (one copy, out of the wasm heap)."""
    from js import Uint8Array

    view = memoryview(data).cast("B")
    out = Uint8Array.new(view.nbytes)
    out.assign(view)
    return out


async def warm_up(side: int | None = None) -> None:
    """Run the model once on a blank input: onnxruntime-web sets up its kernels and memory
    on the first run, which would otherwise be added to the user's first photo.

    side: a side x side input instead of the model's own size: on WASM a small run warms the
    same kernels for a fraction of the time (the engine's worker says how much it runs)."""
    if _segmenter is None:
        raise RuntimeError("init() first")
    config = _segmenter.model.preprocess
    height, width = (side, side) if side else (config.height, config.width)
    await _segmenter.backend.run(np.zeros((1, 3, height, width), np.float32))


async def segment(js_bytes, options_json: str | None = None, on_window=None) -> dict:
    """Uint8Array of an encoded image -> dict (labels as a Uint8Array) or {"error": message}.

    options_json: {"confidence": true} adds "confidence", a Uint8Array of round(p * 255) per
    pixel (for display; the exports keep full precision). {"confidence": "after"} leaves it
    for ``confidence_step`` to compute after the labels are shown. {"resolution": "square" |
    "keep" | "detail"} (missing: square; ``sceneseg.resolution``); the result's "resolution"
    is {"mode", "input": [w, h], "windows"}.
    on_window: a JS function called as on_window(done, total) after each model run (total 1
    in square and keep); a truthy return value stops it: {"cancelled": true}.
    """
    global _last
    if _segmenter is None:
        raise RuntimeError("init() first")
    options = json.loads(options_json) if options_json else {}
    want_confidence = options.get("confidence") is True
    try:
        mode = check_mode(options.get("resolution"))
    except ResolutionError as exc:
        return {"error": str(exc)}
    # Decoded first: a file that cannot be read leaves the previous result, whose files the
    # page may still ask for (they are made on request). Once it can, the previous result
    # goes before the model runs, so two full-resolution results never meet.
    start = time.perf_counter()
    try:
        images = [decode(js_bytes.to_bytes())]  # handed over below, not kept here
    except ImageError as exc:
        return {"error": str(exc)}
    except MemoryError:
        return {"error": "There is not enough memory for this image here; try a smaller one."}
    decode_ms = (time.perf_counter() - start) * 1000
    _last = None
    try:
        result = await _segmenter.segment(
            images.pop(), confidence=want_confidence, resolution=mode, on_window=on_window
        )
    except Cancelled:
        return {"cancelled": True}
    except MemoryError:
        return {"error": "There is not enough memory for this image here; try a smaller one."}
    result.timings_ms["decode"] = decode_ms
    _last = result
    start = time.perf_counter()
    out = {
        "width": result.width,
        "height": result.height,
        "labels": _to_js_bytes(result.labels),
        "classes": result.classes(),
        "backend": result.backend,
        "timings": result.timings_ms,
        "resolution": result.resolution,
    }
    if want_confidence:
        out["confidence"] = _confidence_bytes(result)
    result.timings_ms["transfer"] = (time.perf_counter() - start) * 1000
    return out


def resolution_plan(width: int, height: int, mode: str) -> dict:
    """What ``mode`` costs for a ``width`` x ``height`` photo (after EXIF orientation), without
    running it: {"input": [w, h], "windows": n}, or {"error": message} for an unknown mode."""
    if _segmenter is None:
        raise RuntimeError("init() first")
    try:
        record = _segmenter.plan(int(width), int(height), check_mode(mode)).record()
    except ValueError as exc:  # ResolutionError, or a size of no pixels
        return {"error": str(exc)}
    return {"input": record["input"], "windows": record["windows"]}


def _confidence_bytes(result: Segmentation):
    """round(p * 255) as bytes, a band of rows at a time: the whole map at once would take two
    float32 temporaries (93 MB at 12 MP) in a heap that never shrinks."""
    confidence = result.confidence
    display = np.empty(confidence.shape, dtype=np.uint8)
    rows = max(1, (1 << 20) // max(1, confidence.shape[1]))
    for start in range(0, confidence.shape[0], rows):
        display[start : start + rows] = np.rint(confidence[start : start + rows] * np.float32(255))
    return _to_js_bytes(display)


def confidence_step(budget_ms: float) -> dict | None:
    """Go on computing the latest result's confidence for about ``budget_ms``: None while
    not done, then {"confidence": Uint8Array as in segment(), "classes" (with their mean
    confidence), "ms": computing time}; {"error": ...} if there is no result."""
    if _last is None:
        return {"error": "There is no result: segment a photo first."}
    try:
        if not _last.confidence_step(budget_ms / 1000):
            return None
    except MemoryError:
        return {"error": "There is not enough memory for the confidence map here."}
    return {
        "confidence": _confidence_bytes(_last),
        "classes": _last.classes(),
        "ms": _last.timings_ms["confidence"],
    }


def export_file(kind: str, options_json: str | None = None) -> dict:
    """The latest result as a file: {"data": Uint8Array, "mime", "ms"} or {"error": message}.

    kind and options as ``sceneseg.outputs.export`` (options.threshold, .classId, .opacity).
    """
    if _last is None:
        return {"error": "There is no result to export: segment a photo first."}
    start = time.perf_counter()
    try:
        options = json.loads(options_json) if options_json else {}
        if not isinstance(options, dict):
            raise ExportError("export options must be an object")
        data = export(_last, kind, options)
    except ExportError as exc:
        return {"error": str(exc)}
    except MemoryError:
        return {"error": "There is not enough memory to export this result here."}
    elapsed = (time.perf_counter() - start) * 1000
    return {"data": _to_js_bytes(data), "mime": MIME[kind], "ms": elapsed}


def shares_file(fmt: str, rows_json: str) -> dict:
    """Class shares of many photos or video frames as a file, in the batches' layout
    (``outputs.SHARES_COLUMNS``): {"data": Uint8Array, "mime"} or {"error": message}.

    fmt: 'csv' or 'json'; rows_json: a JSON list of {"photo", "width", "height", "classes":
    [{"id", "pixels"}]} (a video frame's photo: ``<video name>#t=<seconds, 3 decimals>``)."""
    if _segmenter is None:
        return {"error": "The model is not loaded yet."}
    try:
        rows = json.loads(rows_json)
        labels = _segmenter.model.labels
        if fmt == "csv":
            data = class_shares_csv(rows, labels)
        elif fmt == "json":
            data = class_shares_json(rows, labels)
        else:
            raise ExportError(f"class shares: format must be csv or json, not {fmt!r}")
    except json.JSONDecodeError:
        return {"error": "class shares: rows must be JSON"}
    except ExportError as exc:
        return {"error": str(exc)}
    return {"data": _to_js_bytes(data), "mime": SHARES_MIME[fmt]}

"""What the web worker (``web/worker/segment-worker.js``) calls, inside Pyodide.

Kept thin: the pipeline itself is ``sceneseg.pipeline``, shared with CPython. This module
only converts between JS values and numpy at the boundary.
"""

from __future__ import annotations

import time

import numpy as np

from .backends.web import OnnxRuntimeWebBackend
from .model import ModelInfo
from .pipeline import Segmentation, Segmenter
from .processing import ImageError

_segmenter: Segmenter | None = None
_last: Segmentation | None = None  # the latest result, for labels_png()


def init(js_runner, config_json: str, preprocessor_config_json: str) -> None:
    global _segmenter
    model = ModelInfo.from_json(config_json, preprocessor_config_json)
    _segmenter = Segmenter(model, OnnxRuntimeWebBackend(js_runner))


async def warm_up() -> None:
    """Run the model once on a blank input: onnxruntime-web sets up its kernels and memory
    on the first run, which would otherwise be added to the user's first photo."""
    if _segmenter is None:
        raise RuntimeError("init() first")
    config = _segmenter.model.preprocess
    await _segmenter.backend.run(np.zeros((1, 3, config.height, config.width), np.float32))


async def segment(js_bytes) -> dict:
    """Uint8Array of an encoded image -> dict (labels as a Uint8Array) or {"error": message}."""
    from js import Uint8Array

    global _last
    _last = None
    if _segmenter is None:
        raise RuntimeError("init() first")
    try:
        result = await _segmenter.segment(js_bytes.to_bytes())
    except ImageError as exc:
        return {"error": str(exc)}
    except MemoryError:
        return {"error": "There is not enough memory for this image here; try a smaller one."}
    _last = result
    start = time.perf_counter()
    labels = Uint8Array.new(result.labels.size)
    labels.assign(result.labels.reshape(-1))
    result.timings_ms["transfer"] = (time.perf_counter() - start) * 1000
    return {
        "width": result.width,
        "height": result.height,
        "labels": labels,
        "classes": result.classes(),
        "backend": result.backend,
        "timings": result.timings_ms,
    }


def labels_png() -> bytes:
    """The latest label map as a PNG (pixel value = class id)."""
    if _last is None:
        raise RuntimeError("no result to encode")
    return _last.to_png()

"""``Segmenter``: encoded image bytes in, ``Segmentation`` out. The same in CPython and Pyodide."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .backends import Backend
from .model import ModelInfo
from .postprocess import class_pixel_counts, upsample_argmax, upsample_confidence
from .processing import SegformerProcessor, decode


@dataclass
class Segmentation:
    labels: np.ndarray  # uint8 [H, W], class ids
    counts: np.ndarray  # int64 [C], pixels per class
    model: ModelInfo
    backend: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    confidence: np.ndarray | None = None  # float32 [H, W], softmax probability of the label

    @property
    def height(self) -> int:
        return int(self.labels.shape[0])

    @property
    def width(self) -> int:
        return int(self.labels.shape[1])

    def classes(self) -> list[dict]:
        """Classes present, largest area first: id, name, colour, pixels, share of the image."""
        total = self.labels.size
        found = np.flatnonzero(self.counts)
        found = found[np.argsort(-self.counts[found], kind="stable")]
        out = []
        for cid in found.tolist():
            entry = {
                "id": cid,
                "name": self.model.labels[cid],
                "color": list(self.model.colors[cid]),
                "pixels": int(self.counts[cid]),
                "fraction": float(self.counts[cid] / total),
            }
            if self.confidence is not None:
                entry["mean_confidence"] = float(self.confidence[self.labels == cid].mean())
            out.append(entry)
        return out

    def to_png(self) -> bytes:
        """The label map as an 8-bit greyscale PNG: pixel value = class id."""
        import io

        buf = io.BytesIO()
        Image.fromarray(self.labels, mode="L").save(buf, format="PNG", compress_level=6)
        return buf.getvalue()

    def colorize(self) -> np.ndarray:
        """uint8 [H, W, 3]: each pixel in its class colour."""
        return np.asarray(self.model.colors, dtype=np.uint8)[self.labels]


class Segmenter:
    def __init__(self, model: ModelInfo, backend: Backend):
        self.model = model
        self.backend = backend
        self.processor = SegformerProcessor(model.preprocess)

    async def segment(
        self, data: bytes | bytearray | memoryview | Image.Image, *, confidence: bool = False
    ) -> Segmentation:
        timings: dict[str, float] = {}
        clock = time.perf_counter

        t = clock()
        image = data if isinstance(data, Image.Image) else decode(data)
        timings["decode"] = (clock() - t) * 1000

        t = clock()
        pixel_values = self.processor.preprocess(image)
        timings["preprocess"] = (clock() - t) * 1000

        t = clock()
        logits = await self.backend.run(pixel_values)
        timings["model"] = (clock() - t) * 1000
        expected = (1, self.model.num_classes)
        if logits.ndim != 4 or logits.shape[:2] != expected:
            raise RuntimeError(f"model returned logits of shape {logits.shape}")

        t = clock()
        width, height = image.size
        labels = upsample_argmax(logits, height, width)
        conf = upsample_confidence(logits, labels) if confidence else None
        counts = class_pixel_counts(labels, self.model.num_classes)
        timings["postprocess"] = (clock() - t) * 1000

        return Segmentation(labels, counts, self.model, self.backend.name, timings, conf)

    def segment_sync(self, data, *, confidence: bool = False) -> Segmentation:
        """For callers with a backend that never suspends (native onnxruntime: the CLI, tests).

        Drives the coroutine directly instead of through asyncio.run, so it also works where
        an event loop is already running.
        """
        coroutine = self.segment(data, confidence=confidence)
        try:
            coroutine.send(None)
        except StopIteration as finished:
            return finished.value
        coroutine.close()
        raise RuntimeError(f"{self.backend.name} is asynchronous: await segment() instead")

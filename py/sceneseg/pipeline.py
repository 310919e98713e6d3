"""``Segmenter``: encoded image bytes in, ``Segmentation`` out. The same in CPython and Pyodide."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .backends import Backend
from .confidence import Steps, confidence_steps
from .groups import groups_for
from .model import ModelInfo
from .postprocess import class_pixel_counts, upsample_argmax
from .processing import SegformerProcessor, decode
from .threshold import UNLABELLED, ExportError, check_threshold

_SUM_CHUNK = 1 << 18  # pixels per bincount call when summing confidences per class


@dataclass
class Segmentation:
    labels: np.ndarray  # uint8 [H, W], class ids
    counts: np.ndarray  # int64 [C], pixels per class
    model: ModelInfo
    backend: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    confidence: np.ndarray | None = None  # float32 [H, W], softmax probability of the label
    # The model's output [C, h, w], kept so that confidence can be computed when first asked.
    logits: np.ndarray | None = None
    # Where the weights came from: {"id", "file", "sha256", "precision"} as far as known.
    model_file: dict | None = None
    # The confidence being computed a slice at a time (confidence_step), if it was started.
    _confidence_steps: Steps | None = field(default=None, repr=False)

    @property
    def num_classes(self) -> int:
        return self.model.num_classes

    def ensure_confidence(self) -> np.ndarray:
        """The confidence map, computed now from the kept logits if it was not asked for
        (finishing a computation that ``confidence_step`` started)."""
        while not self.confidence_step(float("inf")):
            pass
        return self.confidence

    def confidence_step(self, budget_s: float) -> bool:
        """Compute the confidence map for about ``budget_s`` seconds (at least one slice);
        True once it is there. The web worker runs it this way between other jobs."""
        if self.confidence is not None:
            return True
        if self._confidence_steps is None:
            if self.logits is None:
                raise RuntimeError("no confidence: segment(..., confidence=True) or keep logits")
            self._confidence_steps = confidence_steps(self.logits, self.labels)
            self.timings_ms["confidence"] = 0.0
        start = time.perf_counter()
        try:
            while True:
                next(self._confidence_steps)
                if time.perf_counter() - start >= budget_s:
                    return False
        except StopIteration as done:
            self.confidence = done.value
            self._confidence_steps = None
            return True
        finally:
            # Computing time only, not the time between slices.
            self.timings_ms["confidence"] += (time.perf_counter() - start) * 1000

    def mean_confidences(self) -> np.ndarray:
        """float64 [C]: mean confidence of each class's pixels (NaN where a class has none)."""
        conf = self.ensure_confidence().reshape(-1)
        flat = self.labels.reshape(-1)
        sums = np.zeros(self.num_classes, dtype=np.float64)
        for start in range(0, flat.size, _SUM_CHUNK):
            end = start + _SUM_CHUNK
            sums += np.bincount(flat[start:end], conf[start:end], minlength=self.num_classes)
        with np.errstate(invalid="ignore", divide="ignore"):
            return sums / self.counts

    @property
    def height(self) -> int:
        return int(self.labels.shape[0])

    @property
    def width(self) -> int:
        return int(self.labels.shape[1])

    def classes(self, counts: np.ndarray | None = None) -> list[dict]:
        """Classes present, largest area first: id, name, colour, pixels, share of the image,
        group ({context, kind}, for ADE20K's classes) and, when the confidence is known, its
        mean over the class's pixels."""
        counts = self.counts if counts is None else counts
        total = self.labels.size
        found = np.flatnonzero(counts[: self.num_classes])
        found = found[np.argsort(-counts[found], kind="stable")]
        groups = groups_for(self.model.labels)
        means = self.mean_confidences() if self.confidence is not None else None
        out = []
        for cid in found.tolist():
            entry = {
                "id": cid,
                "name": self.model.labels[cid],
                "color": list(self.model.colors[cid]),
                "pixels": int(counts[cid]),
                "fraction": float(counts[cid] / total),
            }
            if groups is not None:
                entry["group"] = groups[cid].as_dict()
            if means is not None:
                entry["mean_confidence"] = float(means[cid])
            out.append(entry)
        return out

    def labelled_map(self, threshold: float | None = None) -> np.ndarray:
        """uint8 [H, W]: class ids, ``UNLABELLED`` where the confidence is below ``threshold``."""
        threshold = check_threshold(threshold)
        if not threshold:
            return self.labels
        if self.num_classes > UNLABELLED:
            raise ExportError("a confidence threshold needs at most 255 classes")
        below = self.ensure_confidence() < np.float32(threshold)
        return np.where(below, UNLABELLED, self.labels).astype(np.uint8)


class Segmenter:
    def __init__(self, model: ModelInfo, backend: Backend, model_file: dict | None = None):
        self.model = model
        self.backend = backend
        self.processor = SegformerProcessor(model.preprocess)
        self.model_file = model_file  # written into every result's summary

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
        counts = class_pixel_counts(labels, self.model.num_classes)
        timings["postprocess"] = (clock() - t) * 1000

        result = Segmentation(
            labels, counts, self.model, self.backend.name, timings, None, logits[0], self.model_file
        )
        if confidence:
            result.ensure_confidence()
        return result

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

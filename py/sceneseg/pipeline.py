"""``Segmenter``: encoded image bytes in, ``Segmentation`` out. The same in CPython and Pyodide."""

from __future__ import annotations

import inspect
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
from .resolution import Plan, model_size, plan
from .threshold import UNLABELLED, ExportError, check_threshold

_SUM_CHUNK = 1 << 18  # pixels per bincount call when summing confidences per class


class Cancelled(Exception):
    """``on_window`` asked to stop: the segmentation was abandoned after a window."""


@dataclass
class Segmentation:
    labels: np.ndarray  # uint8 [H, W], class ids
    counts: np.ndarray  # int64 [C], pixels per class
    model: ModelInfo
    backend: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    confidence: np.ndarray | None = None  # float32 [H, W], softmax probability of the label
    # The model's output [C, h, w], kept until the confidence map is computed from them.
    logits: np.ndarray | None = None
    # Where the weights came from: {"id", "file", "sha256", "precision"} as far as known.
    model_file: dict | None = None
    # The confidence being computed a slice at a time (confidence_step), if it was started.
    _confidence_steps: Steps | None = field(default=None, repr=False)
    # How the model saw the photo: {"mode", "input": [w, h], "windows"} (resolution.Plan).
    resolution: dict | None = None

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
            # The logits' only use was this map: freeing them now (53 MB for a 12 MP photo in
            # detail) leaves room in Pyodide's heap, which never shrinks, for the next photo.
            self.logits = None
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

    @property
    def size(self) -> int:
        """S: the short side of the model's own input size (``resolution.model_size``)."""
        config = self.model.preprocess
        return model_size(config.height, config.width)

    def plan(self, width: int, height: int, resolution: str | None = None) -> Plan:
        """What ``segment`` runs for a ``width`` x ``height`` photo in mode ``resolution``."""
        config = self.model.preprocess
        return plan(width, height, resolution, self.size, (config.width, config.height))

    async def segment(
        self,
        data: bytes | bytearray | memoryview | Image.Image,
        *,
        confidence: bool = False,
        resolution: str | None = None,
        on_window=None,
    ) -> Segmentation:
        """``resolution``: 'square' (default), 'keep' or 'detail' (``sceneseg.resolution``).
        ``on_window(done, total)`` is called after each model run (total 1 but in detail);
        a true return value (or an awaitable resolving to one) raises ``Cancelled``."""
        timings: dict[str, float] = {}
        clock = time.perf_counter

        t = clock()
        image = data if isinstance(data, Image.Image) else decode(data)
        del data
        timings["decode"] = (clock() - t) * 1000
        width, height = image.size
        chosen = self.plan(width, height, resolution)

        t = clock()
        # Resized, still 8-bit: windows are normalised one at a time (a 4096x1024 input is
        # 13 MB so, 50 MB as float32, beside the windows' logits).
        resized = np.asarray(self.processor.resize(image, chosen.input))
        # Only its size is needed from here: the decoded photo (48 MB at 12 MP) goes before the
        # model runs, in a heap (Pyodide's) that never shrinks. (A caller that hands the image
        # over without keeping it lets it go: browser.segment.)
        del image
        timings["preprocess"] = (clock() - t) * 1000

        timings["model"] = 0.0
        logits = await self._run_windows(resized, chosen, timings, on_window)
        del resized

        t = clock()
        labels = upsample_argmax(logits, height, width)
        counts = class_pixel_counts(labels, self.model.num_classes)
        timings["postprocess"] = (clock() - t) * 1000

        result = Segmentation(
            labels, counts, self.model, self.backend.name, timings, None, logits[0], self.model_file
        )
        result.resolution = chosen.record()
        if confidence:
            result.ensure_confidence()
        return result

    async def _run_windows(self, resized, chosen: Plan, timings, on_window) -> np.ndarray:
        """Logits [1, C, h, w] of the plan: one run, or the windows' logits streamed into one
        quarter-scale sum and a count map, then averaged (``docs/resolution.md``). ``resized``:
        uint8 [H, W, 3] at the plan's input size, normalised a window at a time."""
        clock = time.perf_counter
        total = len(chosen.windows)
        classes = self.model.num_classes
        logits = counts = None
        for done, window in enumerate(chosen.windows, 1):
            t = clock()
            x, y, w, h = window.x, window.y, window.width, window.height
            crop = self.processor.normalize(resized[y : y + h, x : x + w])
            timings["preprocess"] += (clock() - t) * 1000
            t = clock()
            out = await self.backend.run(crop)
            timings["model"] += (clock() - t) * 1000
            if out.ndim != 4 or out.shape[:2] != (1, classes):
                raise RuntimeError(f"model returned logits of shape {out.shape}")
            if total == 1:
                logits = out
            else:
                if logits is None:
                    width, height = chosen.input
                    # Window sides and starts are multiples of 32: whole quarter-scale cells.
                    logits = np.zeros((1, classes, height // 4, width // 4), np.float32)
                    counts = np.zeros((height // 4, width // 4), np.float32)
                t = clock()
                x4, y4 = window.x // 4, window.y // 4
                h4, w4 = window.height // 4, window.width // 4
                if out.shape[2:] != (h4, w4):
                    raise RuntimeError(f"model returned logits of shape {out.shape} for {window}")
                logits[0, :, y4 : y4 + h4, x4 : x4 + w4] += out[0]
                counts[y4 : y4 + h4, x4 : x4 + w4] += 1
                timings["windows"] = timings.get("windows", 0.0) + (clock() - t) * 1000
            del out
            if on_window is not None:
                stop = on_window(done, total)
                if inspect.isawaitable(stop):
                    stop = await stop
                if stop:
                    raise Cancelled(f"cancelled after window {done} of {total}")
        if counts is not None:
            t = clock()
            logits[0] /= counts  # every cell is covered: starts end at L - S
            timings["windows"] += (clock() - t) * 1000
        return logits

    def segment_sync(
        self, data, *, confidence: bool = False, resolution: str | None = None, on_window=None
    ) -> Segmentation:
        """For callers with a backend that never suspends (native onnxruntime: the CLI, tests).

        Drives the coroutine directly instead of through asyncio.run, so it also works where
        an event loop is already running.
        """
        coroutine = self.segment(
            data, confidence=confidence, resolution=resolution, on_window=on_window
        )
        try:
            coroutine.send(None)
        except StopIteration as finished:
            return finished.value
        coroutine.close()
        raise RuntimeError(f"{self.backend.name} is asynchronous: await segment() instead")

"""Video frames: pixels in (no image encode/decode per frame), temporal smoothing of logits.

    frame      RGBA or RGB uint8 [h, w, 4|3] already at the model's input size (the browser
               scales the video frame on its GPU while drawing it into a canvas)
    normalise  rescale + ImageNet mean/std, channels first: [1, 3, h, w]
    model      logits [1, C, h/4, w/4]
    smooth     s_t = alpha * l_t + (1 - alpha) * s_{t-1}, reset on a scene cut or a seek
    labels     exact argmax of the bilinearly upsampled smoothed logits at the size asked for

With ``alpha == 1`` the smoothed logits *are* the frame's logits, so the labels equal a
per-frame segmentation of the same pixels exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .model import PreprocessConfig
from .postprocess import class_pixel_counts, upsample_argmax

DEFAULT_ALPHA = 0.6
# Mean absolute difference (0..255) between consecutive frames' 16x16 grey thumbnails above
# which the scene is taken to have cut: the smoothed logits would drag the old scene along.
# Camera noise and a slow pan stay far below it (1-6); a cut to another shot is typically 20+.
DEFAULT_CUT_THRESHOLD = 18.0
_THUMB = 16


def normalise(pixels: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """uint8 [h, w, 3|4] -> float32 [1, 3, h, w], as ``SegformerProcessor`` after its resize."""
    rgb = pixels[..., :3]
    scale = (config.rescale_factor / np.asarray(config.image_std, np.float64)).astype(np.float32)
    offset = (np.asarray(config.image_mean, np.float64) / config.image_std).astype(np.float32)
    out = np.empty((1, 3, *rgb.shape[:2]), dtype=np.float32)
    for c in range(3):
        np.multiply(rgb[..., c], scale[c], out=out[0, c], casting="unsafe")
        out[0, c] -= offset[c]
    return out


def thumbnail(pixels: np.ndarray) -> np.ndarray:
    """A 16x16 grey thumbnail (block means) for scene-cut detection; cheap in numpy."""
    h, w = pixels.shape[:2]
    grey = pixels[..., :3].mean(axis=2, dtype=np.float32)
    ys = np.linspace(0, h, _THUMB + 1).astype(int)
    xs = np.linspace(0, w, _THUMB + 1).astype(int)
    rows = np.add.reduceat(grey, ys[:-1], axis=0) / np.diff(ys)[:, None]
    return np.add.reduceat(rows, xs[:-1], axis=1) / np.diff(xs)[None, :]


def flicker(previous: np.ndarray, current: np.ndarray) -> float:
    """Share of pixels whose label changed between two consecutive frames."""
    return float(np.count_nonzero(previous != current) / current.size)


@dataclass
class FrameResult:
    labels: np.ndarray  # uint8 [H, W]
    counts: np.ndarray  # int64 [C]
    cut: bool  # the smoothing started afresh with this frame (scene cut, seek, size change)
    timings_ms: dict[str, float] = field(default_factory=dict)


class VideoSmoother:
    """Per-stream state: the smoothed logits and the previous frame's thumbnail."""

    def __init__(self, alpha: float = DEFAULT_ALPHA, cut_threshold: float = DEFAULT_CUT_THRESHOLD):
        self.alpha = alpha
        self.cut_threshold = cut_threshold
        self._state: np.ndarray | None = None
        self._thumb: np.ndarray | None = None

    def reset(self) -> None:
        self._state = None
        self._thumb = None

    def is_cut(self, pixels: np.ndarray) -> bool:
        """Whether ``pixels`` starts a new scene; remembers its thumbnail for the next frame."""
        thumb = thumbnail(pixels)
        previous, self._thumb = self._thumb, thumb
        if previous is None or previous.shape != thumb.shape:
            return True
        return float(np.abs(thumb - previous).mean()) > self.cut_threshold

    def update(self, logits: np.ndarray, *, fresh: bool) -> np.ndarray:
        """The smoothed logits after this frame's ``logits``."""
        alpha = float(self.alpha)
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        if fresh or alpha == 1 or self._state is None or self._state.shape != logits.shape:
            self._state = logits.astype(np.float32, copy=True)
        else:
            # In place: s = alpha * l + (1 - alpha) * s, with no temporary of the logits' size
            # beyond alpha * l.
            self._state *= np.float32(1 - alpha)
            self._state += np.float32(alpha) * logits
        return self._state


class VideoSegmenter:
    """Frames of one stream in, labels out; ``backend`` as in ``sceneseg.backends``."""

    def __init__(self, backend, config: PreprocessConfig, num_classes: int):
        self.backend = backend
        self.config = config
        self.num_classes = num_classes
        self.smoother = VideoSmoother()

    async def segment_frame(
        self,
        pixels: np.ndarray,
        *,
        alpha: float = DEFAULT_ALPHA,
        reset: bool = False,
        out_size: tuple[int, int] | None = None,
    ) -> FrameResult:
        """``pixels``: uint8 [h, w, 3|4] at the input size; ``out_size``: (height, width) of
        the labels (default: the input's)."""
        clock = time.perf_counter
        timings: dict[str, float] = {}
        t = clock()
        self.smoother.alpha = alpha
        cut = self.smoother.is_cut(pixels)
        fresh = reset or cut
        inputs = normalise(pixels, self.config)
        timings["preprocess"] = (clock() - t) * 1000

        t = clock()
        logits = await self.backend.run(inputs)
        timings["model"] = (clock() - t) * 1000

        t = clock()
        smoothed = self.smoother.update(logits, fresh=fresh)
        height, width = out_size or pixels.shape[:2]
        labels = upsample_argmax(smoothed, height, width)
        counts = class_pixel_counts(labels, self.num_classes)
        timings["postprocess"] = (clock() - t) * 1000
        return FrameResult(labels, counts, fresh, timings)

    def segment_frame_sync(self, pixels: np.ndarray, **options) -> FrameResult:
        """For backends that never suspend (native onnxruntime)."""
        coroutine = self.segment_frame(pixels, **options)
        try:
            coroutine.send(None)
        except StopIteration as finished:
            return finished.value
        coroutine.close()
        raise RuntimeError("the backend is asynchronous: await segment_frame() instead")


# ---- What the web worker calls (Pyodide only): JS values <-> numpy at the boundary. ----

_video: VideoSegmenter | None = None
_pixels: np.ndarray | None = None  # reused across frames of the same size


async def segment_frame(js_pixels, width: int, height: int, options) -> dict:
    """RGBA bytes (a Uint8Array of width * height * 4) -> labels (Uint8Array) + class shares.

    ``options``: {alpha, reset, labelWidth, labelHeight} (a JS object or dict).
    """
    global _video, _pixels
    from js import Uint8Array

    from . import browser

    if browser._segmenter is None:
        raise RuntimeError("init() first")
    opts = options.to_py() if hasattr(options, "to_py") else dict(options)
    if _video is None:
        seg = browser._segmenter
        _video = VideoSegmenter(seg.backend, seg.model.preprocess, seg.model.num_classes)
    start = time.perf_counter()
    shape = (int(height), int(width), 4)
    if _pixels is None or _pixels.shape != shape:
        _pixels = np.empty(shape, dtype=np.uint8)
    js_pixels.assign_to(_pixels)  # one copy from JS memory into the reused array
    copy_in = (time.perf_counter() - start) * 1000
    out_size = (int(opts.get("labelHeight") or height), int(opts.get("labelWidth") or width))
    result = await _video.segment_frame(
        _pixels,
        alpha=float(opts.get("alpha", DEFAULT_ALPHA)),
        reset=bool(opts.get("reset", False)),
        out_size=out_size,
    )
    result.timings_ms["copy"] = copy_in
    labels = Uint8Array.new(result.labels.size)
    labels.assign(result.labels.reshape(-1))
    total = result.labels.size
    found = np.flatnonzero(result.counts)
    return {
        "width": out_size[1],
        "height": out_size[0],
        "labels": labels,
        "classes": [[int(c), int(result.counts[c]) / total] for c in found.tolist()],
        "cut": result.cut,
        "timings": result.timings_ms,
    }

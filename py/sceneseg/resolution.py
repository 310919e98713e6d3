"""The input resolution: what size the model sees a photo at, and in which windows.

Pure functions of the photo's size (after EXIF orientation), the mode and the model's size
``S`` (``model_size``): the pipeline runs the plan, ``browser.resolution_plan`` shows its cost
on the page, and docs/resolution.md and tests/test_resolution.py state the same rules.

* ``square``: the model's own input size (``preprocessor_config.json``'s ``size``, 512x512),
  the aspect ratio not kept: Hugging Face's protocol and the default.
* ``keep``: ``s = min(S / short, 4S / long)``; the input is
  ``(max(32, int(w*s + 0.5)), max(32, int(h*s + 0.5)))``, one run; the logits go straight to
  the photo's size.
* ``detail``: ``T = min(2S, max(S, short))``, ``s = min(T / short, 4T / long)``; each side
  scaled and rounded to a multiple of 32 (``32 * max(1, int(w*s / 32 + 0.5))``); S x S windows
  (the whole side where it is S or shorter) starting at 0, st, 2st, ... while below L - S, then
  L - S; ``st = 32 * round(2S / 96)`` (352 for S = 512).
"""

from __future__ import annotations

from dataclasses import dataclass

MODES = ("square", "keep", "detail")
DEFAULT_MODE = "square"
#: Below 32 pixels a side the model's stage-1 sequence reduction rejects the input.
MIN_SIDE = 32


class ResolutionError(ValueError):
    """A mode that is not one of ``MODES``; ``str()`` says so, for a user."""


@dataclass(frozen=True)
class Window:
    """A crop of the resized input: left, top, width, height (input pixels)."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class Plan:
    mode: str
    input: tuple[int, int]  # (width, height) the whole photo is resized to
    windows: tuple[Window, ...]  # one window covering the input for square and keep

    def record(self) -> dict:
        """The result's and the summary's ``resolution``: {mode, input: [w, h], windows}."""
        return {"mode": self.mode, "input": list(self.input), "windows": len(self.windows)}


def check_mode(mode) -> str:
    """``mode`` if it is one of ``MODES`` (None: the default); ``ResolutionError`` otherwise."""
    if mode is None:
        return DEFAULT_MODE
    if mode not in MODES:
        raise ResolutionError(f"resolution must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def model_size(height: int, width: int) -> int:
    """S: the short side of the model's size (``preprocessor_config.json``), a multiple of 32
    (floored to one, at least 32, should a model's size not be: windows start on multiples of
    32 so that their logits fall on whole quarter-scale cells)."""
    return max(MIN_SIDE, min(int(height), int(width)) // 32 * 32)


def stride(size: int) -> int:
    """Window stride for S = ``size``: 32 * round(2S / 96) (about 2/3 of S; 352 for 512)."""
    return 32 * round(2 * size / 96)


def keep_size(width: int, height: int, size: int) -> tuple[int, int]:
    """``keep``'s input (width, height): short side S, long side at most 4S, at least 32."""
    short, long = min(width, height), max(width, height)
    s = min(size / short, 4 * size / long)
    return max(MIN_SIDE, int(width * s + 0.5)), max(MIN_SIDE, int(height * s + 0.5))


def detail_size(width: int, height: int, size: int) -> tuple[int, int]:
    """``detail``'s input (width, height): short side T = min(2S, max(S, short)), long side at
    most 4T, each rounded to a multiple of 32 (at least 32)."""
    return scaled_size(width, height, min(2 * size, max(size, min(width, height))))


def scaled_size(width: int, height: int, target: int) -> tuple[int, int]:
    """(width, height) scaled to short side ``target``, long side at most 4 * target, each
    rounded to a multiple of 32 (at least 32): detail's size rule, and the video's input size
    for a short side (web/worker/video-frames.js calls it with the video's size)."""
    short, long = min(width, height), max(width, height)
    s = min(target / short, 4 * target / long)
    return 32 * max(1, int(width * s / 32 + 0.5)), 32 * max(1, int(height * s / 32 + 0.5))


def window_starts(length: int, size: int) -> list[int]:
    """Starts of the windows along a side of ``length`` input pixels: [0] when length <= S,
    else 0, st, 2st, ... while below length - S, then length - S."""
    if length <= size:
        return [0]
    return [*range(0, length - size, stride(size)), length - size]


def plan(width: int, height: int, mode: str, size: int, square=None) -> Plan:
    """The plan for a ``width`` x ``height`` photo. ``size``: S; ``square``: the model's own
    (width, height) for ``square`` (default S x S)."""
    mode = check_mode(mode)
    if width < 1 or height < 1:
        raise ValueError(f"a photo of {width}x{height} pixels")
    if mode == "square":
        w, h = square or (size, size)
        return Plan(mode, (w, h), (Window(0, 0, w, h),))
    if mode == "keep":
        w, h = keep_size(width, height, size)
        return Plan(mode, (w, h), (Window(0, 0, w, h),))
    w, h = detail_size(width, height, size)
    windows = tuple(
        Window(x, y, min(size, w), min(size, h))
        for y in window_starts(h, size)
        for x in window_starts(w, size)
    )
    return Plan(mode, (w, h), windows)

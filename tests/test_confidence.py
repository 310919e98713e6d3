"""Per-pixel confidence (softmax probability of the label) against the literal computation:
PyTorch interpolating all 150 channels, then softmax, in float64."""

from __future__ import annotations

import functools
import io
import json
import time
import tracemalloc

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from conftest import PHOTOS, native_segmenter, run_in_pyodide
from sceneseg.confidence import (
    CONFIDENCE_MAX_ERROR,
    confidence_steps,
    upsample_confidence,
    upsample_confidence_exact,
)
from sceneseg.outputs import export
from sceneseg.postprocess import source_index, upsample_argmax
from sceneseg.processing import decode

# float32 rounding of the interpolated logits (both paths; PyTorch's reference is float64).
ROUNDING = 3e-5


def torch_confidence(logits: np.ndarray, height: int, width: int) -> np.ndarray:
    """softmax(interpolate(logits)).max() in float64, in bands of rows to bound memory: the
    vertical blend of two source rows (PyTorch's weights, tested in test_postprocess.py),
    then PyTorch's own interpolation along the rows."""
    ys = source_index(logits.shape[1], height)
    src = torch.from_numpy(logits.astype(np.float64))
    out = np.empty((height, width))
    for start in range(0, height, 64):
        rows = slice(start, min(height, start + 64))
        lower = torch.from_numpy(ys.w_lower[rows].astype(np.float64))[None, :, None]
        upper = torch.from_numpy(ys.w_upper[rows].astype(np.float64))[None, :, None]
        blended = lower * src[:, ys.lower[rows]] + upper * src[:, ys.upper[rows]]
        up = F.interpolate(
            blended[None], size=(blended.shape[1], width), mode="bilinear", align_corners=False
        )[0]
        out[rows] = torch.softmax(up, dim=0).max(dim=0).values.numpy()
    return out


def smooth_logits(rng, classes=150, size=128, coarse=8, scale=4.0) -> np.ndarray:
    low = torch.from_numpy(rng.normal(size=(1, classes, coarse, coarse)).astype(np.float32) * scale)
    high = F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False).numpy()[0]
    return high + rng.normal(size=high.shape).astype(np.float32) * 0.05


def model_logits(photo) -> np.ndarray:
    """The stand-in model's logits for a real photo (native onnxruntime, q8)."""
    segmenter = native_segmenter("q8")
    pixels = segmenter.processor.preprocess(decode(photo.read_bytes()))
    return segmenter.backend.run_sync(pixels)[0]


@functools.cache
def reference(kind: str, height: int, width: int) -> np.ndarray:
    return torch_confidence(logits_of(kind), height, width)


@functools.cache
def logits_of(kind: str) -> np.ndarray:
    rng = np.random.default_rng(sum(map(ord, kind)))
    if kind == "random":  # the worst case: winners change in almost every cell
        return rng.normal(size=(150, 128, 128)).astype(np.float32) * 3
    if kind == "smooth":
        return smooth_logits(rng)
    (photo,) = [p for p in PHOTOS if p.stem == kind]
    return model_logits(photo)


@pytest.mark.parametrize(
    "max_error", [pytest.param(CONFIDENCE_MAX_ERROR, marks=pytest.mark.slow), 2.0**-17]
)
@pytest.mark.parametrize("kind", ["random", "smooth", "astronaut", "ADE_val_00000001"])
@pytest.mark.parametrize(("height", "width", "refine"), [(900, 1000, 1)])
def test_confidence_within_its_bound(kind, height, width, refine, max_error):
    logits = logits_of(kind)
    labels = upsample_argmax(logits, height, width)
    got = upsample_confidence(logits, labels, max_error, refine=refine)
    assert got.shape == (height, width) and got.dtype == np.float32
    error = reference(kind, height, width) - got
    # One-sided: the interpolated log-sum-exp of the minor classes can only be too large.
    assert error.min() >= -ROUNDING, error.min()
    assert error.max() <= max_error + ROUNDING, f"{error.max():.2e} > {max_error:.2e}"
    print(f"{kind} {height}x{width} max_error {max_error:.1e}: largest error {error.max():.2e}")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["random", "astronaut"])
def test_refined_grid_within_its_bound(kind):
    test_confidence_within_its_bound(kind, 1000, 900, 2, CONFIDENCE_MAX_ERROR)


@pytest.mark.parametrize(("height", "width"), [(37, 53), (300, 451), (64, 20), (1, 1)])
def test_exact_confidence_is_the_softmax_of_interpolated_logits(height, width):
    """The literal path (also what upsample_confidence uses below ~1 megapixel)."""
    logits = smooth_logits(np.random.default_rng(9))
    labels = upsample_argmax(logits, height, width)
    expected = torch_confidence(logits, height, width)
    np.testing.assert_allclose(upsample_confidence_exact(logits, labels), expected, atol=1e-5)
    # Small outputs (all these) and max_error=0 take the literal path.
    np.testing.assert_array_equal(
        upsample_confidence(logits, labels, 0.0), upsample_confidence_exact(logits, labels)
    )


def test_constant_logits_and_ties():
    """Every class equal: p = 1/150 everywhere; two classes tied: 1/2."""
    logits = np.zeros((150, 16, 16), np.float32)
    labels = upsample_argmax(logits, 300, 200)
    np.testing.assert_allclose(upsample_confidence(logits, labels), 1 / 150, rtol=1e-5)
    logits[:] = -50
    logits[3] = logits[7] = 4.0
    np.testing.assert_allclose(upsample_confidence(logits, labels), 0.5, rtol=1e-5)


@pytest.mark.slow
def test_12_megapixels_time_memory_and_spot_rows():
    """Bounded memory at 12 MP, rows equal to PyTorch's, and the time next to the argmax's."""
    logits = logits_of("astronaut")  # the stand-in is unsure on it: many major classes
    height, width = 3000, 4000
    start = time.perf_counter()
    labels = upsample_argmax(logits, height, width)
    argmax_s = time.perf_counter() - start
    tracemalloc.start()
    try:
        start = time.perf_counter()
        conf = upsample_confidence(logits, labels)
        conf_s = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"12 MP: argmax {argmax_s:.2f} s, confidence {conf_s:.2f} s, peak {peak / 1e6:.0f} MB")
    assert peak < 10 * height * width, f"peak {peak / 1e6:.0f} MB"  # the output is 4 B/px
    ys = source_index(128, height)
    for row in (0, 1234, 2999):
        lo, hi = ys.lower[row], ys.upper[row]
        blended = ys.w_lower[row] * logits[:, lo] + ys.w_upper[row] * logits[:, hi]
        expected = torch_confidence(blended[:, None, :].astype(np.float32), 1, width)[0]
        error = expected - conf[row]
        assert error.min() >= -ROUNDING and error.max() <= CONFIDENCE_MAX_ERROR + ROUNDING


# Pyodide (wasm32, its own numpy): the same logits give the same confidence, and its speed.
PYODIDE_CONFIDENCE = """
import sys, time
import numpy as np
from sceneseg.confidence import upsample_confidence
from sceneseg.postprocess import upsample_argmax
logits_path, out_path = sys.argv[1:]
logits = np.load("/host" + logits_path)
results = {}
for height, width in [(900, 1000), (3000, 4000)]:
    labels = upsample_argmax(logits, height, width)
    start = time.perf_counter()
    results[f"{height}x{width}"] = upsample_confidence(logits, labels)
    print(f"pyodide {height}x{width}: confidence {time.perf_counter() - start:.2f} s")
np.savez("/host" + out_path, **results)
"""


@pytest.mark.slow
def test_pyodide_computes_the_same_confidence(tmp_path):
    logits = logits_of("ADE_val_00000001")
    np.save(tmp_path / "logits.npy", logits)
    printed = run_in_pyodide(
        PYODIDE_CONFIDENCE, str(tmp_path / "logits.npy"), str(tmp_path / "out.npz")
    )
    print(printed)
    pyodide = np.load(tmp_path / "out.npz")
    for height, width in [(900, 1000)]:
        labels = upsample_argmax(logits, height, width)
        ours = upsample_confidence(logits, labels)
        theirs = pyodide[f"{height}x{width}"]
        np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-5)
        error = torch_confidence(logits, height, width) - theirs
        assert error.min() >= -ROUNDING and error.max() <= CONFIDENCE_MAX_ERROR + ROUNDING
    big = pyodide["3000x4000"]
    assert big.shape == (3000, 4000) and big.min() > 0 and big.max() <= 1


@pytest.mark.parametrize(("height", "width"), [(300, 400), (1500, 2000)])  # literal, bounded
def test_stepwise_confidence_is_the_same_computation(height, width):
    """The worker computes confidence a slice at a time: the same map, in many short steps."""
    logits = logits_of("ADE_val_00000001")
    labels = upsample_argmax(logits, height, width)
    steps = confidence_steps(logits, labels)
    count, longest = 0, 0.0
    while True:
        start = time.perf_counter()
        try:
            next(steps)
        except StopIteration as done:
            stepwise = done.value
            break
        longest = max(longest, time.perf_counter() - start)
        count += 1
    whole = upsample_confidence(logits, labels)
    np.testing.assert_array_equal(stepwise, whole)
    print(f"{height}x{width}: {count} steps, longest {longest * 1000:.0f} ms")
    assert count >= (3 if height * width < 1e6 else 20)


def test_segmentation_confidence_step_then_exports():
    """Segmentation.confidence_step: slices until done; an export in between finishes it."""
    segmenter = native_segmenter("q8")
    photo = next(p for p in PHOTOS if p.stem == "ADE_val_00000001")
    reference = segmenter.segment_sync(photo.read_bytes(), confidence=True).confidence
    result = segmenter.segment_sync(photo.read_bytes())
    assert result.confidence is None
    slices = 0
    while not result.confidence_step(0.0):  # one step a call
        assert result.logits is not None  # needed until the map is done
        slices += 1
    np.testing.assert_array_equal(result.confidence, reference)
    assert slices >= 2 and result.timings_ms["confidence"] > 0
    # Done: the logits' one use is over, so they are let go (Pyodide's heap never shrinks);
    # every export still works from labels and confidence.
    assert result.logits is None
    summary = json.loads(export(result, "summary-json"))
    assert summary["classes"] and all("mean_confidence" in c for c in summary["classes"])
    # Started, then an export that needs it: ensure_confidence() finishes the same computation.
    again = segmenter.segment_sync(photo.read_bytes())
    assert not again.confidence_step(0.0)
    png = export(again, "confidence-png")
    exported = np.asarray(Image.open(io.BytesIO(png))).astype(np.float64) / 65535
    np.testing.assert_array_equal(again.confidence, reference)
    assert np.abs(exported - reference).max() <= 0.5 / 65535 + 1e-7
    assert again.confidence_step(0.0)

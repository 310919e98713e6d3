"""The exact upsampled argmax against PyTorch's own bilinear interpolation (the naive path)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import run_in_pyodide
from sceneseg.postprocess import (
    class_pixel_counts,
    source_index,
    upsample_argmax,
)


def torch_upsample(logits: np.ndarray, height: int, width: int) -> torch.Tensor:
    return F.interpolate(
        torch.from_numpy(logits).reshape(1, *logits.shape[-3:]),
        size=(height, width),
        mode="bilinear",
        align_corners=False,
    )[0]


def smooth_logits(rng, classes=150, size=128, coarse=8, scale=4.0) -> np.ndarray:
    """Logits shaped like a real model's: large regions, a little noise."""
    low = torch.from_numpy(rng.normal(size=(1, classes, coarse, coarse)).astype(np.float32) * scale)
    high = F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False).numpy()[0]
    return high + rng.normal(size=high.shape).astype(np.float32) * 0.05


SIZES = [(37, 53), (300, 451), (512, 512), (128, 128), (5, 7), (1, 1), (127, 129), (1000, 667)]


@pytest.mark.parametrize(("height", "width"), SIZES)
@pytest.mark.parametrize("kind", ["random", "smooth"])
def test_argmax_equals_naive_interpolation(kind, height, width):
    rng = np.random.default_rng(height * 7919 + width)
    if kind == "random":  # the worst case: almost no cell is uniform
        logits = rng.normal(size=(150, 128, 128)).astype(np.float32) * 3
    else:
        logits = smooth_logits(rng)
    got = upsample_argmax(logits, height, width)
    assert got.shape == (height, width) and got.dtype == np.uint8
    assert_same_as_torch(got, logits, torch_upsample(logits, height, width))


def assert_same_as_torch(labels: np.ndarray, logits: np.ndarray, upsampled: torch.Tensor) -> None:
    """Labels equal PyTorch's argmax, except where PyTorch's own values are a float32 near-tie.

    PyTorch's CPU kernel rounds in its own order (vectorised, fused multiply-adds), so when
    two classes are within a few ulps either may win; such pixels are allowed and counted.
    """
    expected = upsampled.argmax(dim=0).numpy()
    differ = np.argwhere(labels != expected)
    if differ.size:
        rows, cols = differ[:, 0], differ[:, 1]
        values = upsampled.numpy()
        ours = values[labels[rows, cols], rows, cols]
        theirs = values[expected[rows, cols], rows, cols]
        tolerance = 1e-5 * max(1.0, float(np.abs(logits).max()))
        assert np.all(theirs - ours <= tolerance), f"{len(differ)} pixels differ beyond rounding"
    assert len(differ) <= max(2, labels.size // 100_000), f"{len(differ)} near-tie pixels"


def test_ties_go_to_the_first_maximum():
    # Small integer logits and scale factors 1, 2 and 4 (weights 1/4, 3/4, 1/2): every value is
    # computed without rounding, so exact ties are everywhere, at corners and in between.
    rng = np.random.default_rng(5)
    logits = rng.integers(0, 3, size=(6, 9, 11)).astype(np.float32)
    logits[:, 4, :] = 2.0  # a whole row where every class ties
    for height, width in [(9, 11), (18, 22), (36, 44), (18, 11)]:
        expected = torch_upsample(logits, height, width).argmax(dim=0).numpy()
        np.testing.assert_array_equal(upsample_argmax(logits, height, width), expected)


def test_source_index_matches_torch_weights():
    # Interpolating an index ramp recovers PyTorch's source coordinates.
    for in_size, out_size in [(128, 451), (128, 37), (128, 128), (3, 1000)]:
        ramp = np.tile(np.arange(in_size, dtype=np.float32), (1, 1, 1))
        expected = torch_upsample(ramp[:, None, :].repeat(2, axis=1), 2, out_size)[0, 0].numpy()
        ix = source_index(in_size, out_size)
        ours = ix.w_lower * ix.lower + ix.w_upper * ix.upper
        np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-4)


def test_counts_cover_every_pixel():
    labels = upsample_argmax(smooth_logits(np.random.default_rng(2)), 333, 444)
    counts = class_pixel_counts(labels, 150)
    assert counts.shape == (150,) and counts.sum() == 333 * 444
    for cid in np.unique(labels):
        assert counts[cid] == np.count_nonzero(labels == cid)


def test_memory_does_not_grow_with_classes_times_pixels():
    """12 megapixels: the naive path needs 150 x 12e6 x 4 bytes = 7.2 GB."""
    logits = smooth_logits(np.random.default_rng(4))
    tracemalloc.start()
    try:
        labels = upsample_argmax(logits, 3000, 4000)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        counts = class_pixel_counts(labels, 150)
        counting = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert labels.shape == (3000, 4000)
    assert peak < 3 * 3000 * 4000, f"peak {peak / 1e6:.0f} MB"
    assert counting < 8 * 1_000_000, f"counting took {counting / 1e6:.0f} MB"
    np.testing.assert_array_equal(counts, np.bincount(labels.ravel(), minlength=150))
    # Spot-check rows of the big result: blend the two source rows as PyTorch's vertical
    # step does, then let PyTorch do the horizontal one.
    for row in (0, 1, 1234, 2999):
        ix = source_index(128, 3000)
        lo, hi = ix.lower[row], ix.upper[row]
        rows = ix.w_lower[row] * logits[:, lo] + ix.w_upper[row] * logits[:, hi]  # [C, 128]
        expected = torch_upsample(rows[:, None, :], 1, 4000)[:, 0].argmax(dim=0).numpy()
        assert (labels[row] == expected).mean() > 0.999


# Pyodide is wasm32: 32-bit intp, its own numpy build. Same logits in, same labels out.
PYODIDE_POSTPROCESS = """
import sys
import numpy as np
from sceneseg.postprocess import class_pixel_counts, upsample_argmax
logits_path, out_path, *sizes = sys.argv[1:]
logits = np.load("/host" + logits_path)
results = {}
for size in sizes:
    height, width = map(int, size.split("x"))
    labels = upsample_argmax(logits, height, width)
    results[size] = labels
    results[size + "-counts"] = class_pixel_counts(labels, logits.shape[0])
np.savez("/host" + out_path, **results)
print("ok")
"""


@pytest.mark.slow
def test_pyodide_computes_the_same_labels(tmp_path):
    rng = np.random.default_rng(11)
    sizes = [(37, 53), (300, 451), (1000, 667), (1, 1)]
    for kind, logits in [
        ("random", rng.normal(size=(150, 128, 128)).astype(np.float32) * 3),
        ("smooth", smooth_logits(rng)),
    ]:
        np.save(tmp_path / f"{kind}.npy", logits)
        out = tmp_path / f"{kind}-pyodide.npz"
        run_in_pyodide(
            PYODIDE_POSTPROCESS,
            str(tmp_path / f"{kind}.npy"),
            str(out),
            *(f"{h}x{w}" for h, w in sizes),
        )
        pyodide = np.load(out)
        for height, width in sizes:
            expected = upsample_argmax(logits, height, width)  # checked against torch above
            np.testing.assert_array_equal(pyodide[f"{height}x{width}"], expected, err_msg=kind)
            np.testing.assert_array_equal(
                pyodide[f"{height}x{width}-counts"], class_pixel_counts(expected, 150)
            )

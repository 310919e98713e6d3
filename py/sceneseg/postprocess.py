"""Logits [C, h, w] -> full-resolution labels, exactly, without a [C, H, W] array.

Reference semantics (Hugging Face ``post_process_semantic_segmentation`` with target sizes):
``torch.nn.functional.interpolate(logits, (H, W), mode="bilinear", align_corners=False)``
then ``argmax`` over classes, the first maximum winning ties.

Doing that literally on a 12-megapixel photo needs 150 x 12e6 floats (~7 GB). Instead:

* Every output pixel is a convex combination of the four logit vectors at the corners of
  its *cell* (the pair of source rows and pair of source columns it falls between).
* If all four corners have the same argmax ``k``, every convex combination has argmax ``k``
  too (``f_k - f_c`` is a non-negative sum of non-negative terms, and a tie would need a tie
  at every weighted corner, which the first-maximum rule would have resolved below ``k``).
  Those cells are filled with ``k`` by indexing. To stay exact in float32, a cell only counts
  as uniform when every corner's winner leads its runner-up by more than a rounding margin.
* The other cells (along class boundaries) are interpolated per pixel, but only for the
  classes that can win there: class ``c`` can only win if its largest corner value reaches
  ``max_k min_corners f_k``, a lower bound of the winning value anywhere in the cell.

The result equals the naive computation; ``tests/test_postprocess.py`` checks that against
PyTorch itself. Peak extra memory is a few bytes per output pixel.
"""

from dataclasses import dataclass

import numpy as np

# Work arrays in the per-pixel paths (here and in ``confidence``) are kept below this many
# float32 elements (~32 MB).
MAX_WORK_ELEMENTS = 8_000_000
# Elements per step of the per-pixel argmax (``_resolve_band``), which holds three arrays of it
# at once: 2 M keeps them at 24 MB (8 M made that step the heap's high-water at 12 MP).
_BAND_ELEMENTS = 2_000_000
# Pixels counted per bincount call in class_pixel_counts.
_COUNT_CHUNK = 1 << 18


@dataclass(frozen=True)
class SourceIndex:
    """For each output index along one axis: lower and upper source index, and their weights."""

    lower: np.ndarray  # int64 [out]
    upper: np.ndarray  # int64 [out]
    w_lower: np.ndarray  # float32 [out]
    w_upper: np.ndarray  # float32 [out]


def source_index(in_size: int, out_size: int) -> SourceIndex:
    """PyTorch's ``upsample_bilinear2d`` index and weight computation, ``align_corners=False``.

    Computed in float32 as PyTorch's CPU kernel does for float32 input.
    """
    scale = np.float32(in_size) / np.float32(out_size)
    dst = np.arange(out_size, dtype=np.float32)
    src = np.maximum(scale * (dst + np.float32(0.5)) - np.float32(0.5), np.float32(0))
    lower = src.astype(np.int64)  # truncation == floor, src >= 0
    lower = np.minimum(lower, in_size - 1)
    upper = np.minimum(lower + 1, in_size - 1)
    w_upper = np.clip(src - lower.astype(np.float32), 0, 1).astype(np.float32)
    w_lower = (np.float32(1) - w_upper).astype(np.float32)
    return SourceIndex(lower, upper, w_lower, w_upper)


def rounding_margin(logits: np.ndarray) -> np.float32:
    # Interpolating in float32 moves each value by at most a few ulps of the largest
    # magnitude; a lead larger than this cannot be overturned by rounding.
    # The largest magnitude without np.abs's copy of the logits (53 MB at detail's 12 MP grid).
    largest = max(float(logits.max(initial=0.0)), -float(logits.min(initial=0.0)))
    return np.float32(1e-5 * max(1.0, largest))


def winner_and_lead(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per source point: argmax over classes (first maximum) and its lead over the runner-up.

    One pass over the classes with whole-plane operations; faster than argmax + partition
    along the strided class axis, which matters in Pyodide.
    """
    top = logits[0].copy()
    second = np.full_like(top, -np.inf)
    winner = np.zeros(top.shape, dtype=np.intp)
    for c in range(1, logits.shape[0]):
        x = logits[c]
        better = x > top  # strictly: on a tie the earlier class stays the winner
        np.copyto(second, np.where(better, top, np.maximum(second, x)))
        winner[better] = c
        np.copyto(top, x, where=better)
    return winner, top - second


def upsample_argmax(logits: np.ndarray, height: int, width: int) -> np.ndarray:
    """Exact ``argmax(interpolate(logits, (height, width)))`` as uint8 (or uint16) [H, W]."""
    if logits.ndim == 4:
        if logits.shape[0] != 1:
            raise ValueError("expected a batch of one")
        logits = logits[0]
    logits = np.ascontiguousarray(logits, dtype=np.float32)
    num_classes, h, w = logits.shape
    dtype = np.uint8 if num_classes <= 256 else np.uint16
    ys, xs = source_index(h, height), source_index(w, width)
    margin = rounding_margin(logits)

    winner, lead = winner_and_lead(logits)

    # Cell (i, j) has corners (i, i+1) x (j, j+1), clamped at the last row/column.
    row_up = np.minimum(np.arange(h) + 1, h - 1)
    col_up = np.minimum(np.arange(w) + 1, w - 1)
    w00, w01 = winner, winner[:, col_up]
    w10, w11 = winner[row_up], winner[row_up][:, col_up]
    l00, l01 = lead, lead[:, col_up]
    l10, l11 = lead[row_up], lead[row_up][:, col_up]
    uniform = (w00 == w01) & (w00 == w10) & (w00 == w11)
    uniform &= np.minimum(np.minimum(l00, l01), np.minimum(l10, l11)) > margin

    # Fill every pixel with its cell's top-left winner; correct wherever the cell is uniform.
    # Source indices are sorted, so the output rows (columns) of cell row i (column j) are
    # row_starts[i]:row_starts[i + 1], and the fill is a repeat (faster than a gather), a
    # cell row at a time (no full-size temporaries).
    row_starts = np.searchsorted(ys.lower, np.arange(h + 1))
    col_starts = np.searchsorted(xs.lower, np.arange(w + 1))
    repeats = np.diff(col_starts)
    winners = winner.astype(dtype)
    labels = np.empty((height, width), dtype=dtype)
    for i in range(h):
        labels[row_starts[i] : row_starts[i + 1]] = np.repeat(winners[i], repeats)

    # Per-pixel work for the cells that are not uniform, one band of cell rows at a time.
    for i in range(h):
        r0, r1 = row_starts[i], row_starts[i + 1]
        if r0 == r1 or uniform[i].all():
            continue
        cols = np.flatnonzero(~uniform[i][xs.lower])
        if cols.size:
            _resolve_band(logits, labels, i, int(row_up[i]), r0, r1, cols, ys, xs, col_up, margin)
    return labels


def _resolve_band(logits, labels, i, i_up, r0, r1, cols, ys, xs, col_up, margin):
    """Per-pixel argmax for output rows r0:r1 (cell row i) and output columns ``cols``."""
    cells, cell_of_col = np.unique(xs.lower[cols], return_inverse=True)
    # Corner logits of each cell, [C, ncells] each.
    c00 = logits[:, i, cells]
    c01 = logits[:, i, col_up[cells]]
    c10 = logits[:, i_up, cells]
    c11 = logits[:, i_up, col_up[cells]]
    lowest = np.minimum(np.minimum(c00, c01), np.minimum(c10, c11))
    highest = np.maximum(np.maximum(c00, c01), np.maximum(c10, c11))
    # A class whose best corner is below the guaranteed winning value can never win.
    can_win = highest >= lowest.max(axis=0) - margin  # [C, ncells]
    count = can_win.sum(axis=0)
    width = int(count.max())
    # Candidate class ids per cell, ascending (so the first maximum still wins ties), padded
    # by repeating the last candidate.
    order = np.argsort(~can_win, axis=0, kind="stable")[:width].T  # [ncells, width]
    pad = np.arange(width)[None, :] >= count[:, None]
    order = np.where(pad, order[np.arange(len(cells)), count - 1][:, None], order)

    def corner(values):  # [C, ncells] -> [ncells, width]
        return np.take_along_axis(values.T, order, axis=1)

    g00, g01, g10, g11 = corner(c00), corner(c01), corner(c10), corner(c11)
    wl = xs.w_lower[cols][:, None]
    wu = xs.w_upper[cols][:, None]
    k = cell_of_col
    # Same association as PyTorch: rows weight (columns-weighted top) + (columns-weighted bottom).
    top = wl * g00[k] + wu * g01[k]  # [ncols, width]
    bottom = wl * g10[k] + wu * g11[k]
    candidates = order[k]  # [ncols, width]
    rows_per_step = max(1, _BAND_ELEMENTS // max(1, top.size))
    for s in range(r0, r1, rows_per_step):
        e = min(r1, s + rows_per_step)
        vl = ys.w_lower[s:e, None, None]
        vu = ys.w_upper[s:e, None, None]
        values = vl * top[None] + vu * bottom[None]  # [rows, ncols, width]
        best = values.argmax(axis=2)
        labels[s:e, cols] = np.take_along_axis(candidates[None], best[..., None], axis=2)[..., 0]


def class_pixel_counts(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Pixels per class id, int64 [num_classes].

    In chunks: ``bincount`` first widens its input to int64, 8 bytes a pixel (400 MB for a
    50-megapixel photo); chunks keep that small and are faster too (they stay in cache).
    """
    flat = labels.reshape(-1)
    counts = np.zeros(num_classes, dtype=np.int64)
    for start in range(0, flat.size, _COUNT_CHUNK):
        counts += np.bincount(flat[start : start + _COUNT_CHUNK], minlength=num_classes)
    return counts

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

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

# Work arrays in the per-pixel path are kept below this many float32 elements (~32 MB).
_MAX_WORK_ELEMENTS = 8_000_000
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


def _rounding_margin(logits: np.ndarray) -> np.float32:
    # Interpolating in float32 moves each value by at most a few ulps of the largest
    # magnitude; a lead larger than this cannot be overturned by rounding.
    return np.float32(1e-5 * max(1.0, float(np.abs(logits).max(initial=0.0))))


def _winner_and_lead(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    label_dtype = np.uint8 if num_classes <= 256 else np.uint16
    ys, xs = source_index(h, height), source_index(w, width)
    margin = _rounding_margin(logits)

    winner, lead = _winner_and_lead(logits)

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
    # row_starts[i]:row_starts[i + 1], and the fill is a repeat (faster than a gather).
    row_starts = np.searchsorted(ys.lower, np.arange(h + 1))
    col_starts = np.searchsorted(xs.lower, np.arange(w + 1))
    labels = winner.astype(label_dtype)
    labels = np.repeat(labels, np.diff(row_starts), axis=0)
    labels = np.repeat(labels, np.diff(col_starts), axis=1)

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
    rows_per_step = max(1, _MAX_WORK_ELEMENTS // max(1, top.size))
    for s in range(r0, r1, rows_per_step):
        e = min(r1, s + rows_per_step)
        vl = ys.w_lower[s:e, None, None]
        vu = ys.w_upper[s:e, None, None]
        values = vl * top[None] + vu * bottom[None]  # [rows, ncols, width]
        best = values.argmax(axis=2)
        labels[s:e, cols] = np.take_along_axis(candidates[None], best[..., None], axis=2)[..., 0]


# --- Confidence -------------------------------------------------------------------------------
#
# The probability of the winning class is p = 1 / sum_c exp(f_c - f_k), f the interpolated
# logits: done literally that is 150 exponentials a pixel (~30 s natively at 12 MP), and
# pruning classes by size does not help (a SegFormer's 150 logits span only ~20).
# Across a cell, f is bilinear in the cell coordinates (s, t), so along s (or t) the log-sum-exp
# g = log sum_c exp(f_c) is convex with
#     d2g/ds2 = Var_p(df/ds) <= sum_c P_c (df_c/ds - v)^2   for any v, with P_c >= p_c in the cell
# and linear interpolation of such a g errs by at most (max g_ss + max g_tt) / 8, only upwards.
# So per cell the classes are split into
# * "major" classes, evaluated exactly per pixel (every class that can win is one, if any is);
# * "minor" ones, whose log-sum-exp is computed exactly at the four corners and interpolated;
#   the bound above (delta) limits how far that is off, and so how far p is off:
#   0 <= p_exact - p <= expm1(delta) * Z_minor / Z.
# Each cell takes few enough major classes that this stays within ``max_error`` (thresholds
# tried from none up). Cells that need none: log p is interpolated from the source grid.

_SMALL_PIXELS_PER_CELL = 48
#: Default largest error of ``upsample_confidence``: half a step of an 8-bit display.
CONFIDENCE_MAX_ERROR = 2.0**-9
_PAD = np.float32(-1e30)  # a logit whose exponential is 0; finite so that 0 * _PAD == 0
_ANALYSIS_ROWS = 16  # cell rows analysed at once (150 x 16 x w arrays)


def upsample_confidence(
    logits: np.ndarray,
    labels: np.ndarray,
    max_error: float = CONFIDENCE_MAX_ERROR,
    refine: int = 1,
) -> np.ndarray:
    """Softmax probability of each pixel's label: see ``confidence_steps``, run to the end."""
    return run_steps(confidence_steps(logits, labels, max_error, refine))


Steps = Generator[None, None, np.ndarray]


def run_steps(steps: Steps) -> np.ndarray:
    """Run a stepwise computation (``confidence_steps``) to its end; its result."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def confidence_steps(
    logits: np.ndarray,
    labels: np.ndarray,
    max_error: float = CONFIDENCE_MAX_ERROR,
    refine: int = 1,
) -> Steps:
    """A generator that computes ``upsample_confidence`` in slices (each ~1/50 of the work,
    yielding ``None`` in between) and returns the map: the web worker computes it between
    other jobs, so a newer photo never waits for the older photo's confidence.

    Softmax probability of each pixel's label (the argmax ``labels`` from ``upsample_argmax``)
    after bilinear interpolation of the logits, float32 [H, W].

    Guaranteed: ``0 <= p_exact - p <= max_error`` (plus float32 rounding, ~1e-6), where
    ``p_exact`` is ``softmax(interpolate(logits)).max()`` as PyTorch computes it.
    ``max_error=0`` asks for the exact value everywhere (150 exponentials a pixel: slow).
    ``refine``: cells are first split n x n (the logits there are exact: bilinear within a
    cell); the interpolation bound shrinks by n^2, so fewer cells need major classes, but
    the planning covers n^2 as many cells. Measured on the stand-in's logits at 12 MP,
    n = 2 was no faster overall, so the default is 1.
    """
    if logits.ndim == 4:
        logits = logits[0]
    logits = np.ascontiguousarray(logits, dtype=np.float32)
    _, h, w = logits.shape
    height, width = labels.shape
    # Below about a megapixel the literal way is cheaper (measured in Pyodide, where the
    # per-cell planning costs most: ~3 s for 128 x 128 cells, under load).
    if max_error <= 0 or height * width <= _SMALL_PIXELS_PER_CELL * h * w:
        return (yield from _exact_steps(logits, labels))
    ys, xs = source_index(h, height), source_index(w, width)
    coarse = logits
    if refine > 1:
        logits = _refine(_refine(logits, refine, axis=1), refine, axis=2)
        ys, xs = _refined_index(ys, refine, h), _refined_index(xs, refine, w)
        _, h, w = logits.shape
    row_up = np.minimum(np.arange(h) + 1, h - 1)
    col_up = np.minimum(np.arange(w) + 1, w - 1)

    # Everywhere first: log p of the winner at each source point, interpolated. That is the
    # answer in every cell that needs no major class; the other cells are overwritten below.
    log_p = np.empty((h, w), dtype=np.float32)
    for i in range(h):
        column = logits[:, i, :].astype(np.float64)
        top = column.max(axis=0)
        log_p[i] = -np.log(np.exp(column - top).sum(axis=0))
    across = log_p[:, xs.lower] * xs.w_lower + log_p[:, xs.upper] * xs.w_upper  # [h, W]
    out = np.empty((height, width), dtype=np.float32)
    rows_per_step = max(1, _MAX_WORK_ELEMENTS // (4 * width))
    for s in range(0, height, rows_per_step):
        e = min(height, s + rows_per_step)
        band = ys.w_lower[s:e, None] * across[ys.lower[s:e]]
        band += ys.w_upper[s:e, None] * across[ys.upper[s:e]]
        np.exp(band, out=out[s:e])
        yield

    plan = yield from _plan_cells(logits, max_error, coarse, refine)
    # PyTorch's source position of output column x: refine * (scale * (x + 0.5) - 0.5).
    columns = (coarse.shape[2] / width, refine)
    yield from _exact_cells(out, logits, plan, ys, xs, row_up, col_up, columns)
    return out


def _refine(logits: np.ndarray, n: int, axis: int) -> np.ndarray:
    """Logits at n - 1 more points between each pair along ``axis`` (bilinear: exact)."""
    size = logits.shape[axis]
    points = np.arange(n * (size - 1) + 1)
    lower = np.minimum(points // n, size - 1)
    upper = np.minimum(lower + 1, size - 1)
    frac = ((points - lower * n) / np.float32(n)).astype(np.float32)
    shape = [1, 1, 1]
    shape[axis] = len(points)
    frac = frac.reshape(shape)
    return (1 - frac) * np.take(logits, lower, axis=axis) + frac * np.take(logits, upper, axis=axis)


def _refined_index(index: SourceIndex, n: int, size: int) -> SourceIndex:
    """The same output positions on the grid refined n times."""
    position = (index.lower + index.w_upper.astype(np.float64)) * n
    last = n * (size - 1)
    lower = np.minimum(np.floor(position).astype(np.int64), last)
    w_upper = np.clip(position - lower, 0, 1).astype(np.float32)
    upper = np.minimum(lower + 1, last)
    return SourceIndex(lower, upper, (np.float32(1) - w_upper).astype(np.float32), w_upper)


@dataclass
class _CellPlan:
    """Per cell (i, j): its major classes (a list per cell) and a floor for its logits."""

    majors: np.ndarray  # intp [h, w]: how many
    first: np.ndarray  # intp [h * w]: where cell i * w + j's classes start in ``classes``
    classes: np.ndarray  # intp [total]: class ids, cell after cell, ascending
    floor: np.ndarray  # float32 [h, w], a lower bound of the winning logit in the cell
    minor_lse: np.ndarray  # float32 [4, h, w]: logsumexp(minor logits - floor) at the corners


#: Thresholds tried for "major", relative to a cell's largest curvature term (the last: all).
_LEVELS = (np.inf, 1.0, 1 / 8, 1 / 64, 1 / 512, 1 / 4096, -1.0)
#: The bounds are computed in float32: keep a margin for its rounding.
_SAFETY = 0.99


def _padded(logits: np.ndarray) -> np.ndarray:
    """[C, h + 1, w + 1]: corner (i + 1, j + 1) of cell (i, j), clamped at the last row/column."""
    padded = np.concatenate([logits, logits[:, -1:]], axis=1)
    return np.concatenate([padded, padded[:, :, -1:]], axis=2)


def _interpolation_bound(coarse: np.ndarray) -> np.ndarray:
    """Per cell of the coarse grid, float32 [h, w]: delta such that interpolating the
    log-sum-exp of all classes from the cell's corners errs by at most delta."""
    _, h, w = coarse.shape
    padded = _padded(coarse)
    delta = np.empty((h, w), dtype=np.float32)
    for i0 in range(0, h, _ANALYSIS_ROWS):
        i1 = min(h, i0 + _ANALYSIS_ROWS)
        f = (
            padded[:, i0:i1, :w],
            padded[:, i0:i1, 1:],
            padded[:, i0 + 1 : i1 + 1, :w],
            padded[:, i0 + 1 : i1 + 1, 1:],
        )
        upper = np.maximum(np.maximum(f[0], f[1]), np.maximum(f[2], f[3]))
        lower = np.minimum(np.minimum(f[0], f[1]), np.minimum(f[2], f[3]))
        floor = lower.max(axis=0)
        e_upper = np.exp(upper - floor)  # exp(f_c - floor) lies between these in the cell
        # Var_p(d) <= sum_c P_c (d_c - d_r)^2, r the class that sets the floor (any r is
        # valid); d is linear along the cell: its largest deviation is at an edge.
        ref = lower.argmax(axis=0)[None]
        bend = np.zeros(floor.shape, dtype=np.float32)
        for a, b in ((f[1] - f[0], f[3] - f[2]), (f[2] - f[0], f[3] - f[1])):
            dev = np.maximum(
                np.square(a - np.take_along_axis(a, ref, axis=0)),
                np.square(b - np.take_along_axis(b, ref, axis=0)),
            )
            bend += (e_upper * dev).sum(axis=0)
        delta[i0:i1] = bend / (8 * np.exp(lower - floor).sum(axis=0))
    return delta


def _plan_cells(logits, max_error, coarse=None, refine=1) -> Generator[None, None, _CellPlan]:
    """``logits``: the grid the pixels are interpolated from; when it is ``coarse`` refined
    ``refine`` times, a cell's bound is its coarse cell's over refine^2 (derivatives scale
    by 1/refine; the coarse cell's bounds of p hold in its parts)."""
    _, h, w = logits.shape
    coarse = logits if coarse is None else coarse
    delta = _interpolation_bound(coarse) / np.float32(refine * refine)
    delta = np.repeat(np.repeat(delta, refine, axis=0)[:h], refine, axis=1)[:, :w]
    with np.errstate(over="ignore"):
        smooth = np.expm1(delta) <= max_error * _SAFETY
    # ...and the label must be fixed in the cell: same winner, clearly, at all four corners.
    winner, lead = _winner_and_lead(logits)
    margin = _rounding_margin(logits)
    winner = np.pad(winner, ((0, 1), (0, 1)), mode="edge")
    lead = np.pad(lead, ((0, 1), (0, 1)), mode="edge")
    w00 = winner[:h, :w]
    smooth &= (w00 == winner[:h, 1:]) & (w00 == winner[1:, :w]) & (w00 == winner[1:, 1:])
    smooth &= np.minimum(np.minimum(lead[:h, :w], lead[:h, 1:]), lead[1:, :w]) > margin
    smooth &= lead[1:, 1:] > margin

    padded = _padded(logits)
    rows, cols = np.nonzero(~smooth)
    num = len(rows)
    majors = np.zeros((h, w), dtype=np.intp)
    floor_all = np.zeros((h, w), dtype=np.float32)
    minor_lse = np.full((4, h, w), _PAD, dtype=np.float32)
    chosen_classes = []
    step = max(1, _MAX_WORK_ELEMENTS // (64 * logits.shape[0]))  # a short step each
    for a in range(0, num, step):
        r, c = rows[a : a + step], cols[a : a + step]
        f = [padded[:, r, c], padded[:, r, c + 1], padded[:, r + 1, c], padded[:, r + 1, c + 1]]
        upper = np.maximum(np.maximum(f[0], f[1]), np.maximum(f[2], f[3]))
        lower = np.minimum(np.minimum(f[0], f[1]), np.minimum(f[2], f[3]))
        floor = lower.max(axis=0)
        major, lse = _choose_majors(f, upper, lower, floor, np.float32(margin), max_error)
        majors[r, c] = major.sum(axis=0)
        floor_all[r, c] = floor
        minor_lse[:, r, c] = lse
        chosen_classes.append((r * w + c, major))
        yield
    # Major class ids cell after cell (row-major), ascending within a cell.
    cell_ids = [np.repeat(cells, major.sum(axis=0)) for cells, major in chosen_classes]
    class_ids = [np.nonzero(major.T)[1] for _, major in chosen_classes]
    if cell_ids:
        cell_ids, class_ids = np.concatenate(cell_ids), np.concatenate(class_ids)
        order = np.argsort(cell_ids, kind="stable")
        classes = class_ids[order].astype(np.intp)
    else:
        classes = np.zeros(0, dtype=np.intp)
    first = np.concatenate([[0], np.cumsum(majors.reshape(-1))[:-1]]).astype(np.intp)
    return _CellPlan(majors, first, classes, floor_all, minor_lse)


def _choose_majors(f, upper, lower, floor, margin, max_error):
    """Major classes [C, cells] (at least those that can win) and the minors' corner
    logsumexp [4, cells], for cells that cannot do without."""
    e_upper = np.exp(upper - floor)
    e_lower = np.exp(lower - floor)
    can_win = upper >= floor - margin
    # For the minor classes, v = their mean derivative weighted by e_upper (any v is valid).
    light = np.where(can_win, 0, e_upper)
    light_sum = np.maximum(light.sum(axis=0), np.finfo(np.float32).tiny)
    curvature = np.zeros(upper.shape, dtype=np.float32)
    for a, b in ((f[1] - f[0], f[3] - f[2]), (f[2] - f[0], f[3] - f[1])):
        v = (light * (a + b)).sum(axis=0) / (2 * light_sum)
        curvature += np.maximum(np.square(a - v), np.square(b - v))
    curvature *= e_upper
    scale = np.where(can_win, 0, curvature).max(axis=0)
    curvature[can_win] = np.inf  # classes that can win are always major
    z_lower_all = e_lower.sum(axis=0, dtype=np.float64)
    chosen = np.full(floor.shape, len(_LEVELS) - 1)
    for level in range(len(_LEVELS) - 2, 0, -1):  # from many majors to few
        minor = curvature <= scale * np.float32(_LEVELS[level])
        z_upper = e_upper.sum(axis=0, where=minor, dtype=np.float64)
        z_lower = e_lower.sum(axis=0, where=minor, dtype=np.float64)
        bend = curvature.sum(axis=0, where=minor, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            delta = bend / (8 * z_lower)  # how far the minors' logsumexp can be off
            error = np.expm1(delta) * np.minimum(1.0, z_upper / z_lower_all)
        ok = (np.nan_to_num(error, nan=np.inf) <= max_error * _SAFETY) | (z_upper == 0)
        chosen = np.where(ok, level, chosen)
    threshold = scale * np.asarray(_LEVELS, dtype=np.float32)[chosen]
    major = curvature > threshold
    major[:, chosen == len(_LEVELS) - 1] = True
    # The minors' logsumexp at each corner (exactly; interpolated per pixel later).
    lse = np.full((4, len(floor)), _PAD, dtype=np.float32)
    for k, corner in enumerate(f):
        z = np.exp(corner - floor).sum(axis=0, where=~major, dtype=np.float64)
        with np.errstate(divide="ignore"):
            lse[k] = np.where(z > 0, np.log(z), _PAD)
    return major, lse


def _exact_cells(out, logits, plan, ys, xs, row_up, col_up, columns):
    """Per-pixel confidence in the cells that have major classes, from their major classes'
    bilinear logits (exactly) and the minors' interpolated logsumexp."""
    row_starts = np.searchsorted(ys.lower, np.arange(len(row_up) + 1))
    col_starts = np.searchsorted(xs.lower, np.arange(len(col_up) + 1))
    rows_of = np.diff(row_starts)
    cols_of = np.diff(col_starts)
    busy = (plan.majors > 0) & (rows_of[:, None] > 0) & (cols_of[None, :] > 0)
    ci, cj = np.nonzero(busy)
    if not ci.size:
        return
    # Cells with the most major classes first: slot k is then needed by a prefix of them.
    by_count = np.argsort(-plan.majors[ci, cj], kind="stable")
    ci, cj = ci[by_count], cj[by_count]
    block = max(1, int(rows_of.max()) * int(cols_of.max()))
    # ~6 arrays of this size (float64); smaller groups than memory allows, so that each is a
    # short step (measured: no slower than groups 4x as large).
    step = max(1, _MAX_WORK_ELEMENTS // (64 * block))
    # The first column of cells holds the pixels PyTorch clamps at the border (their weights
    # are not evenly spaced): those take the direct way, the others the geometric one.
    for group, cells in ((_exact_group, cj == 0), (_geometric_group, cj > 0)):
        gi, gj = ci[cells], cj[cells]
        for a in range(0, gi.size, step):
            group(out, logits, plan, gi[a : a + step], gj[a : a + step], ys, xs, row_up,
                  col_up, row_starts, col_starts, columns)  # fmt: skip
            yield


def _exact_group(out, logits, plan, i, j, ys, xs, row_up, col_up, rs, cs, columns):
    iu, ju = row_up[i], col_up[j]
    m = plan.majors[i, j]  # descending
    first = plan.first[i * plan.majors.shape[1] + j]
    floor = plan.floor[i, j]
    # Each cell's pixels as a block [cells, rows, cols], padded by repeating its last row and
    # column (the repeats compute and write the same value twice).
    nr, nc = rs[i + 1] - rs[i], cs[j + 1] - cs[j]
    rr = rs[i][:, None] + np.minimum(np.arange(nr.max())[None, :], nr[:, None] - 1)
    cc = cs[j][:, None] + np.minimum(np.arange(nc.max())[None, :], nc[:, None] - 1)
    vu = ys.w_upper[rr][:, :, None]  # [cells, rows, 1]
    wl, wu = xs.w_lower[cc], xs.w_upper[cc]  # [cells, cols]

    def blend(g00, g01, g10, g11, n):  # corner values [n] -> [n, rows, cols]
        top = wl[:n] * g00[:, None] + wu[:n] * g01[:, None]
        bottom = wl[:n] * g10[:, None] + wu[:n] * g11[:, None]
        values = vu[:n] * (bottom - top)[:, None, :]
        values += top[:, None, :]
        return values

    corners = ((i, j), (i, ju), (iu, j), (iu, ju))
    total = best = None
    for k in range(int(m[0])):
        n = int(np.count_nonzero(m > k))  # a prefix: m is sorted
        cls = plan.classes[first[:n] + k]
        g = [logits[cls, a[:n], b[:n]] - floor[:n] for a, b in corners]
        values = blend(*g, n)
        if best is None:
            best = values.copy()
            total = np.exp(values, out=values)
        else:
            np.maximum(best[:n], values, out=best[:n])
            total[:n] += np.exp(values, out=values)
    total += np.exp(blend(*plan.minor_lse[:, i, j], len(m)))
    p = np.exp(best) / total
    width = out.shape[1]
    out.reshape(-1)[(rr[:, :, None] * width + cc[:, None, :]).reshape(-1)] = p.reshape(-1)


def _geometric_group(out, logits, plan, i, j, ys, xs, row_up, col_up, rs, cs, columns):
    """What ``_exact_group`` computes, with far fewer exponentials (~10 ns each in Pyodide's
    numpy, a multiplication under 1 ns): along a row of a cell's pixels the interpolated logit
    is linear in the column (pixel columns are evenly spaced on the grid), so its exponential
    is a geometric sequence: two exponentials a row per class, then products. In float64,
    whose range holds any cell's exp(logit - floor). The column weights are PyTorch's float64
    ones (its reference); the rows' are the float32 ones the labels used."""
    iu, ju = row_up[i], col_up[j]
    m = plan.majors[i, j]  # descending
    first = plan.first[i * plan.majors.shape[1] + j]
    floor = plan.floor[i, j].astype(np.float64)
    nr, nc = rs[i + 1] - rs[i], cs[j + 1] - cs[j]
    rows, cols = int(nr.max()), int(nc.max())
    # [cells, rows]: the last row repeated as padding (it writes the same value twice).
    rr = rs[i][:, None] + np.minimum(np.arange(rows)[None, :], nr[:, None] - 1)
    v = ys.w_upper[rr].astype(np.float64)
    # The weight of each cell's first pixel column (PyTorch: src = scale (x + 0.5) - 0.5).
    scale, refine = columns
    u0 = refine * (scale * (cs[j] + 0.5) - 0.5) - j
    scale *= refine  # grid units between two pixel columns
    along = scale * np.arange(cols)  # [cols]: the weight's growth along a row

    def line(g00, g01, g10, g11, n):  # a row's value at its first column, and its slope
        slope = (g01 - g00)[:, None] + v[:n] * (g11 - g10 - g01 + g00)[:, None]  # [n, rows]
        start = g00[:, None] + v[:n] * (g10 - g00)[:, None] + u0[:n, None] * slope
        return start, slope

    corners = ((i, j), (i, ju), (iu, j), (iu, ju))
    total = best = None  # [cols, cells, rows]
    for k in range(int(m[0])):
        n = int(np.count_nonzero(m > k))  # a prefix: m is sorted
        cls = plan.classes[first[:n] + k]
        g = [logits[cls, a[:n], b[:n]] - floor[:n] for a, b in corners]
        start, slope = line(*g, n)
        values = _geometric(np.exp(start), np.exp(slope * scale), cols)
        if best is None:
            best, total = values, values.copy()
        else:
            np.maximum(best[:, :n], values, out=best[:, :n])
            total[:, :n] += values
    # The minors' interpolated log-sum-exp: one exponential a pixel (its corners may be
    # "none" (_PAD): clamped to a finite -1e4 so that 0 * slope stays 0).
    minor = [np.maximum(c, -1e4).astype(np.float64) for c in plan.minor_lse[:, i, j]]
    start, slope = line(*minor, len(m))
    total += np.exp(start[None] + along[:, None, None] * slope[None])
    p = best / total
    # Write the pixels that exist (cells narrower than the widest have padding columns).
    width = out.shape[1]
    column = cs[j][None, :, None] + np.arange(cols)[:, None, None]  # [cols, cells, 1]
    index = rr[None] * width + column
    real = np.broadcast_to(np.arange(cols)[:, None, None] < nc[None, :, None], index.shape)
    out.reshape(-1)[index[real]] = p[real]


def _geometric(first: np.ndarray, ratio: np.ndarray, count: int) -> np.ndarray:
    """first * ratio**c for c in range(count), [count, *first.shape], by doubling: the
    products of the terms so far and ratio**filled fill the next ones."""
    out = np.empty((count, *first.shape))
    out[0] = first
    power, filled = ratio, 1
    while filled < count:
        take = min(filled, count - filled)
        np.multiply(out[:take], power, out=out[filled : filled + take])
        filled += take
        power = power * power
    return out


def upsample_confidence_exact(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The literal computation (all classes at every pixel), one band of rows at a time so
    memory stays at C x W x rows-per-band: the reference for ``upsample_confidence``."""
    return run_steps(_exact_steps(logits, labels))


def _exact_steps(logits: np.ndarray, labels: np.ndarray) -> Steps:
    if logits.ndim == 4:
        logits = logits[0]
    logits = np.ascontiguousarray(logits, dtype=np.float32)
    num_classes, h, w = logits.shape
    height, width = labels.shape
    ys, xs = source_index(h, height), source_index(w, width)
    out = np.empty((height, width), dtype=np.float32)
    # Bands of ~2 M elements: short steps for confidence_steps, and no slower than larger ones.
    rows_per_step = max(1, _MAX_WORK_ELEMENTS // (4 * num_classes * width))
    for s in range(0, height, rows_per_step):
        e = min(height, s + rows_per_step)
        # Columns first, for the source rows this band needs only: [rows, C, W]. (All 128 at
        # once would be 1.5 GB for a 20000-pixel-wide panorama.)
        lower, upper = ys.lower[s:e], ys.upper[s:e]
        rows = np.unique(np.concatenate([lower, upper]))
        part = logits[:, rows]
        across = (part[:, :, xs.lower] * xs.w_lower + part[:, :, xs.upper] * xs.w_upper).transpose(
            1, 0, 2
        )
        f = (
            ys.w_lower[s:e, None, None] * across[np.searchsorted(rows, lower)]
            + ys.w_upper[s:e, None, None] * across[np.searchsorted(rows, upper)]
        )  # [rows, C, W]
        f -= f.max(axis=1, keepdims=True)
        np.exp(f, out=f)
        chosen = np.take_along_axis(f, labels[s:e, None, :].astype(np.intp), axis=1)[:, 0]
        out[s:e] = chosen / f.sum(axis=1)
        yield
    return out


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

"""Confidence: the softmax probability of each pixel's label, within a bound, at full resolution.

The probability of the winning class is p = 1 / sum_c exp(f_c - f_k), f the interpolated
logits: done literally that is 150 exponentials a pixel (~30 s natively at 12 MP), and
pruning classes by size does not help (a SegFormer's 150 logits span only ~20).
Across a cell, f is bilinear in the cell coordinates (s, t), so along s (or t) the log-sum-exp
g = log sum_c exp(f_c) is convex with
    d2g/ds2 = Var_p(df/ds) <= sum_c P_c (df_c/ds - v)^2   for any v, with P_c >= p_c in the cell
and linear interpolation of such a g errs by at most (max g_ss + max g_tt) / 8, only upwards.
So per cell the classes are split into
* "major" classes, evaluated exactly per pixel (every class that can win is one, if any is);
* "minor" ones, whose log-sum-exp is computed exactly at the four corners and interpolated;
  the bound above (delta) limits how far that is off, and so how far p is off:
  0 <= p_exact - p <= expm1(delta) * Z_minor / Z.
Each cell takes few enough major classes that this stays within ``max_error`` (thresholds
tried from none up). Cells that need none: log p is interpolated from the source grid.

Which classes are major in each cell is planned in ``confidence_plan``; this module computes
the pixels. ``tests/test_confidence.py`` checks the bound against PyTorch in float64.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from .confidence_plan import CellPlan, plan_cells
from .postprocess import MAX_WORK_ELEMENTS, SourceIndex, source_index

_SMALL_PIXELS_PER_CELL = 48
#: Default largest error of ``upsample_confidence``: half a step of an 8-bit display.
CONFIDENCE_MAX_ERROR = 2.0**-9


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
    rows_per_step = max(1, MAX_WORK_ELEMENTS // (4 * width))
    for s in range(0, height, rows_per_step):
        e = min(height, s + rows_per_step)
        band = ys.w_lower[s:e, None] * across[ys.lower[s:e]]
        band += ys.w_upper[s:e, None] * across[ys.upper[s:e]]
        np.exp(band, out=out[s:e])
        yield

    plan = yield from plan_cells(logits, max_error, coarse, refine)
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
    step = max(1, MAX_WORK_ELEMENTS // (64 * block))
    # The first column of cells holds the pixels PyTorch clamps at the border (their weights
    # are not evenly spaced): those take the direct way, the others the geometric one.
    for compute, cells in ((_exact_group, cj == 0), (_geometric_group, cj > 0)):
        gi, gj = ci[cells], cj[cells]
        for a in range(0, gi.size, step):
            i, j = gi[a : a + step], gj[a : a + step]
            group = _CellGroup.of(plan, i, j, row_up, col_up, row_starts, col_starts)
            compute(out, logits, plan, group, ys, xs, columns)
            yield


@dataclass(frozen=True)
class _CellGroup:
    """Cells computed together (sorted by their number of major classes, most first) and
    what both ways of computing them start from."""

    j: np.ndarray  # intp [cells]: the cells' columns on the grid
    corners: tuple  # (i, j), (i, j_up), (i_up, j), (i_up, j_up): grid indices [cells] each
    majors: np.ndarray  # intp [cells]: how many major classes, descending
    first: np.ndarray  # intp [cells]: where each cell's major classes start in plan.classes
    floor: np.ndarray  # float32 [cells]
    minor_lse: np.ndarray  # float32 [4, cells]
    # [cells, rows]: each cell's output rows, its last row repeated as padding (the repeats
    # compute and write the same value twice).
    rows: np.ndarray
    first_col: np.ndarray  # intp [cells]: each cell's first output column
    cols: np.ndarray  # intp [cells]: how many output columns each cell has

    @classmethod
    def of(cls, plan: CellPlan, i, j, row_up, col_up, rs, cs) -> _CellGroup:
        iu, ju = row_up[i], col_up[j]
        nr = rs[i + 1] - rs[i]
        rows = rs[i][:, None] + np.minimum(np.arange(nr.max())[None, :], nr[:, None] - 1)
        return cls(
            j=j,
            corners=((i, j), (i, ju), (iu, j), (iu, ju)),
            majors=plan.majors[i, j],
            first=plan.first[i * plan.majors.shape[1] + j],
            floor=plan.floor[i, j],
            minor_lse=plan.minor_lse[:, i, j],
            rows=rows,
            first_col=cs[j],
            cols=cs[j + 1] - cs[j],
        )

    def major_logits(self, logits, plan: CellPlan, floor):
        """Per major-class slot k: n, the number of cells that have a k-th major class (a
        prefix: majors are descending), and that class's corner logits minus ``floor``."""
        for k in range(int(self.majors[0])):
            n = int(np.count_nonzero(self.majors > k))
            cls = plan.classes[self.first[:n] + k]
            yield n, [logits[cls, a[:n], b[:n]] - floor[:n] for a, b in self.corners]


def _exact_group(out, logits, plan, group, ys, xs, columns):
    # Each cell's pixels as a block [cells, rows, cols], padded by repeating its last row and
    # column (the repeats compute and write the same value twice).
    rr, nc = group.rows, group.cols
    cc = group.first_col[:, None] + np.minimum(np.arange(nc.max())[None, :], nc[:, None] - 1)
    vu = ys.w_upper[rr][:, :, None]  # [cells, rows, 1]
    wl, wu = xs.w_lower[cc], xs.w_upper[cc]  # [cells, cols]

    def blend(g00, g01, g10, g11, n):  # corner values [n] -> [n, rows, cols]
        top = wl[:n] * g00[:, None] + wu[:n] * g01[:, None]
        bottom = wl[:n] * g10[:, None] + wu[:n] * g11[:, None]
        values = vu[:n] * (bottom - top)[:, None, :]
        values += top[:, None, :]
        return values

    total = best = None
    for n, g in group.major_logits(logits, plan, group.floor):
        values = blend(*g, n)
        if best is None:
            best = values.copy()
            total = np.exp(values, out=values)
        else:
            np.maximum(best[:n], values, out=best[:n])
            total[:n] += np.exp(values, out=values)
    total += np.exp(blend(*group.minor_lse, len(group.majors)))
    p = np.exp(best) / total
    width = out.shape[1]
    out.reshape(-1)[(rr[:, :, None] * width + cc[:, None, :]).reshape(-1)] = p.reshape(-1)


def _geometric_group(out, logits, plan, group, ys, xs, columns):
    """What ``_exact_group`` computes, with far fewer exponentials (~10 ns each in Pyodide's
    numpy, a multiplication under 1 ns): along a row of a cell's pixels the interpolated logit
    is linear in the column (pixel columns are evenly spaced on the grid), so its exponential
    is a geometric sequence: two exponentials a row per class, then products. In float64,
    whose range holds any cell's exp(logit - floor). The column weights are PyTorch's float64
    ones (its reference); the rows' are the float32 ones the labels used."""
    rr, nc, cs = group.rows, group.cols, group.first_col
    cols = int(nc.max())
    v = ys.w_upper[rr].astype(np.float64)
    # The weight of each cell's first pixel column (PyTorch: src = scale (x + 0.5) - 0.5).
    scale, refine = columns
    u0 = refine * (scale * (cs + 0.5) - 0.5) - group.j
    scale *= refine  # grid units between two pixel columns
    along = scale * np.arange(cols)  # [cols]: the weight's growth along a row

    def line(g00, g01, g10, g11, n):  # a row's value at its first column, and its slope
        slope = (g01 - g00)[:, None] + v[:n] * (g11 - g10 - g01 + g00)[:, None]  # [n, rows]
        start = g00[:, None] + v[:n] * (g10 - g00)[:, None] + u0[:n, None] * slope
        return start, slope

    total = best = None  # [cols, cells, rows]
    for n, g in group.major_logits(logits, plan, group.floor.astype(np.float64)):
        start, slope = line(*g, n)
        values = _geometric(np.exp(start), np.exp(slope * scale), cols)
        if best is None:
            best, total = values, values.copy()
        else:
            np.maximum(best[:, :n], values, out=best[:, :n])
            total[:, :n] += values
    # The minors' interpolated log-sum-exp: one exponential a pixel (its corners may be
    # "none" (confidence_plan.PAD): clamped to a finite -1e4 so that 0 * slope stays 0).
    minor = [np.maximum(c, -1e4).astype(np.float64) for c in group.minor_lse]
    start, slope = line(*minor, len(group.majors))
    total += np.exp(start[None] + along[:, None, None] * slope[None])
    p = best / total
    # Write the pixels that exist (cells narrower than the widest have padding columns).
    width = out.shape[1]
    column = cs[None, :, None] + np.arange(cols)[:, None, None]  # [cols, cells, 1]
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
    rows_per_step = max(1, MAX_WORK_ELEMENTS // (4 * num_classes * width))
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

"""Per cell of the logit grid: which classes ``confidence`` evaluates exactly per pixel
("major") and, for the others, their log-sum-exp at the cell's corners (the bound behind this
is explained in ``confidence``'s docstring)."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from .postprocess import MAX_WORK_ELEMENTS, rounding_margin, winner_and_lead

PAD = np.float32(-1e30)  # a logit whose exponential is 0; finite so that 0 * PAD == 0
_ANALYSIS_ROWS = 8  # cell rows analysed at once (150 x 8 x w arrays: ~1.7 MB at w = 344)


@dataclass
class CellPlan:
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


def _next_index(size: int) -> np.ndarray:
    """Index of the next row (or column) of each, clamped at the last: the far corners of the
    cells. Corners are gathered through it, a few rows at a time, rather than from a padded
    copy of the logits (two more [C, h, w] arrays: ~100 MB at detail's 12 MP grid)."""
    return np.minimum(np.arange(size) + 1, size - 1)


def _interpolation_bound(coarse: np.ndarray) -> np.ndarray:
    """Per cell of the coarse grid, float32 [h, w]: delta such that interpolating the
    log-sum-exp of all classes from the cell's corners errs by at most delta."""
    _, h, w = coarse.shape
    row_up, col_up = _next_index(h), _next_index(w)
    delta = np.empty((h, w), dtype=np.float32)
    for i0 in range(0, h, _ANALYSIS_ROWS):
        i1 = min(h, i0 + _ANALYSIS_ROWS)
        top, bottom = coarse[:, i0:i1], coarse[:, row_up[i0:i1]]
        f = (top, top[:, :, col_up], bottom, bottom[:, :, col_up])
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


def plan_cells(logits, max_error, coarse=None, refine=1) -> Generator[None, None, CellPlan]:
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
    winner, lead = winner_and_lead(logits)
    margin = rounding_margin(logits)
    winner = np.pad(winner, ((0, 1), (0, 1)), mode="edge")
    lead = np.pad(lead, ((0, 1), (0, 1)), mode="edge")
    w00 = winner[:h, :w]
    smooth &= (w00 == winner[:h, 1:]) & (w00 == winner[1:, :w]) & (w00 == winner[1:, 1:])
    smooth &= np.minimum(np.minimum(lead[:h, :w], lead[:h, 1:]), lead[1:, :w]) > margin
    smooth &= lead[1:, 1:] > margin

    row_up, col_up = _next_index(h), _next_index(w)
    rows, cols = np.nonzero(~smooth)
    num = len(rows)
    majors = np.zeros((h, w), dtype=np.intp)
    floor_all = np.zeros((h, w), dtype=np.float32)
    minor_lse = np.full((4, h, w), PAD, dtype=np.float32)
    chosen_classes = []
    step = max(1, MAX_WORK_ELEMENTS // (64 * logits.shape[0]))  # a short step each
    for a in range(0, num, step):
        r, c = rows[a : a + step], cols[a : a + step]
        r1, c1 = row_up[r], col_up[c]
        f = [logits[:, r, c], logits[:, r, c1], logits[:, r1, c], logits[:, r1, c1]]
        upper = np.maximum(np.maximum(f[0], f[1]), np.maximum(f[2], f[3]))
        lower = np.minimum(np.minimum(f[0], f[1]), np.minimum(f[2], f[3]))
        floor = lower.max(axis=0)
        major, lse = _choose_majors(f, upper, lower, floor, np.float32(margin), max_error)
        majors[r, c] = major.sum(axis=0)
        floor_all[r, c] = floor
        minor_lse[:, r, c] = lse
        # Its cells' major class ids, cell after cell, ascending within each.
        chosen_classes.append(np.nonzero(major.T)[1])
        yield
    # np.nonzero gave the cells in row-major order, so the steps' lists joined are already
    # cell after cell (no sort, and no cell-id array beside them: ~50 MB less at 12 MP).
    classes = (
        np.concatenate(chosen_classes).astype(np.intp, copy=False)
        if chosen_classes
        else np.zeros(0, dtype=np.intp)
    )
    first = np.concatenate([[0], np.cumsum(majors.reshape(-1))[:-1]]).astype(np.intp)
    return CellPlan(majors, first, classes, floor_all, minor_lse)


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
    lse = np.full((4, len(floor)), PAD, dtype=np.float32)
    for k, corner in enumerate(f):
        z = np.exp(corner - floor).sum(axis=0, where=~major, dtype=np.float64)
        with np.errstate(divide="ignore"):
            lse[k] = np.where(z > 0, np.log(z), PAD)
    return major, lse

"""The confidence threshold, checked alike by the summary (``pipeline``) and the exports.

Its own module so that both can import it: the exports encode a ``Segmentation``, and a
``Segmentation``'s summary counts the pixels below the threshold as unlabelled.
"""

from __future__ import annotations

#: The label-map value of a pixel whose confidence is below the threshold.
UNLABELLED = 255


class ExportError(ValueError):
    """Options that make no sense (unknown kind, class id out of range, threshold not 0..1)."""


def check_threshold(threshold) -> float | None:
    if threshold is None:
        return None
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise ExportError(f"threshold must be a number from 0 to 1, not {threshold!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ExportError(f"threshold must be from 0 to 1, not {value}")
    return value

"""A segmentation as files: label map, colour overlay, class masks, confidence map, summary.

The same encoders run in CPython and, for the web app, in the worker's Pyodide (never on the
page's UI thread). Conventions, shared by every export:

* Label map PNG: 8-bit greyscale, pixel value = class id (0..149). With a confidence
  ``threshold``, pixels whose confidence is below it get ``threshold.UNLABELLED`` (255).
* Colour overlay PNG: RGBA at full resolution, each pixel in its class colour with alpha
  ``opacity`` (0..1); unlabelled pixels (below the threshold) are fully transparent.
* Mask PNG: 8-bit greyscale, 255 where the pixel is the class, 0 elsewhere.
* Masks zip: one mask PNG per class present, named ``{id:03d}-{name}.png``.
* Confidence PNG: 16-bit greyscale, value = round(p * 65535), p the softmax probability of the
  pixel's class (accurate to ``CONFIDENCE_MAX_ERROR``; see ``confidence.upsample_confidence``).
* Summary JSON: ``Segmentation.summary()``.
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import numpy as np
from PIL import Image

from .pipeline import Segmentation
from .threshold import ExportError

KINDS = ("labels-png", "overlay-png", "mask-png", "masks-zip", "confidence-png", "summary-json")
MIME = {
    "labels-png": "image/png",
    "overlay-png": "image/png",
    "mask-png": "image/png",
    "masks-zip": "application/zip",
    "confidence-png": "image/png",
    "summary-json": "application/json",
}
# PNG compression: level 6 is zlib's default; the 12 MP RGBA overlay is the slowest export.
_PNG_LEVEL = 6


def png(array: np.ndarray) -> bytes:
    """uint8 [H, W] (L), uint8 [H, W, 3|4] (RGB|RGBA) or uint16 [H, W] (16-bit L) -> PNG."""
    if array.dtype == np.uint16:
        # Pillow's 16-bit greyscale mode is little-endian; its PNG writer stores big-endian.
        height, width = array.shape
        image = Image.frombytes("I;16", (width, height), array.astype("<u2").tobytes())
    else:
        image = Image.fromarray(array)
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=_PNG_LEVEL)
    return buf.getvalue()


def labels_png(seg: Segmentation, threshold: float | None = None) -> bytes:
    return png(seg.labelled_map(threshold))


def overlay_rgba(seg: Segmentation, threshold=None, opacity: float = 1.0) -> np.ndarray:
    try:
        alpha = round(float(opacity) * 255)
    except (TypeError, ValueError):
        raise ExportError(f"opacity must be a number from 0 to 1, not {opacity!r}") from None
    if not 0 <= alpha <= 255:
        raise ExportError(f"opacity must be from 0 to 1, not {opacity}")
    # Palette with the unlabelled value transparent: one lookup per pixel.
    table = np.zeros((256, 4), dtype=np.uint8)
    table[: seg.num_classes, :3] = np.asarray(seg.model.colors, dtype=np.uint8)
    table[: seg.num_classes, 3] = alpha
    return table[seg.labelled_map(threshold)]


def overlay_png(seg: Segmentation, threshold=None, opacity: float = 1.0) -> bytes:
    return png(overlay_rgba(seg, threshold, opacity))


def class_id(seg: Segmentation, value) -> int:
    try:
        cid = int(value)
    except (TypeError, ValueError):
        raise ExportError(f"classId must be a class id (0..{seg.num_classes - 1})") from None
    if not 0 <= cid < seg.num_classes or cid != value:
        raise ExportError(f"classId must be a class id (0..{seg.num_classes - 1}), not {value!r}")
    return cid


def mask_png(seg: Segmentation, cid, threshold=None) -> bytes:
    cid = class_id(seg, cid)
    return png(np.where(seg.labelled_map(threshold) == cid, 255, 0).astype(np.uint8))


def mask_name(cid: int, name: str) -> str:
    """File name of a class mask inside the zip: '004-tree.png', '044-chest-of-drawers.png'."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "class"
    return f"{cid:03d}-{slug}.png"


def masks_zip(seg: Segmentation, threshold=None) -> bytes:
    labels = seg.labelled_map(threshold)
    present = np.flatnonzero(np.bincount(labels.reshape(-1), minlength=256)[: seg.num_classes])
    buf = io.BytesIO()
    # PNGs are compressed already: stored, not deflated again.
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as archive:
        for cid in present.tolist():
            mask = np.where(labels == cid, 255, 0).astype(np.uint8)
            archive.writestr(mask_name(cid, seg.model.labels[cid]), png(mask))
    return buf.getvalue()


def confidence_u16(seg: Segmentation) -> np.ndarray:
    """round(p * 65535), in float64 (exact for a float32 p), a band of rows at a time."""
    conf = seg.ensure_confidence()
    out = np.empty(conf.shape, dtype=np.uint16)
    rows = max(1, (1 << 20) // max(1, conf.shape[1]))
    for start in range(0, conf.shape[0], rows):
        band = np.clip(conf[start : start + rows].astype(np.float64), 0, 1) * 65535
        out[start : start + rows] = np.rint(band)
    return out


def confidence_png(seg: Segmentation) -> bytes:
    return png(confidence_u16(seg))


def summary_json(seg: Segmentation, threshold=None) -> bytes:
    if seg.logits is not None:
        seg.ensure_confidence()  # the summary lists each class's mean confidence
    return json.dumps(seg.summary(threshold=threshold), indent=1).encode("utf-8")


def export(seg: Segmentation, kind: str, options: dict | None = None) -> bytes:
    """One export by name (the web worker's entry point); options as in the JS API."""
    options = dict(options or {})
    threshold = options.get("threshold")
    if kind == "labels-png":
        return labels_png(seg, threshold)
    if kind == "overlay-png":
        return overlay_png(seg, threshold, options.get("opacity", 1.0))
    if kind == "mask-png":
        if "classId" not in options:
            raise ExportError("mask-png needs options.classId")
        return mask_png(seg, options["classId"], threshold)
    if kind == "masks-zip":
        return masks_zip(seg, threshold)
    if kind == "confidence-png":
        return confidence_png(seg)
    if kind == "summary-json":
        return summary_json(seg, threshold)
    raise ExportError(f"unknown export {kind!r}; one of: {', '.join(KINDS)}")

"""Every file SceneSeg writes, one function per kind. The page's downloads (browser.export_file
and shares_file), its batch zip (batch_zip), the CLI (--out, --overlay, --json, --out-dir) and
the CLI's folder batch (tools/batch) all call these: a change to a file's format is made here.
The same encoders run in CPython and, for the web app, in the worker's Pyodide.

* Label map PNG (``labels_png``): 8-bit greyscale, pixel value = class id (0..149). With a
  confidence ``threshold``, pixels whose confidence is below it get ``threshold.UNLABELLED``.
* Colour overlay PNG (``overlay_png``): RGBA at full resolution, each pixel in its class colour
  with alpha ``opacity`` (0..1); unlabelled pixels (below the threshold) are fully transparent.
* Mask PNG (``mask_png``): 8-bit greyscale, 255 where the pixel is the class, 0 elsewhere.
* Masks zip (``masks_zip``): one mask PNG per class present, named ``{id:03d}-{name}.png``.
* Confidence PNG (``confidence_png``): 16-bit greyscale, value = round(p * 65535), p the
  softmax probability of the pixel's class (accurate to ``CONFIDENCE_MAX_ERROR``).
* Summary JSON (``summary``/``summary_json``): schema ``SUMMARY_VERSION``, every key always
  there (null where it does not apply); ``SUMMARY_SCHEMA`` describes it, docs/summary-schema.md
  explains it.
* Class shares (``class_shares_csv``/``class_shares_json``): one row per photo (or video
  frame) and class, ``SHARES_COLUMNS``; rows from ``share_row``.

Named ``outputs`` (it was ``exports``) so that it is not mistaken for ``tools/export``, which
makes model files.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile

import numpy as np
from PIL import Image

from .confidence import CONFIDENCE_MAX_ERROR
from .groups import groups_for
from .pipeline import Segmentation
from .postprocess import class_pixel_counts
from .threshold import UNLABELLED, ExportError, check_threshold

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
# Batches write every photo's overlay: flat colour areas, where a higher level costs seconds
# on 12 MP for a few per cent.
FAST_PNG_LEVEL = 1


def png(array: np.ndarray, level: int = _PNG_LEVEL) -> bytes:
    """uint8 [H, W] (L), uint8 [H, W, 3|4] (RGB|RGBA) or uint16 [H, W] (16-bit L) -> PNG."""
    if array.dtype == np.uint16:
        # Pillow's 16-bit greyscale mode is little-endian; its PNG writer stores big-endian.
        height, width = array.shape
        image = Image.frombytes("I;16", (width, height), array.astype("<u2").tobytes())
    else:
        image = Image.fromarray(array)
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=level)
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


def overlay_png(
    seg: Segmentation, threshold=None, opacity: float = 1.0, level: int = _PNG_LEVEL
) -> bytes:
    return png(overlay_rgba(seg, threshold, opacity), level)


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


# ---- Summary JSON ----

SUMMARY_VERSION = 2  # 2: "resolution" (issue 20)
# The machine-checkable schema (docs/summary-schema.md says what each key means): key -> the
# type of its value, a tuple where null is allowed; a nested dict describes an object's keys,
# a one-item list a list of such items, ``"str->float"`` an object of any keys to floats.
NULL = type(None)
SUMMARY_SCHEMA = {
    "schema_version": int,
    "photo": (str, NULL),
    "width": int,
    "height": int,
    "model": {
        "id": (str, NULL),
        "file": (str, NULL),
        "sha256": (str, NULL),
        "precision": (str, NULL),
        "labels": int,
        "label_set": str,
    },
    "backend": str,
    "provider": (str, NULL),
    "timings_ms": "str->float",
    "resolution": ({"mode": str, "input": [int], "windows": int}, NULL),
    "classes": [
        {
            "id": int,
            "name": str,
            "color": [int],
            "pixels": int,
            "fraction": float,
            "group": ({"context": str, "kind": str}, NULL),
            "mean_confidence": (float, NULL),
        }
    ],
    "group_shares": ({"context": "str->float", "kind": "str->float"}, NULL),
    "confidence": ({"max_error": float}, NULL),
    "threshold": (
        {
            "value": float,
            "unlabelled_value": int,
            "unlabelled_pixels": int,
            "unlabelled_fraction": float,
        },
        NULL,
    ),
}


def summary_problems(value, schema=SUMMARY_SCHEMA, where: str = "summary") -> list[str]:
    """What in ``value`` does not follow ``schema`` (SUMMARY_SCHEMA by default): missing or
    extra keys, wrong types; [] when it follows it. Tests check every summary with it."""
    options = schema if isinstance(schema, tuple) else (schema,)
    problems: list[str] = []
    for option in options:
        problems = _problems(value, option, where)
        if not problems:
            return []
    return problems


def _problems(value, schema, where):
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not an object"]
        out = [f"{where}.{k}: missing" for k in schema if k not in value]
        out += [f"{where}.{k}: not in the schema" for k in value if k not in schema]
        for key, sub in schema.items():
            if key in value:
                out += summary_problems(value[key], sub, f"{where}.{key}")
        return out
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, not a list"]
        return [
            p
            for i, item in enumerate(value)
            for p in summary_problems(item, schema[0], f"{where}[{i}]")
        ]
    if schema == "str->float":
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not an object"]
        return [f"{where}.{k}: not a number" for k, v in value.items() if type(v) is not float]
    # bool is an int in Python, not in JSON: the type must match exactly.
    return (
        [] if type(value) is schema else [f"{where}: {type(value).__name__}, not {schema.__name__}"]
    )


def summary(
    seg: Segmentation,
    threshold: float | None = None,
    *,
    photo: str | None = None,
    provider: str | None = None,
    confidence: bool = True,
) -> dict:
    """Everything about a result but the pixels, as SUMMARY_SCHEMA: the photo's name (or path,
    from the CLI), its size, the model, backend and execution provider, timings, the classes
    present (largest first) and shares per class group. With a confidence ``threshold``, pixels
    below it count as unlabelled. ``confidence``: compute the confidence first if the result
    kept its logits (single photos: each class's mean confidence); batches pass False and list
    it only if it is there."""
    threshold = check_threshold(threshold)
    if confidence and seg.confidence is None and seg.logits is not None:
        seg.ensure_confidence()
    counts = seg.counts
    if threshold:
        counts = class_pixel_counts(seg.labelled_map(threshold), UNLABELLED + 1)
    classes = [
        {
            "id": c["id"],
            "name": c["name"],
            "color": [int(v) for v in c["color"]],
            "pixels": c["pixels"],
            "fraction": c["fraction"],
            "group": c.get("group"),
            "mean_confidence": c.get("mean_confidence"),
        }
        for c in seg.classes(counts)
    ]
    group_shares = None
    if groups_for(seg.model.labels) is not None:  # a label set with class groups (ADE20K)
        group_shares = {"context": {}, "kind": {}}
        for entry in classes:
            for axis in ("context", "kind"):
                name = entry["group"][axis]
                group_shares[axis][name] = group_shares[axis].get(name, 0.0) + entry["fraction"]
    model_file = seg.model_file or {}
    out = {
        "schema_version": SUMMARY_VERSION,
        "photo": photo,
        "width": seg.width,
        "height": seg.height,
        "model": {
            "id": model_file.get("id"),
            "file": model_file.get("file"),
            "sha256": model_file.get("sha256"),
            "precision": model_file.get("precision"),
            "labels": seg.num_classes,
            "label_set": seg.model.label_set,
        },
        "backend": seg.backend,
        "provider": provider,
        "timings_ms": {k: round(float(v), 1) for k, v in seg.timings_ms.items()},
        "resolution": dict(seg.resolution) if seg.resolution is not None else None,
        "classes": classes,
        "group_shares": group_shares,
        "confidence": None,
        "threshold": None,
    }
    if seg.confidence is not None:
        out["confidence"] = {"max_error": float(CONFIDENCE_MAX_ERROR)}
    if threshold:
        unlabelled = int(counts[UNLABELLED])
        out["threshold"] = {
            "value": float(threshold),
            "unlabelled_value": UNLABELLED,
            "unlabelled_pixels": unlabelled,
            "unlabelled_fraction": unlabelled / seg.labels.size,
        }
    return out


def summary_json(seg: Segmentation, threshold: float | None = None, **facts) -> bytes:
    """``summary`` as UTF-8 JSON (facts: photo, provider, confidence as ``summary``)."""
    return json.dumps(summary(seg, threshold, **facts), indent=1).encode("utf-8")


# ---- Class shares ----

# Long ("tidy") layout: one row per photo (or video frame) and class. It holds any label set
# and any number of classes without a column per class, appends as photos finish, and loads
# as is into pandas, R or a spreadsheet's pivot table (docs/summary-schema.md).
SHARES_COLUMNS = ("photo", "width", "height", "class_id", "class", "pixels", "share")


def share_row(photo: str, seg: Segmentation) -> dict:
    """One photo's row for class_shares_*: {photo, width, height, classes: [{id, pixels}]}
    (the shape the page's video sends for a frame)."""
    return {
        "photo": photo,
        "width": seg.width,
        "height": seg.height,
        "classes": [{"id": c["id"], "pixels": c["pixels"]} for c in seg.classes()],
    }


def _share_records(rows, labels):
    if not isinstance(rows, list):
        raise ExportError("class shares: rows must be a list")
    for row in rows:
        try:
            photo, width, height = str(row["photo"]), int(row["width"]), int(row["height"])
            classes = [(int(c["id"]), int(c["pixels"])) for c in row["classes"]]
        except (KeyError, TypeError, ValueError):
            raise ExportError(
                "class shares: each row needs photo, width, height and classes [{id, pixels}]"
            ) from None
        if width <= 0 or height <= 0:
            raise ExportError(f"class shares: {photo}: width and height must be positive")
        for cid, pixels in classes:
            if not 0 <= cid < len(labels):
                raise ExportError(f"class shares: {photo}: no class {cid}")
            yield photo, width, height, cid, labels[cid], pixels, pixels / (width * height)


def class_shares_csv(rows: list[dict], labels, header: bool = True) -> bytes:
    """Rows (``share_row``'s shape) -> CSV of SHARES_COLUMNS; share with 6 decimals.
    ``header=False``: rows only, to append to a file written a photo at a time."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(SHARES_COLUMNS)
    for *fields, share in _share_records(rows, labels):
        writer.writerow([*fields, f"{share:.6f}"])
    return out.getvalue().encode("utf-8")


def class_shares_json(rows: list[dict], labels) -> bytes:
    """The same records as class_shares_csv, as a JSON list of objects keyed by SHARES_COLUMNS
    (share unrounded)."""
    records = [dict(zip(SHARES_COLUMNS, r, strict=True)) for r in _share_records(rows, labels)]
    return json.dumps(records, indent=1).encode("utf-8")


SHARES_MIME = {"csv": "text/csv", "json": "application/json"}


def export(seg: Segmentation, kind: str, options: dict | None = None) -> bytes:
    """One export by name (the web worker's entry point); options as in the JS API (and
    ``name``: the photo's file name, the summary's ``photo``)."""
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
        name = options.get("name")
        photo = name if isinstance(name, str) else None
        # confidence: false leaves mean_confidence null unless the map is there already
        # (computing it costs 2-3 s at 12 MP; the widget asks only when its host does).
        return summary_json(
            seg, threshold, photo=photo, confidence=options.get("confidence") is not False
        )
    raise ExportError(f"unknown export {kind!r}; one of: {', '.join(KINDS)}")

"""Accuracy on annotated photos: ``python -m sceneseg eval IMAGES_DIR ANNOTATIONS_DIR``.

Annotations are single-channel PNGs named like their photos (``ADE_val_00000001.jpg`` ->
``ADE_val_00000001.png``). What a pixel value means depends on the model's label set, as its
``preprocessor_config.json`` says (``do_reduce_labels``):

- ADE20K (``do_reduce_labels`` true): 0 = "other" (ignored), 1..150 = class ids 0..149;
- Cityscapes and any other label set (false): the value is the class id (Cityscapes' trainIds
  0..18), 255 = ignored; any other value is an error (e.g. Cityscapes labelIds not converted
  to trainIds).

Labels are compared at the photo's full resolution (the pipeline's output).

Metrics come from one confusion matrix summed over all images (rows: annotation, columns:
prediction), as ``evaluate``'s ``mean_iou`` and mmsegmentation define them:

    IoU_c            = TP_c / (TP_c + FP_c + FN_c)   (classes in neither: not counted)
    mean IoU         = mean of IoU_c over counted classes
    pixel accuracy   = sum TP / labelled pixels
    accuracy_c       = TP_c / annotated pixels of c  (classes not annotated: not counted)
    mean accuracy    = mean of accuracy_c

Each image's confusion matrix is kept on disk (``OUT/partial/<model>--<precision>--<mode>/``,
the input resolution's mode in the key so that runs of several modes never mix; sparse, a few
kB), so an interrupted run resumes where it stopped, and the totals are re-summed from those
files. ``--jobs`` and ``--ray`` spread the photos over processes or a
Ray cluster (see ``sceneseg.tools.parallel``).
"""

from __future__ import annotations

import io
import json
import os
import sys
from functools import partial
from pathlib import Path

import numpy as np

from .batch import IMAGE_SUFFIXES
from .parallel import Failure, ModelSpec, progress, run

IGNORE = 255


def reduce_labels(annotation: np.ndarray) -> np.ndarray:
    """ADE20K annotation (0 = other, 1..150) -> class ids 0..149, IGNORE for 0."""
    a = annotation.astype(np.int32) - 1
    a[a < 0] = IGNORE
    return a


def annotation_convention(model) -> str:
    """The annotation convention of a model's label set, in words (for the reports)."""
    n = model.num_classes
    if model.reduce_labels:
        return f"annotation 0 ignored, 1..{n} -> class 0..{n - 1} ({model.label_set})"
    return f"annotation = class id 0..{n - 1}, {IGNORE} ignored ({model.label_set})"


def annotation_classes(annotation: np.ndarray, model) -> np.ndarray:
    """An annotation's pixel values -> class ids (IGNORE where not counted), by the model's
    convention; ``ValueError`` naming values that are no class."""
    if model.reduce_labels:
        return reduce_labels(annotation)
    a = annotation.astype(np.int32)
    bad = np.unique(a[(a >= model.num_classes) & (a != IGNORE)])
    if bad.size:
        raise ValueError(
            f"annotation values {', '.join(map(str, bad[:8].tolist()))} are not classes of "
            f"this {model.num_classes}-class model ({annotation_convention(model)}; Cityscapes "
            "labelIds must be converted to trainIds)"
        )
    return a


def confusion_matrix(truth: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """int64 [C, C]; ``truth`` values outside 0..C-1 (IGNORE) are not counted."""
    if truth.shape != pred.shape:
        raise ValueError(f"annotation is {truth.shape[::-1]} but the photo {pred.shape[::-1]}")
    valid = (truth >= 0) & (truth < num_classes)
    index = truth[valid].astype(np.int64) * num_classes + pred[valid]
    counts = np.bincount(index, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def metrics(confusion: np.ndarray) -> dict:
    tp = np.diag(confusion).astype(np.float64)
    truth = confusion.sum(axis=1).astype(np.float64)
    pred = confusion.sum(axis=0).astype(np.float64)
    union = truth + pred - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
        accuracy = np.where(truth > 0, tp / truth, np.nan)
    labelled = confusion.sum()
    return {
        "mean_iou": _nanmean(iou),
        "pixel_accuracy": float(tp.sum() / labelled) if labelled else None,
        "mean_accuracy": _nanmean(accuracy),
        "iou": iou,
        "accuracy": accuracy,
        "truth_pixels": truth.astype(np.int64),
        "pred_pixels": pred.astype(np.int64),
    }


def _nanmean(values: np.ndarray) -> float | None:
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else None


# --- one image, in a worker ---------------------------------------------------------------


def evaluate_photo(segmenter, payload: tuple[bytes, bytes], resolution: str = "square") -> dict:
    """Sparse confusion matrix of one photo against its annotation, segmented in
    ``resolution``'s mode."""
    from PIL import Image

    image_bytes, annotation_bytes = payload
    annotation = np.asarray(Image.open(io.BytesIO(annotation_bytes)))
    if annotation.ndim != 2:
        raise ValueError(f"the annotation is not a single-channel PNG (shape {annotation.shape})")
    result = segmenter.segment_sync(image_bytes, resolution=resolution)
    truth = annotation_classes(annotation, segmenter.model)
    matrix = confusion_matrix(truth, result.labels, segmenter.model.num_classes)
    rows, cols = np.nonzero(matrix)
    return {"rows": rows, "cols": cols, "counts": matrix[rows, cols]}


# --- a whole folder ------------------------------------------------------------------------


def pair_images(images_dir: Path, annotations_dir: Path) -> tuple[list, list]:
    """(photo, annotation) pairs, and photos without an annotation. Photos and annotations
    may share one folder (as in ../shared/photos/ade20k-val): a PNG with a photo of the same
    name beside it is an annotation."""
    files = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    stems_with_photo = {p.stem for p in files if p.suffix.lower() != ".png"}
    same_dir = images_dir.resolve() == annotations_dir.resolve()
    pairs, missing = [], []
    for photo in files:
        if same_dir and photo.suffix.lower() == ".png" and photo.stem in stems_with_photo:
            continue
        annotation = annotations_dir / f"{photo.stem}.png"
        (pairs if annotation.is_file() else missing).append((photo, annotation))
    return pairs, [p for p, _ in missing]


def _partial_dir(out_dir: Path, spec: ModelSpec, weights_sha256: str, resolution: str) -> Path:
    """Per-image results of one model file in one resolution mode; refuses results of another
    file (or mode) under its name."""
    directory = out_dir / "partial" / f"{spec.model_id}--{spec.precision}--{resolution}"
    directory.mkdir(parents=True, exist_ok=True)
    meta = directory / "meta.json"
    mine = {
        "model": spec.model_id, "precision": spec.precision, "weights_sha256": weights_sha256,
        "resolution": resolution,
    }  # fmt: skip
    if meta.is_file():
        theirs = json.loads(meta.read_text())
        if theirs != mine:
            raise RuntimeError(
                f"{directory} holds results of another model file ({theirs}); "
                f"delete it or choose another --out-dir"
            )
    else:
        meta.write_text(json.dumps(mine))
    return directory


def evaluate_folder(
    spec: ModelSpec,
    weights_sha256: str,
    pairs: list[tuple[Path, Path]],
    out_dir: Path,
    labels: tuple[str, ...],
    *,
    convention: str = "",
    jobs: int = 1,
    ray_address: str | None = None,
    resolution: str = "square",
) -> dict:
    """Run (or resume) one model/precision/resolution mode over the pairs; returns its report
    entry."""
    kept = _partial_dir(out_dir, spec, weights_sha256, resolution)
    label = f"{spec.label} {resolution}"
    todo = [(p, a) for p, a in pairs if not (kept / f"{p.stem}.npz").is_file()]
    if len(todo) < len(pairs):
        print(f"{label}: {len(pairs) - len(todo)} images already done", file=sys.stderr)
    failures: dict[str, str] = {}
    if todo:
        items = [
            (photo.stem, lambda p=photo, a=annotation: (p.read_bytes(), a.read_bytes()))
            for photo, annotation in todo
        ]
        bar = progress(len(todo), label)
        work = partial(evaluate_photo, resolution=resolution)  # picklable: processes, Ray
        for stem, outcome in run(spec, work, items, jobs=jobs, ray_address=ray_address):
            bar.update(1)
            if isinstance(outcome, Failure):
                failures[stem] = outcome.message
                continue
            # Write then rename: a run killed mid-write leaves no half file behind.
            tmp = kept / f"{stem}.tmp.npz"
            np.savez_compressed(tmp, **outcome)
            os.replace(tmp, kept / f"{stem}.npz")
        bar.close()

    n = len(labels)
    total = np.zeros((n, n), dtype=np.int64)
    per_image = []
    for photo, _ in pairs:
        path = kept / f"{photo.stem}.npz"
        if not path.is_file():
            continue
        with np.load(path) as d:
            image = np.zeros((n, n), dtype=np.int64)
            image[d["rows"], d["cols"]] = d["counts"]
        total += image
        m = metrics(image)
        per_image.append(
            {"image": photo.name, "mean_iou": m["mean_iou"], "pixel_accuracy": m["pixel_accuracy"]}
        )
    m = metrics(total)
    return {
        "model": spec.model_id,
        "precision": spec.precision,
        "resolution": resolution,
        "standin": spec.standin,
        "provider": spec.provider,
        "annotations": convention,
        "images": len(per_image),
        "failed": failures,
        "mean_iou": m["mean_iou"],
        "pixel_accuracy": m["pixel_accuracy"],
        "mean_accuracy": m["mean_accuracy"],
        "per_class": [
            {
                "id": c,
                "name": labels[c],
                "iou": _num(m["iou"][c]),
                "accuracy": _num(m["accuracy"][c]),
                "annotated_pixels": int(m["truth_pixels"][c]),
                "predicted_pixels": int(m["pred_pixels"][c]),
            }
            for c in range(n)
        ],
        "per_image": per_image,
        "confusion_matrix": total.tolist(),
    }


def _num(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.2f}"


def markdown(report: dict) -> str:
    runs = report["runs"]
    lines = [
        "# Evaluation",
        "",
        f"Images: `{report['images_dir']}`, annotations: `{report['annotations_dir']}` "
        f"({report['pairs']} pairs; photos without annotation: {len(report['unannotated'])}). "
        "Labels at the photo's full resolution; "
        + "; ".join(sorted({r.get("annotations") or "" for r in runs} - {""}))
        + ".",
        "",
        "| model | precision | resolution | images | mIoU % | pixel acc. % | mean acc. % "
        "| failed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        name = r["model"] + (" (stand-in weights: not accuracy)" if r["standin"] else "")
        lines.append(
            f"| {name} | {r['precision']} | {r['resolution']} | {r['images']} | "
            f"{_pct(r['mean_iou'])} | "
            f"{_pct(r['pixel_accuracy'])} | {_pct(r['mean_accuracy'])} | {len(r['failed'])} |"
        )
    for r in runs:
        lines += ["", f"## {r['model']} {r['precision']} {r['resolution']}: per class", ""]
        lines += ["| id | class | IoU % | accuracy % | annotated px | predicted px |"]
        lines += ["|---|---|---|---|---|---|"]
        for c in sorted(r["per_class"], key=lambda c: -c["annotated_pixels"]):
            if c["iou"] is None:
                continue  # neither annotated nor predicted
            lines.append(
                f"| {c['id']} | {c['name']} | {_pct(c['iou'])} | {_pct(c['accuracy'])} | "
                f"{c['annotated_pixels']} | {c['predicted_pixels']} |"
            )
        for stem, reason in r["failed"].items():
            lines.append(f"\nfailed: {stem}: {reason}")
    lines += ["", "The confusion matrices are in the JSON report (rows: annotation)."]
    return "\n".join(lines) + "\n"

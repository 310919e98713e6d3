"""Label a folder of photos: per photo a label map PNG, a colour overlay PNG and a JSON
summary, plus ``classes.csv`` with every photo's class shares (one row per photo and class).

    python -m sceneseg PHOTOS_DIR more.jpg --out-dir OUT [--jobs N] [--ray [ADDRESS]]

Outputs mirror the input folders: ``DIR/a/b.jpg`` -> ``OUT/a/b.labels.png``, ``b.overlay.png``,
``b.json``. A photo that cannot be read is listed and skipped; the others go on.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

from .parallel import Failure, ModelSpec, progress, run

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif"}
CSV_COLUMNS = ["photo", "width", "height", "class_id", "class", "pixels", "share"]


def expand_inputs(paths: list[Path]) -> list[tuple[Path, Path]]:
    """(file, output stem relative to the output folder) for files and folders (recursive,
    image suffixes only); duplicate stems get -2, -3, ..."""
    found: list[tuple[Path, Path]] = []
    for path in paths:
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if file.suffix.lower() in IMAGE_SUFFIXES:
                    found.append((file, file.relative_to(path).with_suffix("")))
        else:  # missing files are listed as failures by the run
            found.append((path, Path(path.stem)))
    seen: dict[Path, int] = {}
    out = []
    for file, stem in found:
        n = seen[stem] = seen.get(stem, 0) + 1
        out.append((file, stem if n == 1 else stem.with_name(f"{stem.name}-{n}")))
    return out


def label_photo(segmenter, data: bytes) -> dict:
    """Runs in a worker: the outputs of one photo, encoded there (workers share that work)."""
    from PIL import Image

    result = segmenter.segment_sync(data)
    overlay = io.BytesIO()
    Image.fromarray(result.colorize()).save(overlay, format="PNG")
    return {
        "labels_png": result.to_png(),
        "overlay_png": overlay.getvalue(),
        "width": result.width,
        "height": result.height,
        "label_set": result.model.label_set,
        "backend": result.backend,
        "provider": getattr(segmenter.backend, "provider", None),
        "timings_ms": result.timings_ms,
        "classes": result.classes(),
    }


def run_batch(
    spec: ModelSpec,
    inputs: list[Path],
    out_dir: Path,
    *,
    jobs: int = 1,
    ray_address: str | None = None,
) -> list[tuple[Path, str]]:
    """Label every photo; returns the failures as (file, reason)."""
    photos = expand_inputs(inputs)
    by_key = {str(stem): (file, stem) for file, stem in photos}
    failures: list[tuple[Path, str]] = []
    bar = progress(len(photos), "labelling")
    items = [(str(stem), file.read_bytes) for file, stem in photos]
    with open(out_dir / "classes.csv", "w", newline="", encoding="utf-8") as f:
        table = csv.writer(f)
        table.writerow(CSV_COLUMNS)
        for key, outcome in run(spec, label_photo, items, jobs=jobs, ray_address=ray_address):
            file, stem = by_key[key]
            bar.update(1)
            if isinstance(outcome, Failure):
                failures.append((file, outcome.message))
                continue
            target = out_dir / stem
            target.parent.mkdir(parents=True, exist_ok=True)
            target.with_name(stem.name + ".labels.png").write_bytes(outcome["labels_png"])
            target.with_name(stem.name + ".overlay.png").write_bytes(outcome["overlay_png"])
            summary = {
                "image": str(file),
                "width": outcome["width"],
                "height": outcome["height"],
                "model": spec.model_id,
                "precision": spec.precision,
                "label_set": outcome["label_set"],
                "backend": outcome["backend"],
                "provider": outcome["provider"],
                "timings_ms": outcome["timings_ms"],
                "classes": outcome["classes"],
            }
            target.with_name(stem.name + ".json").write_text(json.dumps(summary, indent=2))
            for c in outcome["classes"]:
                table.writerow(
                    [str(file), outcome["width"], outcome["height"], c["id"], c["name"],
                     c["pixels"], f"{c['fraction']:.6f}"]
                )  # fmt: skip
            f.flush()
    bar.close()
    done = len(photos) - len(failures)
    print(f"labelled {done} of {len(photos)} photos into {out_dir}", file=sys.stderr)
    return failures

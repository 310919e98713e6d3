"""Label a folder of photos: per photo a label map PNG, a colour overlay PNG and a JSON
summary, plus ``classes.csv`` with every photo's class shares (one row per photo and class).

    python -m sceneseg PHOTOS_DIR more.jpg --out-dir OUT [--jobs N] [--ray [ADDRESS]]

Outputs mirror the input folders: ``DIR/a/b.jpg`` -> ``OUT/a/b.labels.png``, ``b.overlay.png``,
``b.json``. A photo that cannot be read is listed and skipped; the others go on.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

from .. import outputs
from .parallel import Failure, ModelSpec, progress, run

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif"}


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


def label_photo(segmenter, payload: tuple[str, bytes], resolution: str = "square") -> dict:
    """Runs in a worker: the files of one photo, encoded there (workers share that work), by
    sceneseg.outputs as the page's batch zip. ``payload``: (the photo's path, its bytes)."""
    photo, data = payload
    result = segmenter.segment_sync(data, resolution=resolution)
    provider = getattr(segmenter.backend, "provider", None)
    return {
        "labels_png": outputs.labels_png(result),
        "overlay_png": outputs.overlay_png(result, level=outputs.FAST_PNG_LEVEL),
        # No confidence per photo in a batch (as the page's batch zip): it doubles the time.
        "summary_json": outputs.summary_json(
            result, photo=photo, provider=provider, confidence=False
        ),
        "share_row": outputs.share_row(photo, result),
        "labels": result.model.labels,
    }


def run_batch(
    spec: ModelSpec,
    inputs: list[Path],
    out_dir: Path,
    *,
    jobs: int = 1,
    ray_address: str | None = None,
    resolution: str = "square",
) -> list[tuple[Path, str]]:
    """Label every photo (``resolution``: sceneseg.resolution's mode); returns the failures
    as (file, reason)."""
    photos = expand_inputs(inputs)
    by_key = {str(stem): (file, stem) for file, stem in photos}
    failures: list[tuple[Path, str]] = []
    bar = progress(len(photos), "labelling")
    items = [(str(stem), partial(_load, file)) for file, stem in photos]
    header = True
    # A partial of a module-level function: pickled by reference for processes and Ray.
    work = partial(label_photo, resolution=resolution)
    with open(out_dir / "classes.csv", "wb") as table:
        for key, outcome in run(spec, work, items, jobs=jobs, ray_address=ray_address):
            file, stem = by_key[key]
            bar.update(1)
            if isinstance(outcome, Failure):
                failures.append((file, outcome.message))
                continue
            target = out_dir / stem
            target.parent.mkdir(parents=True, exist_ok=True)
            target.with_name(stem.name + ".labels.png").write_bytes(outcome["labels_png"])
            target.with_name(stem.name + ".overlay.png").write_bytes(outcome["overlay_png"])
            target.with_name(stem.name + ".json").write_bytes(outcome["summary_json"])
            rows = [outcome["share_row"]]
            table.write(outputs.class_shares_csv(rows, outcome["labels"], header=header))
            header = False
            table.flush()
        if header:  # no photo done: the header alone
            table.write(outputs.class_shares_csv([], (), header=True))
    bar.close()
    done = len(photos) - len(failures)
    print(f"labelled {done} of {len(photos)} photos into {out_dir}", file=sys.stderr)
    return failures


def _load(file: Path) -> tuple[str, bytes]:
    return str(file), file.read_bytes()

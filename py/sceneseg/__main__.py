"""Command line: ``python -m sceneseg photo.jpg --out labels.png`` (native onnxruntime)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .manifest import DEFAULT_MODEL, PRECISIONS, FetchError, Manifest

CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sceneseg"


def model_files(manifest: Manifest, precision: str, model_dir: Path | None) -> Path:
    """Verified local copies of the model's files; returns the directory that holds them."""
    target = CACHE_DIR / manifest.id
    names = ["config.json", "preprocessor_config.json", manifest.precisions[precision]]
    for name in names:
        manifest.fetch(name, target / name, local_dir=model_dir)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sceneseg", description="Label every pixel of a photo with one of 150 ADE20K classes."
    )
    parser.add_argument("images", nargs="+", type=Path, help="photos to segment")
    parser.add_argument("--out", type=Path, help="label map PNG (pixel = class id); one image only")
    parser.add_argument("--overlay", type=Path, help="colour overlay PNG; one image only")
    parser.add_argument("--json", type=Path, help="summary JSON; one image only")
    parser.add_argument("--model", default=os.environ.get("SCENESEG_MODEL", DEFAULT_MODEL))
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=os.environ.get("SCENESEG_MODEL_DIR"),
        help="take the model's files from this directory instead of downloading them",
    )
    parser.add_argument("--precision", choices=PRECISIONS, default="q8")
    parser.add_argument("--confidence", action="store_true", help="compute per-pixel confidence")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if len(args.images) > 1 and (args.out or args.overlay or args.json):
        parser.error("--out/--overlay/--json take one image")

    from .backends.native import OnnxRuntimeBackend
    from .model import ModelInfo
    from .pipeline import Segmenter
    from .processing import ImageError

    try:
        manifest = Manifest.named(args.model)
        directory = model_files(manifest, args.precision, args.model_dir)
    except FetchError as exc:
        print(f"sceneseg: {exc}", file=sys.stderr)
        print("Offline? Point --model-dir (or SCENESEG_MODEL_DIR) at a copy.", file=sys.stderr)
        return 2
    if manifest.standin:
        print(
            f"note: {manifest.id} has stand-in weights: labels are not meaningful", file=sys.stderr
        )
    backend = OnnxRuntimeBackend(
        directory / manifest.precisions[args.precision], threads=args.threads, label=args.precision
    )
    segmenter = Segmenter(ModelInfo.from_dir(directory), backend)

    status = 0
    for path in args.images:
        try:
            result = segmenter.segment_sync(path.read_bytes(), confidence=args.confidence)
        except (ImageError, OSError) as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            status = 1
            continue
        # Files first: a reader of the printed table (| head) may close the pipe early.
        if args.out:
            args.out.write_bytes(result.to_png())
        if args.overlay:
            from PIL import Image

            Image.fromarray(result.colorize()).save(args.overlay)
        if args.json:
            summary = {
                "image": str(path),
                "width": result.width,
                "height": result.height,
                "model": manifest.id,
                "backend": result.backend,
                "timings_ms": result.timings_ms,
                "classes": result.classes(),
            }
            args.json.write_text(json.dumps(summary, indent=2))
        timings = ", ".join(f"{k} {v:.0f} ms" for k, v in result.timings_ms.items())
        print(f"{path} ({result.width}x{result.height}, {backend.name}; {timings})")
        for c in result.classes():
            extra = f"  conf {c['mean_confidence']:.2f}" if "mean_confidence" in c else ""
            print(f"  {c['fraction'] * 100:6.2f}%  {c['id']:3d}  {c['name']}{extra}")
    return status


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        # `python -m sceneseg photo.jpg | head`: the reader has what it wanted. Point stdout at
        # devnull so that flushing it at exit does not fail again (Python's documented idiom).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)

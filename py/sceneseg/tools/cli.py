"""Command line (native onnxruntime):

python -m sceneseg photo.jpg --out labels.png          one photo, classes printed
python -m sceneseg PHOTOS_DIR ... --out-dir OUT          a batch (see sceneseg.tools.batch)
python -m sceneseg eval IMAGES_DIR ANNOTATIONS_DIR       accuracy (see sceneseg.tools.eval)
python -m sceneseg export CHECKPOINT --out DIR           ONNX files + manifest (tools.export)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..resolution import MODES
from .manifest import PRECISIONS, FetchError, Manifest, UnpinnedError, exported_manifest
from .model_options import add_model_arguments, model_dir_for, models_epilog, offline_hint
from .native import PROVIDER_CHOICES

CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sceneseg"


class UsageError(Exception):
    """Found before the model runs: bad output paths and the like."""


def add_model_options(parser: argparse.ArgumentParser, several: bool = False) -> None:
    group = parser.add_argument_group("model")
    add_model_arguments(group, several=several)
    group.add_argument(
        "--precision",
        default="q8",
        help=f"weights: {', '.join(PRECISIONS)} (q8 = 8-bit, smallest and fastest on CPU)"
        + ("; several separated by commas" if several else "")
        + "; default %(default)s",
    )
    group.add_argument(
        "--provider",
        default="auto",
        choices=PROVIDER_CHOICES,
        help="onnxruntime execution provider: auto (CUDA or WebGPU if this onnxruntime has "
        "it and it starts, else the CPU), cpu, cuda, tensorrt (onnxruntime-gpu), webgpu "
        "(a WebGPU build); a missing one is an error saying what to install; default "
        "%(default)s",
    )
    group.add_argument(
        "--threads",
        type=int,
        default=None,
        help="onnxruntime threads per model session (default: all cores for one session, "
        "shared out between --jobs processes)",
    )


def add_scale_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scale")
    group.add_argument(
        "--jobs",
        type=int,
        default=0,
        help="worker processes, one model session each (default: one per core, at most one "
        "per photo; 1 = in this process)",
    )
    group.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run on Ray (pip install 'sceneseg[ray]'): no ADDRESS or 'local' starts Ray on "
        "this machine; 'auto' or ray://HOST:10001 joins a cluster; --jobs = number of actors "
        "(default: the cluster's CPUs)",
    )


def prepare(args, model_id: str, precision: str, command: list[str]):
    """Verified local model files -> ModelSpec, or FetchError with the offline hint added."""
    from .parallel import ModelSpec

    provider = check_provider(args.provider)
    manifest = Manifest.named(model_id)
    local = model_dir_for(manifest.id, args.model_dir)
    manifest = exported_manifest(manifest, local)
    if precision not in PRECISIONS:
        raise UsageError(f"--precision {precision}: not one of {', '.join(PRECISIONS)}")
    if manifest.export and not manifest.precisions:
        raise UsageError(manifest.export_hint())
    if precision not in manifest.precisions:
        raise UsageError(
            manifest.export_hint(precision)
            + f"; or use what it has: {', '.join(manifest.precisions)}"
            if manifest.export
            else f"{manifest.id} has no {precision} weights pinned; it has: "
            f"{', '.join(manifest.precisions)}"
        )
    try:
        spec = ModelSpec.prepare(
            manifest, precision, CACHE_DIR, local,
            allow_unpinned=args.allow_unpinned, threads=args.threads, provider=provider,
        )  # fmt: skip
    except UnpinnedError:
        raise
    except FetchError as exc:
        hint = offline_hint(local, manifest, command, [precision], "--precision")
        raise FetchError(f"{exc}\n{hint}") from None
    if manifest.standin:
        print(
            f"note: {manifest.id} has stand-in weights: labels are not meaningful", file=sys.stderr
        )
    return manifest, spec


def check_provider(provider: str) -> str:
    """Before any model is fetched: the provider asked for (auto: the one it picks) is in
    this onnxruntime; its short name, which summaries and reports record."""
    from .native import ProviderError, resolve_provider

    try:
        return resolve_provider(provider)
    except ProviderError as exc:
        raise UsageError(str(exc)) from None
    except ImportError as exc:
        raise UsageError(
            f"onnxruntime is not installed ({exc}): pip install -e '.[native]'"
        ) from None


def output_file(path: Path | None, option: str) -> Path | None:
    """Check an output file before the model runs: create its folder, refuse a folder."""
    if path is None:
        return None
    if path.is_dir():
        raise UsageError(
            f"{option} {path} is a folder; give a file name (e.g. {path / 'labels.png'}), "
            "or use --out-dir for several photos"
        )
    make_folder(path.parent, option)
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{option} {path}: not writable")
    return path


def make_folder(folder: Path, option: str) -> Path:
    if folder.is_dir():
        if not os.access(folder, os.W_OK):
            raise UsageError(f"{option}: cannot write into {folder}")
        return folder
    if folder.exists():
        raise UsageError(f"{option}: {folder} exists and is not a folder")
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise UsageError(f"{option}: cannot create the folder {folder} ({exc.strerror})") from None
    print(f"created {folder}/", file=sys.stderr)
    return folder


def default_jobs(jobs: int, items: int) -> int:
    return jobs if jobs > 0 else max(1, min(os.cpu_count() or 1, items))


# --- photos -------------------------------------------------------------------------------


def photos_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sceneseg",
        description="Label every pixel of a photo with one of the model's classes (ADE20K's "
        "150 for the default model; others from the model's config.json). "
        "Also: 'sceneseg eval IMAGES_DIR ANNOTATIONS_DIR' (accuracy; eval --help) and "
        "'sceneseg export CHECKPOINT --out DIR' (ONNX files from a SegFormer checkpoint).",
        epilog=models_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("images", nargs="+", type=Path, help="photos, or folders of photos")
    out = parser.add_argument_group("output (one photo)")
    out.add_argument("--out", type=Path, help="label map PNG (8-bit, pixel value = class id)")
    out.add_argument(
        "--overlay", type=Path, help="colour overlay PNG (RGBA, each pixel in its class colour)"
    )
    out.add_argument(
        "--json",
        type=Path,
        help="summary JSON (docs/summary-schema.md): classes, areas, mean confidence, model, "
        "timings",
    )
    out.add_argument(
        "--confidence", action="store_true", help="also compute each class's mean confidence"
    )
    many = parser.add_argument_group("output (many photos)")
    many.add_argument(
        "--out-dir",
        type=Path,
        help="write PHOTO.labels.png, PHOTO.overlay.png and PHOTO.json per photo and "
        "classes.csv (one row per photo and class) here; created if missing",
    )
    add_model_options(parser)
    parser.add_argument(
        "--resolution",
        default="square",
        choices=MODES,
        help="what size the model sees the photo at (docs/resolution.md): square (512x512, "
        "Hugging Face's protocol), keep (the photo's shape, short side 512), detail (big "
        "photos in 512x512 windows, short side up to 1024); default %(default)s",
    )
    add_scale_options(parser)
    return parser


def photos_main(argv: list[str]) -> int:
    parser = photos_parser()
    args = parser.parse_args(argv)
    singles = (args.out, args.overlay, args.json)
    several = len(args.images) > 1 or any(p.is_dir() for p in args.images)
    if any(singles) and several:
        parser.error("--out/--overlay/--json take one photo; use --out-dir for several")
    if args.out_dir and any(singles):
        parser.error("--out-dir writes every output itself; leave out --out/--overlay/--json")
    if (args.jobs or args.ray) and not args.out_dir:
        parser.error("--jobs and --ray go with --out-dir")

    command = ["python", "-m", "sceneseg", *argv]
    try:
        # Outputs are checked before the model is fetched or run.
        paths = [
            output_file(p, o)
            for p, o in zip(singles, ("--out", "--overlay", "--json"), strict=True)
        ]
        out_dir = make_folder(args.out_dir, "--out-dir") if args.out_dir else None
        manifest, spec = prepare(args, args.model, args.precision, command)
    except (UsageError, FetchError) as exc:
        print(f"sceneseg: {exc}", file=sys.stderr)
        return 2

    if out_dir is not None:
        from .batch import expand_inputs, run_batch

        count = len(expand_inputs(args.images))
        jobs = args.jobs if args.ray is not None else default_jobs(args.jobs, count)
        failures = run_batch(
            spec, args.images, out_dir, jobs=jobs, ray_address=args.ray,
            resolution=args.resolution,
        )  # fmt: skip
        return report_failures(failures)

    from ..processing import ImageError
    from .batch import expand_inputs

    segmenter = spec.segmenter()
    failures = []
    for path, _ in expand_inputs(args.images):
        try:
            result = segmenter.segment_sync(
                path.read_bytes(), confidence=args.confidence, resolution=args.resolution
            )
        except (ImageError, OSError) as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            failures.append((path, str(exc)))
            continue
        # Files first: a reader of the printed table (| head) may close the pipe early.
        write_outputs(result, path, manifest, segmenter, *paths)
        timings = ", ".join(f"{k} {v:.0f} ms" for k, v in result.timings_ms.items())
        plan = result.resolution
        seen = f"{plan['mode']} {plan['input'][0]}x{plan['input'][1]}" + (
            f" in {plan['windows']} windows" if plan["windows"] > 1 else ""
        )
        print(f"{path} ({result.width}x{result.height}, {seen}, {result.backend}; {timings})")
        for c in result.classes():
            extra = f"  conf {c['mean_confidence']:.2f}" if "mean_confidence" in c else ""
            print(f"  {c['fraction'] * 100:6.2f}%  {c['id']:3d}  {c['name']}{extra}")
    return report_failures(failures)


def write_outputs(result, path: Path, manifest: Manifest, segmenter, out, overlay, summary):
    """One photo's files, from sceneseg.outputs as the page's downloads (``manifest``: kept
    for callers; the summary's model record comes from the segmenter's)."""
    from .. import outputs

    if out:
        out.write_bytes(outputs.labels_png(result))
    if overlay:
        overlay.write_bytes(outputs.overlay_png(result))
    if summary:
        provider = getattr(segmenter.backend, "provider", None)
        summary.write_bytes(outputs.summary_json(result, photo=str(path), provider=provider))


def report_failures(failures: list[tuple[Path, str]]) -> int:
    if not failures:
        return 0
    print(f"{len(failures)} file(s) failed:", file=sys.stderr)
    for path, reason in failures:
        print(f"  {path}: {reason}", file=sys.stderr)
    return 1


# --- eval ---------------------------------------------------------------------------------


def eval_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sceneseg eval",
        description="Accuracy on annotated photos: annotation PNGs named like the photos. "
        "ADE20K models: 0 = ignored, 1..150 = classes 0..149; other label sets (Cityscapes' "
        "trainIds, custom): pixel = class id, 255 = ignored (the model's "
        "preprocessor_config.json do_reduce_labels decides). Writes eval.json and eval.md "
        "into --out-dir; "
        "per-image results are kept there, so a rerun resumes.",
        epilog=models_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("images_dir", type=Path, help="folder of photos")
    parser.add_argument("annotations_dir", type=Path, help="folder of annotation PNGs")
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path("eval-results"),
        help="reports and per-image partial results (default: %(default)s)",
    )
    parser.add_argument("--limit", type=int, help="only the first N photos (sorted by name)")
    parser.add_argument(
        "--resolution",
        default="square",
        help=f"input resolution mode(s), several separated by commas ({', '.join(MODES)}; "
        "docs/resolution.md): each is reported on its own; default %(default)s",
    )
    add_model_options(parser, several=True)
    add_scale_options(parser)
    return parser


def eval_main(argv: list[str]) -> int:
    args = eval_parser().parse_args(argv)

    from ..model import ModelInfo
    from .eval import annotation_convention, evaluate_folder, markdown, pair_images

    for folder in (args.images_dir, args.annotations_dir):
        if not folder.is_dir():
            print(f"sceneseg eval: {folder} is not a folder", file=sys.stderr)
            return 2
    pairs, unannotated = pair_images(args.images_dir, args.annotations_dir)
    pairs = pairs[: args.limit] if args.limit else pairs
    if not pairs:
        print(f"sceneseg eval: no photo in {args.images_dir} has an annotation", file=sys.stderr)
        return 2
    command = ["python", "-m", "sceneseg", "eval", *argv]
    modes = [m for m in args.resolution.split(",") if m]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        print(
            f"sceneseg eval: --resolution {args.resolution}: each one of {', '.join(MODES)}",
            file=sys.stderr,
        )
        return 2
    try:
        out_dir = make_folder(args.out_dir, "--out-dir")
        specs = [prepare(args, m, p, command) for m, p in eval_runs(args.model, args.precision)]
    except (UsageError, FetchError) as exc:
        print(f"sceneseg eval: {exc}", file=sys.stderr)
        return 2
    jobs = args.jobs if args.ray is not None else default_jobs(args.jobs, len(pairs))
    runs = []
    for manifest, spec in specs:
        info = ModelInfo.from_dir(spec.model_dir)
        weights_sha256 = manifest.files[spec.weights].sha256
        for mode in modes:
            runs.append(
                evaluate_folder(
                    spec, weights_sha256, pairs, out_dir, info.labels, jobs=jobs,
                    ray_address=args.ray, convention=annotation_convention(info),
                    resolution=mode,
                )
            )  # fmt: skip
    report = {
        "images_dir": str(args.images_dir),
        "annotations_dir": str(args.annotations_dir),
        "pairs": len(pairs),
        "unannotated": [str(p) for p in unannotated],
        "runs": runs,
    }
    (out_dir / "eval.json").write_text(json.dumps(report, indent=1))
    text = markdown(report)
    (out_dir / "eval.md").write_text(text)
    print(text.split("\n## ")[0])
    print(f"wrote {out_dir / 'eval.json'} and {out_dir / 'eval.md'}", file=sys.stderr)
    failed = [(Path(s), why) for r in runs for s, why in r["failed"].items()]
    return report_failures(failed)


def eval_runs(models: str, precisions: str) -> list[tuple[str, str]]:
    """Every model with every precision it has; a precision no model has is an error."""
    wanted = [p for p in precisions.split(",") if p]
    runs = []
    for model_id in (m for m in models.split(",") if m):
        manifest = Manifest.named(model_id)
        if manifest.export and not manifest.precisions:  # made by export: prepare() says how
            runs += [(model_id, p) for p in wanted]
            continue
        have = [p for p in wanted if p in manifest.precisions]
        if len(have) < len(wanted):
            skipped = ", ".join(p for p in wanted if p not in have)
            print(f"note: {manifest.id} has no {skipped} weights pinned; skipped", file=sys.stderr)
        runs += [(model_id, p) for p in have]
    if not runs:
        raise UsageError(f"no model has {precisions} weights")
    return runs


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["eval"]:
        return eval_main(argv[1:])
    if argv[:1] == ["export"]:
        from .export.cli import main as export_main

        return export_main(argv[1:])
    return photos_main(argv)


def run() -> None:
    """``python -m sceneseg`` (the shim sceneseg/__main__.py) and this module run as a script."""
    try:
        sys.exit(main())
    except BrokenPipeError:
        # `python -m sceneseg photo.jpg | head`: the reader has what it wanted. Point stdout at
        # devnull so that flushing it at exit does not fail again (Python's documented idiom).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)


if __name__ == "__main__":
    run()

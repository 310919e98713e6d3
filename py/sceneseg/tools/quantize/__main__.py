"""``python -m sceneseg.quantize``: make the files, then (``--report``) measure and compare them."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from .. import quantize as package  # its docstring is --help's description
from ..manifest import sha256_file
from .recipes import SCHEMES, make, output_name
from .report import Report, agreement_with_fp32, graph_summary, native_speed

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}


def find_photos(folder: Path) -> list[Path]:
    """Photos under ``folder``; an ADE20K annotation (x.png beside x.jpg) is not a photo."""
    found = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES)
    return [p for p in found if not (p.suffix == ".png" and p.with_suffix(".jpg").exists())]


def run(args) -> int:
    model_dir = Path(args.model_dir)
    fp32 = Path(args.fp32) if args.fp32 else model_dir / "onnx" / "model.onnx"
    names = list(SCHEMES) if args.schemes == ["all"] else args.schemes
    unknown = [n for n in names if n not in SCHEMES]
    if unknown:
        print(f"unknown scheme(s) {', '.join(unknown)}; known: {', '.join(SCHEMES)}")
        return 2
    if not fp32.is_file():
        print(f"no fp32 model at {fp32} (--fp32 PATH)", file=sys.stderr)
        return 2
    calibration = find_photos(args.calibration) if args.calibration else []
    if args.calibration_count:
        calibration = calibration[: args.calibration_count]
    if any(SCHEMES[n].needs_calibration for n in names) and not calibration:
        print("static schemes need calibration photos: --calibration DIR", file=sys.stderr)
        return 2
    out = Path(args.out)
    files: dict[str, Path] = {}
    for name in names:
        start = time.perf_counter()
        if args.reuse and (out / output_name(name)).is_file():
            files[name] = out / output_name(name)
            continue
        files[name] = make(
            SCHEMES[name], fp32, out / output_name(name), model_dir=model_dir,
            calibration=calibration,
        )  # fmt: skip
        size = files[name].stat().st_size
        print(f"{name}: {files[name]} ({size:,} B, {time.perf_counter() - start:.1f} s)")
    if not args.report:
        return 0

    photos = find_photos(args.photos)
    print(f"agreement with fp32 on {len(photos)} photos ...")
    agreement = agreement_with_fp32(
        model_dir, fp32, files, photos, threads=args.threads,
        key=lambda p: str(p.relative_to(args.photos)),
    )  # fmt: skip
    speeds = {}
    if args.repeat:
        print(f"native speed, {args.threads} threads, {args.repeat} alternating runs ...")
        speeds = native_speed(model_dir, {"fp32": fp32, **files}, photos[0], args.repeat,
                              threads=args.threads)  # fmt: skip
    import onnxruntime

    report = Report(
        model_dir=str(model_dir),
        fp32={
            "file": str(fp32),
            "size": fp32.stat().st_size,
            "sha256": sha256_file(fp32),
            "native_ms": speeds.get("fp32"),
        },
        photos_dir=str(Path(args.photos).resolve()),
        photos=[str(p.relative_to(args.photos)) for p in photos],
        calibration=[p.name for p in calibration],
        conditions={
            "onnxruntime": onnxruntime.__version__,
            "native threads": args.threads,
            "native repeats": args.repeat,
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        },
    )
    for name, path in files.items():
        scheme = SCHEMES[name]
        report.rows.append(
            {
                "name": name,
                "kind": scheme.kind,
                "description": scheme.description,
                "scheme": dataclasses.asdict(scheme),
                "file": str(path),
                "size": path.stat().st_size,
                "sha256": sha256_file(path),
                "graph": graph_summary(path),
                "agreement": agreement[name],
                "native_ms": speeds.get(name),
            }
        )
    report.write(Path(args.report))
    print((Path(args.report) / "report.md").read_text(encoding="utf-8"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sceneseg.quantize",
        description=package.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        required=True,
        help="the model's files (config.json, preprocessor_config.json, quantize_config.json)",
    )
    parser.add_argument(
        "--fp32", type=Path, help="fp32 ONNX file; default MODEL_DIR/onnx/model.onnx"
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the files made")
    parser.add_argument(
        "--schemes",
        default=["q8"],
        type=lambda s: [p.strip() for p in s.split(",") if p.strip()],
        help=f"comma-separated, or 'all': {', '.join(SCHEMES)}",
    )
    parser.add_argument("--calibration", type=Path, help="photo folder for static schemes")
    parser.add_argument(
        "--calibration-count", type=int, default=0, help="use only the first N calibration photos"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep files already in --out (report only)"
    )
    parser.add_argument("--report", type=Path, help="write report.md and report.json here")
    parser.add_argument("--photos", type=Path, help="photo folder for the agreement figures")
    parser.add_argument("--repeat", type=int, default=5, help="native timing runs (0: none)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.report and not args.photos:
        parser.error("--report needs --photos")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())

"""The command line of ``python -m sceneseg export`` (see the package docstring)."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import sys
import time
from pathlib import Path

from . import ExportError, require
from .checkpoint import RECIPES

PRECISION_FILES = {
    "fp32": "onnx/model.onnx",
    "fp16": "onnx/model_fp16.onnx",
    "q8": "onnx/model_quantized.onnx",
}
# ../shared beside the checkout, as the tests and build.py's examples use it.
CHECKOUT = Path(__file__).resolve().parents[4]
SHARED = Path(os.environ.get("SCENESEG_SHARED", CHECKOUT.parent / "shared"))


def default_photos() -> Path | None:
    folder = SHARED / "photos"
    return folder if folder.is_dir() else None


def model_id(name: str) -> str:
    """A manifest id from a folder name: lower case, [a-z0-9.-] only."""
    name = name.lower()
    return re.sub(r"[^a-z0-9.]+", "-", name).strip("-.") or "exported-model"


def parser() -> argparse.ArgumentParser:
    from . import __doc__ as description

    p = argparse.ArgumentParser(
        prog="python -m sceneseg export",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", help="SegFormer checkpoint: a folder, or a Hugging Face id")
    p.add_argument("--out", type=Path, required=True, help="folder to create (the model's files)")
    p.add_argument("--id", help="the manifest's model id (default: --out's folder name)")
    p.add_argument("--name", help="the manifest's display name")
    p.add_argument(
        "--precisions",
        default="fp32,fp16,q8",
        help="of fp32, fp16, q8 (8-bit); fp32 is always made (the others come from it); "
        "default %(default)s",
    )
    p.add_argument(
        "--recipe",
        default="dyn-u8",
        choices=list(RECIPES),
        help="the 8-bit file's recipe: dyn-u8 (full-range QUInt8, per channel; default) or "
        "published (transformers.js's: reduce-range, its op types)",
    )
    p.add_argument(
        "--photos",
        type=Path,
        default=default_photos(),
        help="photos for the validation (labels vs PyTorch); default ../shared/photos beside "
        "the checkout, or $SCENESEG_SHARED/photos (%(default)s)",
    )
    p.add_argument("--limit", type=int, default=0, help="validate on the first N photos only")
    p.add_argument("--repeat", type=int, default=5, help="native timing runs (0: none)")
    p.add_argument("--threads", type=int, default=None, help="onnxruntime threads")
    p.add_argument(
        "--min-fp32-agreement",
        type=float,
        default=0.999,
        help="fail (and write nothing) if fp32 labels equal PyTorch's on fewer pixels; "
        "default %(default)s",
    )
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    precisions = ["fp32"] + [
        p for p in (s.strip() for s in args.precisions.split(",")) if p and p != "fp32"
    ]
    unknown = [p for p in precisions if p not in PRECISION_FILES]
    out = args.out.resolve()
    try:
        if unknown:
            raise ExportError(f"--precisions: unknown {', '.join(unknown)} (fp32, fp16, q8)")
        if out.exists() and not args.force and (not out.is_dir() or any(out.iterdir())):
            raise ExportError(f"{out} exists; --force replaces it")
        if args.photos is not None and not args.photos.is_dir():
            raise ExportError(f"--photos {args.photos} is not a folder")
        require()
        out.parent.mkdir(parents=True, exist_ok=True)
        temp = out.parent / f".{out.name}.export-{os.getpid()}"
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir()
        try:
            text = export(args, precisions, temp, argv)
            swap_in(temp, out)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
    except ExportError as exc:
        print(f"sceneseg export: {exc}", file=sys.stderr)
        return 2
    print(text)
    manifest = out / "manifest.json"
    print(
        f"wrote {out}/ (manifest {manifest}). Use it with:\n"
        f"  python -m sceneseg PHOTO --model {manifest} --model-dir {out} --precision q8\n"
        f"  python3 build.py --model {manifest} --model-dir {out} --precisions "
        f"{','.join(sorted(precisions, key=['q8', 'fp16', 'fp32'].index))}"
    )
    return 0


def swap_in(temp: Path, out: Path) -> None:
    """Rename the finished folder to ``out``; an old ``out`` (--force) goes only after."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
    temp.rename(out)
    if old is not None:
        shutil.rmtree(old) if old.is_dir() else old.unlink()


def export(args, precisions: list[str], temp: Path, argv: list[str]) -> str:
    import onnxruntime
    import torch
    import transformers

    from ...model import ModelInfo
    from ..manifest import sha256_file
    from ..quantize.__main__ import find_photos
    from ..quantize.recipes import SCHEMES, make
    from . import checkpoint, validate

    clock = time.perf_counter
    start = clock()
    print(f"reading {args.source} ...", file=sys.stderr)
    model, preprocessor, notes = checkpoint.load(args.source)
    model.config.to_json_file(temp / "config.json")
    (temp / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2) + "\n")
    info = ModelInfo.from_dir(temp)  # the pipeline reads them back as it will in the app
    height, width = info.preprocess.height, info.preprocess.width
    timings = {}
    t = clock()
    checkpoint.export_fp32(model, temp / PRECISION_FILES["fp32"], height, width)
    timings["fp32"] = clock() - t
    files = {"fp32": temp / PRECISION_FILES["fp32"]}
    if "q8" in precisions:
        (temp / "quantize_config.json").write_text(
            json.dumps(checkpoint.quantize_config(args.recipe), indent=4) + "\n"
        )
    for precision in precisions[1:]:
        t = clock()
        scheme = SCHEMES["fp16" if precision == "fp16" else checkpoint.RECIPES[args.recipe]]
        files[precision] = make(
            scheme, files["fp32"], temp / PRECISION_FILES[precision], model_dir=temp
        )
        timings[precision] = clock() - t
    print("made " + ", ".join(f"{p} in {s:.1f} s" for p, s in timings.items()), file=sys.stderr)

    photos = find_photos(args.photos) if args.photos else []
    photos = photos[: args.limit] if args.limit else photos
    if not photos:
        notes.append("no photos: labels not compared with PyTorch's (--photos DIR)")
    print(f"validating on {len(photos)} photos ...", file=sys.stderr)
    report = validate.validate(model, temp, files, photos, repeat=args.repeat, threads=args.threads)
    fp32 = report["agreement"]["fp32"]
    if fp32 is not None and fp32 < args.min_fp32_agreement:
        raise ExportError(
            f"fp32 labels equal PyTorch's on {fp32:.4%} of pixels, below "
            f"{args.min_fp32_agreement:.2%}: nothing written"
        )
    mid = args.id or model_id(args.out.name)
    names = ["config.json", "preprocessor_config.json"]
    names += ["quantize_config.json"] if "q8" in precisions else []
    names += [PRECISION_FILES[p] for p in precisions]
    pinned = {
        n: {"size": (temp / n).stat().st_size, "sha256": sha256_file(temp / n)} for n in names
    }
    encoder = (
        f"depths {model.config.depths}, hidden sizes {model.config.hidden_sizes}, "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters"
    )
    exported = {
        "source": args.source,
        "command": shlex.join(["python", "-m", "sceneseg", "export", *argv]),
        "recipe": args.recipe,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
        "agreement_with_pytorch": report["agreement"],
    }
    manifest = {
        "id": mid,
        "name": args.name or f"{mid} (exported)",
        "description": f"ONNX export of {args.source} by python -m sceneseg export: SegFormer, "
        f"{encoder}, {info.num_classes} classes, {height}x{width} input.",
        "license": "The source checkpoint's: read its model card.",
        "source": None,
        "files": pinned,
        "precisions": {p: PRECISION_FILES[p] for p in precisions},
        "exported": exported,
    }
    (temp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    report.update(
        id=mid,
        source=args.source,
        recipe=args.recipe,
        notes=notes,
        encoder=encoder,
        files={p: {"file": PRECISION_FILES[p], **pinned[PRECISION_FILES[p]]} for p in precisions},
        seconds={"export": timings, "total": clock() - start},
        conditions=f"onnxruntime {onnxruntime.__version__} CPU, {args.threads or 'default'} "
        + (f"threads, median of {args.repeat} runs" if args.repeat else "threads, not timed")
        + f"; torch {torch.__version__}, transformers "
        f"{transformers.__version__}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
    )
    return validate.write(report, temp)

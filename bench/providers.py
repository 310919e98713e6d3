"""Native speed per onnxruntime execution provider x precision x model variant, and each
row's labels vs the CPU's fp32 labels on the same photo.

    .venv/bin/python bench/providers.py \\
        --model segformer-b0-ade-synthetic \\
        --model-dir ../shared/models/segformer-b0-ade-synthetic \\
        --providers cpu,cuda,tensorrt,webgpu --precisions q8,fp16,fp32 --repeat 20 \\
        --out bench/providers.json

--model takes ids or manifest files (an export's DIR/manifest.json), several separated by
commas; --model-dir as the command line's (ID=DIR for one of several). A provider this
onnxruntime lacks (or that does not start) is a row saying so and what to install, not an
error: on a CPU-only machine only the CPU rows have figures. Times: median ms of --repeat
model runs at the model's input size after one warm-up run (TensorRT's engine is built in
that warm-up), batch 1, one row after the other. Agreement: share of full-resolution label
pixels equal to the CPU fp32 file's (or the CPU's at the same precision where no fp32 file
is pinned).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "py"))

from sceneseg.tools.cli import CACHE_DIR  # noqa: E402
from sceneseg.tools.manifest import Manifest, exported_manifest  # noqa: E402
from sceneseg.tools.model_options import comma_list, model_dir_for  # noqa: E402
from sceneseg.tools.native import PROVIDERS, ProviderError  # noqa: E402
from sceneseg.tools.parallel import ModelSpec  # noqa: E402

DEFAULT_PHOTO = ROOT.parent / "shared" / "photos" / "chelsea.png"


def measure(spec: ModelSpec, photo: bytes, repeat: int):
    """(segmenter, median ms, labels) or a ProviderError."""
    segmenter = spec.segmenter()
    info = segmenter.model.preprocess
    pixel_values = np.zeros((1, 3, info.height, info.width), np.float32)
    segmenter.backend.run_sync(pixel_values)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        segmenter.backend.run_sync(pixel_values)
        times.append((time.perf_counter() - start) * 1000)
    labels = segmenter.segment_sync(photo).labels
    return segmenter, statistics.median(times) if times else None, labels


def run(args) -> list[dict]:
    photo = Path(args.photo).read_bytes()
    rows = []
    for model_id in args.model:
        manifest = Manifest.named(model_id)
        local = model_dir_for(manifest.id, args.model_dir)
        manifest = exported_manifest(manifest, local)
        precisions = [p for p in args.precisions if p in manifest.precisions]
        reference_precision = "fp32" if "fp32" in manifest.precisions else precisions[0]
        references: dict[str, np.ndarray] = {}
        for precision in dict.fromkeys([reference_precision, *precisions]):
            spec = ModelSpec.prepare(
                manifest, precision, CACHE_DIR, local,
                allow_unpinned=args.allow_unpinned, threads=args.threads,
            )  # fmt: skip
            for provider in ["cpu", *[p for p in args.providers if p != "cpu"]]:
                row = {"model": manifest.id, "precision": precision, "provider": provider}
                try:
                    spec = ModelSpec(**{**spec.__dict__, "provider": provider})
                    segmenter, ms, labels = measure(spec, photo, args.repeat)
                except ProviderError as exc:
                    row.update(status=f"not available: {exc}")
                    if provider in args.providers:
                        rows.append(row)
                    continue
                if provider == "cpu" and precision == reference_precision:
                    references["cpu"] = labels
                if precision not in precisions or provider not in args.providers:
                    continue  # the reference run only
                row.update(
                    status="ok",
                    ms=ms,
                    backend=segmenter.backend.name,
                    agreement=float((labels == references["cpu"]).mean()),
                    reference=f"cpu {reference_precision}",
                )
                rows.append(row)
                print(f"{manifest.id} {precision} {provider}: {ms:.1f} ms", file=sys.stderr)
    return rows


def markdown(rows: list[dict], args) -> str:
    lines = [
        f"Native model time, median of {args.repeat} runs at the model's input size (batch 1, "
        f"{args.threads or 'default'} threads); agreement: label pixels equal to the CPU's "
        f"fp32 on {Path(args.photo).name}. {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        "| model | precision | provider | ms | agreement | note |",
        "|---|---|---|---:|---:|---|",
    ]
    for r in rows:
        if r["status"] == "ok":
            lines.append(
                f"| {r['model']} | {r['precision']} | {r['provider']} | {r['ms']:.1f} | "
                f"{r['agreement']:.4%} | {r['backend']} |"
            )
        else:
            lines.append(
                f"| {r['model']} | {r['precision']} | {r['provider']} | – | – | {r['status']} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=comma_list, default=["segformer-b0-ade-synthetic"])
    parser.add_argument("--model-dir", action="append", default=[], metavar="[ID=]DIR")
    parser.add_argument("--allow-unpinned", action="store_true")
    parser.add_argument("--providers", type=comma_list, default=list(PROVIDERS))
    parser.add_argument("--precisions", type=comma_list, default=["q8", "fp16", "fp32"])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--photo", type=Path, default=DEFAULT_PHOTO)
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    unknown = [p for p in args.providers if p not in PROVIDERS]
    if unknown:
        parser.error(f"--providers: unknown {', '.join(unknown)} ({', '.join(PROVIDERS)})")
    rows = run(args)
    text = markdown(rows, args)
    print(text)
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "table": text}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

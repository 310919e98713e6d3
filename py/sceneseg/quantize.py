"""Quantization tooling: fp32 ONNX -> fp16 and 8-bit files, and a report that compares them.

    python -m sceneseg.quantize --model-dir ../shared/models/segformer-b0-ade-synthetic \\
        --out build/quantized --schemes all --report build/quantized

CPython only (needs ``onnx`` and ``onnxruntime``: ``pip install 'sceneseg[quantize]'``);
never imported in Pyodide.

Schemes (``SCHEMES``), each a named recipe applied to the fp32 file:

- ``fp16``: onnxruntime's own float16 converter (``onnxruntime.transformers.float16``, the
  maintained fork of onnxconverter-common's, shipped inside the onnxruntime wheel: no extra
  package), float32 inputs/outputs kept so the pipeline is unchanged.
- ``q8``: the published file's recipe, read from the model's ``quantize_config.json``
  (dynamic, per channel, reduce-range, QUInt8 weights, its op types). From the stand-in's
  fp32 file it reproduces the stand-in's published-style q8 byte for byte.
- ``dyn-*``: other dynamic schemes (signed weights, per tensor, MatMul only).
- ``qdq-*`` / ``qop-*``: static quantization calibrated on a folder of photos, preprocessed
  by sceneseg's own ``SegformerProcessor``; QDQ or QOperator format, per channel or per
  tensor, u8 or s8 activations, and which ops are quantized.

What was measured with them (bench/quantize/README.md): none is >= 1.3x faster than the
published q8 in onnxruntime-web's WASM backend at >= 99.5% agreement with fp32; ``dyn-u8``
(the published recipe without reduce-range) is as fast and agrees better (99.55% vs 99.01%).

The report gives, for each output, its size, its label agreement with fp32 on a photo folder
through sceneseg's own pipeline (per photo and overall), and its native onnxruntime speed,
measured side by side (alternating runs, median). Browser (onnxruntime-web WASM) speeds are
added by ``bench/quantize_browser.py``, which rewrites the same report.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .model import ModelInfo
from .processing import SegformerProcessor, decode

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}

# Node-name patterns (onnxruntime matches nodes_to_exclude by exact name; we expand these
# regular expressions against the graph) for the parts of SegFormer one may keep in float.
ATTENTION_SCORES = r"/attention/MatMul(_1)?$"  # Q·Kᵀ and softmax·V: both inputs are activations
DECODE_HEAD = r"^/m/decode_head/"
CLASSIFIER = r"^/m/decode_head/classifier/"
FIRST_PATCH_EMBED = r"^/m/segformer/stages\.0/patch_embeddings/"
DEPTHWISE = r"/dwconv/"


@dataclass(frozen=True)
class Scheme:
    """One recipe: how to turn the fp32 file into another file."""

    name: str
    kind: str  # "fp16" | "dynamic" | "static"
    description: str
    per_channel: bool = True
    reduce_range: bool = False
    weight_type: str = "QInt8"  # onnxruntime.quantization.QuantType member name
    activation_type: str = "QUInt8"  # static only
    quant_format: str = "QDQ"  # static only: "QDQ" or "QOperator"
    op_types: tuple[str, ...] = ("MatMul", "Conv")
    exclude: tuple[str, ...] = ()  # regular expressions on node names, kept in float
    calibrate_method: str = "MinMax"
    published: bool = False  # op types and settings from the model's quantize_config.json

    @property
    def needs_calibration(self) -> bool:
        return self.kind == "static"


SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in [
        Scheme("fp16", "fp16", "float16 weights and compute, float32 inputs/outputs"),
        Scheme(
            "q8",
            "dynamic",
            "published recipe (quantize_config.json): dynamic, per channel, reduce-range, "
            "QUInt8 weights",
            published=True,
        ),
        Scheme(
            "dyn-s8",
            "dynamic",
            "dynamic, per channel, QInt8 weights, full range, MatMul+Conv",
        ),
        Scheme(
            "dyn-s8-tensor",
            "dynamic",
            "dynamic, per tensor, QInt8 weights, MatMul+Conv",
            per_channel=False,
        ),
        Scheme(
            "dyn-matmul",
            "dynamic",
            "dynamic, per channel, QInt8 weights, MatMul only (Conv stays fp32)",
            op_types=("MatMul",),
        ),
        # onnxruntime-web's WASM build has a SIMD integer GEMM for uint8 x uint8 only; signed
        # weights take a much slower path there (measured: dyn-s8 ~4x slower than q8). So the
        # schemes meant for the browser keep QUInt8 weights, without the reduce-range that
        # only x86 u8s8 kernels need (one more bit of weight precision).
        Scheme(
            "dyn-u8",
            "dynamic",
            "dynamic, per channel, QUInt8 weights, full range, MatMul+Conv",
            weight_type="QUInt8",
        ),
        Scheme(
            "dyn-u8-matmul",
            "dynamic",
            "dynamic, per channel, QUInt8 weights, full range, MatMul only (Conv fp32)",
            weight_type="QUInt8",
            op_types=("MatMul",),
        ),
        Scheme(
            "dyn-u8-nodw",
            "dynamic",
            "dynamic, per channel, QUInt8 weights, full range, MatMul+Conv except depthwise",
            weight_type="QUInt8",
            exclude=(DEPTHWISE,),
        ),
        Scheme(
            "qdq-u8u8",
            "static",
            "static QDQ, u8 activations, u8 per-channel weights, MatMul+Conv",
            weight_type="QUInt8",
        ),
        Scheme(
            "qdq-u8u8-nodw",
            "static",
            "static QDQ, u8 activations, u8 per-channel weights, MatMul+Conv except depthwise",
            weight_type="QUInt8",
            exclude=(DEPTHWISE,),
        ),
        Scheme(
            "qop-u8u8",
            "static",
            "static QOperator (QLinearConv/QLinearMatMul), u8 activations, u8 per-channel "
            "weights, MatMul+Conv",
            weight_type="QUInt8",
            quant_format="QOperator",
        ),
        Scheme(
            "qdq-u8s8",
            "static",
            "static QDQ, u8 activations, s8 per-channel weights, MatMul+Conv",
        ),
        Scheme(
            "qdq-s8s8",
            "static",
            "static QDQ, s8 activations, s8 per-channel weights, MatMul+Conv",
            activation_type="QInt8",
        ),
        Scheme(
            "qdq-u8s8-tensor",
            "static",
            "static QDQ, u8 activations, s8 per-tensor weights, MatMul+Conv",
            per_channel=False,
        ),
        Scheme(
            "qdq-u8s8-conv",
            "static",
            "static QDQ, u8 activations, s8 per-channel weights, Conv only",
            op_types=("Conv",),
        ),
        Scheme(
            "qdq-u8s8-noattn",
            "static",
            "static QDQ, u8/s8 per channel, MatMul+Conv except the attention score MatMuls",
            exclude=(ATTENTION_SCORES,),
        ),
        Scheme(
            "qdq-u8s8-nohead",
            "static",
            "static QDQ, u8/s8 per channel, MatMul+Conv except the decode head",
            exclude=(DECODE_HEAD,),
        ),
        Scheme(
            "qop-u8s8",
            "static",
            "static QOperator (QLinearConv/QLinearMatMul), u8 activations, s8 per-channel "
            "weights, MatMul+Conv",
            quant_format="QOperator",
        ),
    ]
}


# --------------------------------------------------------------------------------------------
# Making the files


def published_settings(model_dir: Path) -> dict:
    """quantize_dynamic keyword arguments from the model's quantize_config.json."""
    from onnxruntime.quantization import QuantType

    cfg = json.loads((Path(model_dir) / "quantize_config.json").read_text(encoding="utf-8"))
    model_cfg = cfg["per_model_config"]["model"]
    return {
        "op_types_to_quantize": list(model_cfg["op_types"]),
        "per_channel": bool(cfg["per_channel"]),
        "reduce_range": bool(cfg["reduce_range"]),
        "weight_type": QuantType[model_cfg["weight_type"]],
    }


def matching_nodes(model_path: Path, patterns: tuple[str, ...]) -> list[str]:
    import re

    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    return [n.name for n in graph.node if any(re.search(p, n.name) for p in patterns)]


class PhotoCalibrationReader:
    """onnxruntime CalibrationDataReader: photos preprocessed exactly as the app does."""

    def __init__(self, photos: list[Path], model: ModelInfo, input_name: str = "pixel_values"):
        self._photos = list(photos)
        self._processor = SegformerProcessor(model.preprocess)
        self._input = input_name
        self._next = 0

    def get_next(self) -> dict | None:
        if self._next >= len(self._photos):
            return None
        path = self._photos[self._next]
        self._next += 1
        return {self._input: self._processor.preprocess(decode(path.read_bytes()))}

    def rewind(self) -> None:
        self._next = 0


def make(
    scheme: Scheme,
    fp32_path: Path,
    out_path: Path,
    *,
    model_dir: Path,
    calibration: list[Path] | None = None,
) -> Path:
    """Write ``scheme`` applied to ``fp32_path`` to ``out_path``."""
    import logging

    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    # onnxruntime.quantization warns on the root logger (pre-processing advice) at every call.
    logging.getLogger().setLevel(logging.ERROR)
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    exclude = matching_nodes(fp32_path, scheme.exclude) if scheme.exclude else None
    if scheme.kind == "fp16":
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16
        from onnxruntime.transformers.onnx_model import OnnxModel

        model = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
        # The converter appends the input's Cast node last; ONNX wants nodes in topological
        # order (onnxruntime sorts on load, onnx.checker and other runtimes do not).
        wrapped = OnnxModel(model)
        wrapped.topological_sort()
        onnx.save(wrapped.model, str(out_path))
    elif scheme.kind == "dynamic":
        if scheme.published:
            settings = published_settings(model_dir)
        else:
            settings = {
                "op_types_to_quantize": list(scheme.op_types),
                "per_channel": scheme.per_channel,
                "reduce_range": scheme.reduce_range,
                "weight_type": QuantType[scheme.weight_type],
            }
        # EnableSubgraph as transformers.js's quantize script passes it (no effect here:
        # SegFormer has no subgraphs), so that the published file is reproduced exactly.
        quantize_dynamic(
            fp32_path,
            out_path,
            nodes_to_exclude=exclude,
            extra_options={"EnableSubgraph": True},
            **settings,
        )
    elif scheme.kind == "static":
        if not calibration:
            raise ValueError(f"{scheme.name} is static: it needs calibration photos")
        reader = PhotoCalibrationReader(calibration, ModelInfo.from_dir(model_dir))
        with tempfile.TemporaryDirectory() as tmp:
            # Per-channel QDQ needs DequantizeLinear's axis (opset 13); onnxruntime's
            # pre-processing (shape inference + basic graph optimisation) is what its
            # documentation asks for before static quantization.
            import onnx
            from onnx import version_converter
            from onnxruntime.quantization import quant_pre_process

            prepared = Path(tmp) / "prepared.onnx"
            quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=False)
            model = onnx.load(str(prepared))
            if _opset(model) < 13:
                onnx.save(version_converter.convert_version(model, 13), str(prepared))
            quantize_static(
                prepared,
                out_path,
                reader,
                quant_format=QuantFormat[scheme.quant_format],
                op_types_to_quantize=list(scheme.op_types),
                per_channel=scheme.per_channel,
                reduce_range=scheme.reduce_range,
                activation_type=QuantType[scheme.activation_type],
                weight_type=QuantType[scheme.weight_type],
                nodes_to_exclude=exclude,
                calibrate_method=CalibrationMethod[scheme.calibrate_method],
                extra_options={"ActivationSymmetric": scheme.activation_type == "QInt8"},
            )
    else:
        raise ValueError(f"unknown scheme kind {scheme.kind!r}")
    return out_path


# --------------------------------------------------------------------------------------------
# Comparing them


def find_photos(folder: Path) -> list[Path]:
    """Photos under ``folder``; an ADE20K annotation (x.png beside x.jpg) is not a photo."""
    found = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES)
    return [p for p in found if not (p.suffix == ".png" and p.with_suffix(".jpg").exists())]


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def graph_summary(path: Path) -> dict:
    """Operator counts and initializer dtypes: what 'same structure' means in the report."""
    import onnx

    model = onnx.load(str(path))
    return {
        "ops": dict(sorted(Counter(n.op_type for n in model.graph.node).items())),
        "initializer_dtypes": dict(
            sorted(
                Counter(
                    onnx.TensorProto.DataType.Name(t.data_type) for t in model.graph.initializer
                ).items()
            )
        ),
        "opset": _opset(model),
    }


def _opset(model) -> int:
    return max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def label_agreement(reference: np.ndarray, labels: np.ndarray) -> tuple[int, int]:
    """(pixels with the same label, pixels) of two label maps of the same shape."""
    if reference.shape != labels.shape:
        raise ValueError(f"label maps differ in shape: {reference.shape} vs {labels.shape}")
    return int(np.count_nonzero(reference == labels)), int(reference.size)


def summarize_agreement(per_photo: dict[str, tuple[int, int]]) -> dict:
    """Overall = all pixels pooled; also the mean and worst photo."""
    same = sum(s for s, _ in per_photo.values())
    total = sum(t for _, t in per_photo.values())
    shares = {name: s / t for name, (s, t) in per_photo.items()}
    return {
        "overall": same / total,
        "mean": statistics.fmean(shares.values()),
        "min": min(shares.values()),
        "per_photo": shares,
    }


def segmenters(model_dir: Path, files: dict[str, Path], threads: int):
    from .backends.native import OnnxRuntimeBackend
    from .pipeline import Segmenter

    model = ModelInfo.from_dir(model_dir)
    return {
        name: Segmenter(model, OnnxRuntimeBackend(path, threads=threads, label=name))
        for name, path in files.items()
    }


def agreement_with_fp32(
    model_dir: Path,
    fp32: Path,
    files: dict[str, Path],
    photos: list[Path],
    threads: int = 2,
    key=lambda photo: photo.name,
) -> dict[str, dict]:
    """Each file's full-resolution labels vs the fp32 file's, through sceneseg's pipeline."""
    runners = segmenters(model_dir, {"fp32": fp32, **files}, threads)
    per_photo: dict[str, dict[str, tuple[int, int]]] = {name: {} for name in files}
    for photo in photos:
        data = photo.read_bytes()
        reference = runners["fp32"].segment_sync(data).labels
        for name in files:
            labels = runners[name].segment_sync(data).labels
            per_photo[name][key(photo)] = label_agreement(reference, labels)
    return {name: summarize_agreement(per_photo[name]) for name in files}


def native_speed(
    model_dir: Path, files: dict[str, Path], photo: Path, repeat: int, threads: int = 2
) -> dict[str, float]:
    """Median ms of one model run per file, same input, runs alternating between files."""
    runners = segmenters(model_dir, files, threads)
    first = next(iter(runners.values()))
    pixels = first.processor.preprocess(decode(photo.read_bytes()))
    for runner in runners.values():  # warm-up
        runner.backend.run_sync(pixels)
    samples: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeat):
        for name, runner in runners.items():
            start = time.perf_counter()
            runner.backend.run_sync(pixels)
            samples[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(s) for name, s in samples.items()}


# --------------------------------------------------------------------------------------------
# The report


@dataclass
class Report:
    model_dir: str
    fp32: dict
    photos_dir: str
    photos: list[str]  # relative to photos_dir
    calibration: list[str]
    rows: list[dict] = field(default_factory=list)
    conditions: dict = field(default_factory=dict)
    goal: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def load(cls, path: Path) -> Report:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))

    def evaluate_goal(self, baseline: str = "q8", speedup: float = 1.3, agreement: float = 0.995):
        """The issue's goal: an 8-bit file >= 1.3x faster than the published q8 in the
        browser's WASM backend, with >= 99.5% label agreement with fp32 (all pixels pooled)."""
        rows = {r["name"]: r for r in self.rows}
        base = rows.get(baseline, {}).get("browser_ms")
        met = []
        for row in self.rows:
            ms = row.get("browser_ms")
            # The baseline as timed beside this file (same page, alternating runs), if the
            # bench ran the files in groups; else the baseline's own median.
            row_base = row.get("browser_baseline_ms") or base
            row["browser_speedup_vs_q8"] = row_base / ms if row_base and ms else None
            # Better still: the median of round-by-round ratios, when the bench gives it.
            if row.get("browser_paired_speedup_vs_q8"):
                row["browser_speedup_vs_q8"] = row["browser_paired_speedup_vs_q8"]
            row["meets_goal"] = bool(
                row["kind"] in ("dynamic", "static")
                and row["name"] != baseline
                and row["browser_speedup_vs_q8"]
                and row["browser_speedup_vs_q8"] >= speedup
                and row["agreement"]["overall"] >= agreement
            )
            if row["meets_goal"]:
                met.append(row["name"])
        self.goal = {
            "baseline": baseline,
            "speedup": speedup,
            "agreement": agreement,
            "met_by": met,
            "measured_in_browser": base is not None,
        }

    def to_markdown(self) -> str:
        lines = [
            "# Quantization report",
            "",
            f"fp32: `{self.fp32['file']}` ({self.fp32['size']:,} B); model files: "
            f"`{self.model_dir}`",
            f"Agreement: share of full-resolution label pixels equal to fp32's, through "
            f"sceneseg's pipeline, on {len(self.photos)} photos (overall = all pixels pooled).",
            "Speeds: median ms of one 512x512 model run, candidates run alternately in one "
            "process (native: onnxruntime CPU; browser: onnxruntime-web WASM in headless "
            "Chromium); compare ratios, not absolute times. 'browser vs q8': the median of "
            "round-by-round ratios to the q8 file timed in the same page.",
            "",
        ]
        if self.conditions:
            lines += ["Conditions: " + "; ".join(f"{k}: {v}" for k, v in self.conditions.items())]
            lines += [""]
        header = (
            "| file | scheme | size MB | agreement overall | worst photo | native ms "
            "| native vs q8 | browser ms | browser vs q8 | goal |"
        )
        lines += [header, "|---|---|---|---|---|---|---|---|---|---|"]
        base_native = next((r["native_ms"] for r in self.rows if r["name"] == "q8"), None)
        for r in self.rows:
            native = r.get("native_ms")
            browser = r.get("browser_ms")
            speed = r.get("browser_speedup_vs_q8")
            cells = [
                f"`{r['name']}`",
                r["description"],
                f"{r['size'] / 1e6:.2f}",
                f"{r['agreement']['overall']:.3%}",
                f"{r['agreement']['min']:.3%}",
                f"{native:.0f}" if native else "-",
                f"{base_native / native:.2f}x" if native and base_native else "-",
                f"{browser:.0f}" if browser else "-",
                f"{speed:.2f}x" if speed else "-",
                "yes" if r.get("meets_goal") else "",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "## Agreement per photo", ""]
        names = [r["name"] for r in self.rows]
        lines += ["| photo | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for photo in self.photos:
            cells = [f"{r['agreement']['per_photo'][photo]:.3%}" for r in self.rows]
            # Static schemes saw these photos in calibration: not held-out figures.
            mark = " (calibration)" if Path(photo).name in self.calibration else ""
            lines.append(f"| {photo}{mark} | " + " | ".join(cells) + " |")
        lines += ["", "## Operators", ""]
        for r in self.rows:
            ops = ", ".join(f"{k} {v}" for k, v in r["graph"]["ops"].items() if k != "Constant")
            lines.append(f"- `{r['name']}` (opset {r['graph']['opset']}): {ops}")
        if self.goal:
            g = self.goal
            lines += ["", "## Goal", ""]
            if not g["measured_in_browser"]:
                lines.append("Not evaluated: no browser speeds yet (bench/quantize_browser.py).")
            elif g["met_by"]:
                lines.append(
                    f"Met by {', '.join(g['met_by'])}: >= {g['speedup']}x the browser speed of "
                    f"`{g['baseline']}` at >= {g['agreement']:.1%} agreement with fp32."
                )
            else:
                lines.append(
                    f"Not met: no 8-bit file is >= {g['speedup']}x faster than `{g['baseline']}` "
                    f"in the browser at >= {g['agreement']:.1%} agreement with fp32."
                )
        return "\n".join(lines) + "\n"

    def write(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.evaluate_goal()
        (directory / "report.json").write_text(self.to_json(), encoding="utf-8")
        (directory / "report.md").write_text(self.to_markdown(), encoding="utf-8")


def output_name(scheme: str) -> str:
    return f"model_{scheme.replace('-', '_')}.onnx"


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
        description=__doc__,
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

"""What the report measures (structure, label agreement with fp32, native speed) and the
report itself (report.json, report.md, the goal)."""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...model import ModelInfo
from ...processing import decode
from .recipes import opset


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
        "opset": opset(model),
    }


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
    from ...pipeline import Segmenter
    from ..native import OnnxRuntimeBackend

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
    return alternating_medians(runners, pixels, repeat)


def alternating_medians(runners: dict, pixels: np.ndarray, repeat: int) -> dict[str, float]:
    """Median ms of one model run per Segmenter on ``pixels``, after a warm-up run each,
    runs alternating between them (a busy machine slows them alike)."""
    for runner in runners.values():  # warm-up
        runner.backend.run_sync(pixels)
    samples: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeat):
        for name, runner in runners.items():
            start = time.perf_counter()
            runner.backend.run_sync(pixels)
            samples[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(s) for name, s in samples.items()}


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

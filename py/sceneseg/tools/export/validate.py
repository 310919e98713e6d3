"""The export's validation report: each precision's full-resolution labels (sceneseg's own
pipeline on native onnxruntime) vs PyTorch's (the checkpoint itself, ``interpolate`` bilinear
``align_corners=False`` to the photo's size, argmax), the dynamic input shape checked, and the
native speed per precision."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...model import ModelInfo
from ...processing import SegformerProcessor, decode


def torch_labels(model, pixel_values: np.ndarray, height: int, width: int):
    """(labels, logits) of the PyTorch checkpoint: the Hugging Face chain's semantics."""
    import torch

    with torch.inference_mode():
        logits = model(pixel_values=torch.from_numpy(pixel_values)).logits
        up = torch.nn.functional.interpolate(
            logits, size=(height, width), mode="bilinear", align_corners=False
        )
        return up[0].argmax(0).numpy().astype(np.uint8), logits.numpy()


def validate(
    model,
    model_dir: Path,
    files: dict[str, Path],
    photos: list[Path],
    *,
    repeat: int = 5,
    threads: int | None = None,
    provider: str = "cpu",
) -> dict:
    from ...pipeline import Segmenter
    from ..native import OnnxRuntimeBackend

    info = ModelInfo.from_dir(model_dir)
    processor = SegformerProcessor(info.preprocess)
    runners = {
        precision: Segmenter(
            info, OnnxRuntimeBackend(path, threads=threads, label=precision, provider=provider)
        )
        for precision, path in files.items()
    }
    report: dict = {
        "classes": info.num_classes,
        "input_size": [info.preprocess.height, info.preprocess.width],
        "photos": [],
        "agreement": {},
    }
    same = dict.fromkeys(files, 0)
    total = 0
    for photo in photos:
        image = decode(photo.read_bytes())
        width, height = image.size
        reference, _ = torch_labels(model, processor.preprocess(image), height, width)
        row = {"photo": photo.name, "size": [width, height]}
        for precision, segmenter in runners.items():
            labels = segmenter.segment_sync(image).labels
            equal = int(np.count_nonzero(labels == reference))
            same[precision] += equal
            row[precision] = equal / reference.size
        total += reference.size
        report["photos"].append(row)
    report["agreement"] = {p: (same[p] / total if total else None) for p in files}
    report["dynamic_shape"] = dynamic_shape_check(model, runners["fp32"], info)
    report["native_ms"] = native_speed(runners, info, repeat) if repeat else {}
    report["backend"] = {p: s.backend.name for p, s in runners.items()}
    return report


def dynamic_shape_check(model, fp32, info: ModelInfo) -> dict:
    """The fp32 file at an input shape other than the one it was exported with (not square,
    not the export's): its logits vs PyTorch's at the same shape."""
    height = max(64, (info.preprocess.height * 3 // 4) // 32 * 32)
    width = info.preprocess.width + 32
    rng = np.random.default_rng(0)
    pixel_values = rng.standard_normal((1, 3, height, width), dtype=np.float32)
    _, reference = torch_labels(model, pixel_values, 1, 1)
    logits = fp32.backend.run_sync(pixel_values)
    if logits.shape != reference.shape:
        raise RuntimeError(f"fp32 file at {height}x{width}: logits {logits.shape}, expected "
                           f"{reference.shape}")  # fmt: skip
    return {
        "input": [height, width],
        "logits": list(logits.shape),
        "max_abs_logit_diff": float(np.abs(logits - reference).max()),
        "argmax_equal": float((logits.argmax(1) == reference.argmax(1)).mean()),
    }


def native_speed(runners: dict, info: ModelInfo, repeat: int) -> dict[str, float]:
    """Median ms of one model run per precision at the input size (the quantize report's
    alternating runs)."""
    from ..quantize.report import alternating_medians

    pixel_values = np.zeros((1, 3, info.preprocess.height, info.preprocess.width), np.float32)
    return alternating_medians(runners, pixel_values, repeat)


def markdown(report: dict) -> str:
    precisions = list(report["agreement"])
    lines = [
        f"# Export of {report['source']}",
        "",
        f"- id `{report['id']}`, {report['classes']} classes, input "
        f"{report['input_size'][0]}x{report['input_size'][1]}, 8-bit recipe "
        f"`{report['recipe']}`",
        f"- {report['conditions']}",
    ]
    lines += [f"- note: {n}" for n in report.get("notes", [])]
    dyn = report["dynamic_shape"]
    lines += [
        f"- dynamic input: fp32 at {dyn['input'][0]}x{dyn['input'][1]} -> logits "
        f"{'x'.join(map(str, dyn['logits']))}, max |logit - PyTorch's| "
        f"{dyn['max_abs_logit_diff']:.2e}, argmax equal {dyn['argmax_equal']:.4%}",
        "",
        "| precision | file | bytes | labels = PyTorch's | native ms |",
        "|---|---|---:|---:|---:|",
    ]
    for p in precisions:
        share = report["agreement"][p]
        ms = report["native_ms"].get(p)
        f = report["files"][p]
        lines.append(
            f"| {p} | `{f['file']}` | {f['size']:,} | "
            f"{'-' if share is None else f'{share:.4%}'} | {'-' if ms is None else f'{ms:.1f}'} |"
        )
    if report["photos"]:
        lines += ["", "| photo | size | " + " | ".join(precisions) + " |"]
        lines.append("|---|---|" + "---:|" * len(precisions))
        for row in report["photos"]:
            cells = " | ".join(f"{row[p]:.4%}" for p in precisions)
            lines.append(f"| {row['photo']} | {row['size'][0]}x{row['size'][1]} | {cells} |")
    else:
        lines += ["", "No photos: labels were not compared (pass --photos DIR)."]
    return "\n".join(lines) + "\n"


def write(report: dict, directory: Path) -> str:
    text = markdown(report)
    (directory / "validation.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    (directory / "validation.md").write_text(text, encoding="utf-8")
    return text

"""The quantization tool: valid models, the published recipe reproduced, agreement figures right."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from conftest import PHOTOS, STANDIN_DIR

onnx = pytest.importorskip("onnx", reason="pip install 'sceneseg[quantize]'")
import onnxruntime as ort  # noqa: E402

from sceneseg.tools.quantize.recipes import SCHEMES, make, output_name  # noqa: E402
from sceneseg.tools.quantize.report import (  # noqa: E402
    Report,
    agreement_with_fp32,
    graph_summary,
    label_agreement,
    summarize_agreement,
)

FP32 = STANDIN_DIR / "onnx" / "model.onnx"
PUBLISHED_Q8 = STANDIN_DIR / "onnx" / "model_quantized.onnx"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Files made once per module: {scheme: path}."""
    out = tmp_path_factory.mktemp("quantized")
    cache: dict[str, object] = {}

    def get(name: str, calibration=None):
        if name not in cache:
            path = out / output_name(name)
            scheme = SCHEMES[name]
            make(scheme, FP32, path, model_dir=STANDIN_DIR, calibration=calibration)
            cache[name] = path
        return cache[name]

    return get


def run_logits(path, pixels):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {session.get_inputs()[0].name: pixels})
    return logits


def small_input(photo=PHOTOS[0], size=128):
    """A real photo at 128x128 (the graph takes any size): fast enough for a unit test."""
    from PIL import Image

    from sceneseg.processing import decode

    image = decode(photo.read_bytes()).resize((size, size), Image.BILINEAR)
    x = np.asarray(image, dtype=np.float32).transpose(2, 0, 1)[None] / 255
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
    return np.ascontiguousarray((x - mean) / std, dtype=np.float32)


@pytest.mark.slow
def test_published_recipe_reproduces_the_published_structure(made):
    path = made("q8")
    ours, published = graph_summary(path), graph_summary(PUBLISHED_Q8)
    assert ours == published
    # What the recipe means, seen in the graph: dynamic 8-bit with uint8 weights.
    assert published["ops"]["MatMulInteger"] == 52 and published["ops"]["ConvInteger"] == 20
    assert published["ops"]["DynamicQuantizeLinear"] > 0
    assert "QuantizeLinear" not in published["ops"]
    assert "INT8" not in published["initializer_dtypes"]
    assert published["initializer_dtypes"]["UINT8"] > 0
    # Same node order and op types, same initializer names and values.
    a, b = onnx.load(str(path)), onnx.load(str(PUBLISHED_Q8))
    assert [n.op_type for n in a.graph.node] == [n.op_type for n in b.graph.node]
    ia = {t.name: onnx.numpy_helper.to_array(t) for t in a.graph.initializer}
    ib = {t.name: onnx.numpy_helper.to_array(t) for t in b.graph.initializer}
    assert ia.keys() == ib.keys()
    assert all(np.array_equal(ia[k], ib[k]) for k in ia)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fp16", "dyn-matmul", "qdq-u8s8"])
def test_schemes_make_valid_models_close_to_fp32(made, name):
    scheme = SCHEMES[name]
    calibration = PHOTOS[:2] if scheme.needs_calibration else None
    path = made(name, calibration)
    onnx.checker.check_model(str(path))
    summary = graph_summary(path)
    if name == "fp16":
        assert set(summary["initializer_dtypes"]) == {"FLOAT16"}
    elif scheme.kind == "dynamic":
        assert summary["ops"]["MatMulInteger"] == 52 and summary["ops"]["Conv"] == 20
        assert "ConvInteger" not in summary["ops"]
    else:
        assert summary["ops"]["QuantizeLinear"] > 0 and summary["ops"]["DequantizeLinear"] > 0
        assert summary["initializer_dtypes"]["INT8"] > 0  # s8 weights
    assert path.stat().st_size < FP32.stat().st_size * (0.55 if name == "fp16" else 0.6)

    pixels = small_input()
    reference, logits = run_logits(FP32, pixels), run_logits(path, pixels)
    assert logits.shape == reference.shape == (1, 150, 32, 32)
    assert logits.dtype == np.float32
    assert (logits.argmax(1) == reference.argmax(1)).mean() > 0.9


def test_label_agreement_counts():
    a = np.array([[0, 1, 2], [3, 4, 5]], np.uint8)
    b = np.array([[0, 1, 9], [3, 9, 5]], np.uint8)
    assert label_agreement(a, b) == (4, 6)
    with pytest.raises(ValueError):
        label_agreement(a, b[:1])
    summary = summarize_agreement({"x": (4, 6), "y": (10, 10)})
    assert summary["overall"] == pytest.approx(14 / 16)  # pooled, not the mean of shares
    assert summary["mean"] == pytest.approx((4 / 6 + 1) / 2)
    assert summary["min"] == pytest.approx(4 / 6)


@pytest.mark.slow
def test_agreement_figures_match_an_independent_computation(made):
    """The tool's agreement vs Hugging Face's processor and post-processing on the same files."""
    import torch
    from transformers import SegformerImageProcessorPil

    from sceneseg.processing import decode

    photos = PHOTOS[:2]
    candidate = made("q8")
    ours = agreement_with_fp32(STANDIN_DIR, FP32, {"q8": candidate}, photos)["q8"]

    hf = SegformerImageProcessorPil.from_pretrained(str(STANDIN_DIR))
    same = total = 0
    for photo in photos:
        image = decode(photo.read_bytes())
        pixels = hf(images=image, return_tensors="np")["pixel_values"]
        maps = []
        for path in (FP32, candidate):
            logits = SimpleNamespace(logits=torch.from_numpy(run_logits(path, pixels)))
            target = [(image.height, image.width)]
            maps.append(hf.post_process_semantic_segmentation(logits, target_sizes=target)[0])
        equal = int((maps[0] == maps[1]).sum())
        same, total = same + equal, total + maps[0].numel()
        # Our pipeline equals HF's on >= 99.99% of pixels (test_pipeline), hence the tolerance.
        assert ours["per_photo"][photo.name] == pytest.approx(equal / maps[0].numel(), abs=5e-4)
    assert ours["overall"] == pytest.approx(same / total, abs=5e-4)
    assert ours["overall"] < 1  # the 8-bit file differs somewhere: a real comparison


def test_report_markdown_and_goal(tmp_path):
    agreement = summarize_agreement({"a.jpg": (995, 1000)})
    rows = [
        {"name": "q8", "kind": "dynamic", "description": "published", "size": 4_000_000,
         "agreement": agreement, "native_ms": 200.0, "browser_ms": 400.0,
         "graph": {"ops": {"MatMulInteger": 1}, "opset": 12}},
        {"name": "fast", "kind": "static", "description": "x", "size": 4_100_000,
         "agreement": agreement, "native_ms": 150.0, "browser_ms": 300.0,
         "browser_baseline_ms": 420.0, "graph": {"ops": {"QLinearConv": 1}, "opset": 13}},
    ]  # fmt: skip
    report = Report(
        model_dir="m", fp32={"file": "f", "size": 1}, photos_dir="p", photos=["a.jpg"],
        calibration=[], rows=rows,
    )  # fmt: skip
    report.write(tmp_path)
    # 420 / 300 = 1.4x >= 1.3x (ratio to the q8 timed beside it) at 99.5% agreement.
    assert report.goal["met_by"] == ["fast"]
    assert rows[1]["browser_speedup_vs_q8"] == pytest.approx(1.4)
    text = (tmp_path / "report.md").read_text()
    assert "| `fast` |" in text and "1.40x" in text and "99.500%" in text
    assert Report.load(tmp_path / "report.json").goal == report.goal

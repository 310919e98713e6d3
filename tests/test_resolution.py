"""The input resolution (issue 20): the plan (sceneseg.resolution) against the issue's examples
and odd sizes; ``keep`` against Hugging Face's SegformerForSemanticSegmentation on the same
resized tensor; ``detail`` against a PyTorch implementation of docs/resolution.md written here
(both with a random checkpoint exported to ONNX fp32 here, as test_variants does); the three
modes on odd photos; square unchanged; per-window progress and cancel."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, SHARED, ade_labels, native_segmenter, segformer_checkpoint
from sceneseg.resolution import (
    MODES,
    ResolutionError,
    model_size,
    plan,
    scaled_size,
    stride,
    window_starts,
)
from sceneseg.tools.export.checkpoint import export_fp32

ADE_VAL = SHARED / "photos" / "ade20k-val"
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


# ---- the plan ------------------------------------------------------------------------------


def _starts(windows):
    return sorted({w.x for w in windows}), sorted({w.y for w in windows})


def test_the_issues_examples():
    p = plan(4032, 3024, "detail", 512)
    assert p.input == (1376, 1024) and len(p.windows) == 12  # 4 x 3
    assert _starts(p.windows) == ([0, 352, 704, 864], [0, 352, 512])
    assert all((w.width, w.height) == (512, 512) for w in p.windows)
    p = plan(741, 500, "detail", 512)
    assert p.input == (768, 512) and _starts(p.windows) == ([0, 256], [0])
    for mode in MODES:
        p = plan(512, 512, mode, 512)
        assert p.input == (512, 512) and len(p.windows) == 1, mode
    assert stride(512) == 352 and stride(640) == 416
    # keep: short side S, long side at most 4S.
    assert plan(4032, 3024, "keep", 512).input == (683, 512)
    assert plan(3024, 4032, "keep", 512).input == (512, 683)
    assert plan(6000, 1000, "keep", 512).input == (2048, 341)  # 6:1: the long side caps
    assert plan(4032, 3024, "square", 512).record() == {
        "mode": "square",
        "input": [512, 512],
        "windows": 1,
    }
    assert plan(4032, 3024, "square", 640, (640, 640)).input == (640, 640)
    # S = 640: T = 1280 at 12 MP; stride 416.
    p = plan(4032, 3024, "detail", 640)
    assert p.input == (1696, 1280) and _starts(p.windows) == ([0, 416, 832, 1056], [0, 416, 640])


def test_odd_sizes():
    # A 1-pixel-wide strip: every side at least 32 (the model rejects less).
    assert plan(1, 900, "keep", 512).input == (32, 2048)
    p = plan(1, 900, "detail", 512)
    assert p.input == (32, 2048)
    assert _starts(p.windows) == ([0], [0, 352, 704, 1056, 1408, 1536])
    assert {(w.width, w.height) for w in p.windows} == {(32, 512)}
    assert plan(900, 1, "detail", 512).input == (2048, 32)
    assert plan(1, 1, "keep", 512).input == (512, 512)
    # Smaller than S: keep scales up; detail is keep's scale rounded to 32, in windows.
    assert plan(200, 150, "keep", 512).input == (683, 512)
    p = plan(200, 150, "detail", 512)
    assert p.input == (672, 512) and _starts(p.windows) == ([0, 160], [0])
    # Exactly S x S, and S x S rounded: one window covering the input.
    assert plan(512, 512, "detail", 512).windows[0].width == 512
    assert window_starts(512, 512) == [0] and window_starts(544, 512) == [0, 32]
    assert window_starts(864, 512) == [0, 352] and window_starts(865, 512) == [0, 352, 353]
    # Every input pixel is in a window, for many sizes.
    for w, h in [(1, 900), (333, 4000), (4000, 3000), (1500, 1500), (8000, 2000), (50, 49)]:
        for mode in MODES:
            p = plan(w, h, mode, 512)
            covered = np.zeros(p.input[::-1], bool)
            for win in p.windows:
                assert win.x + win.width <= p.input[0] and win.y + win.height <= p.input[1]
                covered[win.y : win.y + win.height, win.x : win.x + win.width] = True
            assert covered.all() and min(p.input) >= 32, (w, h, mode)
            if mode == "detail":
                assert all(v % 32 == 0 for win in p.windows for v in vars(win).values())
    # The video's input for a short side shares detail's rule.
    assert scaled_size(1920, 1080, 256) == (448, 256) and scaled_size(1080, 1920, 256) == (256, 448)
    assert scaled_size(4032, 3024, 1024) == plan(4032, 3024, "detail", 512).input
    assert scaled_size(8000, 100, 64) == (256, 32)  # at most 4:1, at least 32
    assert model_size(512, 512) == 512 and model_size(640, 640) == 640
    assert model_size(512, 683) == 512 and model_size(520, 520) == 512
    with pytest.raises(ResolutionError, match="square, keep, detail"):
        plan(10, 10, "huge", 512)


# ---- a random checkpoint, fp32, and its PyTorch twin ---------------------------------------


@pytest.fixture(scope="module")
def random_b0():
    """(ONNX model directory, the PyTorch model) of a random SegFormer with S = 512, exported
    with dynamic height and width as the published files are. Cached in test-artifacts/."""
    import transformers
    from transformers import SegformerForSemanticSegmentation

    directory = ROOT / "test-artifacts" / "segformer-random-512-resolution"
    stamp = f"torch {torch.__version__}, transformers {transformers.__version__}, seed 1, v2"
    onnx_file = directory / "onnx" / "model.onnx"
    stamp_file = directory / "stamp.txt"
    fresh = not stamp_file.is_file() or stamp_file.read_text() != stamp
    if fresh:
        segformer_checkpoint(
            directory, ade_labels(), hidden_sizes=(32, 64, 160, 256), decoder_hidden_size=256,
            input_size=512, seed=1,
        )  # fmt: skip
    model = SegformerForSemanticSegmentation.from_pretrained(directory).eval()
    if fresh:
        # The published files' interface (dynamic height and width), as `sceneseg export` writes.
        export_fp32(model, onnx_file, 512, 512)
        stamp_file.write_text(stamp)
        model.eval()  # as it was: export() leaves the module in the mode it found
    return directory, model


def _segmenter(directory):
    from sceneseg.model import ModelInfo
    from sceneseg.pipeline import Segmenter
    from sceneseg.tools.native import OnnxRuntimeBackend

    backend = OnnxRuntimeBackend(directory / "onnx" / "model.onnx", label="fp32")
    return Segmenter(ModelInfo.from_dir(directory), backend)


def _photo(width: int, height: int, name: str = "ADE_val_00000001.jpg") -> bytes:
    """A real photo's centre, cropped to the aspect ratio and scaled to width x height (PNG)."""
    image = Image.open(ADE_VAL / name).convert("RGB")
    w, h = image.size
    if w / h > width / height:
        cw, ch = round(h * width / height), h
    else:
        cw, ch = w, round(w * height / width)
    box = ((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch)
    buf = io.BytesIO()
    image.crop(box).resize((width, height), Image.BILINEAR).save(buf, format="PNG")
    return buf.getvalue()


def _tensor(image: Image.Image, size: tuple[int, int]) -> torch.Tensor:
    """Hugging Face's preprocessing at another size: Pillow bilinear, /255, ImageNet mean/std."""
    pixels = np.asarray(image.resize(size, Image.BILINEAR), dtype=np.float64) / 255
    return torch.from_numpy(((pixels - MEAN) / STD).transpose(2, 0, 1)[None].astype(np.float32))


def _upsampled_argmax(logits: torch.Tensor, height: int, width: int) -> np.ndarray:
    """argmax(interpolate(logits, (height, width), bilinear, align_corners=False)), the first
    maximum winning, a band of classes at a time (150 x H x W at once would not fit)."""
    best = label = None
    with torch.no_grad():
        for c0 in range(0, logits.shape[1], 10):
            up = torch.nn.functional.interpolate(
                logits[:, c0 : c0 + 10], (height, width), mode="bilinear", align_corners=False
            )[0]
            value, index = up.max(dim=0)
            if best is None:
                best, label = value, index
            else:
                better = value > best  # strictly: the earlier class keeps a tie
                best = torch.where(better, value, best)
                label = torch.where(better, index + c0, label)
    return label.numpy().astype(np.uint8)


def _agreement(name, mode, ours, reference):
    share = float((ours == reference).mean())
    print(f"\n{mode} {name}: {share:.5%} of pixels equal to PyTorch")
    return share


KEEP_PHOTOS = {"portrait": (300, 400), "landscape": (640, 480), "panorama 3:1": (900, 300)}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(KEEP_PHOTOS))
def test_keep_matches_hugging_face(random_b0, name):
    directory, model = random_b0
    width, height = KEEP_PHOTOS[name]
    data = _photo(width, height)
    result = _segmenter(directory).segment_sync(data, resolution="keep")
    # The documented size, computed here: s = min(S / short, 4S / long).
    s = min(512 / min(width, height), 2048 / max(width, height))
    size = (max(32, int(width * s + 0.5)), max(32, int(height * s + 0.5)))
    assert result.resolution == {"mode": "keep", "input": list(size), "windows": 1}
    assert size[0] != size[1]  # the aspect ratio kept
    with torch.no_grad():
        logits = model(pixel_values=_tensor(Image.open(io.BytesIO(data)), size)).logits
    assert tuple(result.logits.shape) == tuple(logits.shape[1:])
    reference = _upsampled_argmax(logits, height, width)
    assert result.labels.shape == (height, width)
    assert _agreement(name, "keep", result.labels, reference) >= 0.999
    assert len(np.unique(reference)) > 1


def _detail_reference(model, image: Image.Image) -> tuple[np.ndarray, tuple, int]:
    """docs/resolution.md's detail mode, written again in PyTorch: labels, input size, windows."""
    S = 512
    width, height = image.size
    short, long = min(width, height), max(width, height)
    T = min(2 * S, max(S, short))
    s = min(T / short, 4 * T / long)
    W = 32 * max(1, int(width * s / 32 + 0.5))
    H = 32 * max(1, int(height * s / 32 + 0.5))
    st = 32 * round(2 * S / 96)

    def starts(L):
        if L <= S:
            return [0]
        out, p = [], 0
        while p < L - S:
            out.append(p)
            p += st
        return [*out, L - S]

    x = _tensor(image, (W, H))
    total = torch.zeros(1, 150, H // 4, W // 4)
    count = torch.zeros(1, 1, H // 4, W // 4)
    n = 0
    with torch.no_grad():
        for y0 in starts(H):
            for x0 in starts(W):
                h, w = min(S, H), min(S, W)
                out = model(pixel_values=x[:, :, y0 : y0 + h, x0 : x0 + w]).logits
                total[:, :, y0 // 4 : (y0 + h) // 4, x0 // 4 : (x0 + w) // 4] += out
                count[:, :, y0 // 4 : (y0 + h) // 4, x0 // 4 : (x0 + w) // 4] += 1
                n += 1
    return _upsampled_argmax(total / count, height, width), (W, H), n


DETAIL_PHOTOS = {
    "panorama 3:1 (4 windows)": (900, 300),
    "4:3 (2 x 2 windows)": (700, 600),
    "short side over 2S (6 x 3 windows)": (2400, 1100),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(DETAIL_PHOTOS))
def test_detail_matches_the_documented_algorithm_in_pytorch(random_b0, name):
    directory, model = random_b0
    width, height = DETAIL_PHOTOS[name]
    data = _photo(width, height, "ADE_val_00000002.jpg")
    seen = []
    result = _segmenter(directory).segment_sync(
        data, resolution="detail", on_window=lambda done, total: seen.append((done, total))
    )
    reference, size, windows = _detail_reference(model, Image.open(io.BytesIO(data)))
    assert result.resolution == {"mode": "detail", "input": list(size), "windows": windows}
    assert seen == [(k, windows) for k in range(1, windows + 1)]
    assert windows > 1 and "windows" in result.timings_ms
    assert _agreement(name, "detail", result.labels, reference) >= 0.999
    assert len(np.unique(reference)) > 1


# ---- the three modes on odd photos, square unchanged, progress and cancel ------------------


@pytest.mark.slow
def test_an_s_by_s_photo_gives_the_same_labels_in_every_mode(random_b0):
    segmenter = _segmenter(random_b0[0])
    data = _photo(512, 512)
    results = {m: segmenter.segment_sync(data, resolution=m, confidence=True) for m in MODES}
    square = results["square"]
    for mode, result in results.items():
        assert result.resolution == {"mode": mode, "input": [512, 512], "windows": 1}
        np.testing.assert_array_equal(result.labels, square.labels)
        np.testing.assert_array_equal(result.confidence, square.confidence)


@pytest.mark.slow
@pytest.mark.parametrize("size", [(1, 900), (900, 1), (200, 150), (31, 17)])
def test_strips_and_small_photos_work_in_every_mode(size):
    segmenter = native_segmenter("q8")
    image = Image.new("RGB", size, (120, 160, 90))
    image.paste((30, 60, 200), (0, 0, size[0], size[1] // 2))
    for mode in MODES:
        result = segmenter.segment_sync(image, resolution=mode, confidence=True)
        assert result.labels.shape == size[::-1]
        assert result.resolution == segmenter.plan(*size, mode).record()
        assert result.counts.sum() == size[0] * size[1]
        conf = result.confidence
        assert conf.shape == size[::-1] and np.all((conf > 0) & (conf <= 1))


def test_square_is_the_default_and_unchanged():
    """Square (the default) runs the model on exactly the 512x512 tensor of Hugging Face's
    processor and upsamples its logits as before: bit-identical labels and logits."""
    from sceneseg.postprocess import upsample_argmax
    from sceneseg.processing import decode

    segmenter = native_segmenter("q8")
    data = (ADE_VAL / "ADE_val_00000003.jpg").read_bytes()
    default = segmenter.segment_sync(data)
    square = segmenter.segment_sync(data, resolution="square")
    image = decode(data)
    pixel_values = segmenter.processor.preprocess(image)
    assert pixel_values.shape == (1, 3, 512, 512)
    logits = segmenter.backend.run_sync(pixel_values)
    np.testing.assert_array_equal(default.logits, logits[0])
    np.testing.assert_array_equal(square.labels, default.labels)
    np.testing.assert_array_equal(default.labels, upsample_argmax(logits, *image.size[::-1]))
    assert default.resolution == {"mode": "square", "input": [512, 512], "windows": 1}
    assert list(default.timings_ms) == ["decode", "preprocess", "model", "postprocess"]


@pytest.mark.slow
def test_cancel_stops_after_the_window_that_asked():
    from sceneseg.pipeline import Cancelled

    segmenter = native_segmenter("q8")
    data = _photo(2400, 1100)
    calls = []

    def stop_at_two(done, total):
        calls.append((done, total))
        return done == 2

    with pytest.raises(Cancelled, match="window 2 of 18"):
        segmenter.segment_sync(data, resolution="detail", on_window=stop_at_two)
    assert calls == [(1, 18), (2, 18)]
    calls.clear()
    # square and keep report their one run; a stop there cancels too.
    for mode in ("square", "keep"):
        segmenter.segment_sync(data, resolution=mode, on_window=lambda *a: calls.append(a))
    assert calls == [(1, 1), (1, 1)]
    with pytest.raises(Cancelled):
        segmenter.segment_sync(data, resolution="keep", on_window=lambda d, t: True)
    # The next photo works.
    assert segmenter.segment_sync(data, resolution="detail").resolution["windows"] == 18


def test_the_stand_in_onnx_graph_takes_any_size_of_32_or_more():
    import onnxruntime as ort

    from conftest import STANDIN_DIR

    session = ort.InferenceSession(str(STANDIN_DIR / "onnx" / "model_quantized.onnx"))
    (shape,) = [i.shape for i in session.get_inputs()]
    assert shape[2:] == ["height", "width"]  # dynamic: no fixed 512
    for h, w in [(32, 2048), (512, 683), (37, 45)]:
        out = session.run(None, {"pixel_values": np.zeros((1, 3, h, w), np.float32)})[0]
        assert out.shape == (1, 150, -(-h // 4), -(-w // 4))


def test_model_size_comes_from_the_preprocessor_config(tmp_path):
    from sceneseg.model import ModelInfo

    config = json.dumps({"id2label": {"0": "a", "1": "b"}})
    info = ModelInfo.from_json(config, json.dumps({"size": {"height": 640, "width": 640}}))
    assert model_size(info.preprocess.height, info.preprocess.width) == 640


# ---- the command line: --resolution for photos and folders, eval per mode ------------------


def _cli(tmp_path, *args):
    import os
    import subprocess
    import sys

    from conftest import STANDIN_DIR, STANDIN_ID

    env = {**os.environ, "PYTHONPATH": str(ROOT / "py"), "XDG_CACHE_HOME": str(tmp_path / "c")}
    env.pop("SCENESEG_MODEL_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "sceneseg", *map(str, args),
         "--model", STANDIN_ID, "--model-dir", str(STANDIN_DIR)],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip


@pytest.mark.slow
def test_cli_resolution_for_a_photo_and_a_folder(tmp_path):
    from sceneseg.outputs import summary_problems

    photo = ADE_VAL / "ADE_val_00000001.jpg"
    segmenter = native_segmenter("q8")
    expected = segmenter.segment_sync(photo.read_bytes(), resolution="detail")
    run = _cli(tmp_path, photo, "--resolution", "detail", "--out", "l.png", "--json", "s.json")
    assert run.returncode == 0, run.stderr
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "l.png")), expected.labels)
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary_problems(summary) == [] and summary["schema_version"] == 2
    assert summary["resolution"] == expected.resolution
    assert f"detail {expected.resolution['input'][0]}x" in run.stdout
    # A folder (two processes): each photo's summary records keep.
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("ADE_val_00000002.jpg", "ADE_val_00000003.jpg"):
        (photos / name).write_bytes((ADE_VAL / name).read_bytes())
    run = _cli(tmp_path, photos, "--resolution", "keep", "--out-dir", "out", "--jobs", "2")
    assert run.returncode == 0, run.stderr
    for name in ("ADE_val_00000002", "ADE_val_00000003"):
        data = (photos / f"{name}.jpg").read_bytes()
        keep = segmenter.segment_sync(data, resolution="keep")
        written = np.asarray(Image.open(tmp_path / "out" / f"{name}.labels.png"))
        np.testing.assert_array_equal(written, keep.labels)
        record = json.loads((tmp_path / "out" / f"{name}.json").read_text())["resolution"]
        assert record == keep.resolution and record["mode"] == "keep"
    run = _cli(tmp_path, photo, "--resolution", "huge")
    assert run.returncode == 2 and "invalid choice" in run.stderr


@pytest.mark.slow
def test_eval_reports_each_mode_and_keeps_them_apart(tmp_path):
    """On ../shared's three annotated ADE20K photos, with the STAND-IN weights: the figures
    say nothing about the real model's accuracy; the test checks the bookkeeping."""
    from sceneseg.tools.eval import confusion_matrix, metrics, reduce_labels

    args = ("eval", ADE_VAL, ADE_VAL, "--out-dir", tmp_path / "ev", "--jobs", "1")
    run = _cli(tmp_path, *args, "--resolution", "square,keep,detail")
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "ev" / "eval.json").read_text())
    runs = {r["resolution"]: r for r in report["runs"]}
    assert list(runs) == list(MODES) and all(r["images"] == 3 for r in runs.values())
    segmenter = native_segmenter("q8")
    print("\nstand-in q8 (weights trained on synthetic scenes: NOT accuracy), 3 ADE20K photos:")
    for mode, r in runs.items():
        total = np.zeros((150, 150), np.int64)
        for k in (1, 2, 3):
            name = f"ADE_val_0000000{k}"
            labels = segmenter.segment_sync(
                (ADE_VAL / f"{name}.jpg").read_bytes(), resolution=mode
            ).labels
            truth = reduce_labels(np.asarray(Image.open(ADE_VAL / f"{name}.png")))
            total += confusion_matrix(truth, labels, 150)
        assert r["confusion_matrix"] == total.tolist(), mode
        assert r["mean_iou"] == pytest.approx(metrics(total)["mean_iou"])
        assert (tmp_path / "ev" / "partial" / f"{r['model']}--q8--{mode}").is_dir()
        print(f"  {mode:6}  mIoU {r['mean_iou']:.2%}  pixel acc {r['pixel_accuracy']:.2%}")
    assert runs["square"]["confusion_matrix"] != runs["detail"]["confusion_matrix"]
    md = (tmp_path / "ev" / "eval.md").read_text()
    assert "| square |" in md and "| keep |" in md and "| detail |" in md and "stand-in" in md
    # A rerun of one mode resumes from its own partial results, not another mode's.
    run = _cli(tmp_path, *args, "--resolution", "keep")
    assert "3 images already done" in run.stderr
    (keep,) = json.loads((tmp_path / "ev" / "eval.json").read_text())["runs"]
    assert keep["confusion_matrix"] == runs["keep"]["confusion_matrix"]
    run = _cli(tmp_path, *args, "--resolution", "keep,wide")
    assert run.returncode == 2 and "square, keep, detail" in run.stderr


# ---- the page's entry points (browser.py) under CPython, as test_summary_schema runs them ---


@pytest.fixture
def page(monkeypatch):
    import sys
    import types

    from test_summary_schema import FakeUint8Array

    from sceneseg import browser

    monkeypatch.setitem(sys.modules, "js", types.SimpleNamespace(Uint8Array=FakeUint8Array))
    monkeypatch.setattr(browser, "_segmenter", native_segmenter("q8"))
    monkeypatch.setattr(browser, "_last", None)
    return browser


@pytest.mark.slow
def test_browser_contract_resolution_progress_cancel_and_plan(page):

    from test_summary_schema import FakeUint8Array, run_async

    data = _photo(741, 500)
    native = native_segmenter("q8")

    def segment(options, on_window=None):
        return run_async(page.segment(FakeUint8Array(data), json.dumps(options), on_window))

    calls = []
    out = segment({"resolution": "detail"}, lambda done, total: calls.append((done, total)))
    assert out["resolution"] == {"mode": "detail", "input": [768, 512], "windows": 2}
    assert calls == [(1, 2), (2, 2)]
    expected = native.segment_sync(data, resolution="detail").labels
    assert out["labels"].to_bytes() == expected.tobytes()
    summary = json.loads(page.export_file("summary-json", "{}")["data"].to_bytes())
    assert summary["resolution"] == out["resolution"] and summary["schema_version"] == 2
    # Missing: square; square and keep report their one run.
    calls.clear()
    assert segment({})["resolution"] == {"mode": "square", "input": [512, 512], "windows": 1}
    keep = segment({"resolution": "keep"}, lambda d, t: calls.append((d, t)))
    assert keep["resolution"] == {"mode": "keep", "input": [759, 512], "windows": 1}
    assert calls == [(1, 1)]
    # A truthy return (a JS value, or a promise of one) stops it: {"cancelled": true}.
    assert segment({"resolution": "detail"}, lambda d, t: 1) == {"cancelled": True}

    async def later_yes(done, total):
        return done == 1

    assert segment({"resolution": "detail"}, later_yes) == {"cancelled": True}
    assert "error" in page.export_file("labels-png", "{}")  # no half result kept
    assert segment({"resolution": "keep"})["resolution"]["mode"] == "keep"  # the next works
    # Anything else is an input error.
    for bad in ("wide", 512, "Keep", "", ["keep"]):
        out = segment({"resolution": bad})
        assert set(out) == {"error"} and "square, keep, detail" in out["error"], bad
    # The plan without running: what each mode costs for a photo.
    assert page.resolution_plan(4032, 3024, "detail") == {"input": [1376, 1024], "windows": 12}
    assert page.resolution_plan(4032, 3024, "keep") == {"input": [683, 512], "windows": 1}
    assert page.resolution_plan(4032, 3024, "square") == {"input": [512, 512], "windows": 1}
    assert "error" in page.resolution_plan(4032, 3024, "huge")


@pytest.mark.slow
def test_the_pages_batch_zip_takes_a_resolution(page):
    import zipfile

    from test_summary_schema import FakeUint8Array, run_async

    from sceneseg import batch_zip

    data = _photo(741, 500)
    batch_zip.start()
    out = run_async(batch_zip.add(FakeUint8Array(data), "a.png", "detail"))
    assert out["resolution"] == {"mode": "detail", "input": [768, 512], "windows": 2}
    assert run_async(batch_zip.add(FakeUint8Array(data), "b.png"))["resolution"]["mode"] == (
        "square"
    )
    assert "error" in run_async(batch_zip.add(FakeUint8Array(data), "c.png", "wide"))
    with zipfile.ZipFile(io.BytesIO(batch_zip.finish())) as archive:
        summary = json.loads(archive.read("json/a.json"))
        labels = np.asarray(Image.open(io.BytesIO(archive.read("labels/a.png"))))
    assert summary["resolution"] == out["resolution"]
    expected = native_segmenter("q8").segment_sync(data, resolution="detail").labels
    np.testing.assert_array_equal(labels, expected)

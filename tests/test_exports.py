"""Exports decoded back with Pillow / zipfile / json and compared with the arrays they encode."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from conftest import PHOTOS, native_segmenter
from sceneseg.confidence import CONFIDENCE_MAX_ERROR
from sceneseg.groups import class_groups
from sceneseg.outputs import (
    SUMMARY_VERSION,
    export,
    labels_png,
    mask_name,
    summary_problems,
)
from sceneseg.palette import ADE20K_PALETTE
from sceneseg.pipeline import Segmentation
from sceneseg.postprocess import class_pixel_counts
from sceneseg.threshold import UNLABELLED, ExportError

MODEL_FILE = {"id": "test-model", "file": "onnx/model.onnx", "sha256": "ab" * 32, "precision": "q8"}


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image


@pytest.fixture(scope="module")
def result() -> Segmentation:
    """A real result (stand-in model, native onnxruntime) with its confidence."""
    photo = next(p for p in PHOTOS if p.stem == "ADE_val_00000001")
    seg = native_segmenter("q8").segment_sync(photo.read_bytes(), confidence=True)
    seg.model_file = MODEL_FILE
    return seg


@pytest.fixture
def synthetic(model_info) -> Segmentation:
    """Known labels and confidences: 3 classes in bands, confidence ramping 0..1 across."""
    height, width = 40, 64
    labels = np.zeros((height, width), np.uint8)
    labels[10:25] = 4  # tree
    labels[25:] = 44  # chest of drawers
    labels[:, :3] = 149  # flag: the highest id
    conf = np.tile(np.linspace(0, 1, width, dtype=np.float32), (height, 1))
    counts = class_pixel_counts(labels, 150)
    return Segmentation(labels, counts, model_info, "test", {"model": 1.0}, conf, None, MODEL_FILE)


def test_labels_png_is_the_label_map(result):
    image = decode(export(result, "labels-png"))
    assert image.mode == "L"
    np.testing.assert_array_equal(np.asarray(image), result.labels)
    # One encoder: the page's export is outputs.labels_png byte for byte (the CLI's --out too).
    assert export(result, "labels-png") == labels_png(result)


@pytest.mark.parametrize("threshold", [0.0, 0.25, 0.5, 1.0])
def test_threshold_marks_unsure_pixels_unlabelled(synthetic, threshold):
    got = np.asarray(decode(export(synthetic, "labels-png", {"threshold": threshold})))
    expected = synthetic.labels.copy()
    expected[synthetic.confidence < threshold] = 255
    np.testing.assert_array_equal(got, expected)
    if threshold == 0.5:  # half the columns of the ramp
        assert (got == UNLABELLED).sum() == 40 * 32


def test_threshold_on_a_real_result(result):
    got = np.asarray(decode(export(result, "labels-png", {"threshold": 0.6})))
    below = result.confidence < np.float32(0.6)
    assert 0 < below.mean() < 1
    np.testing.assert_array_equal(got[below], UNLABELLED)
    np.testing.assert_array_equal(got[~below], result.labels[~below])


@pytest.mark.parametrize("bad", [-0.1, 1.5, "x", [1]])
def test_bad_threshold_is_refused(synthetic, bad):
    with pytest.raises(ExportError, match="threshold"):
        export(synthetic, "labels-png", {"threshold": bad})


@pytest.mark.parametrize("opacity", [1.0, 0.5])
def test_overlay_png_full_resolution_rgba(synthetic, opacity):
    image = decode(export(synthetic, "overlay-png", {"threshold": 0.5, "opacity": opacity}))
    assert image.mode == "RGBA" and image.size == (64, 40)
    rgba = np.asarray(image)
    palette = np.asarray(ADE20K_PALETTE, np.uint8)
    labelled = synthetic.confidence >= 0.5
    np.testing.assert_array_equal(rgba[..., :3][labelled], palette[synthetic.labels[labelled]])
    np.testing.assert_array_equal(rgba[..., 3][labelled], round(opacity * 255))
    np.testing.assert_array_equal(rgba[..., 3][~labelled], 0)


def test_overlay_of_a_real_result_is_each_class_colour(result):
    rgba = np.asarray(decode(export(result, "overlay-png")))
    assert rgba.shape == (result.height, result.width, 4)
    colours = np.asarray(result.model.colors, np.uint8)
    np.testing.assert_array_equal(rgba[..., :3], colours[result.labels])
    assert (rgba[..., 3] == 255).all()


def test_mask_png(synthetic):
    for cid in (0, 4, 44, 149, 7):  # 7 (bed) is absent: an all-zero mask
        image = decode(export(synthetic, "mask-png", {"classId": cid}))
        assert image.mode == "L"
        np.testing.assert_array_equal(np.asarray(image), (synthetic.labels == cid) * 255)
    masked = np.asarray(decode(export(synthetic, "mask-png", {"classId": 4, "threshold": 0.5})))
    np.testing.assert_array_equal(
        masked, ((synthetic.labels == 4) & (synthetic.confidence >= 0.5)) * 255
    )


@pytest.mark.parametrize("options", [{}, {"classId": 150}, {"classId": -1}, {"classId": 2.5}])
def test_mask_needs_a_class_id(synthetic, options):
    with pytest.raises(ExportError, match="classId"):
        export(synthetic, "mask-png", options)


def test_unknown_kind(synthetic):
    with pytest.raises(ExportError, match="unknown export"):
        export(synthetic, "labels-jpeg")


def test_masks_zip_one_png_per_class(result):
    archive = zipfile.ZipFile(io.BytesIO(export(result, "masks-zip")))
    present = np.flatnonzero(result.counts)
    names = [mask_name(int(c), result.model.labels[c]) for c in present]
    assert archive.namelist() == names
    coverage = np.zeros(result.labels.shape, np.int64)
    for cid, name in zip(present, names, strict=True):
        mask = np.asarray(decode(archive.read(name)))
        np.testing.assert_array_equal(mask, (result.labels == cid) * 255)
        coverage += mask > 0
    assert (coverage == 1).all()  # every pixel in exactly one mask


def test_mask_names():
    assert mask_name(44, "chest of drawers") == "044-chest-of-drawers.png"
    assert mask_name(4, "tree") == "004-tree.png"


def test_confidence_png_is_16_bit(synthetic, result):
    for seg in (synthetic, result):
        image = decode(export(seg, "confidence-png"))
        assert image.mode in {"I;16", "I;16B", "I"}  # Pillow reads 16-bit PNG greyscale as I;16
        values = np.asarray(image).astype(np.int64)
        np.testing.assert_array_equal(values, np.rint(seg.confidence.astype(np.float64) * 65535))
    assert values.max() > 60000  # real confidences reach near 1


def test_confidence_computed_when_first_exported(result):
    """A result segmented without confidence computes it for the export (from kept logits)."""
    photo = next(p for p in PHOTOS if p.stem == "ADE_val_00000001")
    plain = native_segmenter("q8").segment_sync(photo.read_bytes())
    assert plain.confidence is None
    values = np.asarray(decode(export(plain, "confidence-png"))).astype(np.int64)
    np.testing.assert_array_equal(values, np.rint(result.confidence.astype(np.float64) * 65535))


def test_summary_json(result):
    summary = json.loads(export(result, "summary-json", {"name": "ADE_val_00000001.jpg"}))
    assert summary_problems(summary) == []
    assert summary["schema_version"] == SUMMARY_VERSION
    assert summary["photo"] == "ADE_val_00000001.jpg"
    assert (summary["width"], summary["height"]) == (result.width, result.height)
    assert summary["threshold"] is None and summary["provider"] is None
    assert summary["model"]["sha256"] == MODEL_FILE["sha256"]
    assert summary["model"]["id"] == MODEL_FILE["id"]
    assert summary["backend"] == result.backend
    assert set(summary["timings_ms"]) >= {"decode", "preprocess", "model", "postprocess"}
    groups = class_groups()
    classes = summary["classes"]
    assert [c["id"] for c in classes] == sorted(
        np.flatnonzero(result.counts).tolist(), key=lambda c: -result.counts[c]
    )
    for c in classes:
        mask = result.labels == c["id"]
        assert c["pixels"] == mask.sum() and c["fraction"] == pytest.approx(mask.mean())
        assert c["name"] == result.model.labels[c["id"]]
        assert c["group"] == {"context": groups[c["id"]].context, "kind": groups[c["id"]].kind}
        assert c["mean_confidence"] == pytest.approx(float(result.confidence[mask].mean()), 1e-5)
    for axis in ("context", "kind"):
        shares = summary["group_shares"][axis]
        assert sum(shares.values()) == pytest.approx(1.0)
        for name, share in shares.items():
            ids = [g.id for g in groups if getattr(g, axis) == name]
            assert share == pytest.approx(np.isin(result.labels, ids).mean())
    assert summary["confidence"]["max_error"] == CONFIDENCE_MAX_ERROR


def test_summary_with_threshold(synthetic):
    summary = json.loads(export(synthetic, "summary-json", {"threshold": 0.5}))
    assert summary_problems(summary) == []
    assert summary["photo"] is None  # no name given
    assert summary["threshold"]["value"] == 0.5
    below = synthetic.confidence < 0.5
    assert summary["threshold"]["unlabelled_value"] == 255
    assert summary["threshold"]["unlabelled_pixels"] == below.sum()
    by_id = {c["id"]: c for c in summary["classes"]}
    for cid in (0, 4, 44, 149):
        expected = ((synthetic.labels == cid) & ~below).sum()
        assert by_id[cid]["pixels"] == expected if expected else cid not in by_id
    assert 149 not in by_id  # the flag's columns are all below 0.5
    total = (
        sum(c["fraction"] for c in summary["classes"]) + summary["threshold"]["unlabelled_fraction"]
    )
    assert total == pytest.approx(1.0)


# --- In the browser: the lib's export API on the built site ---------------------------------

EXPORT_IN_PAGE = """
async ({ photo, name }) => {
  const { createSegmenter, exportName } = await import('./lib/sceneseg.js');
  const segmenter = createSegmenter({ precision: 'q8' });
  const info = await segmenter.ready;
  const bytes = Uint8Array.from(atob(photo), (c) => c.charCodeAt(0));
  const base64 = async (blob) => {
    const data = new Uint8Array(await blob.arrayBuffer());
    let text = '';
    for (let i = 0; i < data.length; i += 0x8000) {
      text += String.fromCharCode(...data.subarray(i, i + 0x8000));
    }
    return btoa(text);
  };
  const out = { info, types: {}, files: {}, names: {} };
  try {
    out.early = await segmenter.export('labels-png').then(() => 'resolved', (e) => e.message);
    const result = await segmenter.segment(new Blob([bytes]), { confidence: true });
    out.width = result.width;
    out.height = result.height;
    out.confidence = Array.from(result.confidence);
    out.classes = result.classes;
    const asks = {
      'labels-png': {}, 'labels-threshold': ['labels-png', { threshold: 0.5 }],
      'overlay-png': {}, 'mask-png': { classId: result.classes[0].id },
      'masks-zip': {}, 'confidence-png': {}, 'summary-json': {},
    };
    for (const [key, ask] of Object.entries(asks)) {
      const [kind, options] = Array.isArray(ask) ? ask : [key, ask];
      const blob = await segmenter.export(kind, options);
      out.types[key] = blob.type;
      out.files[key] = await base64(blob);
      const className = kind === 'mask-png' ? result.classes[0].name : undefined;
      out.names[key] = exportName(name, kind, className);
    }
    out.bad = await segmenter.export('mask-png', { classId: 999 })
      .then(() => 'resolved', (e) => `${e.name}: ${e.message}`);
  } finally {
    segmenter.dispose();
  }
  return out;
}
"""


@pytest.mark.browser
def test_browser_exports_match_cpython(app_factory, built_site):
    """The lib's export() in the built page, on a small photo: every blob decodes to what
    the CPython pipeline gives for the same decoded pixels (same model file, q8)."""
    import base64

    from test_browser import MIN_AGREEMENT, browser_decode

    photo = next(p for p in PHOTOS if p.name == "chelsea.png")
    app = app_factory()
    out = app.page.evaluate(
        EXPORT_IN_PAGE, {"photo": base64.b64encode(photo.read_bytes()).decode(), "name": photo.name}
    )
    files = {k: base64.b64decode(v) for k, v in out["files"].items()}
    assert "no result" in out["early"]
    assert out["bad"].startswith("InputError") and "classId" in out["bad"]
    assert out["types"]["masks-zip"] == "application/zip"
    assert out["types"]["summary-json"] == "application/json"
    assert (
        out["names"]["mask-png"]
        == f"chelsea-mask-{out['classes'][0]['name'].replace(' ', '-')}.png"
    )
    assert out["names"]["confidence-png"] == "chelsea-confidence.png"

    native = native_segmenter("q8").segment_sync(Image.fromarray(browser_decode(photo)))
    native.ensure_confidence()
    labels = np.asarray(decode(files["labels-png"]))
    assert labels.shape == native.labels.shape == (out["height"], out["width"])
    same = labels == native.labels
    assert same.mean() >= MIN_AGREEMENT["q8"], same.mean()

    # Confidence: 16-bit, the same as CPython's where the labels agree (onnxruntime-web and
    # native onnxruntime round differently: allow a little), and the display copy is it / 257.
    conf16 = np.asarray(decode(files["confidence-png"])).astype(np.int64)
    native16 = np.rint(native.confidence.astype(np.float64) * 65535)
    diff = np.abs(conf16 - native16)[same] / 65535
    assert np.median(diff) < 0.01 and diff.mean() < 0.02, (np.median(diff), diff.mean())
    display = np.asarray(out["confidence"], np.int64).reshape(labels.shape)
    assert np.abs(display - conf16 / 257).max() <= 1

    # The other exports agree with the browser's own label map and confidence.
    below = conf16 < 0.5 * 65535
    thresholded = np.asarray(decode(files["labels-threshold"]))
    assert 0 < below.mean() < 1
    assert (thresholded != np.where(below, 255, labels)).sum() <= 3  # p within 1/131070 of 0.5
    rgba = np.asarray(decode(files["overlay-png"]))
    np.testing.assert_array_equal(rgba[..., :3], np.asarray(ADE20K_PALETTE, np.uint8)[labels])
    first = out["classes"][0]["id"]
    np.testing.assert_array_equal(np.asarray(decode(files["mask-png"])), (labels == first) * 255)
    archive = zipfile.ZipFile(io.BytesIO(files["masks-zip"]))
    present = np.flatnonzero(np.bincount(labels.ravel(), minlength=150))
    assert archive.namelist() == [mask_name(int(c), native.model.labels[c]) for c in present]
    for cid in present[:3]:
        mask = np.asarray(decode(archive.read(mask_name(int(cid), native.model.labels[cid]))))
        np.testing.assert_array_equal(mask, (labels == cid) * 255)

    summary = json.loads(files["summary-json"])
    build_info = json.loads((built_site / "build-info.json").read_text())
    model = build_info["model"]
    quantized = model["precisions"]["q8"]
    assert summary["model"]["sha256"] == model["files"][quantized]["sha256"]
    assert summary["model"]["id"] == model["id"] and summary["model"]["precision"] == "q8"
    assert (summary["width"], summary["height"]) == (out["width"], out["height"])
    assert summary["schema_version"] == 2
    assert summary["resolution"] == {"mode": "square", "input": [512, 512], "windows": 1}
    counts = np.bincount(labels.ravel(), minlength=150)
    assert {c["id"]: c["pixels"] for c in summary["classes"]} == {
        int(c): int(counts[c]) for c in present
    }
    for c in summary["classes"]:
        mask = labels == c["id"]
        assert c["mean_confidence"] == pytest.approx((conf16[mask] / 65535).mean(), abs=1e-4)
        assert c["group"]["kind"] == class_groups()[c["id"]].kind
    assert [c["group"] for c in out["classes"]] == [c["group"] for c in summary["classes"]]

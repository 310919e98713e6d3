"""Other label sets: a model's classes, colours, groups and annotation convention come from
its config.json (id2label, num_labels) and preprocessor_config.json. A randomly initialised
19-class (Cityscapes) SegFormer, exported here by ``python -m sceneseg export``, runs through
the command line, a batch, the evaluation, the batch zip and the page; 7 custom classes get a
generated palette."""

from __future__ import annotations

import csv
import io
import json
import shutil
from types import SimpleNamespace
from urllib.parse import quote

import numpy as np
import pytest
from PIL import Image

from conftest import (
    BYTES_AS_BASE64,
    SHARED,
    STANDIN_DIR,
    build_site,
    bytes_from_base64,
    open_app,
    segformer_checkpoint,
    serve_site,
)
from sceneseg.outputs import SHARES_COLUMNS, summary_problems
from sceneseg.palette import (
    ADE20K_PALETTE,
    CITYSCAPES_LABELS,
    CITYSCAPES_PALETTE,
    _lab,
    generated_palette,
)

PHOTO = SHARED / "photos" / "chelsea.png"  # PNG: the browser and Pillow decode it identically
SECOND = SHARED / "photos" / "coffee.png"
# nvidia/segformer-*-finetuned-cityscapes-1024-1024's names (as its config.json spells them).
CITYSCAPES = dict(enumerate(CITYSCAPES_LABELS))


def model_info(labels: dict[int, str], **preprocessor):
    from sceneseg.model import ModelInfo

    config = {"id2label": {str(k): v for k, v in labels.items()}, "num_labels": len(labels)}
    base = json.loads((STANDIN_DIR / "preprocessor_config.json").read_text())
    return ModelInfo.from_configs(config, {**base, **preprocessor})


def test_palettes_follow_the_label_set():
    from sceneseg.model import ModelInfo

    ade = ModelInfo.from_dir(STANDIN_DIR)
    assert (ade.label_set, ade.colors, ade.reduce_labels) == ("ade20k", ADE20K_PALETTE, True)
    spelled = {i: n.upper().replace(" ", "_") for i, n in CITYSCAPES.items()}  # TRAFFIC_LIGHT
    for labels in (CITYSCAPES, spelled):
        city = model_info(labels, do_reduce_labels=False)
        assert (city.label_set, city.colors) == ("cityscapes", CITYSCAPES_PALETTE)
        assert city.reduce_labels is False
    assert CITYSCAPES_PALETTE[0] == (128, 64, 128) and CITYSCAPES_PALETTE[10] == (70, 130, 180)
    # Cityscapes' names in another order are not Cityscapes' trainIds: generated colours.
    shuffled = dict(enumerate(reversed(CITYSCAPES_LABELS)))
    assert model_info(shuffled).label_set == "custom"
    custom = model_info({i: f"kind {i}" for i in range(7)})
    assert custom.label_set == "custom" and custom.colors == generated_palette(7)
    assert custom.reduce_labels is True  # the stand-in's preprocessor config says so
    assert model_info({i: f"k{i}" for i in range(7)}, do_reduce_labels=False).reduce_labels is False
    for count in (7, 19, 64):  # well separated: CIELAB distance between any two colours
        colors = np.asarray(generated_palette(count), float)
        lab = _lab(colors)
        distance = np.linalg.norm(lab[:, None] - lab[None], axis=2)[np.triu_indices(count, 1)]
        print(f"\n{count} generated colours: closest pair ΔE {distance.min():.1f}")
        bound = {7: 60, 19: 35, 64: 18}[count]
        assert len(set(map(tuple, colors))) == count and distance.min() > bound
    with pytest.raises(ValueError, match="num_labels 5 but 7"):
        model_info({i: str(i) for i in range(7)}).from_configs(
            {"id2label": {str(i): str(i) for i in range(7)}, "num_labels": 5}, {}
        )


def test_annotation_conventions():
    from sceneseg.tools.eval import IGNORE, annotation_classes, annotation_convention

    ade = model_info({i: f"c{i}" for i in range(150)})
    city = model_info(CITYSCAPES, do_reduce_labels=False)
    annotation = np.array([[0, 1, 19], [18, 255, 3]], np.uint8)
    np.testing.assert_array_equal(
        annotation_classes(annotation, ade), [[IGNORE, 0, 18], [17, 254, 2]]
    )
    with pytest.raises(ValueError, match="values 19 are not classes"):
        annotation_classes(annotation, city)
    annotation[0, 2] = 255
    np.testing.assert_array_equal(annotation_classes(annotation, city), annotation)
    assert annotation_convention(ade) == "annotation 0 ignored, 1..150 -> class 0..149 (ade20k)"
    assert annotation_convention(city) == "annotation = class id 0..18, 255 ignored (cityscapes)"


@pytest.fixture(scope="module")
def cityscapes(tmp_path_factory):
    """A random 19-class SegFormer (Cityscapes' classes) exported by sceneseg export."""
    from sceneseg.tools.cli import main

    tmp = tmp_path_factory.mktemp("cityscapes")
    source = segformer_checkpoint(tmp / "checkpoint", CITYSCAPES, seed=3)
    (tmp / "photos").mkdir()
    shutil.copy(PHOTO, tmp / "photos")
    out = tmp / "segformer-cityscapes-random"
    args = ["export", str(source), "--out", str(out), "--precisions", "fp32,q8"]
    assert main([*args, "--photos", str(tmp / "photos"), "--repeat", "0"]) == 0
    report = json.loads((out / "validation.json").read_text())
    print("\n" + (out / "validation.md").read_text())
    assert report["classes"] == 19 and report["agreement"]["fp32"] >= 0.999
    manifest = out / "manifest.json"
    return SimpleNamespace(tmp=tmp, out=out, manifest=manifest, id="segformer-cityscapes-random")


def cli(cityscapes, *args, precision="fp32") -> int:
    from sceneseg.tools.cli import main

    model = ["--model", str(cityscapes.manifest), "--model-dir", str(cityscapes.out)]
    return main([*map(str, args), *model, "--precision", precision])


def reference(cityscapes, photo=PHOTO):
    from sceneseg.model import ModelInfo
    from sceneseg.pipeline import Segmenter
    from sceneseg.tools.native import OnnxRuntimeBackend

    backend = OnnxRuntimeBackend(cityscapes.out / "onnx" / "model.onnx")
    return Segmenter(ModelInfo.from_dir(cityscapes.out), backend).segment_sync(photo.read_bytes())


def test_cityscapes_model_on_the_command_line(cityscapes, tmp_path, capsys):
    out = {k: tmp_path / f"{k}.{e}" for k, e in (("labels", "png"), ("overlay", "png"),
                                                   ("summary", "json"))}  # fmt: skip
    assert cli(cityscapes, PHOTO, "--out", out["labels"], "--overlay", out["overlay"],
               "--json", out["summary"], "--confidence") == 0  # fmt: skip
    printed = capsys.readouterr().out
    labels = np.asarray(Image.open(out["labels"]))
    assert labels.max() < 19 and len(np.unique(labels)) > 1
    np.testing.assert_array_equal(labels, reference(cityscapes).labels)
    overlay = np.asarray(Image.open(out["overlay"]).convert("RGB"))
    np.testing.assert_array_equal(overlay, np.asarray(CITYSCAPES_PALETTE, np.uint8)[labels])
    summary = json.loads(out["summary"].read_text())
    assert summary_problems(summary) == []
    assert summary["model"]["label_set"] == "cityscapes" and summary["group_shares"] is None
    for c in summary["classes"]:
        assert c["name"] == CITYSCAPES[c["id"]] and c["color"] == list(CITYSCAPES_PALETTE[c["id"]])
        assert c["group"] is None and 0 < c["mean_confidence"] <= 1
        assert c["name"] in printed


def test_cityscapes_batch_eval_and_zip(cityscapes, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for photo in (PHOTO, SECOND):
        shutil.copy(photo, photos)
    assert cli(cityscapes, photos, "--out-dir", tmp_path / "out", "--jobs", "1") == 0
    rows = list(csv.DictReader((tmp_path / "out" / "classes.csv").open()))
    assert {r["class"] for r in rows} <= set(CITYSCAPES_LABELS) and len(rows) >= 2
    for row in rows:
        assert CITYSCAPES[int(row["class_id"])] == row["class"]
    batch_summary = json.loads((tmp_path / "out" / "chelsea.json").read_text())
    assert batch_summary["model"]["label_set"] == "cityscapes"

    # Evaluation with trainId annotations: the predicted labels themselves, a band set to
    # 255 (ignored) and one pixel changed: accuracy counts exactly the labelled pixels.
    labels = np.asarray(Image.open(tmp_path / "out" / "chelsea.labels.png"))
    annotation = labels.copy()
    annotation[:50] = 255
    annotation[100, 100] = (annotation[100, 100] + 1) % 19
    annotations = tmp_path / "annotations"
    annotations.mkdir()
    Image.fromarray(annotation).save(annotations / "chelsea.png")
    code = cli(cityscapes, "eval", photos, annotations, "--out-dir", tmp_path / "eval",
               "--jobs", "1")  # fmt: skip
    assert code == 0
    report = json.loads((tmp_path / "eval" / "eval.json").read_text())
    run = report["runs"][0]
    labelled = annotation.size - 50 * annotation.shape[1]
    assert run["pixel_accuracy"] == (labelled - 1) / labelled
    assert run["annotations"] == "annotation = class id 0..18, 255 ignored (cityscapes)"
    assert [c["name"] for c in run["per_class"]] == list(CITYSCAPES_LABELS)
    assert "255 ignored (cityscapes)" in (tmp_path / "eval" / "eval.md").read_text()
    # ADE20K-style values (here 40) are not trainIds: that photo fails, saying why.
    annotation[0, 0] = 40
    Image.fromarray(annotation).save(annotations / "chelsea.png")
    code = cli(cityscapes, "eval", photos, annotations, "--out-dir", tmp_path / "eval2",
               "--jobs", "1")  # fmt: skip
    assert code == 1 and "values 40 are not classes" in capsys.readouterr().err

    # The page's batch zip: the long layout, this model's class names.
    from sceneseg.batch_zip import SHARES_CSV, BatchZip

    result = reference(cityscapes)
    buffer = io.BytesIO()
    batch = BatchZip(buffer, result.model.labels)
    batch.add("chelsea.png", result)
    batch.close()
    import zipfile

    with zipfile.ZipFile(buffer) as archive:
        zipped = list(csv.DictReader(io.StringIO(archive.read(SHARES_CSV).decode())))
    assert list(zipped[0]) == list(SHARES_COLUMNS)
    assert [(int(r["class_id"]), r["class"]) for r in zipped] == [
        (c["id"], CITYSCAPES[c["id"]]) for c in result.classes()
    ]


@pytest.mark.slow
@pytest.mark.browser
def test_cityscapes_model_in_the_page(cityscapes, browser, tmp_path):
    from conftest import ROOT

    site = cityscapes.tmp / "dist"
    build_site(site, model=str(cityscapes.manifest),
               model_dirs=(f"{cityscapes.id}={cityscapes.out}",), precisions="fp32")  # fmt: skip
    expected = reference(cityscapes)
    with serve_site(site) as port:
        app = open_app(browser, f"http://127.0.0.1:{port}/")
        page = app.page
        try:
            app.upload(PHOTO)
            labels = np.asarray(Image.open(app.download_labels(tmp_path / "labels.png")))
            rows = page.locator("#legend li").evaluate_all(
                "rows => rows.map(r => [Number(r.dataset.classId), r.innerText])"
            )
            group_filter_hidden = page.locator("#group-filter").is_hidden()
            page.wait_for_selector("body[data-confidence=ready]", timeout=60_000)
            with page.expect_download(timeout=60_000) as info:
                page.click("#download-summary")
            summary = json.loads(info.value.path().read_bytes())
            with page.expect_download(timeout=60_000) as info:
                page.click("#download-confidence")
            confidence = np.asarray(Image.open(info.value.path()))
            shot = ROOT / "test-artifacts" / "cityscapes-page.png"
            shot.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
        finally:
            page.context.close()
    # The widget, in a host page on another origin, answers with the same labels and classes.
    with serve_site(site, dual_stack=True) as widget_port, serve_site(site) as host_port:
        host = f"http://127.0.0.1:{host_port}"
        widget = f"http://localhost:{widget_port}/embed/embed.html?origins={quote(host, safe='')}"
        widget_page = browser.new_page()
        try:
            widget_page.goto(f"{host}/embed/example-host.html?widget={quote(widget, safe='')}")
            widget_page.wait_for_function(
                "widgetMessages.some(m => m.type === 'ready')", timeout=120_000, polling=200
            )
            widget_page.set_input_files("#host-file", str(PHOTO))  # the host sends 'photo-1'
            answer = "m => m.id === 'photo-1' && (m.type === 'result' || m.type === 'error')"
            widget_page.wait_for_function(f"widgetMessages.some({answer})", timeout=120_000)
            reply = widget_page.evaluate(
                f"() => {{ const m = widgetMessages.find({answer}); return {{...m, labels: "
                f"m.labels ? ({BYTES_AS_BASE64})(m.labels) : null, overlay: null}}; }}"
            )
        finally:
            widget_page.close()
    assert reply["type"] == "result", reply
    widget_labels = bytes_from_base64(reply["labels"]).reshape(labels.shape)
    assert (widget_labels == expected.labels).mean() >= 0.999
    widget_classes = reply.get("classes") or reply["summary"]["classes"]
    assert {c["name"] for c in widget_classes} <= set(CITYSCAPES_LABELS)
    assert all(c["color"] == list(CITYSCAPES_PALETTE[c["id"]]) for c in widget_classes)
    assert app.errors == []
    agreement = (labels == expected.labels).mean()
    print(f"\n19-class model in the page (fp32 WASM) vs CPython: {agreement:.4%} equal")
    assert agreement >= 0.999
    assert group_filter_hidden
    assert rows and all(CITYSCAPES[cid] in text for cid, text in rows)
    assert summary["model"]["labels"] == 19 and summary["model"]["label_set"] == "cityscapes"
    assert {c["id"]: c["color"] for c in summary["classes"]} == {
        c["id"]: list(CITYSCAPES_PALETTE[c["id"]]) for c in summary["classes"]
    }
    assert summary_problems(summary) == [] and summary["group_shares"] is None
    assert all(c["group"] is None for c in summary["classes"])
    assert confidence.shape == labels.shape and confidence.dtype == np.uint16

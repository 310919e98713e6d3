"""Model variants: the manifests pin what ../shared/reference says and nothing more; a model
with a 640x640 input (a randomly initialised SegFormer exported here) runs through the
CPython pipeline, a build with two models, and the page, without code changes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import (
    ROOT,
    SHARED,
    STANDIN_DIR,
    STANDIN_ID,
    build_site,
    open_app,
    serve_site,
    variant_manifest,
)
from sceneseg.tools.manifest import FetchError, Manifest, sha256_file

RANDOM_ID = "segformer-random-640"
PHOTO = SHARED / "photos" / "chelsea.png"  # PNG: the browser and Pillow decode it identically


def test_variant_manifests_pin_exactly_the_reference_files():
    text = (SHARED / "reference" / "REFERENCE_HASHES.md").read_text()
    pattern = re.compile(r"- (b\d)-ade-(\d+)( model_quantized\.onnx)?: ([\d,]+)\s+sha256 (\w{64})")
    pinned = {
        m[1]: (m[2], bool(m[3]), int(m[4].replace(",", "")), m[5]) for m in pattern.finditer(text)
    }
    assert set(pinned) == {"b1", "b2", "b3", "b5"}
    for key, (size_px, quantized, size, sha256) in pinned.items():
        manifest = Manifest.named(f"segformer-{key}-ade" + ("-640" if size_px == "640" else ""))
        precision, name = (
            ("q8", "onnx/model_quantized.onnx") if quantized else ("fp32", "onnx/model.onnx")
        )
        assert manifest.precisions == {precision: name}  # only what is pinned is offered
        assert (manifest.files[name].size, manifest.files[name].sha256) == (size, sha256)
        assert f"segformer-{key}-finetuned-ade-{size_px}-{size_px}" in manifest.source
        # Config files are unpinned: refused unless asked for, then checked by content.
        for config in ("config.json", "preprocessor_config.json"):
            assert not manifest.files[config].pinned and manifest.files[config].expect
        expect = manifest.files["preprocessor_config.json"].expect
        assert expect["input_size"] == [int(size_px)] * 2
        assert manifest.files["config.json"].expect["num_labels"] == 150
        assert manifest.unknown and manifest.download_size(precision) == size
        with pytest.raises(FetchError, match="--allow-unpinned"):
            manifest.fetch("config.json", Path("/nonexistent/config.json"))


@pytest.fixture(scope="module")
def random_model(tmp_path_factory) -> Path:
    """A randomly initialised SegFormer-B0-shaped model for 640x640 input, exported to ONNX
    like the published files (dynamic height and width) with Hugging Face config files.
    Cached in test-artifacts/ (the export takes a minute on this machine)."""
    import transformers

    stamp = f"torch {torch.__version__}, transformers {transformers.__version__}, seed 0, v1"
    directory = ROOT / "test-artifacts" / RANDOM_ID
    if (directory / "stamp.txt").is_file() and (directory / "stamp.txt").read_text() == stamp:
        return directory
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    base = json.loads((STANDIN_DIR / "config.json").read_text())
    config = SegformerConfig(
        hidden_sizes=[32, 64, 160, 256],
        depths=[2, 2, 2, 2],
        decoder_hidden_size=256,
        id2label={int(k): v for k, v in base["id2label"].items()},
        label2id=base["label2id"],
    )
    torch.manual_seed(0)
    model = SegformerForSemanticSegmentation(config).eval()
    (directory / "onnx").mkdir(parents=True, exist_ok=True)
    model.config.to_json_file(directory / "config.json")
    preprocessor = json.loads((STANDIN_DIR / "preprocessor_config.json").read_text())
    preprocessor["size"] = {"height": 640, "width": 640}
    (directory / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2))

    class Logits(torch.nn.Module):  # the published files' interface: pixel_values -> logits
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, pixel_values):
            return self.model(pixel_values=pixel_values).logits

    torch.onnx.export(
        Logits(), (torch.randn(1, 3, 640, 640),), str(directory / "onnx" / "model.onnx"),
        input_names=["pixel_values"], output_names=["logits"], opset_version=17, dynamo=False,
        dynamic_axes={"pixel_values": {0: "batch", 2: "height", 3: "width"},
                      "logits": {0: "batch", 2: "h", 3: "w"}},
    )  # fmt: skip
    (directory / "stamp.txt").write_text(stamp)
    return directory


@pytest.fixture(scope="module")
def random_manifest(random_model, tmp_path_factory) -> Path:
    """Its manifest as a variant's would be: weights pinned, config files checked by content."""
    return variant_manifest(
        tmp_path_factory.mktemp("manifests") / f"{RANDOM_ID}.json",
        random_model,
        "SegFormer-B0 shape, random weights, 640x640 input (test only)",
        {"num_labels": 150, "depths": [2, 2, 2, 2]},
    )


def random_segmenter(random_model):
    from sceneseg.model import ModelInfo
    from sceneseg.pipeline import Segmenter
    from sceneseg.tools.native import OnnxRuntimeBackend

    backend = OnnxRuntimeBackend(random_model / "onnx" / "model.onnx", label="fp32")
    return Segmenter(ModelInfo.from_dir(random_model), backend)


@pytest.mark.slow
def test_640_input_model_matches_hugging_face(random_model):
    from transformers import SegformerImageProcessorPil

    from sceneseg.processing import decode

    segmenter = random_segmenter(random_model)
    assert segmenter.processor.config.height == segmenter.processor.config.width == 640
    processor = SegformerImageProcessorPil.from_pretrained(str(random_model))
    for photo in (PHOTO, SHARED / "photos" / "ade20k-val" / "ADE_val_00000001.jpg"):
        ours = segmenter.segment_sync(photo.read_bytes())
        image = decode(photo.read_bytes())
        pixel_values = processor(images=image, return_tensors="np")["pixel_values"]
        assert pixel_values.shape == (1, 3, 640, 640)
        logits = segmenter.backend.run_sync(pixel_values)
        assert logits.shape == (1, 150, 160, 160)
        reference = processor.post_process_semantic_segmentation(
            SimpleNamespace(logits=torch.from_numpy(logits)), target_sizes=[image.size[::-1]]
        )[0].numpy()
        agreement = (ours.labels == reference).mean()
        print(f"\n{photo.name}: 640-input model, {agreement:.6%} equal to Hugging Face's chain")
        assert agreement >= 0.9999
        assert len(np.unique(reference)) > 1  # a random model still draws several classes


def run_build(out: Path, random_manifest: Path, random_model: Path, *extra: str):
    return build_site(
        out, *extra,
        model=f"{random_manifest},{STANDIN_ID}", precisions="fp32,q8",
        model_dirs=(f"{RANDOM_ID}={random_model}", f"{STANDIN_ID}={STANDIN_DIR}"),
        check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def site_640(random_manifest, random_model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site640") / "dist"
    run = run_build(out, random_manifest, random_model, "--allow-unpinned")
    assert run.returncode == 0, run.stderr
    return out


@pytest.mark.slow
def test_build_with_two_models_describes_each(site_640, random_manifest, random_model):
    info = json.loads((site_640 / "build-info.json").read_text())
    assert info["default_model"] == RANDOM_ID and info["model"] == info["models"][RANDOM_ID]
    random, standin = info["models"][RANDOM_ID], info["models"][STANDIN_ID]
    assert random["input_size"] == {"height": 640, "width": 640}
    assert standin["input_size"] == {"height": 512, "width": 512}
    assert random["precisions"] == {"fp32": "onnx/model.onnx"}  # has no q8: skipped
    assert standin["precisions"] == {"fp32": "onnx/model.onnx", "q8": "onnx/model_quantized.onnx"}
    assert info["default_precision"] == {"wasm": "fp32"}
    for model in (random, standin):
        for name, spec in model["files"].items():
            path = site_640 / model["path"] / name
            assert (path.stat().st_size, sha256_file(path)) == (spec["size"], spec["sha256"])
        for precision, file in model["precisions"].items():
            configs = sum(
                model["files"][n]["size"] for n in ("config.json", "preprocessor_config.json")
            )
            assert model["download_size"][precision] == configs + model["files"][file]["size"]
    # Without --allow-unpinned the same build is refused and the site stays as it was.
    before = (site_640 / "build-info.json").read_bytes()
    run = run_build(site_640, random_manifest, random_model)
    assert run.returncode == 1 and "--allow-unpinned" in run.stderr
    assert (site_640 / "build-info.json").read_bytes() == before


@pytest.mark.slow
@pytest.mark.browser
def test_640_input_model_in_the_page(site_640, browser, random_model, tmp_path):
    with serve_site(site_640) as port:
        app = open_app(browser, f"http://127.0.0.1:{port}/")
        try:
            app.upload(PHOTO)
            labels = np.asarray(Image.open(app.download_labels(tmp_path / "labels.png")))
            # The Details panel offers the build's models with their download sizes; picking
            # one reloads the page on it.
            page = app.page
            page.click("#details summary")
            options = page.locator("#model-setting option").evaluate_all(
                "options => options.map(o => [o.value, o.textContent])"
            )
            assert [value for value, _ in options] == [RANDOM_ID, STANDIN_ID]
            assert all(" MB" in text for _, text in options)
            with page.expect_navigation():
                page.select_option("#model-setting", STANDIN_ID)
            assert f"model={STANDIN_ID}" in page.url
            page.wait_for_selector("body[data-ready=true]", timeout=120_000)
            assert "stand-in" in page.text_content("#engine")
        finally:
            app.page.context.close()
    assert app.errors == []
    expected = random_segmenter(random_model).segment_sync(PHOTO.read_bytes()).labels
    agreement = (labels == expected).mean()
    print(f"\n640-input model in the page (fp32 WASM) vs CPython: {agreement:.4%} equal")
    assert agreement >= 0.999


def test_older_preprocessor_config_with_one_number_for_the_size():
    from sceneseg.model import PreprocessConfig
    from sceneseg.tools.manifest import json_facts

    old_style = {"size": 640, "do_resize": True, "resample": 2}
    config = PreprocessConfig.from_dict(old_style)
    assert (config.height, config.width) == (640, 640)
    assert json_facts(old_style)["input_size"] == [640, 640]

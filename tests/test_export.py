"""``python -m sceneseg export``: randomly initialised SegFormer checkpoints built from configs
here (nothing downloaded) -> ONNX files with dynamic height and width, configs, a manifest
that the command line takes, and a validation report; non-SegFormer checkpoints refused; the
output folder all or nothing."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import SHARED, ade_labels, segformer_checkpoint
from sceneseg.tools.manifest import Manifest, sha256_file

B4_DEPTHS = [3, 8, 27, 3]
PHOTO = SHARED / "photos" / "chelsea.png"  # 451x300: small, and a PNG (no JPEG decoder doubt)


def export(*args) -> int:
    from sceneseg.tools.cli import main

    return main(["export", *map(str, args)])


@pytest.fixture(scope="session")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    shutil.copy(PHOTO, folder / PHOTO.name)
    return folder


@pytest.fixture(scope="session")
def b4_export(tmp_path_factory, photos):
    """A B4-shaped checkpoint (MiT-B4's depths 3/8/27/3, heads 1/2/5/8; widths cut to
    16/32/80/128 so that the export takes seconds, not minutes: the graph has B4's 41 blocks),
    150 ADE20K classes, exported once with every precision."""
    tmp = tmp_path_factory.mktemp("b4")
    source = segformer_checkpoint(tmp / "checkpoint", ade_labels(), depths=B4_DEPTHS)
    out = tmp / "segformer-b4-random"
    code = export(source, "--out", out, "--photos", photos, "--repeat", "2")
    assert code == 0
    return SimpleNamespace(source=source, out=out)


@pytest.mark.slow
def test_b4_export_is_a_model_the_command_line_takes(b4_export, tmp_path, capsys):
    out = b4_export.out
    manifest = Manifest.named(str(out / "manifest.json"))
    assert manifest.id == "segformer-b4-random"
    assert manifest.precisions == {
        "fp32": "onnx/model.onnx",
        "fp16": "onnx/model_fp16.onnx",
        "q8": "onnx/model_quantized.onnx",
    }
    for name, spec in manifest.files.items():  # every file pinned, nothing else in the folder
        assert (spec.size, spec.sha256) == ((out / name).stat().st_size, sha256_file(out / name))
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == {
        *manifest.files,
        "manifest.json",
        "validation.json",
        "validation.md",
    }
    config = json.loads((out / "config.json").read_text())
    assert config["depths"] == B4_DEPTHS and len(config["id2label"]) == 150
    assert json.loads((out / "quantize_config.json").read_text())["recipe"] == "dyn-u8"
    import onnx

    for name in manifest.precisions.values():  # height and width are dynamic in every file
        dims = onnx.load(str(out / name), load_external_data=False).graph.input[0]
        dims = dims.type.tensor_type.shape.dim
        assert dims[1].dim_value == 3 and dims[2].dim_param and dims[3].dim_param

    # The command line runs it from the manifest; its labels vs PyTorch's through Hugging
    # Face's own processor and post-processing (independent of sceneseg's code).
    from transformers import SegformerForSemanticSegmentation, SegformerImageProcessor

    from sceneseg.tools.cli import main

    labels_png = tmp_path / "labels.png"
    argv = [str(PHOTO), "--model", str(out / "manifest.json"), "--model-dir", str(out)]
    assert main([*argv, "--precision", "fp32", "--out", str(labels_png)]) == 0
    ours = np.asarray(Image.open(labels_png))
    model = SegformerForSemanticSegmentation.from_pretrained(b4_export.source).eval()
    processor = SegformerImageProcessor.from_pretrained(b4_export.source)
    image = Image.open(PHOTO).convert("RGB")
    with torch.inference_mode():
        logits = model(**processor(images=image, return_tensors="pt")).logits
    reference = processor.post_process_semantic_segmentation(
        SimpleNamespace(logits=logits), target_sizes=[image.size[::-1]]
    )[0].numpy()
    agreement = (ours == reference).mean()
    print(f"\nB4-shaped export, fp32 via the CLI vs PyTorch: {agreement:.4%} of pixels")
    assert agreement >= 0.999
    assert len(np.unique(reference)) > 1


@pytest.mark.slow
def test_b4_validation_report(b4_export, capsys):
    report = json.loads((b4_export.out / "validation.json").read_text())
    print("\n" + (b4_export.out / "validation.md").read_text())
    assert set(report["agreement"]) == {"fp32", "fp16", "q8"}
    assert report["agreement"]["fp32"] >= 0.999
    # fp16 and 8-bit are reported, not bounded (random weights: small logit margins).
    assert all(0 <= report["agreement"][p] <= 1 for p in ("fp16", "q8"))
    assert [row["photo"] for row in report["photos"]] == [PHOTO.name]
    assert set(report["native_ms"]) == {"fp32", "fp16", "q8"}
    assert all(ms > 0 for ms in report["native_ms"].values())
    dynamic = report["dynamic_shape"]
    assert dynamic["input"] != report["input_size"] and dynamic["max_abs_logit_diff"] < 1e-3
    assert dynamic["logits"] == [1, 150, dynamic["input"][0] // 4, dynamic["input"][1] // 4]


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    labels = {i: f"class {i}" for i in range(7)}
    return segformer_checkpoint(tmp_path_factory.mktemp("small") / "ckpt", labels, seed=1)


@pytest.mark.slow
def test_published_recipe_replacing_a_folder_with_force(small_checkpoint, tmp_path, capsys):
    from sceneseg.tools.quantize.__main__ import main as quantize_main

    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert export(small_checkpoint, "--out", out) == 2  # refused before any work
    assert "--force" in capsys.readouterr().err and (out / "keep.txt").is_file()
    assert (
        export(
            small_checkpoint,
            "--out",
            out,
            "--recipe",
            "published",
            "--force",
            "--precisions",
            "q8",
            "--photos",
            tmp_path / "none",
            "--repeat",
            "0",
        )
        == 2
    )
    assert "is not a folder" in capsys.readouterr().err
    assert export(small_checkpoint, "--out", out, "--recipe", "published", "--force",
                  "--precisions", "q8", "--photos", out, "--repeat", "0") == 0  # fmt: skip
    assert not (out / "keep.txt").exists() and (out / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder left
    written = json.loads((out / "quantize_config.json").read_text())
    reference = json.loads((SHARED / "reference" / "xenova_b0_quantize_config.json").read_text())
    assert {k: v for k, v in written.items() if k != "recipe"} == reference
    # quantize_config.json records the recipe: the quantize tool's q8 remakes the same bytes.
    assert quantize_main(["--model-dir", str(out), "--out", str(tmp_path / "q"), "--schemes",
                          "q8"]) == 0  # fmt: skip
    remade = tmp_path / "q" / "model_q8.onnx"
    assert sha256_file(remade) == sha256_file(out / "onnx" / "model_quantized.onnx")
    assert json.loads((out / "validation.json").read_text())["photos"] == []  # no photos there
    # 7 custom classes on the command line: the overlay in the generated palette.
    from sceneseg.palette import generated_palette
    from sceneseg.tools.cli import main

    model = ["--model", str(out / "manifest.json"), "--model-dir", str(out)]
    files = ["--out", str(tmp_path / "l.png"), "--overlay", str(tmp_path / "o.png")]
    assert main([str(PHOTO), *model, *files, "--json", str(tmp_path / "s.json")]) == 0
    labels = np.asarray(Image.open(tmp_path / "l.png"))
    overlay = np.asarray(Image.open(tmp_path / "o.png").convert("RGB"))
    assert labels.max() < 7
    np.testing.assert_array_equal(overlay, np.asarray(generated_palette(7), np.uint8)[labels])
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["model"]["label_set"] == "custom"
    assert summary["classes"][0]["name"].startswith("class ")
    assert summary["group_shares"] is None and summary["classes"][0]["group"] is None


def test_non_segformer_is_refused_and_nothing_is_written(tmp_path, capsys):
    from transformers import BertConfig, SegformerConfig

    bert = tmp_path / "bert"
    BertConfig(num_hidden_layers=1).save_pretrained(bert)
    assert export(bert, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "'bert' model" in err and "not SegFormer" in err
    classifier = tmp_path / "mit"
    SegformerConfig(architectures=["SegformerForImageClassification"]).save_pretrained(classifier)
    assert export(classifier, "--out", tmp_path / "out") == 2
    assert "not a semantic-segmentation model" in capsys.readouterr().err
    assert export(tmp_path / "missing", "--out", tmp_path / "out") == 2
    assert "cannot read a model config" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bert", "mit"]


@pytest.mark.slow
def test_a_failed_export_leaves_nothing(small_checkpoint, tmp_path, capsys):
    # The validation fails (an impossible bound) after every file was made: no folder, and
    # no temporary one beside it.
    code = export(small_checkpoint, "--out", tmp_path / "out", "--precisions", "fp32",
                  "--repeat", "0", "--photos", PHOTO.parent, "--limit", "1",
                  "--min-fp32-agreement", "1.01")  # fmt: skip
    assert code == 2 and "nothing written" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_missing_export_extra_says_what_to_install(monkeypatch, tmp_path, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    assert export(tmp_path, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "needs torch" in err and "pip install -e '.[export]'" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_b4_manifest_points_to_export_and_takes_its_folder(b4_export, tmp_path, capsys):
    from sceneseg.tools.cli import main

    b4 = Manifest.named("segformer-b4-ade")
    assert b4.precisions == {} and b4.files["config.json"].expect["depths"] == B4_DEPTHS
    assert main([str(PHOTO), "--model", "segformer-b4-ade"]) == 2
    err = capsys.readouterr().err
    assert f"python -m sceneseg export {b4.export['source']} --out" in err
    # Published variants lacking a precision (B1: fp32 only) say the same for that precision.
    assert main([str(PHOTO), "--model", "segformer-b1-ade", "--precision", "q8"]) == 2
    err = capsys.readouterr().err
    assert "no published q8 file" in err and "export nvidia/segformer-b1-finetuned-ade" in err
    # The same kind of manifest for the random checkpoint (its source and widths): --model-dir
    # an export's folder takes the files pinned there, checked against 'expect'.
    raw = json.loads(b4.path.read_text())
    raw["export"]["source"] = str(b4_export.source)
    raw["files"]["config.json"]["expect"].update(hidden_sizes=[16, 32, 80, 128],
                                                 decoder_hidden_size=64)  # fmt: skip
    raw["files"]["preprocessor_config.json"]["expect"]["input_size"] = [128, 128]
    like_b4 = tmp_path / "like-b4.json"
    like_b4.write_text(json.dumps(raw))
    argv = [str(PHOTO), "--model", str(like_b4), "--precision", "q8", "--json"]
    assert main([*argv, str(tmp_path / "s.json"), "--model-dir", str(b4_export.out)]) == 0
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["model"]["id"] == "segformer-b4-ade" and summary["classes"]
    raw["files"]["config.json"]["expect"]["depths"] = [3, 6, 40, 3]  # B5's: refused
    like_b4.write_text(json.dumps(raw))
    assert main([*argv, str(tmp_path / "t.json"), "--model-dir", str(b4_export.out)]) == 2
    assert "depths=[3, 8, 27, 3] (expected [3, 6, 40, 3])" in capsys.readouterr().err

"""The whole CPython pipeline against Hugging Face's reference chain, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import PHOTOS, ROOT, STANDIN_DIR, STANDIN_ID, native_segmenter
from sceneseg.processing import decode


@pytest.fixture(scope="module")
def hf_processor():
    from transformers import SegformerImageProcessorPil

    return SegformerImageProcessorPil.from_pretrained(str(STANDIN_DIR))


@pytest.mark.parametrize("photo", PHOTOS, ids=lambda p: p.name)
def test_pipeline_matches_hugging_face(photo, hf_processor):
    segmenter = native_segmenter("fp32")
    ours = segmenter.segment_sync(photo.read_bytes())

    # Reference: HF preprocessing -> the same ONNX file -> HF post-processing (torch).
    image = decode(photo.read_bytes())
    pixel_values = hf_processor(images=image, return_tensors="np")["pixel_values"]
    logits = segmenter.backend.run_sync(pixel_values)
    outputs = SimpleNamespace(logits=torch.from_numpy(logits))
    target = [(image.height, image.width)]
    reference = hf_processor.post_process_semantic_segmentation(outputs, target_sizes=target)[0]
    reference = reference.numpy()

    assert ours.labels.shape == reference.shape == (image.height, image.width)
    agreement = (ours.labels == reference).mean()
    print(f"{photo.name}: {agreement:.6%} of pixels equal to the Hugging Face pipeline")
    assert agreement >= 0.9999
    assert ours.counts.sum() == ours.labels.size
    assert ours.classes()[0]["id"] == np.bincount(reference.ravel()).argmax()


def test_cli_writes_label_map_and_summary(tmp_path):
    photo = PHOTOS[0]
    out, summary = tmp_path / "labels.png", tmp_path / "summary.json"
    run = subprocess.run(
        [
            sys.executable, "-m", "sceneseg", str(photo),
            "--model", STANDIN_ID, "--model-dir", str(STANDIN_DIR),
            "--out", str(out), "--json", str(summary),
        ],
        capture_output=True, text=True, check=True, cwd=ROOT,
        env={"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    expected = native_segmenter("q8").segment_sync(photo.read_bytes())
    written = np.asarray(Image.open(out))
    np.testing.assert_array_equal(written, expected.labels)
    data = json.loads(summary.read_text())
    top = expected.classes()[0]
    assert data["classes"][0]["name"] == top["name"]
    assert data["photo"] == str(photo) and data["schema_version"] == 2
    assert data["resolution"] == {"mode": "square", "input": [512, 512], "windows": 1}
    # --json computes the confidence, as the page's summary download does.
    assert 0 < data["classes"][0]["mean_confidence"] <= 1
    assert top["name"] in run.stdout
    assert "stand-in" in run.stderr


def test_cli_reports_bad_files(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not a photo")
    run = subprocess.run(
        [
            sys.executable, "-m", "sceneseg", str(bad),
            "--model", STANDIN_ID, "--model-dir", str(STANDIN_DIR),
        ],
        capture_output=True, text=True, cwd=ROOT,
        env={"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert run.returncode == 1
    assert "not an image format" in run.stderr

"""Model manifests name the real files by size and sha256, and fetching verifies them."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import ROOT, SHARED, STANDIN_DIR, STANDIN_ID
from sceneseg.tools.manifest import FetchError, Manifest, fetch_verified, sha256_file


def reference_hashes() -> dict[str, tuple[int, str]]:
    """Parse ../shared/reference/REFERENCE_HASHES.md: the Xenova B0 files."""
    text = (SHARED / "reference" / "REFERENCE_HASHES.md").read_text()
    pattern = re.compile(r"- (onnx/\S+\.onnx).*?size ([\d,]+)\s+sha256 ([0-9a-f]{64})")
    return {m[1]: (int(m[2].replace(",", "")), m[3]) for m in pattern.finditer(text)}


def test_real_manifest_pins_the_published_files():
    manifest = Manifest.named("segformer-b0-ade")
    pinned = reference_hashes()
    assert set(pinned) == {"onnx/model_quantized.onnx", "onnx/model_fp16.onnx", "onnx/model.onnx"}
    for name, (size, sha256) in pinned.items():
        assert (manifest.files[name].size, manifest.files[name].sha256) == (size, sha256)
    assert manifest.url("onnx/model_quantized.onnx") == (
        "https://huggingface.co/Xenova/segformer-b0-finetuned-ade-512-512/resolve/main/onnx/model_quantized.onnx"
    )
    for name in ("config.json", "preprocessor_config.json"):
        reference = SHARED / "reference" / f"xenova_b0_{name}"
        assert manifest.files[name].sha256 == sha256_file(reference)
    assert not manifest.standin
    assert manifest.precisions == {
        "q8": "onnx/model_quantized.onnx",
        "fp16": "onnx/model_fp16.onnx",
        "fp32": "onnx/model.onnx",
    }


def test_standin_manifest_matches_its_files():
    manifest = Manifest.named(STANDIN_ID)
    sums = dict(
        reversed(line.split()) for line in (STANDIN_DIR / "SHA256SUMS").read_text().splitlines()
    )
    assert manifest.standin and manifest.source is None
    for name, spec in manifest.files.items():
        assert spec.sha256 == sums[name]
        assert spec.size == (STANDIN_DIR / name).stat().st_size


def test_fetch_rejects_a_wrong_file_and_says_what_it_tried(tmp_path):
    source = tmp_path / "model.onnx"
    source.write_bytes(b"not the model")
    with pytest.raises(FetchError) as error:
        fetch_verified(
            [source, "http://127.0.0.1:9/model.onnx"], tmp_path / "out" / "m.onnx", 13, "0" * 64
        )
    message = str(error.value)
    assert str(source) in message and "sha256" in message
    assert "http://127.0.0.1:9/model.onnx" in message
    assert not (tmp_path / "out" / "m.onnx").exists()


def test_fetch_keeps_a_verified_copy(tmp_path):
    source = tmp_path / "a.bin"
    source.write_bytes(b"abc")
    digest = sha256_file(source)
    dest = fetch_verified([source], tmp_path / "b.bin", 3, digest)
    source.unlink()
    assert fetch_verified([source], dest, 3, digest) == dest  # no source needed any more


def test_build_stops_with_a_helpful_message_when_the_model_is_missing(tmp_path):
    run = subprocess.run(
        [
            sys.executable, str(ROOT / "build.py"), "--model", "segformer-b0-ade",
            "--model-dir", str(tmp_path / "nowhere"),
            "--pyodide-mirror", str(SHARED / "pyodide-0.27.7"), "--out", str(tmp_path / "dist"),
        ],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 1
    assert "could not get config.json" in run.stderr
    assert str(tmp_path / "nowhere" / "config.json") in run.stderr
    assert "--model-dir" in run.stderr

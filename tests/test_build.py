"""What build.py puts into dist/, byte for byte, and how it is served."""

from __future__ import annotations

import json
import os
import re
import urllib.request
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from conftest import ROOT, STANDIN_DIR, STANDIN_ID, build_site
from sceneseg.tools.manifest import Manifest, sha256_file
from sitebuild.ort_format import convert


def test_vendor_files_are_exactly_what_runs(built_site):
    ort = sorted(p.name for p in (built_site / "vendor" / "onnxruntime-web").iterdir())
    # WASM, and WebGPU (the site ships fp32, which WebGPU can run): bundle, glue, binary each.
    assert ort == sorted(
        [
            *["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"],
            *["ort.webgpu.min.mjs", "ort-wasm-simd-threaded.asyncify.mjs"],
            "ort-wasm-simd-threaded.asyncify.wasm",
        ]
    )
    pyodide_files = {p.name for p in (built_site / "vendor" / "pyodide").iterdir()}
    lock = json.loads((built_site / "vendor" / "pyodide" / "pyodide-lock.json").read_text())
    assert set(lock["packages"]) == {"numpy", "pillow", "sceneseg"}
    wheels = {entry["file_name"] for entry in lock["packages"].values()}
    core = {
        "pyodide.mjs",
        "pyodide.asm.js",
        "pyodide.asm.wasm",
        "python_stdlib.zip",
        "pyodide-lock.json",
    }
    assert pyodide_files == core | wheels
    # The worker verifies onnxruntime-web's WASM binary against build-info.json.
    wasm = json.loads((built_site / "build-info.json").read_text())["onnxruntime_web"]["wasm"]
    path = built_site / wasm["path"]
    assert (path.stat().st_size, sha256_file(path)) == (wasm["size"], wasm["sha256"])
    original = ROOT / "node_modules" / "onnxruntime-web" / "dist" / path.name
    assert sha256_file(original) == wasm["sha256"]


def test_wheels_match_the_official_lock(built_site):
    official = json.loads((ROOT / "node_modules" / "pyodide" / "pyodide-lock.json").read_text())
    lock = json.loads((built_site / "vendor" / "pyodide" / "pyodide-lock.json").read_text())
    assert lock["info"] == official["info"]
    for name, entry in lock["packages"].items():
        wheel = built_site / "vendor" / "pyodide" / entry["file_name"]
        assert sha256_file(wheel) == entry["sha256"]
        if name != "sceneseg":  # the same entry but for the hash: rewritten with .pyc
            assert {**entry, "sha256": None} == {**official["packages"][name], "sha256": None}


def test_model_files_verify_against_the_manifest(built_site):
    manifest = Manifest.named(STANDIN_ID)
    shipped = json.loads((built_site / "models" / STANDIN_ID / "manifest.json").read_text())
    assert shipped["precisions"] == {"q8": "onnx/model_quantized.onnx", "fp32": "onnx/model.onnx"}
    for name, spec in shipped["files"].items():
        if name in shipped["wasm_files"].values():
            continue  # made by the build (the next test)
        path = built_site / "models" / STANDIN_ID / name
        assert path.stat().st_size == spec["size"] == manifest.files[name].size
        assert sha256_file(path) == spec["sha256"] == manifest.files[name].sha256
    assert not (built_site / "models" / STANDIN_ID / "onnx" / "model_fp16.onnx").exists()


def test_the_wasm_files_are_the_onnx_in_ort_format(built_site, tmp_path):
    """sitebuild/ort_format: what the WASM backend loads is each q8/fp32 .onnx converted to
    ORT format at build time: listed with its sha256, the same logits as its .onnx (native
    onnxruntime, the same graph optimisation), and so is a conversion made again (its bytes
    may differ: onnxruntime writes some tables in heap-address order)."""
    folder = built_site / "models" / STANDIN_ID
    shipped = json.loads((folder / "manifest.json").read_text())
    assert shipped["wasm_files"] == {"q8": "onnx/model_quantized.ort", "fp32": "onnx/model.ort"}
    pixels = np.random.default_rng(0).standard_normal((1, 3, 128, 96)).astype(np.float32)
    extended = ort.SessionOptions()
    extended.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    for precision, name in shipped["wasm_files"].items():
        path = folder / name
        assert path.read_bytes()[4:8] == b"ORTM"  # the ORT format's file identifier
        assert shipped["files"][name] == {"size": path.stat().st_size, "sha256": sha256_file(path)}
        onnx = folder / shipped["precisions"][precision]
        again = tmp_path / f"{precision}.ort"
        convert(onnx, again)
        logits = [
            ort.InferenceSession(str(p), extended).run(None, {"pixel_values": pixels})[0]
            for p in (onnx, path, again)
        ]
        np.testing.assert_array_equal(logits[0], logits[1])
        np.testing.assert_array_equal(logits[0], logits[2])


def test_no_file_names_another_origin(built_site):
    url = re.compile(rb"https?://([^/\"'`\s)]+)")
    offenders = []
    for path in built_site.rglob("*"):
        if path.is_file() and path.suffix in {".html", ".js", ".mjs", ".css", ".json", ".svg"}:
            hosts = set(url.findall(path.read_bytes())) - {b"www.w3.org"}
            offenders += [(str(path.relative_to(built_site)), h) for h in hosts]
    assert offenders == []


def test_served_with_the_right_types_and_isolation_headers(site_url):
    expected = {
        "": "text/html",
        "vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm": "application/wasm",
        "vendor/pyodide/pyodide.mjs": "text/javascript",
        "worker/segment-worker.js": "text/javascript",
        "build-info.json": "application/json",
    }
    for path, mime in expected.items():
        with urllib.request.urlopen(site_url + path) as response:
            assert response.headers.get_content_type() == mime, path
            assert response.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
            assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_the_python_bundle_cache_key_follows_its_inputs(tmp_path):
    from sitebuild.pyodide_files import PYODIDE_CORE
    from sitebuild.python_bundle_cache import bundle_key

    core = [ROOT / "node_modules" / "pyodide" / name for name in PYODIDE_CORE]
    model = tmp_path / "model"
    model.mkdir()
    for name in ("config.json", "preprocessor_config.json"):
        (model / name).write_bytes((STANDIN_DIR / name).read_bytes())
    key = bundle_key(core, ["a", "b"], model)
    assert key == bundle_key(core, ["b", "a"], model)  # the wheels as a set
    assert key != bundle_key(core, ["a", "c"], model)  # another wheel
    assert key != bundle_key(core[:-1], ["a", "b"], model)  # another core
    config = json.loads((model / "preprocessor_config.json").read_text())
    config["size"] = {"height": 640, "width": 640}
    (model / "preprocessor_config.json").write_text(json.dumps(config))
    assert key != bundle_key(core, ["a", "b"], model)  # the trace reads the model's configs


@pytest.mark.slow
def test_a_python_bundle_from_the_build_cache_is_what_a_build_without_it_makes(
    tmp_path, monkeypatch
):
    """Builds take vendor/pyodide/ from a cache keyed by its inputs
    (py/sitebuild/python_bundle_cache.py). A key that missed an input would hand an older
    bundle to a newer checkout: a build that hits the cache gets the bytes of a build without."""
    monkeypatch.setenv("SCENESEG_BUILD_CACHE", "off")
    fresh = build_site(tmp_path / "fresh", precisions="q8")
    assert "from the build cache" not in fresh.stdout
    monkeypatch.undo()  # the cache this machine's builds use (its older entries included)
    if os.environ.get("SCENESEG_BUILD_CACHE", "").lower() == "off":
        monkeypatch.setenv("SCENESEG_BUILD_CACHE", str(tmp_path / "cache"))
    cached = build_site(tmp_path / "cached", precisions="q8")
    if "from the build cache" not in cached.stdout:  # a cold cache: that build filled it
        cached = build_site(tmp_path / "cached-again", precisions="q8")
        assert "from the build cache" in cached.stdout
    out = re.search(r"wrote (.+)$", cached.stdout, re.M).group(1)

    def files(site):
        folder = site / "vendor" / "pyodide"
        return {p.name: sha256_file(p) for p in sorted(folder.iterdir())}

    assert files(Path(out)) == files(tmp_path / "fresh")

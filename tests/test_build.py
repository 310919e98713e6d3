"""What build.py puts into dist/, byte for byte, and how it is served."""

from __future__ import annotations

import json
import re
import urllib.request

from conftest import ROOT, STANDIN_ID
from sceneseg.tools.manifest import Manifest, sha256_file


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
        path = built_site / "models" / STANDIN_ID / name
        assert path.stat().st_size == spec["size"] == manifest.files[name].size
        assert sha256_file(path) == spec["sha256"] == manifest.files[name].sha256
    assert not (built_site / "models" / STANDIN_ID / "onnx" / "model_fp16.onnx").exists()


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

"""--provider: onnxruntime's execution providers on the command line, in folders and in the
evaluation (a missing one is an error saying what to install, before any model runs; the
summaries record the provider), and bench/providers.py's table (the CPU rows here)."""

from __future__ import annotations

import json
import subprocess
import sys

import onnxruntime
import pytest

from conftest import ROOT, SHARED, STANDIN_DIR, STANDIN_ID

PHOTO = SHARED / "photos" / "chelsea.png"
MISSING = [
    p
    for p, name in (("cuda", "CUDAExecutionProvider"), ("tensorrt", "TensorrtExecutionProvider"),
                    ("webgpu", "WebGpuExecutionProvider"))
    if name not in onnxruntime.get_available_providers()
]  # fmt: skip


def sceneseg(*args) -> int:
    from sceneseg.tools.cli import main

    return main([*map(str, args), "--model", STANDIN_ID, "--model-dir", str(STANDIN_DIR)])


def test_provider_recorded_in_every_summary(tmp_path, monkeypatch):
    from sceneseg.tools.native import resolve_provider

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    auto = resolve_provider("auto")
    assert auto in ("cuda", "webgpu", "cpu")
    assert sceneseg(PHOTO, "--json", tmp_path / "one.json", "--provider", "cpu") == 0
    summary = json.loads((tmp_path / "one.json").read_text())
    assert summary["provider"] == "cpu" and " cpu " in summary["backend"]
    assert sceneseg(PHOTO, "--json", tmp_path / "auto.json") == 0  # the default: auto
    assert json.loads((tmp_path / "auto.json").read_text())["provider"] == auto
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / PHOTO.name).write_bytes(PHOTO.read_bytes())
    out = tmp_path / "out"
    assert sceneseg(tmp_path / "photos", "--out-dir", out, "--jobs", "1", "--provider", "cpu") == 0
    assert json.loads((out / "chelsea.json").read_text())["provider"] == "cpu"
    ade = SHARED / "photos" / "ade20k-val"
    code = sceneseg("eval", ade, ade, "--limit", "1", "--out-dir", tmp_path / "eval",
                    "--jobs", "1", "--provider", "cpu")  # fmt: skip
    assert code == 0
    assert json.loads((tmp_path / "eval" / "eval.json").read_text())["runs"][0]["provider"] == "cpu"


def test_a_missing_provider_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for provider in MISSING:  # here: all three (onnxruntime's CPU build)
        hint = "onnxruntime-gpu" if provider in ("cuda", "tensorrt") else "WebGPU"
        for args in ((PHOTO,), ("eval", tmp_path, tmp_path), (tmp_path, "--out-dir", tmp_path)):
            if args[0] == "eval":
                (tmp_path / "a.jpg").write_bytes(PHOTO.read_bytes())
                (tmp_path / "a.png").write_bytes(PHOTO.read_bytes())
            assert sceneseg(*args, "--provider", provider) == 2
            err = capsys.readouterr().err
            assert f"--provider {provider}" in err and hint in err and "it has: cpu" in err
    assert not (tmp_path / "cache").exists()  # refused before any model file was fetched
    with pytest.raises(SystemExit):
        sceneseg(PHOTO, "--provider", "rocm")
    assert "invalid choice: 'rocm'" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_providers_table(tmp_path):
    out = tmp_path / "providers.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "providers.py"), "--model", STANDIN_ID,
         "--model-dir", str(STANDIN_DIR), "--precisions", "q8", "--providers", "cpu,cuda",
         "--repeat", "1", "--photo", str(PHOTO), "--out", str(out)],
        capture_output=True, text=True, env={"XDG_CACHE_HOME": str(tmp_path / "cache"),
                                             "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = json.loads(out.read_text())["rows"]
    print("\n" + json.loads(out.read_text())["table"])
    cpu = next(r for r in rows if r["provider"] == "cpu")
    assert cpu["status"] == "ok" and cpu["ms"] > 0 and cpu["precision"] == "q8"
    assert cpu["reference"] == "cpu fp32" and 0.9 < cpu["agreement"] <= 1
    cuda = next(r for r in rows if r["provider"] == "cuda")
    if "cuda" in MISSING:
        assert cuda["status"].startswith("not available") and "onnxruntime-gpu" in cuda["status"]
    assert "| segformer-b0-ade-synthetic | q8 | cpu |" in run.stdout


def test_the_webgpu_plugin_package_is_used_when_installed(tmp_path, monkeypatch):
    """onnxruntime-ep-webgpu (a separate package) is registered by --provider webgpu and auto;
    one that cannot be registered is an error for webgpu, and auto goes on to the CPU. (Its
    session on a real GPU: bench/resolution_native.py on the GPU machine, docs/resolution.md.)"""
    import types

    from sceneseg.tools.native import ProviderError, resolve_provider

    fake = types.ModuleType("onnxruntime_ep_webgpu")
    fake.get_ep_name = lambda: "WebGpuExecutionProvider"
    fake.get_library_path = lambda: str(tmp_path / "libonnxruntime_providers_webgpu.so")
    monkeypatch.setitem(sys.modules, "onnxruntime_ep_webgpu", fake)
    with pytest.raises(ProviderError, match=r"onnxruntime-ep-webgpu: .*libonnxruntime_providers"):
        resolve_provider("webgpu")
    assert resolve_provider("auto") == "cpu"

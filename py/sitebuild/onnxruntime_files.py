"""vendor/onnxruntime-web/: per backend, the three onnxruntime-web files it loads (WASM
always; WebGPU when a file it can run is shipped)."""

from __future__ import annotations

import json
from pathlib import Path

from sceneseg.tools.manifest import sha256_file

from .common import BuildError, copy_vendor, node_package

# Per backend: the ES module API, its Emscripten glue and its SIMD+threads binary. The worker
# imports only the chosen backend's bundle and downloads only its binary. The WebGPU bundle
# (onnxruntime's C++ WebGPU execution provider) runs on the "asyncify" build of the binary.
ORT_BACKENDS = {
    "wasm": ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"),
    "webgpu": (
        "ort.webgpu.min.mjs",
        "ort-wasm-simd-threaded.asyncify.mjs",
        "ort-wasm-simd-threaded.asyncify.wasm",
    ),
}
# Model files WebGPU can run (the 8-bit file's integer ops have no WebGPU kernels).
WEBGPU_PRECISIONS = {"fp16", "fp32"}


def add_onnxruntime_web(out: Path, backends: list[str]) -> dict:
    package = node_package("onnxruntime-web")
    target = out / "vendor" / "onnxruntime-web"
    shipped = {}
    for backend in backends:
        module, glue, binary = ORT_BACKENDS[backend]
        for name in (module, glue, binary):
            copy_vendor(package / "dist" / name, target / name)
        # The worker downloads the binary itself (byte progress, size and sha256 check).
        shipped[backend] = {
            "module": f"vendor/onnxruntime-web/{module}",
            "binary": {
                "path": f"vendor/onnxruntime-web/{binary}",
                "size": (target / binary).stat().st_size,
                "sha256": sha256_file(target / binary),
            },
        }
    return {
        "version": json.loads((package / "package.json").read_text())["version"],
        "wasm": shipped["wasm"]["binary"],  # kept for readers of the earlier layout
        "backends": shipped,
    }


def choose_backends(option: str, precisions: list[str]) -> list[str]:
    """WASM always (every device has it, and it is the fallback); WebGPU when asked, or by
    default when a file WebGPU can run (fp16, fp32) is shipped."""
    if option == "auto":
        return ["wasm", "webgpu"] if WEBGPU_PRECISIONS & set(precisions) else ["wasm"]
    backends = [b.strip() for b in option.split(",") if b.strip()]
    unknown = set(backends) - set(ORT_BACKENDS)
    if unknown:
        raise BuildError(f"unknown backend {', '.join(sorted(unknown))} (have: wasm, webgpu)")
    if "wasm" not in backends:
        raise BuildError("the WASM backend is always shipped: it is WebGPU's fallback")
    if "webgpu" in backends and not WEBGPU_PRECISIONS & set(precisions):
        raise BuildError("WebGPU needs the fp16 or fp32 file: add it to --precisions")
    return backends

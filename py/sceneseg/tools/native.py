"""Native onnxruntime (CPython): the command-line tool and the tests' reference runs.

``--provider`` names (``PROVIDERS``) map to onnxruntime execution providers; ``auto`` takes
the first available of CUDA, WebGPU and the CPU (TensorRT only when asked for: it builds an
engine per input shape first, minutes on a new shape).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "webgpu": "WebGpuExecutionProvider",
}
PROVIDER_CHOICES = ("auto", *PROVIDERS)
AUTO_ORDER = ("cuda", "webgpu", "cpu")
INSTALL_HINT = {
    "cuda": "pip install onnxruntime-gpu (instead of onnxruntime), with CUDA and cuDNN",
    "tensorrt": "pip install onnxruntime-gpu (instead of onnxruntime), with TensorRT",
    "webgpu": "an onnxruntime build with the WebGPU execution provider (pip install "
    "onnxruntime-webgpu where published, or built with --use_webgpu)",
}


class ProviderError(RuntimeError):
    """The execution provider asked for is not in this onnxruntime, or did not start."""


def resolve_provider(name: str = "cpu") -> str:
    """``--provider`` value -> the short name of the provider that will run (auto resolved);
    ``ProviderError`` with what to install when it is not available."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if name == "auto":
        return next(p for p in AUTO_ORDER if PROVIDERS[p] in available)
    if name not in PROVIDERS:
        raise ProviderError(f"--provider {name}: not one of {', '.join(PROVIDER_CHOICES)}")
    if PROVIDERS[name] not in available:
        have = ", ".join(k for k, v in PROVIDERS.items() if v in available) or "none"
        raise ProviderError(
            f"--provider {name}: onnxruntime {ort.__version__} here has no "
            f"{PROVIDERS[name]} (it has: {have}); {INSTALL_HINT[name]}"
        )
    return name


class OnnxRuntimeBackend:
    def __init__(
        self,
        model_path: str | Path,
        *,
        threads: int | None = None,
        label: str = "",
        provider: str = "cpu",
    ):
        import onnxruntime as ort  # imported here: not available (nor needed) in Pyodide

        self.provider = resolve_provider(provider)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        wanted = [PROVIDERS[self.provider]]
        if self.provider != "cpu":
            wanted.append(PROVIDERS["cpu"])  # nodes a GPU provider lacks run on the CPU
        self._session = ort.InferenceSession(str(model_path), options, providers=wanted)
        if self._session.get_providers()[0] != wanted[0] and provider == "auto":
            self.provider = "cpu"  # auto: a GPU provider that cannot start leaves the CPU
        elif self._session.get_providers()[0] != wanted[0]:
            raise ProviderError(
                f"--provider {self.provider}: {wanted[0]} is in onnxruntime but did not start "
                f"(the session runs on {self._session.get_providers()}); "
                f"{INSTALL_HINT.get(self.provider, '')}"
            )
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[0].name
        self.name = f"onnxruntime {ort.__version__} {self.provider}" + (
            f" ({label})" if label else ""
        )

    async def run(self, pixel_values: np.ndarray) -> np.ndarray:
        return self.run_sync(pixel_values)

    def run_sync(self, pixel_values: np.ndarray) -> np.ndarray:
        (logits,) = self._session.run([self._output], {self._input: pixel_values})
        return logits

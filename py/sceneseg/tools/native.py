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
    "webgpu": "pip install onnxruntime-ep-webgpu (the WebGPU plugin execution provider; on "
    "Linux it needs the Vulkan loader, libvulkan.so.1), or an onnxruntime built with "
    "--use_webgpu",
}


class ProviderError(RuntimeError):
    """The execution provider asked for is not in this onnxruntime, or did not start."""


def webgpu_plugin_device():
    """The WebGPU adapter as onnxruntime's plugin execution provider sees it (the
    ``onnxruntime-ep-webgpu`` package: Dawn, over Vulkan on Linux), registered once per
    process; None when that package is not installed or finds no adapter.

    The plugin is not in ``get_available_providers()``: a session takes it through
    ``SessionOptions.add_provider_for_devices``, not through ``providers=``."""
    import onnxruntime as ort

    try:
        import onnxruntime_ep_webgpu as plugin
    except ImportError:
        return None
    name = plugin.get_ep_name()
    if not any(d.ep_name == name for d in ort.get_ep_devices()):
        try:
            ort.register_execution_provider_library("webgpu", plugin.get_library_path())
        except Exception as exc:  # an onnxruntime older than the plugin needs, say
            raise ProviderError(f"--provider webgpu: onnxruntime-ep-webgpu: {exc}") from exc
    return next((d for d in ort.get_ep_devices() if d.ep_name == name), None)


PCI_VENDORS = {0x10DE: "NVIDIA", 0x1002: "AMD", 0x8086: "Intel", 0x106B: "Apple",
               0x13B5: "Arm", 0x5143: "Qualcomm"}  # fmt: skip


def adapter_description(ep_device) -> str:
    """'vendor (PCI ids) [metadata]' of a plugin EP device: which GPU the numbers are from
    (onnxruntime 1.30 leaves the vendor's name empty on Linux: the PCI id names it)."""
    hardware = ep_device.device
    vendor = hardware.vendor or PCI_VENDORS.get(hardware.vendor_id, "GPU")
    metadata = {k: v for k, v in dict(hardware.metadata).items() if k != "library_path"}
    metadata |= {f"plugin {k}": v for k, v in dict(ep_device.ep_metadata).items()
                 if k != "library_path"}  # fmt: skip
    extra = ", ".join(f"{k}={v}" for k, v in sorted(metadata.items()))
    return f"{vendor} (PCI 0x{hardware.vendor_id:04x}:0x{hardware.device_id:04x})" + (
        f" [{extra}]" if extra else ""
    )


def resolve_provider(name: str = "cpu") -> str:
    """``--provider`` value -> the short name of the provider that will run (auto resolved);
    ``ProviderError`` with what to install when it is not available."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if PROVIDERS["webgpu"] not in available and name in ("auto", "webgpu"):
        try:
            plugin = webgpu_plugin_device()
        except ProviderError:
            if name == "webgpu":
                raise
            plugin = None  # auto: a broken plugin leaves the next provider
        if plugin is not None:
            available = [*available, PROVIDERS["webgpu"]]
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
        self.adapter = None
        # The plugin, where installed, is taken by device: once registered, its name is in
        # get_available_providers() but providers=[name] does not reach it.
        plugin = webgpu_plugin_device() if self.provider == "webgpu" else None
        if plugin is not None:
            # The plugin EP first, the CPU for what it lacks (as providers= does).
            options.add_provider_for_devices([plugin], {})
            self.adapter = adapter_description(plugin)
            self._session = ort.InferenceSession(str(model_path), options)
        else:
            self._session = ort.InferenceSession(str(model_path), options, providers=wanted)
        # A plugin EP's session lists only the CPU in get_providers() (onnxruntime 1.30): it
        # was asked for by device, and `adapter` says which.
        if plugin is not None:
            pass
        elif self._session.get_providers()[0] != wanted[0] and provider == "auto":
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

"""The reference the browser is compared with: the CPython pipeline on native onnxruntime."""

from __future__ import annotations

import functools

from devharness.paths import STANDIN_DIR, STANDIN_ID


@functools.cache
def native_segmenter(precision: str, provider: str = "cpu"):
    """The stand-in model's Segmenter at ``precision`` (q8, fp32, ...) on onnxruntime's
    ``provider`` (cpu, cuda, webgpu, ...), made once per process."""
    from sceneseg.model import ModelInfo
    from sceneseg.pipeline import Segmenter
    from sceneseg.tools.manifest import Manifest
    from sceneseg.tools.native import OnnxRuntimeBackend

    manifest = Manifest.named(STANDIN_ID)
    backend = OnnxRuntimeBackend(
        STANDIN_DIR / manifest.precisions[precision], label=precision, provider=provider
    )
    return Segmenter(ModelInfo.from_dir(STANDIN_DIR), backend)

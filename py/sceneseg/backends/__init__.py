"""Where the network runs. A backend takes ``pixel_values`` and returns ``logits``, both numpy.

``run`` is a coroutine because onnxruntime-web is asynchronous; the native backend simply
finishes before it returns. Implementations:

- ``sceneseg.tools.native.OnnxRuntimeBackend``     CPython, the ``onnxruntime`` package
- ``sceneseg.backends.web.OnnxRuntimeWebBackend``  Pyodide, onnxruntime-web via the JS bridge
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Backend(Protocol):
    #: Short description shown to users and written into results, e.g. "wasm (q8)".
    name: str

    async def run(self, pixel_values: np.ndarray) -> np.ndarray:
        """float32 [1, 3, H, W] -> float32 [1, C, H/4, W/4]."""
        ...

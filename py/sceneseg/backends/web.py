"""onnxruntime-web through Pyodide's JS bridge (runs only inside Pyodide).

The JS side (``web/worker/model-runner.js``) owns the ``ort.InferenceSession``; this class
hands it the input and takes the output back with one copy each way:

- in:  the numpy array is lent to JS as a PyProxy; JS takes a typed-array *view* of it with
       ``getBuffer()`` (no copy) and onnxruntime-web copies it into its own WASM memory.
- out: onnxruntime-web returns a Float32Array; ``assign_to`` copies it straight into a
       preallocated numpy array.
"""

from __future__ import annotations

import numpy as np


class OnnxRuntimeWebBackend:
    def __init__(self, js_runner):
        # js_runner: a JS object with ``name`` and ``async run(pixelsProxy) -> {data, dims}``.
        self._runner = js_runner
        self.name = str(js_runner.name)

    async def run(self, pixel_values: np.ndarray) -> np.ndarray:
        from pyodide.ffi import create_proxy

        pixels = np.ascontiguousarray(pixel_values, dtype=np.float32)
        proxy = create_proxy(pixels)
        try:
            output = await self._runner.run(proxy)
        finally:
            proxy.destroy()
        logits = np.empty(tuple(output.dims.to_py()), dtype=np.float32)
        output.data.assign_to(logits)
        return logits

"""Native onnxruntime (CPython): the command-line tool and the tests' reference runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class OnnxRuntimeBackend:
    def __init__(self, model_path: str | Path, *, threads: int | None = None, label: str = ""):
        import onnxruntime as ort  # imported here: not available (nor needed) in Pyodide

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[0].name
        self.name = f"onnxruntime {ort.__version__} cpu" + (f" ({label})" if label else "")

    async def run(self, pixel_values: np.ndarray) -> np.ndarray:
        return self.run_sync(pixel_values)

    def run_sync(self, pixel_values: np.ndarray) -> np.ndarray:
        (logits,) = self._session.run([self._output], {self._input: pixel_values})
        return logits

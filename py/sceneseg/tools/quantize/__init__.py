"""Quantization tooling: fp32 ONNX -> fp16 and 8-bit files, and a report that compares them.

    python -m sceneseg.quantize --model-dir ../shared/models/segformer-b0-ade-synthetic \\
        --out build/quantized --schemes all --report build/quantized

CPython only (needs ``onnx`` and ``onnxruntime``: ``pip install 'sceneseg[quantize]'``);
never imported in Pyodide. ``recipes`` makes the files, ``report`` measures and compares them,
``__main__`` is the command line.

Schemes (``SCHEMES``), each a named recipe applied to the fp32 file:

- ``fp16``: onnxruntime's own float16 converter (``onnxruntime.transformers.float16``, the
  maintained fork of onnxconverter-common's, shipped inside the onnxruntime wheel: no extra
  package), float32 inputs/outputs kept so the pipeline is unchanged.
- ``q8``: the published file's recipe, read from the model's ``quantize_config.json``
  (dynamic, per channel, reduce-range, QUInt8 weights, its op types). From the stand-in's
  fp32 file it reproduces the stand-in's published-style q8 byte for byte.
- ``dyn-*``: other dynamic schemes (signed weights, per tensor, MatMul only).
- ``qdq-*`` / ``qop-*``: static quantization calibrated on a folder of photos, preprocessed
  by sceneseg's own ``SegformerProcessor``; QDQ or QOperator format, per channel or per
  tensor, u8 or s8 activations, and which ops are quantized.

What was measured with them (bench/quantize/README.md): none is >= 1.3x faster than the
published q8 in onnxruntime-web's WASM backend at >= 99.5% agreement with fp32; ``dyn-u8``
(the published recipe without reduce-range) is as fast and agrees better (99.55% vs 99.01%).

The report gives, for each output, its size, its label agreement with fp32 on a photo folder
through sceneseg's own pipeline (per photo and overall), and its native onnxruntime speed,
measured side by side (alternating runs, median). Browser (onnxruntime-web WASM) speeds are
added by ``bench/quantize_browser.py``, which rewrites the same report.
"""

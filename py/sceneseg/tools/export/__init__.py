"""``python -m sceneseg export SOURCE --out DIR``: a SegFormer checkpoint in Hugging Face
transformers format (a local folder, or a Hub id already in the local Hugging Face cache) ->
the files ``build.py --model-dir`` and ``python -m sceneseg --model-dir`` take:

    DIR/config.json, preprocessor_config.json, quantize_config.json
    DIR/onnx/model.onnx (fp32), model_fp16.onnx, model_quantized.onnx (8-bit)
    DIR/manifest.json     every file above pinned by size and sha256 (--model DIR/manifest.json)
    DIR/validation.json, validation.md   labels vs PyTorch per precision, native speed

The ONNX files take any input height and width (dynamic axes), as the published ones do.
The 8-bit file is made by a recipe of ``sceneseg.quantize``: ``dyn-u8`` by default (dynamic,
per channel, QUInt8 weights, full range: agrees better with fp32 than the published recipe
at the same speed, bench/quantize/README.md) or ``published`` (transformers.js's
quantize_config.json: reduce-range, its op types). ``quantize_config.json`` records the
recipe used, so ``python -m sceneseg.quantize --schemes q8`` remakes the same file.

Output is atomic: everything is written into a temporary folder beside DIR, validated, and
renamed to DIR at the end; a failed export leaves nothing behind.

CPython only, never imported in Pyodide. torch and transformers are an optional extra
(``pip install -e '.[export]'``), imported only when the command runs.
"""

from __future__ import annotations

import importlib.util

NEEDED = ("torch", "transformers", "onnx", "onnxruntime")


class ExportError(Exception):
    """The export cannot be done; the message says why and what to do."""


def require() -> None:
    """Raise ``ExportError`` naming the missing packages of the ``export`` extra."""
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError(
            f"sceneseg export needs {', '.join(missing)} (not installed): "
            "pip install -e '.[export]' (torch's CPU build is enough: "
            "pip install torch --index-url https://download.pytorch.org/whl/cpu)"
        )

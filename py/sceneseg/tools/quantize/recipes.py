"""The recipes (``SCHEMES``): how each fp16 or 8-bit file is made from the fp32 one."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ...model import ModelInfo
from ...processing import SegformerProcessor, decode

# Node-name patterns (onnxruntime matches nodes_to_exclude by exact name; we expand these
# regular expressions against the graph) for the parts of SegFormer one may keep in float.
ATTENTION_SCORES = r"/attention/MatMul(_1)?$"  # Q·Kᵀ and softmax·V: both inputs are activations
DECODE_HEAD = r"^/m/decode_head/"
CLASSIFIER = r"^/m/decode_head/classifier/"
FIRST_PATCH_EMBED = r"^/m/segformer/stages\.0/patch_embeddings/"
DEPTHWISE = r"/dwconv/"


@dataclass(frozen=True)
class Scheme:
    """One recipe: how to turn the fp32 file into another file."""

    name: str
    kind: str  # "fp16" | "dynamic" | "static"
    description: str
    per_channel: bool = True
    reduce_range: bool = False
    weight_type: str = "QInt8"  # onnxruntime.quantization.QuantType member name
    activation_type: str = "QUInt8"  # static only
    quant_format: str = "QDQ"  # static only: "QDQ" or "QOperator"
    op_types: tuple[str, ...] = ("MatMul", "Conv")
    exclude: tuple[str, ...] = ()  # regular expressions on node names, kept in float
    calibrate_method: str = "MinMax"
    published: bool = False  # op types and settings from the model's quantize_config.json

    @property
    def needs_calibration(self) -> bool:
        return self.kind == "static"


SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in [
        Scheme("fp16", "fp16", "float16 weights and compute, float32 inputs/outputs"),
        Scheme(
            "q8",
            "dynamic",
            "published recipe (quantize_config.json): dynamic, per channel, reduce-range, "
            "QUInt8 weights",
            published=True,
        ),
        Scheme(
            "dyn-s8",
            "dynamic",
            "dynamic, per channel, QInt8 weights, full range, MatMul+Conv",
        ),
        Scheme(
            "dyn-s8-tensor",
            "dynamic",
            "dynamic, per tensor, QInt8 weights, MatMul+Conv",
            per_channel=False,
        ),
        Scheme(
            "dyn-matmul",
            "dynamic",
            "dynamic, per channel, QInt8 weights, MatMul only (Conv stays fp32)",
            op_types=("MatMul",),
        ),
        # onnxruntime-web's WASM build has a SIMD integer GEMM for uint8 x uint8 only; signed
        # weights take a much slower path there (measured: dyn-s8 ~4x slower than q8). So the
        # schemes meant for the browser keep QUInt8 weights, without the reduce-range that
        # only x86 u8s8 kernels need (one more bit of weight precision).
        Scheme(
            "dyn-u8",
            "dynamic",
            "dynamic, per channel, QUInt8 weights, full range, MatMul+Conv",
            weight_type="QUInt8",
        ),
        Scheme(
            "dyn-u8-matmul",
            "dynamic",
            "dynamic, per channel, QUInt8 weights, full range, MatMul only (Conv fp32)",
            weight_type="QUInt8",
            op_types=("MatMul",),
        ),
        Scheme(
            "dyn-u8-nodw",
            "dynamic",
            "dynamic, per channel, QUInt8 weights, full range, MatMul+Conv except depthwise",
            weight_type="QUInt8",
            exclude=(DEPTHWISE,),
        ),
        Scheme(
            "qdq-u8u8",
            "static",
            "static QDQ, u8 activations, u8 per-channel weights, MatMul+Conv",
            weight_type="QUInt8",
        ),
        Scheme(
            "qdq-u8u8-nodw",
            "static",
            "static QDQ, u8 activations, u8 per-channel weights, MatMul+Conv except depthwise",
            weight_type="QUInt8",
            exclude=(DEPTHWISE,),
        ),
        Scheme(
            "qop-u8u8",
            "static",
            "static QOperator (QLinearConv/QLinearMatMul), u8 activations, u8 per-channel "
            "weights, MatMul+Conv",
            weight_type="QUInt8",
            quant_format="QOperator",
        ),
        Scheme(
            "qdq-u8s8",
            "static",
            "static QDQ, u8 activations, s8 per-channel weights, MatMul+Conv",
        ),
        Scheme(
            "qdq-s8s8",
            "static",
            "static QDQ, s8 activations, s8 per-channel weights, MatMul+Conv",
            activation_type="QInt8",
        ),
        Scheme(
            "qdq-u8s8-tensor",
            "static",
            "static QDQ, u8 activations, s8 per-tensor weights, MatMul+Conv",
            per_channel=False,
        ),
        Scheme(
            "qdq-u8s8-conv",
            "static",
            "static QDQ, u8 activations, s8 per-channel weights, Conv only",
            op_types=("Conv",),
        ),
        Scheme(
            "qdq-u8s8-noattn",
            "static",
            "static QDQ, u8/s8 per channel, MatMul+Conv except the attention score MatMuls",
            exclude=(ATTENTION_SCORES,),
        ),
        Scheme(
            "qdq-u8s8-nohead",
            "static",
            "static QDQ, u8/s8 per channel, MatMul+Conv except the decode head",
            exclude=(DECODE_HEAD,),
        ),
        Scheme(
            "qop-u8s8",
            "static",
            "static QOperator (QLinearConv/QLinearMatMul), u8 activations, s8 per-channel "
            "weights, MatMul+Conv",
            quant_format="QOperator",
        ),
    ]
}


def published_settings(model_dir: Path) -> dict:
    """quantize_dynamic keyword arguments from the model's quantize_config.json."""
    from onnxruntime.quantization import QuantType

    cfg = json.loads((Path(model_dir) / "quantize_config.json").read_text(encoding="utf-8"))
    model_cfg = cfg["per_model_config"]["model"]
    return {
        "op_types_to_quantize": list(model_cfg["op_types"]),
        "per_channel": bool(cfg["per_channel"]),
        "reduce_range": bool(cfg["reduce_range"]),
        "weight_type": QuantType[model_cfg["weight_type"]],
    }


def matching_nodes(model_path: Path, patterns: tuple[str, ...]) -> list[str]:
    import re

    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    return [n.name for n in graph.node if any(re.search(p, n.name) for p in patterns)]


class PhotoCalibrationReader:
    """onnxruntime CalibrationDataReader: photos preprocessed exactly as the app does."""

    def __init__(self, photos: list[Path], model: ModelInfo, input_name: str = "pixel_values"):
        self._photos = list(photos)
        self._processor = SegformerProcessor(model.preprocess)
        self._input = input_name
        self._next = 0

    def get_next(self) -> dict | None:
        if self._next >= len(self._photos):
            return None
        path = self._photos[self._next]
        self._next += 1
        return {self._input: self._processor.preprocess(decode(path.read_bytes()))}

    def rewind(self) -> None:
        self._next = 0


def make(
    scheme: Scheme,
    fp32_path: Path,
    out_path: Path,
    *,
    model_dir: Path,
    calibration: list[Path] | None = None,
) -> Path:
    """Write ``scheme`` applied to ``fp32_path`` to ``out_path``."""
    import logging

    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    # onnxruntime.quantization warns on the root logger (pre-processing advice) at every call.
    logging.getLogger().setLevel(logging.ERROR)
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    exclude = matching_nodes(fp32_path, scheme.exclude) if scheme.exclude else None
    if scheme.kind == "fp16":
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16
        from onnxruntime.transformers.onnx_model import OnnxModel

        model = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
        # The converter appends the input's Cast node last; ONNX wants nodes in topological
        # order (onnxruntime sorts on load, onnx.checker and other runtimes do not).
        wrapped = OnnxModel(model)
        wrapped.topological_sort()
        onnx.save(wrapped.model, str(out_path))
    elif scheme.kind == "dynamic":
        if scheme.published:
            settings = published_settings(model_dir)
        else:
            settings = {
                "op_types_to_quantize": list(scheme.op_types),
                "per_channel": scheme.per_channel,
                "reduce_range": scheme.reduce_range,
                "weight_type": QuantType[scheme.weight_type],
            }
        # EnableSubgraph as transformers.js's quantize script passes it (no effect here:
        # SegFormer has no subgraphs), so that the published file is reproduced exactly.
        quantize_dynamic(
            fp32_path,
            out_path,
            nodes_to_exclude=exclude,
            extra_options={"EnableSubgraph": True},
            **settings,
        )
    elif scheme.kind == "static":
        if not calibration:
            raise ValueError(f"{scheme.name} is static: it needs calibration photos")
        reader = PhotoCalibrationReader(calibration, ModelInfo.from_dir(model_dir))
        with tempfile.TemporaryDirectory() as tmp:
            # Per-channel QDQ needs DequantizeLinear's axis (opset 13); onnxruntime's
            # pre-processing (shape inference + basic graph optimisation) is what its
            # documentation asks for before static quantization.
            import onnx
            from onnx import version_converter
            from onnxruntime.quantization import quant_pre_process

            prepared = Path(tmp) / "prepared.onnx"
            quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=False)
            model = onnx.load(str(prepared))
            if opset(model) < 13:
                onnx.save(version_converter.convert_version(model, 13), str(prepared))
            quantize_static(
                prepared,
                out_path,
                reader,
                quant_format=QuantFormat[scheme.quant_format],
                op_types_to_quantize=list(scheme.op_types),
                per_channel=scheme.per_channel,
                reduce_range=scheme.reduce_range,
                activation_type=QuantType[scheme.activation_type],
                weight_type=QuantType[scheme.weight_type],
                nodes_to_exclude=exclude,
                calibrate_method=CalibrationMethod[scheme.calibrate_method],
                extra_options={"ActivationSymmetric": scheme.activation_type == "QInt8"},
            )
    else:
        raise ValueError(f"unknown scheme kind {scheme.kind!r}")
    return out_path


def opset(model) -> int:
    """The default-domain opset of an ``onnx`` model."""
    return max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def output_name(scheme: str) -> str:
    return f"model_{scheme.replace('-', '_')}.onnx"

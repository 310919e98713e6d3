"""Reading a SegFormer checkpoint (refusing anything else) and writing its ONNX files."""

from __future__ import annotations

import json
from pathlib import Path

from . import ExportError

# SegformerImageProcessor's defaults, for a checkpoint without a preprocessor_config.json.
DEFAULT_PREPROCESSOR = {
    "do_normalize": True,
    "do_reduce_labels": False,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.485, 0.456, 0.406],
    "image_processor_type": "SegformerImageProcessor",
    "image_std": [0.229, 0.224, 0.225],
    "resample": 2,
    "rescale_factor": 1 / 255,
    "size": {"height": 512, "width": 512},
}

# transformers.js's quantize_config.json for SegFormer (the published q8 files' recipe; equal
# to the real B0's, ../shared/reference/xenova_b0_quantize_config.json).
PUBLISHED_QUANTIZE_CONFIG = {
    "per_channel": True,
    "reduce_range": True,
    "per_model_config": {
        "model": {
            "op_types": [
                "Reshape", "Sqrt", "Unsqueeze", "Pow", "Mul", "Slice", "Gather", "Sub", "Relu",
                "Resize", "Softmax", "ReduceMean", "Add", "MatMul", "Erf", "Div", "Constant",
                "Transpose", "Conv", "Shape", "Cast", "Concat",
            ],
            "weight_type": "QUInt8",
        }
    },
}  # fmt: skip

# The 8-bit recipes --recipe offers: name -> sceneseg.quantize scheme.
RECIPES = {"dyn-u8": "dyn-u8", "published": "q8"}


def quantize_config(recipe: str) -> dict:
    """quantize_config.json for a recipe, in transformers.js's format (plus "recipe")."""
    if recipe == "published":
        return {**PUBLISHED_QUANTIZE_CONFIG, "recipe": "published"}
    from ..quantize.recipes import SCHEMES

    scheme = SCHEMES[RECIPES[recipe]]
    return {
        "per_channel": scheme.per_channel,
        "reduce_range": scheme.reduce_range,
        "per_model_config": {
            "model": {"op_types": list(scheme.op_types), "weight_type": scheme.weight_type}
        },
        "recipe": recipe,
    }


def load(source: str):
    """(model in eval mode, preprocessor config dict, notes). ``ExportError`` for anything
    that is not a SegFormer semantic-segmentation checkpoint."""
    import transformers
    from transformers import AutoConfig, SegformerForSemanticSegmentation

    transformers.logging.set_verbosity_error()
    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(
            f"cannot read a model config from {source!r}: {first}\n"
            "SOURCE is a folder with config.json and the weights (model.safetensors or "
            "pytorch_model.bin), or a Hugging Face id already downloaded (offline: "
            "HF_HUB_OFFLINE=1 uses the local cache)"
        ) from None
    model_type = getattr(config, "model_type", None)
    architectures = list(getattr(config, "architectures", None) or [])
    if model_type != "segformer":
        raise ExportError(
            f"{source} is a {model_type!r} model ({', '.join(architectures) or 'no architecture'}"
            "), not SegFormer: sceneseg export takes SegFormer semantic-segmentation "
            "checkpoints only (config.json model_type 'segformer', "
            "SegformerForSemanticSegmentation), whose pipeline the app reproduces exactly"
        )
    if architectures and "SegformerForSemanticSegmentation" not in architectures:
        raise ExportError(
            f"{source} is a SegFormer {', '.join(architectures)}, not a semantic-segmentation "
            "model: its decode head would be random. Export a checkpoint fine-tuned for "
            "segmentation (SegformerForSemanticSegmentation)"
        )
    notes = []
    preprocessor = _preprocessor_config(source)
    if preprocessor is None:
        preprocessor = dict(DEFAULT_PREPROCESSOR)
        notes.append(
            "no preprocessor_config.json in the source: SegformerImageProcessor's defaults "
            "written (512x512, ImageNet mean/std)"
        )
    model = SegformerForSemanticSegmentation.from_pretrained(
        source, torch_dtype="float32", attn_implementation="eager"
    )
    return model.eval(), preprocessor, notes


def _preprocessor_config(source: str) -> dict | None:
    local = Path(source) / "preprocessor_config.json"
    if local.is_file():
        return json.loads(local.read_text(encoding="utf-8"))
    if Path(source).is_dir():
        return None
    from transformers.utils import cached_file

    try:
        path = cached_file(
            source, "preprocessor_config.json", _raise_exceptions_for_missing_entries=False
        )
    except OSError:
        return None
    return json.loads(Path(path).read_text(encoding="utf-8")) if path else None


def export_fp32(model, path: Path, height: int, width: int) -> None:
    """The published files' interface: ``pixel_values`` [batch, 3, H, W] -> ``logits``
    [batch, classes, H/4, W/4], batch, height and width dynamic."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, pixel_values):
            return self.model(pixel_values=pixel_values).logits

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        Logits().eval(),
        (torch.zeros(1, 3, height, width),),
        str(path),
        input_names=["pixel_values"],
        output_names=["logits"],
        opset_version=17,
        dynamo=False,
        dynamic_axes={
            "pixel_values": {0: "batch_size", 2: "height", 3: "width"},
            "logits": {0: "batch_size", 2: "logits_height", 3: "logits_width"},
        },
    )

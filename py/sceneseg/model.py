"""What the pipeline needs to know about a model: class names, colours, preprocessing.

Everything comes from the model's own Hugging Face files (``config.json`` for ``id2label``,
``preprocessor_config.json`` for size, rescale and normalisation), so a model variant
(B1..B5, another dataset) is a manifest entry and not a code change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .palette import label_set, palette_for

# Pillow's resampling filter numbers, as stored in preprocessor_config.json "resample".
PIL_BILINEAR = 2


@dataclass(frozen=True)
class PreprocessConfig:
    """``SegformerImageProcessor`` settings (Hugging Face ``image_processing_segformer.py``)."""

    height: int = 512
    width: int = 512
    resample: int = PIL_BILINEAR
    rescale_factor: float = 1 / 255
    image_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    image_std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    @classmethod
    def from_dict(cls, cfg: dict) -> PreprocessConfig:
        for flag in ("do_resize", "do_rescale", "do_normalize"):
            if cfg.get(flag, True) is not True:
                raise ValueError(f"preprocessor_config.json: {flag}=false is not supported")
        size = cfg.get("size", {"height": 512, "width": 512})
        if isinstance(size, int):  # older files: one number for a square (HF's get_size_dict)
            size = {"height": size, "width": size}
        return cls(
            height=int(size["height"]),
            width=int(size["width"]),
            resample=int(cfg.get("resample", PIL_BILINEAR)),
            rescale_factor=float(cfg.get("rescale_factor", 1 / 255)),
            image_mean=tuple(float(v) for v in cfg.get("image_mean", cls.image_mean)),
            image_std=tuple(float(v) for v in cfg.get("image_std", cls.image_std)),
        )


@dataclass(frozen=True)
class ModelInfo:
    """Class names, colours and preprocessing of one segmentation model."""

    labels: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]
    preprocess: PreprocessConfig
    # 'ade20k', 'cityscapes' or 'custom' (palette.label_set): colours and class groups follow.
    label_set: str = "ade20k"
    # The annotation convention (evaluation): True: 0 = ignored, k = class k-1 (ADE20K's,
    # Hugging Face's do_reduce_labels); False: pixel = class id, 255 = ignored (Cityscapes'
    # trainIds, and any other label set's).
    reduce_labels: bool = True

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @classmethod
    def from_configs(cls, config: dict, preprocessor_config: dict) -> ModelInfo:
        id2label = config["id2label"]
        # Names are stripped: ADE20K's config has "bed " with a trailing space.
        count = int(config.get("num_labels", len(id2label)))
        if len(id2label) != count:
            raise ValueError(f"config.json: num_labels {count} but {len(id2label)} in id2label")
        labels = tuple(str(id2label[str(i)]).strip() for i in range(count))
        if not 1 <= count <= 255:  # label maps are 8-bit, 255 kept for 'unlabelled'
            raise ValueError(f"config.json: {count} classes; 1 to 255 are supported")
        kind = label_set(labels)
        return cls(
            labels=labels,
            colors=palette_for(labels),
            preprocess=PreprocessConfig.from_dict(preprocessor_config),
            label_set=kind,
            reduce_labels=bool(preprocessor_config.get("do_reduce_labels", kind == "ade20k")),
        )

    @classmethod
    def from_json(cls, config_json: str, preprocessor_config_json: str) -> ModelInfo:
        return cls.from_configs(json.loads(config_json), json.loads(preprocessor_config_json))

    @classmethod
    def from_dir(cls, model_dir: str | Path) -> ModelInfo:
        d = Path(model_dir)
        return cls.from_json(
            (d / "config.json").read_text(encoding="utf-8"),
            (d / "preprocessor_config.json").read_text(encoding="utf-8"),
        )

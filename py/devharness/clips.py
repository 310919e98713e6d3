"""Short real clips for the video tests and benchmarks, made from a real photo: a slow pan over
rocket.jpg (or another photo), written as YUV4MPEG2 (Chromium's fake camera reads it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def pan_frames(photo: Path, count: int, size=(640, 360), step: int = 2) -> list[np.ndarray]:
    """``count`` RGB frames of ``size``, the crop window moving ``step`` pixels right each frame."""
    image = Image.open(photo).convert("RGB")
    width, height = size
    scale = max(height / image.height, (width + step * count) / image.width)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
    pixels = np.asarray(image)
    return [pixels[:height, i * step : i * step + width] for i in range(count)]


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 30) -> Path:
    """YUV 4:2:0 (Pillow's YCbCr, chroma averaged over 2x2), as Chromium's file camera reads."""
    height, width = frames[0].shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for rgb in frames:
            ycbcr = np.asarray(Image.fromarray(rgb).convert("YCbCr"), dtype=np.float32)
            out.write(b"FRAME\n")
            out.write(ycbcr[..., 0].astype(np.uint8).tobytes())
            for c in (1, 2):
                plane = ycbcr[..., c].reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))
                out.write(np.round(plane).astype(np.uint8).tobytes())
    return path

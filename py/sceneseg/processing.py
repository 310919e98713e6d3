"""Decode and preprocess, step for step as Hugging Face's ``SegformerImageProcessor`` (PIL path).

    decode        bytes -> PIL image, EXIF orientation applied, converted to RGB
    preprocess    resize to 512x512 (Pillow bilinear, aspect ratio not kept), or to the size
                  ``sceneseg.resolution`` plans for the keep/detail modes
                  -> rescale by 1/255 -> normalise with ImageNet mean/std
                  -> channels first, float32, batch of one: [1, 3, 512, 512]

Bad input raises ``ImageError`` with a message meant for the person who picked the file.
"""

from __future__ import annotations

import io
import warnings

import numpy as np

# The readers of the formats the app reads (*ImagePlugin), imported to register them, so that
# Image.open needs no other: MpoImagePlugin for the multi-picture JPEGs some cameras save (JPEG's
# reader hands them on).
from PIL import (  # noqa: F401
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageOps,
    JpegImagePlugin,
    MpoImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,
)

from .model import PreprocessConfig

# Largest photo accepted, in pixels. 50 MP covers phone and most camera photos; the label
# map alone is one byte a pixel and the browser also holds the decoded photo, so larger
# images would exhaust a tab's memory.
MAX_PIXELS = 50_000_000
# The formats the app reads, and the only ones Image.open tries: Pillow's ~40 other readers
# (PSD, EPS, FITS, ...) never parse a picked file, and the browser's Python bundle, which ships
# only what its flows import (sitebuild/python_trim.py), leaves them out.
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")


class ImageError(ValueError):
    """The input is not an image this pipeline can segment; ``str()`` says why, for a user."""


def decode(data: bytes | bytearray | memoryview, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode an encoded image into an upright RGB Pillow image."""
    if len(data) == 0:
        raise ImageError("The file is empty (0 bytes).")
    try:
        with warnings.catch_warnings():
            # Our own limit below replaces Pillow's decompression-bomb warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        raise ImageError(_unreadable_message(data)) from None
    except Image.DecompressionBombError:
        raise ImageError(_too_large_message(None, max_pixels)) from None
    except (OSError, SyntaxError, ValueError) as exc:  # a header cut short or damaged
        raise ImageError(f"The image is damaged or incomplete ({exc}).") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(_too_large_message((width, height), max_pixels))
    if width == 0 or height == 0:
        raise ImageError("The image has no pixels.")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"The image is damaged or incomplete ({exc}).") from None
    # Users expect the mask to line up with the photo they see: apply EXIF orientation. In
    # place: otherwise an untagged photo is copied (48 MB more at 12 MP, in Pyodide's heap,
    # which never shrinks).
    ImageOps.exif_transpose(image, in_place=True)
    return to_rgb(image)


# ISO base media file brands (the 'ftyp' box) of the phone formats that Pyodide's Pillow 10.2
# cannot decode: iPhones save HEIC by default, and AVIF is spreading. Naming the format tells
# the user what to do, where "not an image" would only confuse them.
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_SUPPORTED = "JPEG, PNG, WebP, GIF, BMP and TIFF can be read"


def _unreadable_message(data: bytes | bytearray | memoryview) -> str:
    head = bytes(data[:64])
    if head[4:8] == b"ftyp":
        # Major brand, then the compatible brands, 4 bytes each after the minor version.
        size = int.from_bytes(head[:4], "big")
        brands = {head[i : i + 4] for i in range(8, min(size, len(head)), 4)} - {head[12:16]}
        if brands & _AVIF_BRANDS:
            return f"AVIF images cannot be read here yet; save it as JPEG or PNG ({_SUPPORTED})."
        if brands & _HEIF_BRANDS:
            return (
                "HEIC/HEIF photos (the iPhone's default format) cannot be read here yet; "
                "export it as JPEG first (on an iPhone: Settings > Camera > Formats > "
                "Most Compatible)."
            )
    if head[:4] in (b"II*\0", b"MM\0*"):
        # TIFF is a container of many layouts and compressions; Pillow reads the common ones.
        return (
            "This TIFF file uses a layout or compression that cannot be read here, or is "
            "damaged; save it as PNG or JPEG and try again."
        )
    return f"This file is not an image format that can be read here ({_SUPPORTED})."


def _too_large_message(size: tuple[int, int] | None, max_pixels: int) -> str:
    what = f"{size[0]}x{size[1]} pixels" if size else "too many pixels"
    return f"The image is too large ({what}); the limit is {max_pixels / 1e6:.0f} megapixels."


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert to RGB the way Pillow's ``convert("RGB")`` does.

    One exception: 16- and 32-bit greyscale ("I;16", "I") would be clipped to white by
    ``convert``; they are scaled to 8 bits first so the photo still looks like itself.
    """
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I;16") or image.mode == "I":
        pixels = np.asarray(image, dtype=np.uint32)
        shift = 8 if pixels.max(initial=0) <= 0xFFFF else 24
        image = Image.fromarray((pixels >> shift).astype(np.uint8), mode="L")
    elif image.mode == "F":
        image = image.convert("L")
    return image.convert("RGB")


class SegformerProcessor:
    """Turns an RGB image into the model's ``pixel_values``."""

    def __init__(self, config: PreprocessConfig):
        self.config = config
        # Fold rescale and normalise into one multiply-add per channel, in float32:
        # x * (rescale / std) - mean / std == (x * rescale - mean) / std.
        std = np.asarray(config.image_std, dtype=np.float64)
        mean = np.asarray(config.image_mean, dtype=np.float64)
        self._scale = (config.rescale_factor / std).astype(np.float32).reshape(3, 1, 1)
        self._offset = (mean / std).astype(np.float32).reshape(3, 1, 1)

    def resize(self, image: Image.Image, size: tuple[int, int] | None = None) -> Image.Image:
        """``size``: (width, height); default the model's own (the ``square`` resolution)."""
        size = size or (self.config.width, self.config.height)
        return image.resize(size, resample=self.config.resample)

    def preprocess(self, image: Image.Image, size: tuple[int, int] | None = None) -> np.ndarray:
        """RGB image -> float32 [1, 3, H, W], C-contiguous (ready to hand to a runtime);
        ``size`` (width, height) as ``resize`` (``sceneseg.resolution`` plans it)."""
        return self.normalize(np.asarray(self.resize(image, size)))

    def normalize(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 [H, W, 3] (the resized image, or a window of it) -> float32 [1, 3, H, W]:
        element by element, so a window normalised alone equals that window of the whole."""
        chw = pixels.transpose(2, 0, 1)
        out = np.empty((1, *chw.shape), dtype=np.float32)
        np.multiply(chw, self._scale, out=out[0])  # (uint8 * float32 is computed in float32)
        out[0] -= self._offset
        return out

"""Decode and preprocess against independent computations (Hugging Face's own processor)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from conftest import PHOTOS, STANDIN_DIR
from sceneseg.processing import ImageError, SegformerProcessor, decode


@pytest.fixture(scope="module")
def processor(model_info):
    return SegformerProcessor(model_info.preprocess)


@pytest.fixture(scope="module")
def hf_processor():
    from transformers import SegformerImageProcessorPil

    return SegformerImageProcessorPil.from_pretrained(str(STANDIN_DIR))


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **params)
    return buf.getvalue()


@pytest.mark.parametrize("photo", PHOTOS, ids=lambda p: p.name)
def test_preprocess_matches_hugging_face(photo, processor, hf_processor):
    image = decode(photo.read_bytes())
    ours = processor.preprocess(image)
    reference = hf_processor(images=image, return_tensors="np")["pixel_values"]
    assert ours.shape == reference.shape == (1, 3, 512, 512)
    assert ours.dtype == np.float32 and ours.flags.c_contiguous
    np.testing.assert_allclose(ours, reference, rtol=0, atol=2e-6)


def test_preprocess_reference_steps_by_hand(processor):
    """The spec's steps written out with numpy, on a non-square image (aspect not kept)."""
    rng = np.random.default_rng(3)
    image = Image.fromarray(rng.integers(0, 256, (37, 91, 3), dtype=np.uint8))
    resized = np.asarray(image.resize((512, 512), Image.BILINEAR), dtype=np.float64)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    expected = ((resized / 255.0 - mean) / std).transpose(2, 0, 1)[None]
    np.testing.assert_allclose(processor.preprocess(image), expected, rtol=0, atol=2e-6)


def test_exif_orientation_is_applied():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (40, 64, 3), dtype=np.uint8)
    plain = encode(Image.fromarray(pixels), "PNG")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    rotated = encode(Image.fromarray(pixels), "PNG", exif=exif.tobytes())
    assert decode(plain).size == (64, 40)
    upright = np.asarray(decode(rotated))
    assert upright.shape == (64, 40, 3)
    np.testing.assert_array_equal(upright, np.rot90(pixels, k=-1))


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "1"])
def test_colour_modes_convert_like_pillow(mode):
    rng = np.random.default_rng(1)
    source = Image.fromarray(rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    data = encode(source, fmt)
    reference = Image.open(io.BytesIO(data)).convert("RGB")
    decoded = decode(data)
    assert decoded.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(decoded), np.asarray(reference))


def test_16_bit_greyscale_keeps_its_tones():
    ramp = (np.arange(256 * 8, dtype=np.uint32).reshape(8, 256) * 32).astype(np.uint16)
    decoded = np.asarray(decode(encode(Image.fromarray(ramp), "PNG")))
    np.testing.assert_array_equal(decoded[..., 0], (ramp >> 8).astype(np.uint8))


def test_gif_and_webp_decode():
    image = Image.fromarray(np.full((12, 10, 3), 200, np.uint8))
    for fmt in ("GIF", "WEBP", "BMP", "TIFF"):
        assert decode(encode(image, fmt)).size == (10, 12)


def test_only_the_six_formats_are_read():
    # decode() reads JPEG (MPO too: a camera's multi-picture JPEG), PNG, WebP, GIF, BMP and
    # TIFF; a format Pillow knows but the app does not claim is refused in the same words as an
    # unknown one, never parsed (processing.FORMATS).
    image = Image.fromarray(np.arange(12 * 10 * 3, dtype=np.uint8).reshape(12, 10, 3))
    mpo = io.BytesIO()
    image.save(mpo, "MPO", save_all=True, append_images=[image.rotate(180)])
    assert mpo.getvalue()[:2] == b"\xff\xd8"
    assert decode(mpo.getvalue()).size == (10, 12)
    for fmt in ("TGA", "PCX", "ICO", "PPM"):
        with pytest.raises(ImageError, match="not an image format that can be read here"):
            decode(encode(image, fmt))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"this is a text file, not a photo\n" * 10, "not an image format"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 50, "not an image format"),
        # An iPhone photo's first box; Pillow has no HEIF decoder here or in Pyodide.
        (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 64, "HEIC/HEIF photos"),
        # A TIFF Pillow cannot identify is told so, not that "TIFF can be read".
        (b"II*\0\x08\0\0\0" + b"\xff" * 40, r"^This TIFF file uses a layout or compression"),
    ],
    ids=["zero-bytes", "text", "bad-png-header", "heic", "unreadable-tiff"],
)
def test_bad_input_has_a_clear_message(data, message):
    with pytest.raises(ImageError, match=message):
        decode(data)


@pytest.mark.parametrize("keep", [0.5, 300], ids=["half", "header-cut-short"])
def test_truncated_jpeg(keep):
    photo = next(p for p in PHOTOS if p.suffix == ".jpg").read_bytes()
    # Cut in the pixels, Pillow fails in load(); cut in the header, already in open().
    size = int(len(photo) * keep) if keep < 1 else keep
    with pytest.raises(ImageError, match="damaged or incomplete"):
        decode(photo[:size])


def test_huge_image_is_refused_before_decoding():
    # 10000 x 6000 = 60 MP of zeros: tiny as PNG, over the 50 MP limit.
    data = encode(Image.new("L", (10000, 6000)), "PNG", compress_level=1)
    with pytest.raises(ImageError, match=r"too large \(10000x6000 pixels\).*50 megapixels"):
        decode(data)

"""Video frames (sceneseg.video): pixels in, smoothing of logits across frames, scene cuts.
Native onnxruntime, the same model file as the browser; references computed independently."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from PIL import Image

from conftest import SHARED, native_segmenter
from sceneseg.postprocess import upsample_argmax
from sceneseg.processing import SegformerProcessor
from sceneseg.video import VideoSegmenter, flicker, normalise

SIZE = 256


def frames_of(photo: str, size: int = SIZE) -> np.ndarray:
    image = Image.open(SHARED / "photos" / photo).convert("RGB").resize((size, size))
    return np.asarray(image)


def noisy_static(count: int, sigma: float = 6.0, seed: int = 0) -> list[np.ndarray]:
    """A static scene filmed by a noisy sensor: the same photo plus fresh noise each frame."""
    rng = np.random.default_rng(seed)
    base = frames_of("rocket.jpg").astype(np.float32)
    return [
        np.clip(base + rng.normal(0, sigma, base.shape), 0, 255).astype(np.uint8)
        for _ in range(count)
    ]


def video_segmenter(precision: str = "q8") -> VideoSegmenter:
    seg = native_segmenter(precision)
    return VideoSegmenter(seg.backend, seg.model.preprocess, seg.model.num_classes)


def per_frame_labels(pixels: np.ndarray, precision: str = "q8") -> np.ndarray:
    """Independent per-frame reference: the photo pipeline's processor at the frame's size,
    the model, then the exact upsampling."""
    seg = native_segmenter(precision)
    config = dataclasses.replace(
        seg.model.preprocess, height=pixels.shape[0], width=pixels.shape[1]
    )
    inputs = SegformerProcessor(config).preprocess(Image.fromarray(pixels[..., :3]))
    logits = seg.backend.run_sync(inputs)
    return upsample_argmax(logits, *pixels.shape[:2])


def test_normalise_equals_the_photo_processor_at_that_size(model_info):
    pixels = frames_of("coffee.png", 96)
    rgba = np.dstack([pixels, np.full(pixels.shape[:2], 255, np.uint8)])
    config = dataclasses.replace(model_info.preprocess, height=96, width=96)
    expected = SegformerProcessor(config).preprocess(Image.fromarray(pixels))
    np.testing.assert_array_equal(normalise(rgba, config), expected)
    np.testing.assert_array_equal(normalise(pixels, config), expected)


@pytest.mark.parametrize("shape", [(256, 256), (256, 448), (320, 320)])
def test_model_takes_other_input_sizes(shape):
    seg = native_segmenter("q8")
    logits = seg.backend.run_sync(np.zeros((1, 3, *shape), np.float32))
    assert logits.shape == (1, 150, shape[0] // 4, shape[1] // 4)


def test_alpha_one_equals_per_frame_results():
    frames = [*noisy_static(4), frames_of("coffee.png")]
    video = video_segmenter()
    for pixels in frames:
        rgba = np.dstack([pixels, np.full(pixels.shape[:2], 255, np.uint8)])
        got = video.segment_frame_sync(rgba, alpha=1.0).labels
        np.testing.assert_array_equal(got, per_frame_labels(pixels))


def test_smoothing_is_the_ema_of_logits():
    frames = noisy_static(3)
    seg = native_segmenter("q8")
    logits = [seg.backend.run_sync(normalise(f, seg.model.preprocess)) for f in frames]
    expected = logits[0]
    for current in logits[1:]:
        expected = 0.6 * current + 0.4 * expected  # float64 reference
    video = video_segmenter()
    for pixels in frames:
        result = video.segment_frame_sync(pixels, alpha=0.6, out_size=(64, 64))
    np.testing.assert_allclose(video.smoother._state, expected, rtol=0, atol=1e-4)
    assert not result.cut
    np.testing.assert_array_equal(result.labels, upsample_argmax(video.smoother._state, 64, 64))


def test_smoothing_lowers_flicker_on_a_noisy_static_scene():
    frames = noisy_static(8, sigma=10.0)
    figures = {}
    for alpha in (1.0, 0.6, 0.3):
        video = video_segmenter()
        labels = [video.segment_frame_sync(f, alpha=alpha).labels for f in frames]
        figures[alpha] = np.mean([flicker(a, b) for a, b in itertools.pairwise(labels)])
    print(f"flicker (share of pixels changing label per frame) by alpha: {figures}")
    assert figures[1.0] > 0, "the noise should move some boundary pixels without smoothing"
    assert figures[0.6] < figures[1.0]
    assert figures[0.3] < figures[0.6]


def test_scene_cut_and_reset_start_afresh():
    video = video_segmenter()
    rocket, coffee = frames_of("rocket.jpg"), frames_of("coffee.png")
    assert video.segment_frame_sync(rocket).cut  # first frame
    assert not video.segment_frame_sync(noisy_static(1)[0]).cut  # the same scene, noise
    cut = video.segment_frame_sync(coffee, alpha=0.6)
    assert cut.cut
    np.testing.assert_array_equal(cut.labels, per_frame_labels(coffee))  # nothing of the rocket
    again = video.segment_frame_sync(coffee, alpha=0.6, reset=True)  # e.g. a seek
    assert again.cut
    np.testing.assert_array_equal(again.labels, per_frame_labels(coffee))

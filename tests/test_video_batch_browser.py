"""Video, camera and batch modes of the built site in headless Chromium: frames from a fake
camera playing a real clip and from a WebM file, per-frame labels vs CPython on the same
pixels, smoothing vs flicker, a refused camera, and a batch with a bad file, a 12 MP photo
and a zip compared with the CPython pipeline."""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import itertools
import json
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_browser import browser_decode, canvas_pixels
from test_video import noisy_static, per_frame_labels

from conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PHOTOS,
    SHARED,
    AppPage,
    native_segmenter,
    open_app,
)
from devharness import pan_frames, write_y4m
from sceneseg.outputs import SHARES_COLUMNS, summary_problems
from sceneseg.palette import ADE20K_PALETTE
from sceneseg.video import flicker

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PALETTE = np.asarray(ADE20K_PALETTE, dtype=np.uint8)
FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


def wait_for(check, timeout: float = 120, what: str = "condition"):
    """Poll ``check()`` until it returns a truthy value (the page's CSP forbids the string
    predicates of Playwright's wait_for_function)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def frames_shown(page) -> int:
    return int(page.get_attribute("#video", "data-frames") or 0)


@contextlib.contextmanager
def chromium(playwright, *args: str):
    """A browser of its own, launched with more command-line flags."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *args])
    try:
        yield browser
    finally:
        browser.close()


def assert_overlay_in_class_colours(page):
    overlay = canvas_pixels(page, "#video-overlay")
    assert overlay.shape[0] > 0 and overlay.shape[1] > 0
    colours = overlay[..., :3].reshape(-1, 3)
    in_palette = (colours[:, None, :] == PALETTE[None, :, :]).all(axis=2).any(axis=1)
    assert in_palette.all(), "every overlay pixel is a class colour"
    return overlay


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory) -> Path:
    """A slow pan over a real photo, 640x360, 2 s at 30 frames a second."""
    path = tmp_path_factory.mktemp("camera") / "pan.y4m"
    return write_y4m(path, pan_frames(SHARED / "photos" / "rocket.jpg", 60))


def test_fake_camera_frames_are_segmented(playwright, site_url, camera_clip):
    clip = f"--use-file-for-fake-video-capture={camera_clip}"
    with chromium(playwright, *FAKE_CAMERA, clip) as browser:
        app = open_app(browser, site_url)
        page = app.page
        page.click("#modes [data-mode=video]")
        assert page.is_hidden("main.result") and page.is_visible("#video")
        page.select_option("#video-size", "256")
        page.click("#video-camera")
        wait_for(lambda: frames_shown(page) >= 5, what="5 camera frames")
        assert page.is_hidden("#video-error")
        size = page.locator("#video-player").evaluate("v => [v.videoWidth, v.videoHeight]")
        assert size == [640, 360]
        stats = page.locator("#video-stats")
        assert stats.get_attribute("data-input") == "256×256"
        assert float(stats.get_attribute("data-fps")) > 0
        print("camera:", stats.inner_text())
        overlay = assert_overlay_in_class_colours(page)
        assert overlay.shape[:2] == (256, 256)
        # The overlay covers the video on screen, at its display size.
        boxes = [page.locator(s).bounding_box() for s in ("#video-player", "#video-overlay")]
        assert boxes[0] == boxes[1]
        # Per-frame class shares, written by Python in the batches' layout: one row per frame
        # and class, the frame named '<video>#t=<seconds>'; a frame's pixels fill it.
        with page.expect_download() as download:
            page.click("#video-shares-csv")
        assert download.value.suggested_filename == "camera-class-shares.csv"
        rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
        assert rows and list(rows[0]) == list(SHARES_COLUMNS)
        assert {r["class"] for r in rows} <= set(native_segmenter("q8").model.labels)
        assert all(re.fullmatch(r"camera#t=\d+\.\d{3}", r["photo"]) for r in rows)
        first = [r for r in rows if r["photo"] == rows[0]["photo"]]
        assert sum(float(r["share"]) for r in first) == pytest.approx(1, abs=1e-4)
        assert sum(int(r["pixels"]) for r in first) == 256 * 256  # the labels' size
        assert app.errors == []


def test_refused_and_missing_camera_get_their_messages(playwright, site_url):
    cases = [
        # Fake devices, but no auto-accept: the permission not granted, the request is refused.
        ([FAKE_CAMERA[0]], {"permissions": []}, "Camera access was refused"),
        # Auto-accept, but no camera at all (no fake device on a machine without one).
        ([FAKE_CAMERA[1]], {}, "No camera was found"),
    ]
    for flags, context, message in cases:
        with chromium(playwright, *flags) as browser:
            page = open_app(browser, site_url, **context).page
            page.click("#modes [data-mode=video]")
            page.click("#video-camera")
            page.wait_for_selector("#video-error:not([hidden])", timeout=30_000)
            assert message in page.inner_text("#video-error")
    # The mode still works: a video file can be chosen afterwards (checked elsewhere).


# A WebM made by the browser's own MediaRecorder: a canvas panning over a real photo.
RECORD_WEBM = """async (jpeg) => {
    const bytes = Uint8Array.from(atob(jpeg), (c) => c.charCodeAt(0));
    const image = await createImageBitmap(new Blob([bytes], { type: 'image/jpeg' }));
    const canvas = document.createElement('canvas');
    canvas.width = 320; canvas.height = 180;
    const context = canvas.getContext('2d');
    const stream = canvas.captureStream(30);
    const recorder = new MediaRecorder(stream, { mimeType: 'video/webm;codecs=vp8' });
    const chunks = [];
    recorder.ondataavailable = (e) => chunks.push(e.data);
    const stopped = new Promise((r) => (recorder.onstop = r));
    recorder.start();
    const start = performance.now();
    while (performance.now() - start < 2000) {
        const x = ((performance.now() - start) / 2000) * (image.width - image.height * 16 / 9);
        context.drawImage(image, x, 0, image.height * 16 / 9, image.height, 0, 0, 320, 180);
        await new Promise((r) => setTimeout(r, 33));
    }
    recorder.stop();
    await stopped;
    const webm = new Uint8Array(await new Blob(chunks).arrayBuffer());
    let text = '';
    for (const b of webm) text += String.fromCharCode(b);
    return btoa(text);
}"""


def test_video_file_pause_step_and_export(app_context, site_url, tmp_path):
    app = AppPage(app_context.new_page(), site_url)
    page = app.page
    photo = SHARED / "photos" / "rocket.jpg"
    jpeg = base64.b64encode(photo.read_bytes()).decode()  # the page's CSP allows no data: fetch
    webm = tmp_path / "pan.webm"
    webm.write_bytes(base64.b64decode(page.evaluate(RECORD_WEBM, jpeg)))
    assert webm.read_bytes()[:4] == b"\x1a\x45\xdf\xa3"  # EBML: a WebM file

    page.click("#modes [data-mode=video]")
    page.select_option("#video-size", "256s")
    page.set_input_files("#video-file", str(webm))
    wait_for(lambda: frames_shown(page) >= 3, what="3 video frames")
    stats = page.locator("#video-stats")
    assert stats.get_attribute("data-input") == "448×256"  # short side 256, 16:9, stride 32
    assert_overlay_in_class_colours(page)

    page.click("#video-record")
    shown = frames_shown(page)
    wait_for(lambda: frames_shown(page) >= shown + 3, what="frames while recording")
    page.click("#video-record")
    page.wait_for_selector("#video-download[aria-disabled=false]", timeout=30_000)
    with page.expect_download() as download:
        page.click("#video-download")
    recorded = Path(download.value.path()).read_bytes()
    assert recorded[:4] == b"\x1a\x45\xdf\xa3" and len(recorded) > 1000

    # Pause: frames stop; step: exactly one more frame each press.
    page.click("#video-pause")
    time.sleep(1.5)
    paused_at = frames_shown(page)
    time.sleep(1.0)
    assert frames_shown(page) == paused_at
    for n in (1, 2):
        page.click("#video-step")
        wait_for(lambda n=n: frames_shown(page) == paused_at + n, what="one stepped frame")
    time.sleep(1.0)
    assert frames_shown(page) == paused_at + 2

    with page.expect_download() as download:
        page.click("#video-shares-json")
    records = json.loads(Path(download.value.path()).read_text())
    frames = {}
    for r in records:
        assert set(r) == set(SHARES_COLUMNS) and re.fullmatch(r"pan#t=\d+\.\d{3}", r["photo"])
        frames.setdefault(r["photo"], []).append(r)
    assert len(frames) >= 3
    # One row set per video time (a looping clip comes back to the same times), in time order.
    times = [float(photo.split("#t=")[1]) for photo in frames]
    assert times == sorted(times)
    for rows in frames.values():
        assert sum(r["pixels"] for r in rows) == rows[0]["width"] * rows[0]["height"]
        assert sum(r["share"] for r in rows) == pytest.approx(1)
    assert app.errors == []
    page.close()


# The library's frame path in the page itself, on frames given as exact RGB pixels.
SEGMENT_FRAMES = """async ({frames, width, height, alpha, reset, precision}) => {
    const { createSegmenter } = await import('./lib/sceneseg.js');
    window.frameSegmenter ??= {};
    const segmenter = (window.frameSegmenter[precision] ??= createSegmenter({ precision }));
    await segmenter.ready;
    const out = [];
    for (const b64 of frames) {
        const rgb = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const rgba = new Uint8ClampedArray(width * height * 4);
        for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
            rgba[j] = rgb[i]; rgba[j + 1] = rgb[i + 1]; rgba[j + 2] = rgb[i + 2]; rgba[j + 3] = 255;
        }
        const bitmap = await createImageBitmap(new ImageData(rgba, width, height),
            { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
        const result = await segmenter.segmentFrame(bitmap,
            { inputWidth: width, inputHeight: height, alpha, reset });
        result.overlay.close();
        let text = '';
        for (const b of result.labels) text += String.fromCharCode(b);
        out.push(btoa(text));
    }
    return out;
}"""


def browser_frames(page, frames, alpha, reset=False, precision="q8"):
    height, width = frames[0].shape[:2]
    encoded = [base64.b64encode(f.tobytes()).decode() for f in frames]
    args = {"frames": encoded, "width": width, "height": height, "alpha": alpha}
    out = page.evaluate(SEGMENT_FRAMES, {**args, "reset": reset, "precision": precision})
    return [np.frombuffer(base64.b64decode(o), np.uint8).reshape(height, width) for o in out]


def test_frames_match_cpython_and_smoothing_lowers_flicker(app_context, site_url):
    app = AppPage(app_context.new_page(), site_url)
    page = app.page
    frames = noisy_static(6, sigma=10.0)
    per_frame = browser_frames(page, frames, alpha=1.0)
    # alpha = 1 is the per-frame result: the same as resetting before every frame...
    reset_each = [browser_frames(page, [f], alpha=0.6, reset=True)[0] for f in frames[:3]]
    for a, b in zip(per_frame[:3], reset_each, strict=True):
        np.testing.assert_array_equal(a, b)
    # ...and the CPython pipeline's per-frame labels on the same pixels (same model file).
    fp32 = browser_frames(page, frames[:2], alpha=1.0, precision="fp32")
    for got, pixels in zip(fp32, frames[:2], strict=True):
        assert (got == per_frame_labels(pixels, "fp32")).mean() >= 0.999
    for got, pixels in zip(per_frame, frames, strict=True):
        assert (got == per_frame_labels(pixels, "q8")).mean() >= 0.995
    smoothed = browser_frames(page, frames[:1], alpha=0.6, reset=True)  # afresh, then smooth
    smoothed += browser_frames(page, frames[1:], alpha=0.6)
    rates = {
        alpha: float(np.mean([flicker(a, b) for a, b in itertools.pairwise(labels)]))
        for alpha, labels in ((1.0, per_frame), (0.6, smoothed))
    }
    print(f"browser flicker on a noisy static scene, by alpha: {rates}")
    assert rates[0.6] < rates[1.0]
    assert app.errors == []
    page.close()


# ---- batches ----


@pytest.fixture(scope="module")
def batch_photos(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("batch")
    bad = folder / "broken.jpg"
    bad.write_bytes(PHOTOS[0].read_bytes()[:2000])  # a truncated JPEG
    big = folder / "phone-12mp.png"  # PNG: every decoder agrees
    Image.open(PHOTOS[0]).convert("RGB").resize((4000, 3000), Image.BICUBIC).save(
        big, compress_level=1
    )
    pngs = [p for p in PHOTOS if p.suffix == ".png"]
    return [pngs[0], bad, big, PHOTOS[0], pngs[1]]


def test_batch_states_zip_and_labels_match_cpython(app_factory, batch_photos, tmp_path):
    page = app_factory("").page
    page.click("#modes [data-mode=batch]")
    page.set_input_files("#batch-files", [str(p) for p in batch_photos])
    page.wait_for_selector("#batch[data-state=done]", timeout=600_000)
    states = page.locator("#batch-list li").evaluate_all("items => items.map(i => i.dataset.state)")
    assert states == ["done", "failed", "done", "done", "done"]
    assert "damaged or incomplete" in page.inner_text("#batch-list li[data-state=failed]")
    assert page.get_attribute("#batch", "data-zip-store") == "opfs"

    with page.expect_download() as download:
        page.click("#batch-download")
    archive = zipfile.ZipFile(download.value.path())
    good = [p for p in batch_photos if p.name != "broken.jpg"]
    stems = [p.stem for p in good]
    expected_names = {
        f"{d}/{s}.{e}"
        for s in stems
        for d, e in (("labels", "png"), ("overlays", "png"), ("json", "json"))
    }
    assert set(archive.namelist()) == expected_names | {"class-shares.csv", "failed.csv"}
    # One row per photo and class (the CLI's layout, outputs.SHARES_COLUMNS).
    rows = list(csv.DictReader(io.StringIO(archive.read("class-shares.csv").decode())))
    assert list(rows[0]) == list(SHARES_COLUMNS)
    assert list(dict.fromkeys(r["photo"] for r in rows)) == [p.name for p in good]
    failed = list(csv.DictReader(io.StringIO(archive.read("failed.csv").decode())))
    assert [r["photo"] for r in failed] == ["broken.jpg"]

    names = native_segmenter("q8").model.labels
    for photo in good:
        labels = np.asarray(Image.open(io.BytesIO(archive.read(f"labels/{photo.stem}.png"))))
        expected = (
            native_segmenter("q8").segment_sync(Image.fromarray(browser_decode(photo))).labels
        )
        assert labels.shape == expected.shape
        agreement = float((labels == expected).mean())
        print(f"batch {photo.name}: {agreement:.4%} identical to CPython on the same pixels")
        assert agreement >= 0.995
        overlay = np.asarray(Image.open(io.BytesIO(archive.read(f"overlays/{photo.stem}.png"))))
        np.testing.assert_array_equal(overlay[..., :3], PALETTE[labels])  # RGBA, opaque
        assert (overlay[..., 3] == 255).all()
        counts = np.bincount(labels.ravel(), minlength=150)
        summary = json.loads(archive.read(f"json/{photo.stem}.json"))
        assert summary_problems(summary) == [] and summary["photo"] == photo.name
        assert (summary["width"], summary["height"]) == (labels.shape[1], labels.shape[0])
        assert {c["id"]: c["pixels"] for c in summary["classes"]} == {
            int(c): int(counts[c]) for c in np.flatnonzero(counts)
        }
        mine = [r for r in rows if r["photo"] == photo.name]
        assert [r["class"] for r in mine] == [names[int(r["class_id"])] for r in mine]
        assert {int(r["class_id"]): int(r["pixels"]) for r in mine} == {
            int(c): int(counts[c]) for c in np.flatnonzero(counts)
        }
        got = np.array([float(r["share"]) for r in mine])
        want = np.array([counts[int(r["class_id"])] for r in mine]) / labels.size
        np.testing.assert_allclose(got, want, atol=1e-6)
    # Results can be browsed: a photo's preview shows its overlay and classes.
    page.click("#batch-list li[data-state=done] >> nth=1")
    page.wait_for_selector("#batch-view:not([hidden])")
    caption = page.inner_text("#batch-view-caption")
    assert caption.startswith("phone-12mp.png · 4000×3000 · "), caption


def test_batch_cancel(app_factory):
    page = app_factory("").page
    page.click("#modes [data-mode=batch]")
    pngs = [p for p in PHOTOS if p.suffix == ".png"]
    page.set_input_files("#batch-files", [str(p) for p in pngs * 2])
    page.wait_for_selector("#batch-list li[data-state=done]", timeout=120_000)
    page.click("#batch-cancel")
    page.wait_for_selector("#batch[data-state=cancelled]", timeout=120_000)
    states = page.locator("#batch-list li").evaluate_all("items => items.map(i => i.dataset.state)")
    assert "cancelled" in states and "queued" not in states and "running" not in states
    assert page.get_attribute("#batch-download", "aria-disabled") == "true"
    # A new batch after a cancel works.
    page.set_input_files("#batch-files", [str(pngs[0])])
    page.wait_for_selector("#batch[data-state=done]", timeout=120_000)
    assert page.get_attribute("#batch-download", "aria-disabled") == "false"

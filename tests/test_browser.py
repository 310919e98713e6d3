"""The built site in headless Chromium, used as a person would: pick a photo, read the result
back through the page's own download, compare with the CPython pipeline on the same file."""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

from conftest import (
    AGREEMENT_REPORT,
    LAN_HOST,
    PHOTOS,
    ROOT,
    AppPage,
    canvas_pixels,
    native_segmenter,
    run_in_pyodide,
    serve_site,
)
from sceneseg.palette import ADE20K_PALETTE

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts"
# Share of pixels equal to the CPython pipeline (native onnxruntime, same model file), given
# the same decoded pixels. fp32: onnxruntime-web and native onnxruntime differ only in float
# rounding. q8: DynamicQuantizeLinear rounds activations to 8 bits at run time, so a rounding
# difference upstream can move a quantisation step and with it a boundary pixel.
MIN_AGREEMENT = {"fp32": 0.999, "q8": 0.995}
# From the file's bytes, the two also differ in JPEG decoding: Pyodide's Pillow is built on
# IJG libjpeg 9, native Pillow wheels on libjpeg-turbo, and the two upsample chroma
# differently (pixel values differ by up to ~26). PNG decodes identically.
MIN_END_TO_END_AGREEMENT = 0.99


@pytest.fixture(scope="module", autouse=True)
def write_report():
    yield
    if AGREEMENT_REPORT:  # a run of other tests only keeps the last full report
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "browser-agreement.json").write_text(json.dumps(AGREEMENT_REPORT, indent=1))


def read_labels(path: Path) -> np.ndarray:
    image = Image.open(path)
    assert image.mode == "L", "label map must be 8-bit greyscale"
    return np.asarray(image)


# The app's decode, run in Pyodide: for each (photo, out) pair of arguments, writes the decoded
# RGB pixels to out; prints the [height, width] of each.
PYODIDE_DECODE = """
import json, sys
import numpy as np
from sceneseg.processing import decode
shapes = []
for photo, out in zip(sys.argv[1::2], sys.argv[2::2]):
    pixels = np.asarray(decode(open("/host" + photo, "rb").read()))
    open("/host" + out, "wb").write(pixels.tobytes())
    shapes.append(pixels.shape[:2])
print(json.dumps(shapes))
"""
DECODED: dict[Path, np.ndarray] = {}


def browser_decode(photo: Path) -> np.ndarray:
    """The photo's pixels as the app decodes them (sceneseg's decode on Pyodide's Pillow).
    The first call decodes ../shared's photos as well, in the same run: Pyodide's start
    takes seconds, a photo's decode a fraction of one."""
    photos = [photo.resolve()]
    if not DECODED:
        photos += [p.resolve() for p in PHOTOS if p.resolve() != photos[0]]
    if photos[0] not in DECODED:
        with tempfile.TemporaryDirectory() as out:
            raws = [Path(out) / f"{i}.rgb" for i in range(len(photos))]
            pairs = [str(path) for pair in zip(photos, raws, strict=True) for path in pair]
            printed = run_in_pyodide(PYODIDE_DECODE, *pairs)
            shapes = json.loads(printed.strip().splitlines()[-1])
            for path, raw, (height, width) in zip(photos, raws, shapes, strict=True):
                pixels = np.frombuffer(raw.read_bytes(), dtype=np.uint8)
                DECODED[path] = pixels.reshape(height, width, 3)
    return DECODED[photos[0]]


def rotated_photo(tmp_path_factory) -> Path:
    """A JPEG whose EXIF says 'rotate 90° clockwise': the labels must follow the upright view.
    One file for the session (both precisions), so it is decoded in Pyodide once."""
    path = tmp_path_factory.getbasetemp() / "exif" / "rotated-exif6.jpg"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        source = Image.open(PHOTOS[0]).convert("RGB")
        exif = Image.Exif()
        exif[0x0112] = 6
        source.save(path, quality=92, exif=exif.tobytes())
    return path


# The quick loop (-m "not slow") keeps chelsea.png at q8; the other photos and fp32 are slow.
@pytest.mark.parametrize("precision", [pytest.param("fp32", marks=pytest.mark.slow), "q8"])
@pytest.mark.parametrize(
    "photo",
    [p if p.name == "chelsea.png" else pytest.param(p, marks=pytest.mark.slow) for p in PHOTOS]
    + [pytest.param("exif", marks=pytest.mark.slow)],
    ids=lambda p: getattr(p, "name", p),
)
def test_browser_labels_match_cpython(photo, precision, app_factory, tmp_path, tmp_path_factory):
    if photo == "exif":
        photo = rotated_photo(tmp_path_factory)
    app = app_factory(f"?precision={precision}")
    app.upload(photo)
    assert app.page.inner_text("#error") == "" or app.page.is_hidden("#error")
    browser_labels = read_labels(app.download_labels(tmp_path / "labels.png"))

    segmenter = native_segmenter(precision)
    same_pixels = segmenter.segment_sync(Image.fromarray(browser_decode(photo))).labels
    from_bytes = segmenter.segment_sync(photo.read_bytes()).labels
    assert browser_labels.shape == same_pixels.shape == from_bytes.shape
    agreement = float((browser_labels == same_pixels).mean())
    end_to_end = float((browser_labels == from_bytes).mean())
    AGREEMENT_REPORT.setdefault(precision, {})[photo.name] = {
        "same_decoded_pixels": agreement,
        "from_file_bytes": end_to_end,
    }
    print(
        f"{precision} {photo.name}: {agreement:.4%} identical pixels "
        f"({end_to_end:.4%} vs native decoding), timings {app.timings()}"
    )
    assert agreement >= MIN_AGREEMENT[precision]
    assert end_to_end >= MIN_END_TO_END_AGREEMENT

    # The legend lists what the label map holds, largest first.
    legend = app.page.locator("#legend li").evaluate_all(
        "items => items.map(i => +i.dataset.classId)"
    )
    counts = np.bincount(browser_labels.ravel(), minlength=150)
    assert sorted(legend) == sorted(np.flatnonzero(counts).tolist())
    assert [counts[c] for c in legend] == sorted(counts[legend], reverse=True)
    # Each entry's exact area in pixels is one hover away.
    titles = app.page.locator("#legend li").evaluate_all("items => items.map(i => i.title)")
    assert [int(t.split(": ")[1].split()[0].replace(",", "")) for t in titles] == [
        counts[c] for c in legend
    ]
    ARTIFACTS.mkdir(exist_ok=True)
    app.page.screenshot(path=ARTIFACTS / f"page-{precision}-{photo.stem}.png")


@pytest.mark.slow
def test_no_request_leaves_the_origin(browser, site_url):
    """Load the app, segment a photo, download: every request goes to the site's own origin."""
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    seen = []
    page.on("request", lambda r: seen.append((r.method, r.url)))
    context.on("request", lambda r: seen.append((r.method, r.url)))  # workers' requests too
    page.goto(site_url)
    page.wait_for_selector("body[data-ready=true]", timeout=120_000)
    page.set_input_files("#file", str(PHOTOS[0]))
    page.wait_for_selector("body[data-result='1']", timeout=120_000)
    page.click("#download-labels")
    origin = urlsplit(site_url)[:2]
    assert seen, "no requests recorded"
    foreign = [
        url for _, url in seen if urlsplit(url)[:2] != origin and not url.startswith("blob:")
    ]
    assert foreign == []
    # The photo is never sent anywhere, not even to the own origin.
    assert {method for method, _ in seen} == {"GET"}
    # The WASM session's file (its ORT-format copy, sitebuild/ort_format): a worker's request.
    assert any("model_quantized.ort" in url for _, url in seen), "worker requests were not seen"
    context.close()


@pytest.mark.slow
def test_bad_files_get_a_message_and_lose_nothing(app_factory, tmp_path):
    app = app_factory("")
    app.upload(PHOTOS[1])
    before = read_labels(app.download_labels(tmp_path / "before.png"))
    photo = PHOTOS[0].read_bytes()
    bad = {
        "empty.jpg": (b"", "empty"),
        "notes.txt": (b"hello, not a photo\n", "not an image format"),
        "truncated.jpg": (photo[: len(photo) // 3], "damaged or incomplete"),
    }
    buffer = io.BytesIO()
    Image.new("L", (9000, 6000)).save(buffer, "PNG", compress_level=1)
    bad["huge.png"] = (buffer.getvalue(), "too large")
    # A real AVIF (native Pillow writes it; Pyodide's Pillow 10.2 cannot read it) and the
    # first box of an iPhone HEIC: the message names the format and what to do.
    buffer = io.BytesIO()
    Image.open(PHOTOS[0]).save(buffer, "AVIF")
    bad["photo.avif"] = (buffer.getvalue(), "AVIF images cannot be read here")
    bad["IMG_0001.heic"] = (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 64, "export it as JPEG")
    for name, (data, message) in bad.items():
        path = tmp_path / name
        path.write_bytes(data)
        shown = app.upload_bad(path)
        assert name in shown and message in shown, shown
        # The previous result is still on screen and still downloadable, unchanged.
        assert app.page.is_visible("#viewer")
        after = read_labels(app.download_labels(tmp_path / f"after-{name}.png"))
        np.testing.assert_array_equal(after, before)
    # And the app still works.
    app.upload(PHOTOS[2])
    assert app.page.is_hidden("#error")
    assert app.errors == []


@pytest.mark.slow
def test_the_latest_photo_picked_wins(app_factory):
    """Pick one photo, then another before the first is done: only the second is shown."""
    app = app_factory("")
    first, second = PHOTOS[0], PHOTOS[1]
    app.page.set_input_files("#file", str(first))
    app.upload(second)
    assert app.page.inner_text("#image-info").startswith(f"{second.name} ")
    height, width = np.asarray(Image.open(second)).shape[:2]
    assert app.page.inner_text("#image-info").endswith(f"{width}×{height}")
    # The first photo's result never replaces it, nor counts as shown.
    app.page.wait_for_timeout(3000)
    assert app.page.get_attribute("body", "data-result") == str(app.results)
    assert app.page.inner_text("#image-info").startswith(f"{second.name} ")
    assert app.page.is_hidden("#error")
    assert app.errors == []


@pytest.mark.slow
def test_page_stays_responsive_while_segmenting(app_factory):
    app = app_factory("?precision=fp32")
    page = app.page
    page.evaluate(
        """() => {
        window.gaps = []; let last = performance.now();
        window.ticker = setInterval(() => {
            const now = performance.now(); gaps.push(now - last); last = now;
        }, 10);
    }"""
    )
    start = page.evaluate("performance.now()")
    app.upload(PHOTOS[-1])
    busy_ms = page.evaluate("performance.now()") - start
    gaps = page.evaluate("() => { clearInterval(window.ticker); return window.gaps; }")
    model_ms = app.timings()["model"]
    assert model_ms > 100 and busy_ms > model_ms
    # The UI thread keeps ticking while the worker computes; only the final paint blocks.
    assert len(gaps) > busy_ms / 50
    assert max(gaps) < 250, f"longest UI stall {max(gaps):.0f} ms"


@pytest.mark.slow
@pytest.mark.parametrize("where", ["localhost", "plain-http-lan"])
def test_a_tampered_model_is_refused(where, browser, lan_browser, built_site, tmp_path):
    """The worker checks the model's sha256 before handing it to onnxruntime-web, with Web
    Crypto where the page is a secure context and with Python's hashlib where it is not."""
    site = tmp_path / "site"
    shutil.copytree(built_site, site)
    model = next((site / "models").rglob("model_quantized.ort"))  # what the WASM session loads
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte different
    model.write_bytes(bytes(data))
    secure = where == "localhost"
    page = (browser if secure else lan_browser).new_page()
    with serve_site(site) as port:
        try:
            page.goto(f"http://{'127.0.0.1' if secure else LAN_HOST}:{port}/")
            assert page.evaluate("isSecureContext") is secure
            page.wait_for_selector("#error:not([hidden])", timeout=120_000)
            message = page.inner_text("#error")
            assert "Could not start" in message and "sha256" in message, message
            assert page.get_attribute("body", "data-ready") is None
        finally:
            page.close()


@pytest.mark.slow
def test_a_plain_http_lan_address_still_works(lan_browser, site_url, tmp_path):
    """No Web Crypto (files verified by Python instead) and no threads, same labels."""
    port = urlsplit(site_url).port
    page = lan_browser.new_page(accept_downloads=True)
    try:
        app = AppPage(page, f"http://{LAN_HOST}:{port}/")
        assert page.evaluate("isSecureContext") is False
        assert page.get_attribute("#engine", "data-threads") == "1"
        assert "1 thread (this host is not cross-origin isolated)" in page.text_content("#engine")
        photo = next(p for p in PHOTOS if p.suffix == ".png")
        app.upload(photo)
        labels = read_labels(app.download_labels(tmp_path / "labels.png"))
        expected = native_segmenter("q8").segment_sync(photo.read_bytes()).labels
        agreement = float((labels == expected).mean())
        print(f"plain http, 1 thread: {agreement:.4%} identical pixels")
        assert agreement >= MIN_AGREEMENT["q8"]
    finally:
        page.close()


@pytest.mark.slow
def test_a_12_megapixel_photo_is_labelled_at_full_resolution(app_factory, tmp_path):
    """Phone-photo size: the naive 150-channel upsampling would need 7.2 GB in the tab."""
    photo = tmp_path / "phone-size.png"  # PNG: both sides decode it identically
    Image.open(PHOTOS[0]).convert("RGB").resize((4000, 3000), Image.BICUBIC).save(
        photo, compress_level=1
    )
    app = app_factory("")
    # Tasks of the UI thread over 50 ms, as the browser itself reports them.
    app.page.evaluate(
        """() => {
        window.longTasks = [];
        new PerformanceObserver((list) => {
            for (const entry of list.getEntries()) longTasks.push(entry.duration);
        }).observe({ type: 'longtask' });
    }"""
    )
    app.upload(photo, timeout=240_000)
    labels = read_labels(app.download_labels(tmp_path / "labels.png"))
    assert labels.shape == (3000, 4000)
    expected = native_segmenter("q8").segment_sync(photo.read_bytes()).labels
    agreement = float((labels == expected).mean())
    long_tasks = app.page.evaluate("longTasks")
    print(f"12 MP: {agreement:.4%} identical pixels, timings {app.timings()}, UI {long_tasks}")
    assert agreement >= MIN_AGREEMENT["q8"]
    # Colouring 12 MP and drawing it took the UI thread 60-200 ms when it was done there.
    assert max(long_tasks, default=0) < 100, f"UI thread blocked for {max(long_tasks):.0f} ms"


@pytest.mark.slow
def test_the_page_shows_the_photo_and_each_pixel_in_its_class_colour(app_factory, tmp_path):
    photo = next(p for p in PHOTOS if p.suffix == ".png")  # PNG: every decoder agrees
    app = app_factory("")
    app.upload(photo)
    labels = read_labels(app.download_labels(tmp_path / "labels.png"))
    overlay = canvas_pixels(app.page, "#overlay")
    expected = np.asarray(ADE20K_PALETTE, dtype=np.uint8)[labels]
    assert overlay.shape == (*labels.shape, 4)
    np.testing.assert_array_equal(overlay[..., :3], expected)
    assert (overlay[..., 3] == 255).all()
    shown = canvas_pixels(app.page, "#photo")
    np.testing.assert_array_equal(shown[..., :3], np.asarray(Image.open(photo).convert("RGB")))
    # Screen readers hear the file and its largest classes.
    largest = app.page.locator("#legend li > span:nth-child(2)").first.inner_text()
    label = app.page.get_attribute("#overlay", "aria-label")
    assert label.startswith(f"{photo.name}, segmented: {largest} ")


@pytest.mark.slow
def test_a_keyboard_alone_can_pick_a_photo(app_context, site_url):
    """Tab reaches the photo picker, its button shows focus, Enter activates the picker."""
    page = app_context.new_page()
    try:
        app = AppPage(page, site_url)
        for _ in range(10):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "file":
                break
        assert page.evaluate("document.activeElement.id") == "file"
        outline = page.locator("label[for=file]").evaluate("e => getComputedStyle(e).outlineStyle")
        assert outline == "solid"
        # Enter activates the input: the browser clicks it, which opens the system's picker.
        # (Headless Chromium reports that dialog to Playwright only now and then, so the test
        # watches the click and then picks the file as the dialog would.)
        page.locator("#file").evaluate(
            "input => input.addEventListener('click', () => (window.activated = true))"
        )
        page.keyboard.press("Enter")
        page.wait_for_function("window.activated === true", timeout=5_000)
        app.upload(PHOTOS[0])
        assert page.inner_text("#image-info").startswith(PHOTOS[0].name)
    finally:
        page.close()


@pytest.mark.slow
def test_pointer_reads_the_class_under_it(app_factory, tmp_path):
    app = app_factory("")
    app.upload(PHOTOS[0])
    labels = read_labels(app.download_labels(tmp_path / "labels.png"))
    box = app.page.locator("#overlay").bounding_box()
    names = {
        c["id"]: c["name"]
        for c in app.page.locator("#legend li").evaluate_all(
            "items => items.map(i => ({id: +i.dataset.classId, name: i.children[1].textContent}))"
        )
    }
    height, width = labels.shape
    # The pointer lands on whole CSS pixels: allow the image pixels one CSS pixel covers.
    slack = int(np.ceil(width / box["width"])) + 1
    for fx, fy in [(0.1, 0.1), (0.5, 0.5), (0.8, 0.9)]:
        app.page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        x, y = int(fx * width), int(fy * height)
        window = labels[max(0, y - slack) : y + slack + 1, max(0, x - slack) : x + slack + 1]
        assert app.page.inner_text("#pointer-class") in {names[int(c)] for c in np.unique(window)}

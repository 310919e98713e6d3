"""Sharing a result out (web/app/share/share-out.js). Headless Chromium on Linux has no
navigator.share: there the Share button must stay hidden. The visible branch runs against a
stand-in for the Web Share API that keeps what it is given (and, like some browsers, refuses
JSON files), and the shared files are checked: the picture against a composite made here from
the photo and the page's own label map, the label map against the download's bytes. The real
share sheet needs a check on an Android phone."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from conftest import PHOTOS, native_segmenter

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHOTO = next(p for p in PHOTOS if p.name == "ADE_val_00000001.jpg")

# The Web Share API as a browser that can share files has it; it refuses JSON, as some do.
# window.__activationExpired makes userActivation report an expired tap (a slow preparation).
SHARE_STAND_IN = """
window.__shared = [];
window.__activationExpired = false;
const encode = async (file) => {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return {name: file.name, type: file.type, base64: btoa(text)};
};
Object.defineProperty(Navigator.prototype, 'canShare', {configurable: true,
  value: (data) => !(data.files || []).some((f) => f.type === 'application/json')});
Object.defineProperty(Navigator.prototype, 'share', {configurable: true,
  value: async (data) => { window.__shared.push(await Promise.all(data.files.map(encode))); }});
const activation = Object.getOwnPropertyDescriptor(Navigator.prototype, 'userActivation');
Object.defineProperty(Navigator.prototype, 'userActivation', {configurable: true, get() {
  const real = activation.get.call(this);
  return window.__activationExpired ? {isActive: false, hasBeenActive: true} : real;
}});
"""


def open_app_page(browser, url, stand_in: bool):
    context = browser.new_context(service_workers="block", accept_downloads=True)
    if stand_in:
        context.add_init_script(SHARE_STAND_IN)
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("body[data-ready]", timeout=180_000)
    page.set_input_files("input#file", str(PHOTO))
    page.wait_for_selector("body[data-result='1']", timeout=120_000)
    return context, page


def wait_until(page, predicate: str, timeout_ms: int = 30_000) -> None:
    """Polled from here: the app's CSP forbids the eval that page.wait_for_function uses."""
    for _ in range(timeout_ms // 100):
        if page.evaluate(predicate):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"not true after {timeout_ms} ms: {predicate}")


def shared(page, count: int) -> list[dict]:
    wait_until(page, f"() => window.__shared.length >= {count}")
    files = page.evaluate("window.__shared")[count - 1]
    return [{**f, "bytes": base64.b64decode(f["base64"])} for f in files]


def test_share_is_hidden_where_the_browser_cannot_share_files(browser, site_url):
    context, page = open_app_page(browser, site_url, stand_in=False)
    try:
        assert not page.evaluate("'share' in navigator")
        assert page.locator("#share-out").is_hidden()
        assert page.locator("#download-labels").get_attribute("aria-disabled") == "false"
    finally:
        context.close()


def test_share_sends_the_picture_as_shown_and_the_files_asked_for(browser, site_url, tmp_path):
    context, page = open_app_page(browser, site_url, stand_in=True)
    try:
        assert page.locator("#share-out").is_visible()
        # The label map: the same bytes as its download.
        page.click("#share-menu summary")
        page.click("[data-share='labels-png']")
        (labels_file,) = shared(page, 1)
        assert labels_file["type"] == "image/png"
        assert labels_file["name"] == "ADE_val_00000001-labels.png"
        with page.expect_download() as download:
            page.click("#download-labels")
        downloaded = download.value.path().read_bytes()
        assert labels_file["bytes"] == downloaded
        labels = np.asarray(Image.open(io.BytesIO(downloaded)))

        # The picture as shown: the photo under its overlay at the slider's opacity (60%).
        page.click("#share-picture")
        (picture,) = shared(page, 2)
        assert (
            picture["type"] == "image/jpeg" and picture["name"] == "ADE_val_00000001-segmented.jpg"
        )
        shown = np.asarray(Image.open(io.BytesIO(picture["bytes"])).convert("RGB"), np.float32)
        photo = np.asarray(Image.open(PHOTO).convert("RGB"), np.float32)
        assert shown.shape == photo.shape
        colors = np.asarray(native_segmenter("q8").model.colors, np.float32)
        expected = 0.4 * photo + 0.6 * colors[labels]
        error = np.abs(shown - expected).mean()
        assert error < 4, f"mean error {error:.2f} against the composite"  # JPEG's loss
        assert np.abs(shown - photo).mean() > 20  # the overlay is there

        # All three: the summary is refused by this browser's canShare, the rest is shared.
        page.click("#share-menu summary")
        page.click("[data-share='all']")
        files = shared(page, 3)
        assert [f["type"] for f in files] == ["image/jpeg", "image/png"]
        wait_until(
            page, "() => document.getElementById('announce').textContent.includes('summary.json')"
        )
        # Only the summary alone: nothing left to share, and the page says so.
        page.click("#share-menu summary")
        page.click("[data-share='summary-json']")
        page.wait_for_selector("#error:not([hidden])")
        assert "summary.json" in page.text_content("#error")
        assert page.evaluate("window.__shared.length") == 3
    finally:
        context.close()


def test_share_asks_for_a_second_tap_when_the_first_one_expired(browser, site_url):
    context, page = open_app_page(browser, site_url, stand_in=True)
    try:
        page.evaluate("window.__activationExpired = true")
        page.click("#share-picture")
        wait_until(page, "document.getElementById('share-picture').textContent.includes('again')")
        assert page.evaluate("window.__shared.length") == 0
        page.evaluate("window.__activationExpired = false")
        page.click("#share-picture")
        (picture,) = shared(page, 1)
        assert picture["type"] == "image/jpeg"
        assert page.text_content("#share-picture") == "Share"
    finally:
        context.close()

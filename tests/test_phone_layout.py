"""The phone layout (web/app/phone/): headless Chromium emulating phones with touch, a real photo
picked, the boxes measured against the rule, the gestures sent as real touch events (the
DevTools protocol's Input.dispatchTouchEvent, which goes through Chromium's gesture detection
and honours touch-action), and axe-core at 360 px."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from test_a11y import assert_no_violations

from conftest import PHOTOS, native_segmenter

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LANDSCAPE = next(p for p in PHOTOS if p.name == "ADE_val_00000001.jpg")  # 683x512
PHONES = [(390, 844), (360, 740), (844, 390)]
HEADER_MAX = 56
MIN_SHORT_SIDE = 64

BOXES = """() => {
  const rect = (el) => {
    if (!el) return null;
    const {left, top, right, bottom, width, height} = el.getBoundingClientRect();
    return {left, top, right, bottom, width, height};
  };
  const $ = (selector) => document.querySelector(selector);
  const vp = document.querySelector('#viewport').getBoundingClientRect();
  const ov = document.querySelector('#overlay').getBoundingClientRect();
  const photo = {left: Math.max(vp.left, ov.left), top: Math.max(vp.top, ov.top),
                 right: Math.min(vp.right, ov.right), bottom: Math.min(vp.bottom, ov.bottom)};
  photo.width = photo.right - photo.left; photo.height = photo.bottom - photo.top;
  const headerParts = ['.brand', '#modes', 'section.inputs'].map((s) => rect($(s)));
  return {
    viewport: rect($('#viewport')), photo, overlay: rect($('#overlay')),
    column: rect($('section.view')),
    headerBottom: Math.max(...headerParts.map((r) => r.bottom)),
    strip: rect($('#top-classes')),
    stripFirst: rect($('#top-classes > li')),
    stripNames: [...document.querySelectorAll('#top-classes > li button')]
      .map((b) => b.firstChild.nextSibling.textContent),
    legendNames: [...document.querySelectorAll('#legend > li button')].map((b) => b.textContent),
    scrollWidth: document.documentElement.scrollWidth, innerWidth, innerHeight, scrollY,
    transform: $('#stage').style.transform,
    fitted: $('#viewport').hasAttribute('data-fitted'),
  };
}"""


@pytest.fixture(scope="module")
def portrait(tmp_path_factory):
    """The landscape photo turned upright: 512x683."""
    path = tmp_path_factory.mktemp("phone") / "portrait.jpg"
    Image.open(LANDSCAPE).transpose(Image.Transpose.ROTATE_90).save(path, quality=92)
    return path


def open_phone(browser, url, width, height, scheme="light"):
    context = browser.new_context(
        viewport={"width": width, "height": height},
        is_mobile=True,
        has_touch=True,
        color_scheme=scheme,
        service_workers="block",
        bypass_csp=True,  # only so that axe-core can be injected
    )
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("body[data-ready]", timeout=180_000)
    return context, page


def pick(page, path, count):
    page.set_input_files("input#file", str(path))
    page.wait_for_selector(f"body[data-result='{count}']", timeout=120_000)
    page.wait_for_timeout(300)  # the viewer's ResizeObserver refits after the layout change
    page.evaluate("() => scrollTo(0, 0)")


def check_photo_box(boxes: dict, photo_size: tuple[int, int]) -> None:
    """At fit zoom: as wide as the column allows, no taller than the screen minus the header
    and the strip, at least 64 px on its short side, grey bands only where a limit binds."""
    w, h = photo_size
    photo, column = boxes["photo"], boxes["column"]
    assert boxes["headerBottom"] <= HEADER_MAX, boxes
    strip_room = boxes["stripFirst"]["bottom"] - photo["bottom"]  # the strip and its margin
    max_height = boxes["innerHeight"] - boxes["headerBottom"] - strip_room
    assert photo["height"] <= max_height + 1, boxes
    # The tighter of the two limits the photo: the column's width or that height.
    expected_width = min(column["width"], max_height * w / h)
    assert photo["width"] >= expected_width - 4, (expected_width, boxes)
    assert min(photo["width"], photo["height"]) >= MIN_SHORT_SIDE
    assert abs(photo["width"] / photo["height"] - w / h) < 0.02  # fitted whole, not cropped
    # No grey band: the box has the photo's shape (the cap shrinks the box, not the photo).
    viewport = boxes["viewport"]
    assert viewport["width"] - photo["width"] <= 2 and viewport["height"] - photo["height"] <= 2, (
        boxes
    )
    # The strip's first class is on the first screen, right under the photo.
    assert boxes["stripFirst"]["bottom"] <= boxes["innerHeight"], boxes
    assert 0 <= boxes["stripFirst"]["top"] - photo["bottom"] <= 12, boxes
    assert boxes["scrollWidth"] <= boxes["innerWidth"], "the page scrolls sideways"


@pytest.mark.parametrize("width,height", PHONES, ids=[f"{w}x{h}" for w, h in PHONES])
def test_phone_layout_fits_the_photo_and_the_top_classes_on_the_first_screen(
    browser, site_url, portrait, width, height
):
    context, page = open_phone(browser, site_url, width, height)
    try:
        before = page.evaluate(BOXES)
        assert before["scrollWidth"] <= before["innerWidth"]
        for count, path in enumerate([LANDSCAPE, portrait], 1):
            pick(page, path, count)
            boxes = page.evaluate(BOXES)
            check_photo_box(boxes, Image.open(path).size)
            # One strip child per class shown, the largest first, as in the full legend.
            names = boxes["stripNames"]
            assert 1 <= len(names) <= 8
            assert names == boxes["legendNames"][: len(names)]
    finally:
        context.close()


def touch(cdp, kind: str, points: list[tuple[float, float]]) -> None:
    cdp.send(
        "Input.dispatchTouchEvent",
        {
            "type": kind,
            "touchPoints": [{"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)],
        },
    )


def swipe(page, cdp, start: list[tuple[float, float]], end: list[tuple[float, float]], steps=8):
    touch(cdp, "touchStart", start)
    for step in range(1, steps + 1):
        t = step / steps
        points = [
            (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t)
            for (x0, y0), (x1, y1) in zip(start, end, strict=True)
        ]
        touch(cdp, "touchMove", points)
        page.wait_for_timeout(16)
    touch(cdp, "touchEnd", [])
    page.wait_for_timeout(400)  # the fling settles


def test_phone_gestures_scroll_at_fit_pinch_zooms_tap_names_the_class(browser, site_url):
    context, page = open_phone(browser, site_url, 390, 844)
    try:
        pick(page, LANDSCAPE, 1)
        cdp = context.new_cdp_session(page)
        boxes = page.evaluate(BOXES)
        photo = boxes["photo"]
        cx = (photo["left"] + photo["right"]) / 2
        cy = (photo["top"] + photo["bottom"]) / 2

        # A tap names the class under the finger: the reference segmenter's label there.
        x, y = cx, photo["top"] + 0.15 * photo["height"]
        touch(cdp, "touchStart", [(x, y)])
        touch(cdp, "touchEnd", [])
        bubble = page.locator(".tap-readout")
        bubble.wait_for(state="visible", timeout=5000)
        w, h = Image.open(LANDSCAPE).size
        ix = int((x - boxes["overlay"]["left"]) / boxes["overlay"]["width"] * w)
        iy = int((y - boxes["overlay"]["top"]) / boxes["overlay"]["height"] * h)
        reference = native_segmenter("q8").segment_sync(LANDSCAPE.read_bytes())
        window = reference.labels[max(0, iy - 3) : iy + 4, max(0, ix - 3) : ix + 4]
        expected = reference.model.labels[int(np.bincount(window.ravel()).argmax())]
        assert bubble.text_content() == expected

        # At fit zoom one finger scrolls the page and leaves the photo where it is.
        swipe(page, cdp, [(cx, cy + 120)], [(cx, cy - 120)])
        after = page.evaluate(BOXES)
        assert after["scrollY"] > 50, after
        assert after["transform"] == boxes["transform"] and after["fitted"]
        page.evaluate("() => scrollTo(0, 0)")
        page.wait_for_timeout(200)

        # Two fingers pinch: the photo zooms in.
        swipe(page, cdp, [(cx - 30, cy), (cx + 30, cy)], [(cx - 110, cy), (cx + 110, cy)])
        zoomed = page.evaluate(BOXES)
        assert (
            not zoomed["fitted"] and zoomed["overlay"]["width"] > 1.5 * boxes["overlay"]["width"]
        ), zoomed
        assert zoomed["scrollY"] == 0

        # Zoomed in, one finger pans the photo, not the page.
        swipe(page, cdp, [(cx, cy + 60)], [(cx, cy - 60)])
        panned = page.evaluate(BOXES)
        assert panned["scrollY"] == 0 and panned["transform"] != zoomed["transform"], panned

        # A tap on a strip's class isolates it, as the legend's row does.
        page.locator("#top-classes > li button").nth(1).tap()
        assert (
            page.locator("#top-classes > li button").nth(1).get_attribute("aria-pressed") == "true"
        )
        assert (
            page.locator("#legend > li").nth(1).evaluate("li => li.classList.contains('isolated')")
        )
    finally:
        context.close()


def test_desktop_layout_is_not_the_phone_layout(browser, site_url):
    """At 1280x900 the phone stylesheet does not apply: the header keeps its tagline, the
    strip is not shown, the legend sits beside the photo."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    page = context.new_page()
    try:
        page.goto(site_url)
        page.wait_for_selector("body[data-ready]", timeout=180_000)
        pick(page, LANDSCAPE, 1)
        media = page.evaluate(
            "() => [...document.styleSheets].find((s) => s.href?.endsWith('phone.css'))"
            ".media.mediaText"
        )
        assert "430px" in media and not page.evaluate("(m) => matchMedia(m).matches", media)
        assert page.locator(".tagline").is_visible()
        assert not page.locator("#top-classes").is_visible()
        legend = page.locator("#legend").bounding_box()
        viewport = page.locator("#viewport").bounding_box()
        assert legend["x"] > viewport["x"] + viewport["width"]
    finally:
        context.close()


def test_phone_layout_has_no_axe_violations_at_360(browser, site_url):
    for scheme in ("light", "dark"):
        context, page = open_phone(browser, site_url, 360, 740, scheme)
        try:
            pick(page, LANDSCAPE, 1)
            assert_no_violations(page, f"phone 360x740 {scheme}, after a result")
        finally:
            context.close()

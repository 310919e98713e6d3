"""Accessibility and layout, audited by a tool no one here wrote (axe-core, npm) and by what a
keyboard or screen-reader user meets: focus order and visibility, announcements, no layout
shift when the result appears."""

from __future__ import annotations

import pytest

from conftest import PHOTOS, ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PNG = next(p for p in PHOTOS if p.suffix == ".png")
# Count every change of the polite live region from the first script on.
COUNT_ANNOUNCEMENTS = """
window.announcements = [];
document.addEventListener('DOMContentLoaded', () => {
  const region = document.getElementById('announce');
  new MutationObserver(() => announcements.push(region.textContent))
      .observe(region, {childList: true, characterData: true, subtree: true});
});
"""


# Rules about the page as a whole: a main landmark, all content in landmarks. They only hold
# for a page opened on its own (in a frame, the host's page is the document).
PAGE_RULES = {"landmark-one-main", "region"}


def axe_run(page) -> dict:
    """axe-core on the page: WCAG 2.x A/AA and best practices, all of them. Returns the
    violations and the ids of the rules that passed."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async () => {
        const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'];
        const results = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
        return {passes: results.passes.map(p => p.id),
            violations: results.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes
                .map(n => n.target.join(' ') + ': ' + n.failureSummary).slice(0, 5)}))};
    }"""
    )


def assert_no_violations(page, state: str, passed: set[str] = frozenset()) -> None:
    """No violations; and the rules in `passed` were checked and held (not inapplicable)."""
    results = axe_run(page)
    assert results["violations"] == [], f"axe-core, {state}: {results['violations']}"
    unchecked = passed - set(results["passes"])
    assert not unchecked, f"axe-core, {state}: {unchecked} not checked"


@pytest.fixture
def fresh_page(browser):
    """A new visit: nothing loaded yet. CSP bypassed only so that the test can inject axe."""
    contexts = []

    def open_page(width=1280, height=900, scheme="light"):
        context = browser.new_context(
            viewport={"width": width, "height": height}, color_scheme=scheme, bypass_csp=True
        )
        contexts.append(context)
        page = context.new_page()
        page.add_init_script(COUNT_ANNOUNCEMENTS)
        return page

    yield open_page
    for context in contexts:
        context.close()


def test_axe_loading_ready_result_light_and_dark(fresh_page, site_url):
    page = fresh_page()
    page.goto(site_url)
    page.wait_for_selector("#progress:not([hidden])")
    assert page.get_attribute("body", "data-ready") is None
    assert_no_violations(page, "loading")
    page.wait_for_selector("body[data-ready=true]", timeout=120_000)
    assert_no_violations(page, "ready")
    page.set_input_files("#file", str(PNG))
    page.wait_for_selector("body[data-result='1']", timeout=120_000)
    page.hover("#legend li >> nth=0")  # a highlighted class, a hovered row
    page.focus("#legend li button >> nth=1")
    assert_no_violations(page, "result, light")
    page.emulate_media(color_scheme="dark")
    assert_no_violations(page, "result, dark")
    page.set_viewport_size({"width": 360, "height": 740})
    page.click("#details summary")
    assert_no_violations(page, "result, dark, 360 px, details open")


def test_axe_widget(fresh_page, site_url):
    """The widget opened on its own (not framed): the page-level rules apply to it too."""
    page = fresh_page(560, 460)
    page.goto(site_url + "embed/embed.html")
    assert_no_violations(page, "widget loading", passed=PAGE_RULES)
    page.wait_for_selector("body[data-ready=true]", timeout=120_000)
    assert_no_violations(page, "widget ready", passed=PAGE_RULES)
    page.set_input_files("#file", str(PNG))
    page.wait_for_selector("body[data-result='1']", timeout=120_000)
    assert_no_violations(page, "widget result", passed=PAGE_RULES)
    page.emulate_media(color_scheme="dark")
    assert_no_violations(page, "widget result, dark", passed=PAGE_RULES)


@pytest.mark.parametrize("path", ["embed/", "embed"])
def test_axe_widget_folder(fresh_page, site_url, path):
    """The widget's folder has a page of its own, not a server's file listing (no main
    landmark, content outside landmarks) or a 404."""
    page = fresh_page(560, 460)
    response = page.goto(site_url + path)
    assert response.ok and page.title() == "SceneSeg widget"
    assert_no_violations(page, f"/{path}", passed=PAGE_RULES)
    page.click("a[href='embed.html']")
    page.wait_for_selector("body.embed")
    assert_no_violations(page, "the widget, from its folder", passed=PAGE_RULES)


def test_photo_picked_while_loading_waits_and_says_so(fresh_page, site_url):
    """Picked before the engine is ready: the page says it is queued, then shows it; the
    screen reader hears steps, not every byte of the download."""
    page = fresh_page()
    page.goto(site_url)
    page.set_input_files("#file", str(PNG))
    page.wait_for_selector("#queued:not([hidden])")
    queued = page.inner_text("#queued")
    assert PNG.name in queued and "queued until the engine is ready" in queued
    page.wait_for_selector("body[data-result='1']", timeout=180_000)
    assert page.is_hidden("#queued")
    announcements = page.evaluate("announcements")
    # Starting, Python, download, packages, session, ready, queued, segmenting, done: steps.
    assert 3 <= len(announcements) <= 15, announcements
    assert not any("MB" in a for a in announcements), announcements
    assert announcements[-1].startswith(f"Done: {PNG.name}")


@pytest.mark.parametrize("size", [(1280, 900), (390, 844), (360, 740)], ids=str)
def test_no_layout_shift_when_the_result_appears(browser, site_url, size):
    """Nothing moves when a result appears. On a phone (short side <= 430 px) the first result
    switches the page to the phone layout (web/app/phone/: the header shrinks, the photo takes
    its shape), which is a deliberate move once; from then on a result moves nothing."""
    width, height = size
    phone = min(width, height) <= 430
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        page.goto(site_url)
        page.wait_for_selector("body[data-ready=true]", timeout=120_000)
        page.wait_for_timeout(300)
        boxes = """() => ['#viewport', '.side', '.view-controls', '#legend', 'footer']
            .map(s => JSON.stringify(document.querySelector(s).getBoundingClientRect()))"""
        results = 0
        if phone:  # the phone layout comes with the first result
            page.set_input_files("#file", str(PNG))
            results += 1
            page.wait_for_selector(f"body[data-result='{results}']", timeout=120_000)
            page.wait_for_timeout(300)
        before = page.evaluate(boxes)
        page.evaluate(
            """() => { window.shifts = [];
            new PerformanceObserver((l) => shifts.push(...l.getEntries().map(e => e.value)))
                .observe({type: 'layout-shift'}); }"""
        )
        page.set_input_files("#file", str(PNG))
        results += 1
        page.wait_for_selector(f"body[data-result='{results}']", timeout=120_000)
        page.wait_for_timeout(300)
        assert page.evaluate(boxes)[:3] == before[:3]
        assert sum(page.evaluate("shifts")) < 0.001
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scroll
        viewport = page.locator("#viewport").bounding_box()
        readout = page.locator("#image-info").bounding_box()
        if width >= 1000:
            # The caption under the photo is on the first screen.
            assert readout["y"] + readout["height"] <= height
        else:
            # The photo starts right under the phone layout's one header line, all on screen.
            assert viewport["y"] <= 56
            assert viewport["y"] + viewport["height"] <= height
    finally:
        context.close()


def test_keyboard_focus_order_and_activation(app_factory):
    app = app_factory("?keys")
    page = app.page
    app.upload(PNG)
    seen = []
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => {
            const e = document.activeElement;
            const shown = e.matches('input[type=file]') ? e.nextElementSibling : e;
            const name = e.id || e.textContent.trim().slice(0, 20) || e.tagName;
            return [name, getComputedStyle(shown).outlineStyle]; }"""
        )
        seen.append(focused[0])
        assert focused[1] != "none", f"{focused[0]} has no visible focus"
    order = ["file", "astronaut", "viewport", "opacity", "view-mode", "zoom-fit", "legend-filter"]
    positions = [seen.index(name) for name in order]
    assert positions == sorted(positions), seen
    # Enter on a legend entry isolates its class; Space on it shows all again.
    page.focus("#legend li button >> nth=0")
    page.keyboard.press("Enter")
    assert page.get_attribute("#legend li button >> nth=0", "aria-pressed") == "true"
    page.keyboard.press("Space")
    assert page.get_attribute("#legend li button >> nth=0", "aria-pressed") == "false"
    # O switches the overlay off and on.
    page.focus("#viewport")
    page.keyboard.press("o")
    assert page.input_value("#opacity") == "0"
    page.keyboard.press("o")
    assert page.input_value("#opacity") == "60"

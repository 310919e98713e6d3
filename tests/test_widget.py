"""The iframe widget (web/embed/): a host page on one origin, the widget on another
(127.0.0.1 vs localhost, different ports), talking postMessage as a site owner's page would."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from conftest import (
    BYTES_AS_BASE64,
    PHOTOS,
    ROOT,
    bytes_from_base64,
    native_segmenter,
    serve_site,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PNG = next(p for p in PHOTOS if p.suffix == ".png")  # PNG: every decoder agrees


@pytest.fixture(scope="module")
def origins(built_site):
    """(widget origin, host origin): the same build served twice, on two origins."""
    with (
        serve_site(built_site, dual_stack=True) as widget_port,
        serve_site(built_site) as host_port,
    ):
        yield f"http://localhost:{widget_port}", f"http://127.0.0.1:{host_port}"


def host_url(host: str, widget: str, allowed: str) -> str:
    widget_url = f"{widget}/embed/embed.html?origins={quote(allowed, safe='')}"
    return f"{host}/embed/example-host.html?widget={quote(widget_url, safe='')}"


@pytest.fixture(scope="module")
def host_page(browser, origins):
    widget, host = origins
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(host_url(host, widget, host))
    page.wait_for_function(
        "widgetMessages.some(m => m.type === 'ready')", timeout=120_000, polling=200
    )
    page.errors = errors
    yield page
    page.close()


def widget_frame(page):
    return next(f for f in page.frames if f.url.split("?")[0].endswith("/embed/embed.html"))


def wait_reply(page, id_, timeout=120_000):
    answer = f"m => m.id === {id_!r} && (m.type === 'result' || m.type === 'error')"
    page.wait_for_function(f"widgetMessages.some({answer})", timeout=timeout, polling=100)
    return page.evaluate(
        f"""() => {{
        const m = widgetMessages.find({answer});
        return {{...m, labels: m.labels ? ({BYTES_AS_BASE64})(m.labels) : undefined,
                 overlay: m.overlay ? [m.overlay.width, m.overlay.height] : undefined,
                 confidence: m.confidence ? m.confidence.length : undefined}};
    }}"""
    )


def test_round_trip_from_another_origin(host_page, origins):
    """A File picked on the host page, an ArrayBuffer and an ImageBitmap: each answered with
    the label map (same labels as the CPython pipeline), a summary and, if asked, an overlay."""
    widget, _ = origins
    page = host_page
    ready = page.evaluate("widgetMessages.find(m => m.type === 'ready')")
    assert ready["protocol"] == 1 and ready["backend"].startswith("wasm")
    assert ready["summaries"] == [1, 2]

    page.set_input_files("#host-file", str(PNG))  # the example page sends id 'photo-1'
    result = wait_reply(page, "photo-1")
    assert result["type"] == "result", result
    height, width = native_segmenter("q8").segment_sync(PNG.read_bytes()).labels.shape
    assert (result["width"], result["height"]) == (width, height)
    labels = bytes_from_base64(result["labels"]).reshape(height, width)
    expected = native_segmenter("q8").segment_sync(PNG.read_bytes()).labels
    assert (labels == expected).mean() >= 0.995
    summary = result["summary"]
    assert sum(c["pixels"] for c in summary["classes"]) == width * height
    assert summary["classes"][0]["id"] == int(np.bincount(labels.ravel()).argmax())
    assert result["overlay"] == [width, height]
    # The host page shows what it got, in words.
    assert f"result photo-1: {width}×{height}" in page.inner_text("#host-log")

    # ArrayBuffer and ImageBitmap, sent by script from the host's origin, numeric ids.
    data = base64.b64encode(PNG.read_bytes()).decode()
    page.evaluate(
        """([bytes, origin]) => {
        const raw = Uint8Array.from(atob(bytes), (c) => c.charCodeAt(0));  // sent as base64
        const frame = document.getElementById('widget').contentWindow;
        const buffer = raw.buffer;
        const options = {confidence: true};
        frame.postMessage({type: 'segment', id: 2, image: buffer, options}, origin);
        return createImageBitmap(new Blob([raw])).then((bitmap) =>
            frame.postMessage({type: 'segment', id: 3, image: bitmap}, origin, [bitmap]));
    }""",
        [data, widget],
    )
    for id_ in (2, 3):
        answer = wait_reply(page, id_)
        assert answer["type"] == "result", answer
        again = bytes_from_base64(answer["labels"]).reshape(height, width)
        # The same pixels in, the same labels out, however the image was sent.
        np.testing.assert_array_equal(again, labels)
        assert answer["overlay"] is None
        # Asked for confidence (id 2): its summary has each class's mean confidence too.
        means = [c.get("mean_confidence") for c in answer["summary"]["classes"]]
        assert all(0 < m <= 1 for m in means) if id_ == 2 else means == [None] * len(means)
    assert page.errors == []


def test_summary_2_is_the_schema_and_1_is_mapped_from_it(host_page, origins):
    """options.summary 2: the summary schema, as the page's download writes it; the default
    (protocol 1's shape) carries the same classes and counts, mapped from it."""
    widget, _ = origins
    page = host_page
    page.evaluate(
        """([bytes, origin]) => {
        const image = Uint8Array.from(atob(bytes), (c) => c.charCodeAt(0));  // sent as base64
        const frame = document.getElementById('widget').contentWindow;
        frame.postMessage({type: 'segment', id: 's2', image, options: {summary: 2}}, origin);
        frame.postMessage({type: 'segment', id: 's1', image, options: {summary: 1}}, origin);
    }""",
        [base64.b64encode(PNG.read_bytes()).decode(), widget],
    )
    schema, v1 = (wait_reply(page, i) for i in ("s2", "s1"))
    assert schema["type"] == v1["type"] == "result", (schema, v1)
    schema, v1 = schema["summary"], v1["summary"]
    width, height = v1["width"], v1["height"]
    assert (schema["width"], schema["height"]) == (width, height)
    assert schema["schema_version"] and schema["photo"] is None  # bytes, not a File: no name
    assert schema["backend"] == v1["backend"]
    assert set(v1) == {"width", "height", "backend", "model", "timings", "unlabelled", "classes"}
    assert v1["unlabelled"] == 255 and v1["model"]["id"]
    fields = ("id", "name", "color", "pixels", "fraction")
    assert [{k: c[k] for k in fields} for c in v1["classes"]] == [
        {k: c[k] for k in fields} for c in schema["classes"]
    ]
    assert sum(c["pixels"] for c in schema["classes"]) == width * height
    # No confidence asked for: no confidence map computed for the summary either.
    assert schema["confidence"] is None
    assert all(c["mean_confidence"] is None for c in schema["classes"])
    assert all("mean_confidence" not in c for c in v1["classes"])
    assert page.errors == []


def test_resolution_keep_and_detail_through_the_widget(host_page, origins):
    """options.resolution (issue 20): keep and detail answered with the labels the CPython
    pipeline gives in that mode, the mode, input size and windows in the reply and in the
    summary (schema 2), and detail's windows told to the host as progress."""
    widget, _ = origins
    page = host_page
    photo = PHOTOS[0]  # ADE_val_00000001.jpg, 683x512: keep runs at 683x512, detail in 2 windows
    page.evaluate(
        """([bytes, origin]) => {
        const image = Uint8Array.from(atob(bytes), (c) => c.charCodeAt(0));  // sent as base64
        const frame = document.getElementById('widget').contentWindow;
        for (const resolution of ['keep', 'detail'])
          frame.postMessage({type: 'segment', id: 'res-' + resolution, image,
                             options: {resolution, summary: 2}}, origin);
    }""",
        [base64.b64encode(photo.read_bytes()).decode(), widget],
    )
    for mode in ("keep", "detail"):
        answer = wait_reply(page, f"res-{mode}")
        assert answer["type"] == "result", answer
        reference = native_segmenter("q8").segment_sync(photo.read_bytes(), resolution=mode)
        assert answer["resolution"] == reference.resolution, mode
        assert answer["summary"]["resolution"] == reference.resolution, mode
        height, width = reference.labels.shape
        labels = bytes_from_base64(answer["labels"]).reshape(height, width)
        # JPEG: Pyodide's libjpeg and native Pillow's libjpeg-turbo decode a little apart.
        assert (labels == reference.labels).mean() >= 0.99, mode
    assert reference.resolution["windows"] == 2
    windows = page.evaluate(
        "widgetMessages.filter(m => m.id === 'res-detail' && m.stage === 'window')"
        ".map(m => [m.done, m.total])"
    )
    assert windows == [[1, 2], [2, 2]]
    assert page.errors == []


def test_malformed_requests_get_an_error_reply(host_page, origins):
    widget, _ = origins
    page = host_page
    before = widget_frame(page).get_attribute("body", "data-result")
    page.evaluate(
        """(origin) => {
        const frame = document.getElementById('widget').contentWindow;
        for (const message of [
            'segment this please',
            null,
            {type: 'segment', image: new Blob(['x'])},
            {type: 'segment', id: 'no-image'},
            {type: 'segment', id: 'bad-image', image: 42},
            {type: 'segment', id: 'bad-options', image: new Blob(['x']), options: 'fast'},
            {type: 'segment', id: 'bad-summary', image: new Blob(['x']), options: {summary: 3}},
            {type: 'segment', id: 'bad-res', image: new Blob(['x']), options: {resolution: '4k'}},
            {type: 'explode', id: 7},
        ]) frame.postMessage(message, origin);
        // A well-formed request whose bytes are not an image: the engine's own message.
        frame.postMessage({type: 'segment', id: 'text', image: new Blob(['not a photo'])}, origin);
    }""",
        widget,
    )
    page.wait_for_function(
        "widgetMessages.filter(m => m.type === 'error').length >= 10", timeout=60_000
    )
    errors = page.evaluate("widgetMessages.filter(m => m.type === 'error')")
    by_id = {}
    for e in errors:
        by_id.setdefault(e["id"], []).append(e)
    assert len(by_id[None]) == 3 and all(e["code"] == "bad-request" for e in by_id[None])
    for id_ in ("no-image", "bad-image", "bad-options", "bad-summary", "bad-res", 7):
        assert by_id[id_][0]["code"] == "bad-request", by_id[id_]
    assert by_id["text"][0]["code"] == "bad-image"
    assert "not an image format" in by_id["text"][0]["message"]
    # Nothing was shown for them, nothing broke, and the widget still answers.
    assert widget_frame(page).get_attribute("body", "data-result") == before
    page.evaluate(
        "(origin) => document.getElementById('widget').contentWindow"
        ".postMessage({type: 'hello', id: 'still-there'}, origin)",
        widget,
    )
    page.wait_for_function("widgetMessages.some(m => m.id === 'still-there')", timeout=10_000)
    assert page.errors == []


def test_other_origins_are_ignored(browser, host_page, origins):
    """A frame of another origin posting to the widget gets nothing back; a page of another
    origin embedding the widget gets a widget that does nothing."""
    widget, host = origins
    # A third origin: the widget's dual-stack server also answers on 127.0.0.2.
    stranger = widget.replace("localhost", "127.0.0.2")
    page = host_page
    # A sibling frame from another origin, on the same host page, talks to the widget.
    page.evaluate(
        """(src) => new Promise((resolve) => {
        const frame = document.createElement('iframe');
        frame.src = src; frame.title = 'stranger'; frame.onload = resolve;
        document.body.append(frame);
    })""",
        # (under /embed/: the only path with CORP, which this COEP host page requires)
        f"{stranger}/embed/embed-config.json",
    )
    frame = next(f for f in page.frames if f.url.startswith(stranger))
    results_before = widget_frame(page).get_attribute("body", "data-result")
    count_before = page.evaluate("widgetMessages.length")
    frame.evaluate(
        """(bytes) => {
        const raw = Uint8Array.from(atob(bytes), (c) => c.charCodeAt(0));  // sent as base64
        window.got = [];
        addEventListener('message', (e) => got.push(e.data));
        const widget = parent.frames[0];
        widget.postMessage({type: 'hello', id: 'stranger'}, '*');
        widget.postMessage({type: 'segment', id: 'stranger-photo',
                            image: new Blob([raw])}, '*');
        widget.postMessage('malformed', '*');
    }""",
        base64.b64encode(PNG.read_bytes()).decode(),
    )
    page.wait_for_timeout(4000)
    assert frame.evaluate("got") == []
    assert page.evaluate("widgetMessages.length") == count_before
    assert widget_frame(page).get_attribute("body", "data-result") == results_before

    # The widget embedded by a page whose origin is not on its list.
    other = browser.new_page()
    try:
        other.goto(host_url(stranger, widget, host))
        frame = None
        for _ in range(50):
            frame = next(
                (f for f in other.frames if f.url.split("?")[0].endswith("/embed/embed.html")),
                None,
            )
            if frame:
                break
            other.wait_for_timeout(100)
        frame.wait_for_selector("body[data-refused=true]", timeout=30_000)
        assert "not enabled for this site" in frame.inner_text("#status")
        other.wait_for_timeout(2000)
        assert other.evaluate("widgetMessages") == []
    finally:
        other.close()


def test_widget_never_posts_to_any_origin():
    """No postMessage with a '*' target in the widget: replies go to the requester's origin,
    unsolicited messages to the parent under each allowed origin (the browser drops the rest)."""
    code = (ROOT / "web" / "embed" / "embed.js").read_text()
    calls = re.findall(r"postMessage\((.*)", code)
    assert len(calls) >= 2
    assert all("targetOrigin: " in call for call in calls), calls
    assert not re.search(r"targetOrigin:\s*['\"]\*", code)


def module_graph(entry: Path) -> set[Path]:
    """Every web/ module `entry` loads: static and dynamic imports, and workers it starts
    (`new URL('./x.js', import.meta.url)`)."""
    pattern = re.compile(
        r"""(?:\bfrom\s*|\bimport\s*\(?\s*|new URL\(\s*)['"](\.{1,2}/[^'"]+\.m?js)['"]"""
    )
    seen: set[Path] = set()
    todo = [entry.resolve()]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        code = re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.S)  # comments name
        code = re.sub(r"^\s*//.*$", "", code, flags=re.M)  # examples, not imports
        for spec in pattern.findall(code):
            target = (path.parent / spec).resolve()
            if target.is_relative_to(ROOT / "web" / "vendor") or target == ROOT / "web" / "sw.js":
                continue  # added by the build: Pyodide, onnxruntime-web, the service worker
            assert target.is_file(), f"{path.relative_to(ROOT)} imports {spec}, which is missing"
            todo.append(target)
    return seen


def test_widget_and_app_share_code_through_lib_only():
    """The widget's room (web/embed/) leans on the shared room (web/lib/), never on the app's
    (web/app/): the legend, the painter and its worker, the colouring are in web/lib/."""
    web = ROOT / "web"
    widget = module_graph(web / "embed" / "embed.js")
    app = module_graph(web / "app" / "main.js")
    rooms = {p.relative_to(web).parts[0] for p in widget}
    assert rooms <= {"embed", "lib", "worker"}, sorted(str(p.relative_to(web)) for p in widget)
    shared = {p.relative_to(web).as_posix() for p in widget & app}
    # What both draw with, from the one shared room (and the engine's worker behind the API).
    for module in ("lib/sceneseg.js", "lib/legend.js", "lib/painter.js", "lib/paint-worker.js"):
        assert module in shared, module
    assert "lib/colorize.js" in shared
    assert {m for m in shared if not m.startswith(("lib/", "worker/"))} == set()
    # web/lib/ itself depends on no UI room.
    for path in (web / "lib").glob("*.js"):
        for module in module_graph(path):
            assert module.relative_to(web).parts[0] in {"lib", "worker"}, (path.name, module)

"""Ways into the installed app from outside the page (issue 19), in headless Chromium: photos
shared into it (the manifest's share_target: a multipart POST navigation that the service worker
answers, online and with the network off) and files opened with it (file_handlers: launchQueue,
driven by Chromium's DevTools protocol PWA.install + PWA.launchFilesInApp).

The share is submitted from a separate page of the same origin (the app's own CSP has
form-action 'none', and the system's share sheet is not the app's page either), with the field
name and action the manifest gives. A server that logs every request proves that the POST never
reached the network: the service worker answered it.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import CHROMIUM, CHROMIUM_ARGS, PHOTOS, ROOT

PHOTO = next(p for p in PHOTOS if p.name == "chelsea.png")  # small: 451x300
OTHERS = [p for p in PHOTOS if p.name in {"coffee.png", "rocket.jpg"}]
MANIFEST = json.loads((ROOT / "web" / "manifest.webmanifest").read_text())
SHARE_CACHE = "sceneseg-share"  # web/sw/service-worker.js, web/app/share/share-intake.js
# What the app decodes (py/sceneseg/processing.py's _SUPPORTED): JPEG, PNG, WebP, GIF, BMP, TIFF.
DECODED = {
    "image/jpeg": {".jpg", ".jpeg"},
    "image/png": {".png"},
    "image/webp": {".webp"},
    "image/gif": {".gif"},
    "image/bmp": {".bmp"},
    "image/tiff": {".tif", ".tiff"},
}
MIME = {".png": "image/png", ".jpg": "image/jpeg"}
# An iPhone photo's first bytes (ISO BMFF 'ftyp', brand heic): a share the app cannot read.
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)


def test_the_manifest_declares_a_share_target_and_file_handlers():
    share = MANIFEST["share_target"]
    assert share["method"] == "POST" and share["enctype"] == "multipart/form-data"
    # Same origin, inside the scope: the service worker sees the POST.
    action = urllib.parse.urljoin("https://example.org/app/manifest.webmanifest", share["action"])
    assert action.startswith("https://example.org/app/")
    [files] = share["params"]["files"]
    assert files["name"]
    accept = set(files["accept"])
    [handler] = MANIFEST["file_handlers"]
    assert urllib.parse.urljoin(
        "https://example.org/app/manifest.webmanifest", handler["action"]
    ) == (
        urllib.parse.urljoin("https://example.org/app/manifest.webmanifest", MANIFEST["start_url"])
    )
    # Both list exactly the types the app decodes, by MIME type and by extension.
    assert set(handler["accept"]) == set(DECODED)
    for mime, extensions in DECODED.items():
        assert extensions <= set(handler["accept"][mime]), mime
        assert {mime, *handler["accept"][mime]} <= accept, mime
    assert accept == set(handler["accept"]) | {e for es in handler["accept"].values() for e in es}
    assert MANIFEST["launch_handler"] == {"client_mode": "focus-existing"}
    # The page keeps form-action 'none': a share is a navigation from outside, not its own form.
    assert "form-action 'none'" in (ROOT / "web" / "index.html").read_text()


# ---- a site with a "share sheet" page --------------------------------------------------------


class ShareSite:
    """The built site on its own port with build.py's handler, plus /share-form.html: a page of
    the same origin with the manifest's share form (its field name, action, method, enctype).
    Logs (method, path, status) of every request."""

    def __init__(self, directory: Path, isolation_headers: bool = True):
        from sitebuild.server import Handler

        manifest = json.loads((directory / "manifest.webmanifest").read_text())
        share = manifest["share_target"]
        field = share["params"]["files"][0]["name"]
        form = (
            "<!doctype html><meta charset=utf-8><title>Share sheet</title>"
            f'<form id=share method={share["method"]} enctype="{share["enctype"]}" '
            f'action="{share["action"]}"><input type=file name="{field}" multiple></form>'
        ).encode()  # the form page sits beside the manifest: its action resolves the same
        self.log: list[tuple[str, str, int]] = []
        log = self.log

        class Logged(Handler):
            def do_GET(self):
                if self.path == "/share-form.html":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(form)))
                    self.end_headers()
                    self.wfile.write(form)
                    return
                super().do_GET()

            def log_request(self, code="-", size="-"):
                log.append((self.command, self.path.split("?")[0], int(code)))

        Logged.isolation_headers = isolation_headers  # False: a host that cannot send COOP/COEP
        self.handler = functools.partial(Logged, directory=str(directory))
        self.start(0)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def start(self, port: int) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), self.handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @contextlib.contextmanager
    def network_off(self, context):
        """No server and the browser offline (Playwright's offline mode alone lets the
        browser's own service-worker update check through); back on the same origin after."""
        port = self.server.server_address[1]
        context.set_offline(True)
        self.stop()
        try:
            yield
        finally:
            self.start(port)
            context.set_offline(False)


@pytest.fixture(scope="module")
def site(built_site):
    site = ShareSite(built_site)
    yield site
    site.stop()


@pytest.fixture(scope="module")
def installed(browser, site, tmp_path_factory):
    """A visitor who has used the app once: the service worker has cached the site, the model is
    in IndexedDB. Yields (context, the labels of PHOTO picked through input#file)."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(site.url)
    page.wait_for_selector("body[data-ready=true]", timeout=180_000)
    page.wait_for_selector("body[data-offline-ready=true]", timeout=120_000)
    assert page.evaluate("navigator.serviceWorker.ready.then(r => Boolean(r.active))")
    page.set_input_files("#file", str(PHOTO))
    page.wait_for_selector("body[data-result='1']", timeout=120_000)
    labels = download_labels(page, tmp_path_factory.mktemp("picked") / "labels.png")
    page.close()
    yield context, labels
    context.close()


def download_labels(page, path: Path) -> np.ndarray:
    page.wait_for_selector("#download-labels[aria-disabled=false]")
    with page.expect_download() as download:
        page.click("#download-labels")
    download.value.save_as(path)
    return np.asarray(Image.open(path))


def share(page, site: ShareSite, files) -> str:
    """Submit `files` (paths or Playwright file payloads) from the share page: a POST
    navigation to the share target. Returns the share's id."""
    open_share_sheet(page, site)
    return submit_share(page, files)


def open_share_sheet(page, site: ShareSite) -> None:
    page.goto(site.url + "share-form.html")


def payload(path: Path) -> dict:
    return {"name": path.name, "mimeType": MIME[path.suffix], "buffer": path.read_bytes()}


def submit_share(page, files) -> str:
    # As payloads (Playwright does not mix paths and payloads), typed as a phone would.
    payloads = [f if isinstance(f, dict) else payload(f) for f in files]
    page.set_input_files("#share input[type=file]", payloads)
    with page.expect_navigation(url=lambda url: "share-form" not in url, timeout=60_000) as nav:
        page.evaluate("document.getElementById('share').submit()")
    # The service worker's 303 sent the page to ./?share=<id> (then cleaned by the page).
    query = urllib.parse.urlparse(nav.value.url).query
    return urllib.parse.parse_qs(query)["share"][0]


PARKED = f"""async () => {{
  const cache = await caches.open('{SHARE_CACHE}');
  return (await cache.keys()).map((r) => new URL(r.url).pathname).sort();
}}"""


def assert_taken(page, site: ShareSite, share_id: str, labels, tmp_path: Path) -> None:
    """The shared PHOTO segmented in the Photo view as a pick is, on an isolated page with a
    clean URL, nothing parked, and the POST never on the wire."""
    page.wait_for_selector("body[data-result='1']", timeout=180_000)
    assert page.get_attribute("body", "data-mode") == "photo"
    assert page.evaluate("crossOriginIsolated") is True
    assert int(page.get_attribute("#engine", "data-threads")) >= 2
    assert page.url == site.url  # ?share=<id> cleaned with replaceState
    assert page.evaluate("location.search") == ""
    shared = download_labels(page, tmp_path / "shared.png")
    assert shared.shape == labels.shape == (300, 451)
    assert np.array_equal(shared, labels)
    assert not [path for path in page.evaluate(PARKED) if share_id in path]
    assert [entry for entry in site.log if entry[0] == "POST"] == []


@pytest.mark.browser
@pytest.mark.slow
def test_a_shared_photo_is_segmented_online_and_offline(installed, site, tmp_path):
    context, labels = installed
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # Leftovers of earlier shares: one an hour old (its tab closed before taking it) goes at the
    # next start; a young one may be another tab's share that is opening now, so it stays.
    page.goto(site.url + "share-form.html")
    page.evaluate(
        f"""async () => {{
          const cache = await caches.open('{SHARE_CACHE}');
          for (const id of [`${{Date.now() - 3600e3}}-0ld0ld00`, `${{Date.now()}}-y0un9000`]) {{
            await cache.put(`share/${{id}}/list`, new Response('{{"files": []}}'));
            await cache.put(`share/${{id}}/0`, new Response('x'));
          }}
        }}"""
    )
    site.log.clear()
    share_id = share(page, site, [PHOTO])
    assert_taken(page, site, share_id, labels, tmp_path)
    # No leftover but the young one (which this test then removes).
    young = page.evaluate(PARKED)
    assert [p.split("/")[-2][-8:] for p in young] == ["y0un9000", "y0un9000"], young
    page.evaluate(
        f"""async () => {{ const cache = await caches.open('{SHARE_CACHE}');
           for (const r of await cache.keys()) await cache.delete(r); }}"""
    )

    # The network off (after the share sheet's page is loaded: it is not the app's): the POST,
    # the app and the engine all from the device.
    open_share_sheet(page, site)
    with site.network_off(context):
        share_id = submit_share(page, [PHOTO])
        assert_taken(page, site, share_id, labels, tmp_path)
    assert errors == []
    page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_a_share_is_isolated_on_a_host_without_isolation_headers(browser, built_site):
    """The share's redirect lands on index.html from the service worker's cache, which adds
    COOP/COEP itself: threads after a share launch even where the host sends no such header."""
    site = ShareSite(built_site, isolation_headers=False)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(site.url)
        page.wait_for_selector("body[data-offline-ready=true]", timeout=180_000)
        assert page.evaluate("crossOriginIsolated") is False  # the first visit: the host's headers
        share(page, site, [PHOTO])
        page.wait_for_selector("body[data-result='1']", timeout=180_000)
        assert page.evaluate("crossOriginIsolated") is True
        assert int(page.get_attribute("#engine", "data-threads")) >= 2
    finally:
        context.close()
        site.stop()


@pytest.mark.browser
@pytest.mark.slow
def test_several_shared_photos_go_to_batch(installed, site):
    context, _ = installed
    page = context.new_page()
    photos = [PHOTO, *OTHERS]
    share_id = share(page, site, photos)
    page.wait_for_selector("#batch[data-state=done]", timeout=300_000)
    assert page.get_attribute("body", "data-mode") == "batch"
    assert page.get_attribute("#batch", "data-done") == str(len(photos))
    names = page.locator("#batch-list li .name").all_inner_texts()
    assert names == [p.name for p in photos]
    assert page.evaluate("location.search") == ""
    assert not [path for path in page.evaluate(PARKED) if share_id in path]
    assert page.evaluate("crossOriginIsolated") is True
    page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_a_share_without_a_usable_photo_says_so(installed, site, tmp_path):
    context, labels = installed
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    heic = {"name": "IMG_0001.HEIC", "mimeType": "image/heic", "buffer": HEIC}
    text = {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a photo\n"}
    share_id = share(page, site, [heic, text])
    page.wait_for_selector("#error:not([hidden])", timeout=60_000)
    message = page.inner_text("#error")
    assert "Nothing to open" in message and "IMG_0001.HEIC" in message and "notes.txt" in message
    assert "HEIC" in message and "JPEG" in message  # what it is, and what to share instead
    assert not [path for path in page.evaluate(PARKED) if share_id in path]
    # The app keeps working: a photo picked next is segmented.
    page.wait_for_selector("body[data-ready=true]", timeout=180_000)
    page.set_input_files("#file", str(PHOTO))
    page.wait_for_selector("body[data-result='1']", timeout=120_000)
    assert page.is_hidden("#error")

    # An empty share (a file field with nothing chosen) says so too.
    share(page, site, [])
    page.wait_for_selector("#error:not([hidden])", timeout=60_000)
    assert "held no file" in page.inner_text("#error")

    # A photo and a text file: the photo opens, the text file is named as not opened.
    share(page, site, [PHOTO, text])
    page.wait_for_selector("body[data-result='1']", timeout=180_000)
    assert page.get_attribute("body", "data-mode") == "photo"
    assert "Not opened: notes.txt" in page.inner_text("#error")
    assert np.array_equal(download_labels(page, tmp_path / "mixed.png"), labels)
    assert errors == []
    page.close()


# ---- opened with the app: file handlers and launchQueue ---------------------------------------


@pytest.mark.browser
@pytest.mark.slow
def test_files_opened_with_the_app_by_the_real_launch_path(playwright, site, tmp_path):
    """PWA.install and PWA.launchFilesInApp: Chromium launches the installed app with the files
    as the OS would (file_handlers), and the page's launchQueue consumer opens them. Installing
    needs a profile on disk: a persistent context, not an incognito-like one."""
    context = playwright.chromium.launch_persistent_context(
        tmp_path / "profile", executable_path=CHROMIUM, args=CHROMIUM_ARGS, accept_downloads=True
    )
    try:
        page = context.pages[0] if context.pages else context.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(site.url)
        page.wait_for_selector("body[data-offline-ready=true]", timeout=180_000)
        cdp = context.new_cdp_session(page)
        manifest_id = urllib.parse.urljoin(site.url + "manifest.webmanifest", MANIFEST["id"])
        cdp.send("PWA.install", {"manifestId": manifest_id})
        state = cdp.send("PWA.getOsAppState", {"manifestId": manifest_id})
        accepts = {a["mediaType"] for h in state["fileHandlers"] for a in h["accepts"]}
        assert accepts == set(DECODED)

        # Launched with one photo and no window of the app open: headless Chromium opens the app
        # in the tab it has, and the photo is segmented in the Photo view at start.
        page.goto("about:blank")
        cdp.send("PWA.launchFilesInApp", {"manifestId": manifest_id, "files": [str(PHOTO)]})
        page.wait_for_url(site.url, timeout=60_000)
        page.wait_for_selector("body[data-result='1']", timeout=180_000)
        assert page.get_attribute("body", "data-mode") == "photo"
        assert page.evaluate("crossOriginIsolated") is True
        started = page.evaluate("performance.timeOrigin")
        workers = engine_workers(cdp)
        assert workers == 1

        # With the app open (launch_handler focus-existing): two photos go to that window's
        # Batch, one photo after them to its Photo view; no new page, no second engine.
        photos = [PHOTO, OTHERS[0]]
        cdp.send(
            "PWA.launchFilesInApp", {"manifestId": manifest_id, "files": [str(p) for p in photos]}
        )
        page.wait_for_selector("#batch[data-state=done]", timeout=300_000)
        assert page.get_attribute("body", "data-mode") == "batch"
        assert page.locator("#batch-list li .name").all_inner_texts() == [p.name for p in photos]
        cdp.send("PWA.launchFilesInApp", {"manifestId": manifest_id, "files": [str(PHOTO)]})
        page.wait_for_selector("body[data-result='2']", timeout=180_000)
        assert page.get_attribute("body", "data-mode") == "photo"
        assert page.evaluate("performance.timeOrigin") == started  # the same document
        assert [p.url for p in context.pages] == [site.url]
        assert engine_workers(cdp) == 1
        assert errors == []
    finally:
        context.close()


def engine_workers(cdp, settle_s: float = 10.0) -> int:
    """The engine's Web Workers alive in the browser (one per running engine), once the count
    has come down to 1 or settle_s has passed: a worker of a page just navigated away from
    can stay listed a moment after its page is gone (a busy machine: seen once in CI)."""
    deadline = time.monotonic() + settle_s
    while True:
        targets = cdp.send("Target.getTargets")["targetInfos"]
        count = sum(
            1 for t in targets if t["type"] == "worker" and t["url"].endswith("/segment-worker.js")
        )
        if count <= 1 or time.monotonic() > deadline:
            return count
        time.sleep(0.25)

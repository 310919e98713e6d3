"""Start-up, offline use and caching, in headless Chromium, proven from what the server sees.

Every test serves its own copy of the built site through a server that logs each request, so
"a return visit downloads no model byte" and "works with the network off" are facts about the
wire, not about what the page says.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import json
import shutil
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import build
from conftest import PHOTOS, ROOT, STANDIN_ID, STORED_SNAPSHOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHOTO = next(p for p in PHOTOS if p.name == "chelsea.png")  # small: 451x300
# The file the WASM session loads: the q8 model's ORT-format copy (sitebuild/ort_format).
MODEL_FILE = f"models/{STANDIN_ID}/onnx/model_quantized.ort"


class Site:
    """A copy of the built site on its own port, with a log of (path, HTTP status)."""

    def __init__(self, directory: Path, isolation_headers: bool = True):
        self.directory = directory
        self.log: list[tuple[str, int]] = []
        log = self.log

        class Logged(build.Handler):
            def log_request(self, code="-", size="-"):
                log.append((self.path.split("?")[0], int(code)))

        Logged.isolation_headers = isolation_headers
        handler = functools.partial(Logged, directory=str(directory))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def requested(self, path: str) -> list[tuple[str, int]]:
        return [entry for entry in self.log if entry[0] == "/" + path]

    def downloaded(self) -> dict[str, int]:
        """Files sent whole (200), with their sizes."""
        sent = {path for path, status in self.log if status == 200}
        return {
            p: (self.directory / p.lstrip("/").rstrip("/")).stat().st_size
            for p in sent
            if (self.directory / p.lstrip("/")).is_file()
        }

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def site_copy(built_site: Path, tmp_path: Path, **options):
    directory = tmp_path / "site"
    shutil.copytree(built_site, directory)
    site = Site(directory, **options)
    try:
        yield site
    finally:
        site.stop()


@contextlib.contextmanager
def fresh_context(browser):
    """An empty profile: a first visit. Reloads in it are return visits."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    try:
        yield context
    finally:
        context.close()


def wait_ready(page, timeout=180_000):
    page.wait_for_selector("body[data-ready=true]", timeout=timeout)


def segment(page, tmp_path: Path, count: int) -> np.ndarray:
    """Pick the photo, wait for result number `count`, return the downloaded label map."""
    page.set_input_files("#file", str(PHOTO))
    page.wait_for_selector(f"body[data-result='{count}']", timeout=120_000)
    page.wait_for_selector("#download-labels[aria-disabled=false]")
    with page.expect_download() as download:
        page.click("#download-labels")
    path = tmp_path / f"labels-{count}.png"
    download.value.save_as(path)
    return np.asarray(Image.open(path))


def wait_offline_ready(page):
    page.wait_for_selector("body[data-offline-ready=true]", timeout=120_000)
    # The service worker's install (precache) has finished once it is active.
    assert page.evaluate("navigator.serviceWorker.ready.then(r => Boolean(r.active))")


# onnxruntime-web's binary, and the model file the WASM session loads (its ORT format too).
@pytest.mark.parametrize(
    "path, ratio", [("vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm", 0.5), (MODEL_FILE, 0.8)]
)
def test_served_gzip_like_a_static_host(path, ratio, site_url, built_site):
    request = urllib.request.Request(site_url + path, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        body = response.read()
    original = (built_site / path).read_bytes()
    assert gzip.decompress(body) == original
    assert len(body) < ratio * len(original)
    with urllib.request.urlopen(site_url + path) as response:  # no Accept-Encoding: as is
        assert response.headers["Content-Encoding"] is None
        assert response.read() == original


def precache_list(site: Path) -> dict:
    """sw.js's PRECACHE: {version, files, lazy}, as build.py wrote it."""
    sw = (site / "sw.js").read_text()
    return json.loads(sw[sw.index("{") : sw.index("};") + 1])


def test_the_service_worker_lists_every_file_but_the_weights(built_site):
    precache = precache_list(built_site)
    info = json.loads((built_site / "build-info.json").read_text())
    assert precache["version"] == info["version"]
    on_disk = {
        p.relative_to(built_site).as_posix() for p in built_site.rglob("*") if p.is_file()
    } - {"sw.js"}
    weights = {p for p in on_disk if p.startswith(f"models/{STANDIN_ID}/onnx/")}
    assert weights, "the build ships model weights"
    # Every app file is precached, but WebGPU's runtime and the example photos, which are
    # cached on first use.
    assert precache["lazy"], "a q8,fp32 build ships the WebGPU runtime"
    assert all(p.startswith(("vendor/onnxruntime-web/", "examples/")) for p in precache["lazy"])
    assert {"examples/astronaut.jpg", "examples/chelsea.jpg"} <= set(precache["lazy"])
    assert "vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm" in precache["files"]
    assert set(precache["files"]) | set(precache["lazy"]) == on_disk - weights
    assert not set(precache["files"]) & set(precache["lazy"])
    for path, spec in {**precache["files"], **precache["lazy"]}.items():
        assert spec == {
            "size": (built_site / path).stat().st_size,
            "sha256": build.sha256_file(built_site / path),
        }, path
    assert not (built_site / "sw").exists() and not list(built_site.rglob("*.py"))
    manifest = json.loads((built_site / "manifest.webmanifest").read_text())
    purposes = {icon.get("purpose", "any") for icon in manifest["icons"]}
    assert "maskable" in purposes
    for icon in manifest["icons"]:
        if icon["type"] == "image/png":
            with Image.open(built_site / icon["src"]) as image:
                assert f"{image.width}x{image.height}" == icon["sizes"]


def test_the_version_follows_the_content(built_site, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(built_site, copy)
    info = json.loads((copy / "build-info.json").read_text())
    before = info["version"]
    assert build.add_service_worker(copy, dict(info)) == before  # same files, same version
    (copy / "styles.css").write_text((copy / "styles.css").read_text() + "\n/* changed */\n")
    assert build.add_service_worker(copy, dict(info)) != before


# How the page and its resources were answered under the service worker: Resource Timing's
# workerMatchedSourceType, 'cache' for a static route to the cache, '' for the fetch handler.
# (The workers' own module imports appear here too; Chromium applies no route to them.)
ROUTED = """() => ({
  page: performance.getEntriesByType('navigation')[0].workerMatchedSourceType,
  resources: performance.getEntriesByType('resource')
    .map((e) => [e.name, e.workerMatchedSourceType]),
})"""
# Files only the page itself loads (its style sheet and modules: bundled, sitebuild/js_bundles.py).
PAGE_ONLY = ["styles.css", "app/main.js", "app/engine-boot.js"]


def test_first_visit_return_visit_and_offline(browser, built_site, tmp_path):
    with site_copy(built_site, tmp_path) as site, fresh_context(browser) as context:
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(site.url)
        # Picked while the engine is still loading: queued, and said so.
        page.set_input_files("#file", str(PHOTO))
        assert "queued" in page.inner_text("#queued")
        page.wait_for_selector("body[data-result='1']", timeout=180_000)
        assert page.get_attribute("body", "data-ready") == "true"
        timings = json.loads(page.get_attribute("#timings", "data-timings"))
        assert timings["queued"] > 0
        first = segment(page, tmp_path, 2)

        # The progress bar counted every large file the first visit downloaded.
        total = int(page.get_attribute("#progress", "data-total"))
        sizes = site.downloaded()
        large = sum(size for size in sizes.values() if size > 100_000)
        assert large <= total <= sum(sizes.values())
        assert len(site.requested(MODEL_FILE)) == 1

        wait_offline_ready(page)
        site.log.clear()
        page.reload()
        wait_ready(page)
        assert page.evaluate("Boolean(navigator.serviceWorker.controller)")
        # The model's worker read the cached model file itself and made the session from it.
        startup = json.loads(page.get_attribute("#engine", "data-startup"))
        assert startup["model_read_in"] == "model" and startup["session_worker"] == "model"
        # The build's files came from this version's cache by the service worker's static
        # routes (no fetch event); the page itself through its fetch handler.
        routed = page.evaluate(ROUTED)
        listed = {f"{site.url}{path}" for path in precache_list(built_site)["files"]}
        assert {f"{site.url}{path}" for path in PAGE_ONLY} <= listed
        for path in PAGE_ONLY:
            assert [s for url, s in routed["resources"] if url == site.url + path] == ["cache"], (
                path
            )
        # Style sheets, the page's bundles, build-info.json, the workers' scripts, the icon.
        assert sum(s == "cache" for url, s in routed["resources"] if url in listed) >= 8
        assert routed["page"] != "cache"  # '': no route matched it
        assert segment(page, tmp_path, 1).tolist() == first.tolist()
        # A return visit: no model byte, no app file downloaded again.
        assert site.requested(MODEL_FILE) == []
        assert {p: s for p, s in site.downloaded().items() if s > 100_000} == {}
        assert "4.4 MB" in page.inner_text("#app-status")
        # An example photo is cached when first tried (the service worker's lazy files).
        page.click("#examples >> text=cat")
        page.wait_for_selector("body[data-result='2']", timeout=120_000)
        assert site.requested("examples/chelsea.jpg")

        # The network off: the server is gone; everything comes from the device.
        site.stop()
        page.reload()
        wait_ready(page)
        assert segment(page, tmp_path, 1).tolist() == first.tolist()
        # The example tried before works offline; one never tried says it cannot load, and the
        # page keeps working.
        page.click("#examples >> text=cat")
        page.wait_for_selector("body[data-result='2']", timeout=120_000)
        assert page.inner_text("#image-info") == "chelsea.jpg · 451×300"
        page.click("#examples >> text=coffee")
        page.wait_for_selector("#error:not([hidden])", timeout=30_000)
        assert "Could not load the example" in page.inner_text("#error")
        assert segment(page, tmp_path, 3).tolist() == first.tolist()
        assert errors == []


def test_a_damaged_cached_model_is_replaced(browser, built_site, tmp_path):
    with site_copy(built_site, tmp_path) as site, fresh_context(browser) as context:
        page = context.new_page()
        page.goto(site.url)
        wait_ready(page)
        first = segment(page, tmp_path, 1)
        # Truncate the stored bytes, as a crash during a write or a disk error would.
        page.evaluate(
            """() => new Promise((resolve, reject) => {
              const open = indexedDB.open('sceneseg');  // web/worker/idb-store.js
              open.onsuccess = () => {
                const tx = open.result.transaction('models', 'readwrite');
                const store = tx.objectStore('models');
                store.openCursor().onsuccess = (e) => {
                  const cursor = e.target.result;  // cut the bytes short
                  if (cursor) cursor.update({...cursor.value, bytes: new ArrayBuffer(9)});
                };
                tx.oncomplete = () => { open.result.close(); resolve(); };
                tx.onerror = () => reject(tx.error);
              };
            })"""
        )
        site.log.clear()
        page.reload()
        wait_ready(page)
        assert "damaged" in page.inner_text("#app-status") or len(site.requested(MODEL_FILE)) == 1
        assert len(site.requested(MODEL_FILE)) == 1  # fetched again
        # The model's worker found its copy bad (web/worker/model-worker.js): the engine's
        # worker read it, dropped it and downloaded it.
        assert (
            json.loads(page.get_attribute("#engine", "data-startup"))["model_read_in"] == "engine"
        )
        assert segment(page, tmp_path, 1).tolist() == first.tolist()
        # Stored again, whole: the next visit needs no download, and the model's worker reads it.
        site.log.clear()
        page.reload()
        wait_ready(page)
        assert site.requested(MODEL_FILE) == []
        assert json.loads(page.get_attribute("#engine", "data-startup"))["model_read_in"] == "model"


# The two databases of builds before web/worker/idb-store.js, as they wrote them: the model's
# real bytes under 'sceneseg-models'/'files', a snapshot under 'sceneseg-python'/'snapshots'.
OLD_DATABASES = """async ({ url, sha256 }) => {
  const bytes = await (await fetch(url)).arrayBuffer();
  const write = (name, store, options, record, key) => new Promise((resolve, reject) => {
    const open = indexedDB.open(name, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(store, options);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const tx = open.result.transaction(store, 'readwrite');
      tx.objectStore(store).put(record, key);
      tx.oncomplete = () => { open.result.close(); resolve(); };
      tx.onerror = () => reject(tx.error);
    };
  });
  await write('sceneseg-models', 'files', { keyPath: 'sha256' },
              { sha256, name: url, size: bytes.byteLength, bytes, stored: Date.now() });
  const snapshot = { key: 'an older build', data: new Uint8Array(1 << 20), sha256: '0'.repeat(64) };
  await write('sceneseg-python', 'snapshots', undefined, snapshot, 'python');
  return (await indexedDB.databases()).map((d) => d.name).sort();
}"""
# What the one database holds: its store names and the model records' keys.
NEW_DATABASE = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open('sceneseg');
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    const tx = db.transaction(['models']);
    const models = tx.objectStore('models').getAllKeys();
    tx.oncomplete = () => {
      db.close();
      resolve({ stores: [...db.objectStoreNames], models: models.result });
    };
  };
})"""


def test_old_databases_are_migrated_without_downloading_the_model(browser, built_site, tmp_path):
    info = json.loads((built_site / "build-info.json").read_text())
    model = info["models"][STANDIN_ID]
    sha256 = model["files"][model["wasm_files"]["q8"]]["sha256"]  # MODEL_FILE's
    with site_copy(built_site, tmp_path) as site, fresh_context(browser) as context:
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        # A page of the origin that is not the app: the old databases exist before it starts.
        page.goto(site.url + "build-info.json")
        names = page.evaluate(OLD_DATABASES, {"url": "/" + MODEL_FILE, "sha256": sha256})
        assert names == ["sceneseg-models", "sceneseg-python"]
        site.log.clear()

        page.goto(site.url)
        wait_ready(page)
        # The model came from the migrated record: not one request for it on the wire.
        assert site.requested(MODEL_FILE) == []
        assert "model_from_cache" in json.loads(page.get_attribute("#engine", "data-startup"))
        # Nothing left behind: only the one database, with the model under its sha256.
        assert page.evaluate("indexedDB.databases().then(l => l.map(d => d.name))") == ["sceneseg"]
        held = page.evaluate(NEW_DATABASE)
        assert sorted(held["stores"]) == ["models", "python"]
        assert held["models"] == [sha256]
        # The old snapshot was dropped, not restored (another build's); this build stores its
        # own once the worker is idle (in the origin private file system).
        assert json.loads(page.get_attribute("#engine", "data-python"))["mode"] == "normal"
        for _ in range(120):
            if page.evaluate(STORED_SNAPSHOT) is not None:
                break
            page.wait_for_timeout(500)
        assert page.evaluate(STORED_SNAPSHOT)["key"].startswith(info_text_start(built_site))
        labels = segment(page, tmp_path, 1)
        assert labels.shape == (300, 451)

        # The next visit: still no model download, Python from the new snapshot.
        site.log.clear()
        page.reload()
        wait_ready(page)
        assert site.requested(MODEL_FILE) == []
        assert json.loads(page.get_attribute("#engine", "data-python"))["mode"] == "snapshot"
        assert errors == []


def info_text_start(site: Path) -> str:
    """The first 40 characters of the key a snapshot is stored under: build-info.json's text."""
    return (site / "build-info.json").read_text()[:40]


def test_storage_refused_turns_caching_off_not_segmentation(browser, built_site, tmp_path):
    with site_copy(built_site, tmp_path) as site, fresh_context(browser) as context:
        page = context.new_page()
        # A quota far below the model's size: IndexedDB refuses the write (QuotaExceededError).
        cdp = context.new_cdp_session(page)
        cdp.send(
            "Storage.overrideQuotaForOrigin", {"origin": site.url.rstrip("/"), "quotaSize": 100_000}
        )
        page.goto(site.url)
        wait_ready(page)
        # The status line comes in one go after ready, once storage and the service worker's
        # registration are both known (app-status.js).
        page.wait_for_selector("#app-status:not([hidden])")
        status = page.inner_text("#app-status")
        assert "Caching is off" in status and "storage" in status, status
        labels = segment(page, tmp_path, 1)
        assert labels.shape == (300, 451)


def test_clear_cached_model(browser, built_site, tmp_path):
    with site_copy(built_site, tmp_path) as site, fresh_context(browser) as context:
        page = context.new_page()
        page.goto(site.url)
        wait_ready(page)
        page.wait_for_selector("#clear-cache:not([hidden])")
        assert int(page.get_attribute("#app-status", "data-cached-bytes")) > 4_000_000
        page.click("#clear-cache")
        page.wait_for_selector("#app-status[data-cached-bytes='0']")
        assert "No model stored" in page.inner_text("#app-status")
        site.log.clear()
        page.reload()
        wait_ready(page)
        assert len(site.requested(MODEL_FILE)) == 1


def test_a_new_version_waits_for_the_visitor(browser, built_site, tmp_path):
    with site_copy(built_site, tmp_path) as site, fresh_context(browser) as context:
        page = context.new_page()
        page.goto(site.url)
        wait_ready(page)
        wait_offline_ready(page)
        old = json.loads((site.directory / "build-info.json").read_text())["version"]

        # Deploy a new build over the old one: a changed page, a new sw.js.
        index = site.directory / "index.html"
        html = index.read_text()
        assert "<title>SceneSeg —" in html
        index.write_text(html.replace("<title>SceneSeg —", "<title>SceneSeg 2 —"))
        info = json.loads((site.directory / "build-info.json").read_text())
        new = build.add_service_worker(site.directory, info)
        assert new != old

        page.reload()
        wait_ready(page)
        page.wait_for_selector("body[data-update-ready=true]", timeout=120_000)
        # Until the visitor chooses, the old version is served, whole.
        assert page.title().startswith("SceneSeg —")
        served = page.evaluate("fetch('build-info.json').then(r => r.json()).then(i => i.version)")
        assert served == old
        with page.expect_navigation():
            page.click("#update button")
        wait_ready(page)
        assert page.title().startswith("SceneSeg 2 —")
        served = page.evaluate("fetch('build-info.json').then(r => r.json()).then(i => i.version)")
        assert served == new


def test_threads_on_a_host_without_isolation_headers(browser, built_site, tmp_path):
    with (
        site_copy(built_site, tmp_path, isolation_headers=False) as site,
        fresh_context(browser) as context,
    ):
        page = context.new_page()
        page.goto(site.url)
        wait_ready(page)
        assert page.evaluate("crossOriginIsolated") is False
        assert page.get_attribute("#engine", "data-threads") == "1"
        wait_offline_ready(page)
        # Once the service worker controls the page, it adds COOP/COEP itself.
        page.reload()
        wait_ready(page)
        assert page.evaluate("crossOriginIsolated") is True
        assert int(page.get_attribute("#engine", "data-threads")) >= 2
        assert "threads" in page.text_content("#engine")


def test_page_declares_an_installable_app(site_url, built_site):
    html = (built_site / "index.html").read_text()
    assert '<link rel="manifest" href="manifest.webmanifest">' in html
    assert (ROOT / "web" / "icons" / "maskable-512.png").exists()

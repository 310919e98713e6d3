"""Start-up: 'ready' as soon as a photo can be taken; the warm-up after it, and only when no
photo is waiting (web/worker/engine-start.js, segment-worker.js).

A photo picked while the page loads is queued; at ready its own run warms onnxruntime-web, and
no blank run delays its labels. With no photo waiting, the warm-up (on WASM three small runs)
follows ready, so a photo picked a moment later gets steady-state speed; a photo picked during
it stops it after the run in progress. The labels are the same either way."""

from __future__ import annotations

import base64
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import SHARED, native_segmenter, serve_site

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHOTO = SHARED / "photos" / "chelsea.png"


def fresh_page(browser, url, **kwargs):
    context = browser.new_context(accept_downloads=True, service_workers="block")
    page = context.new_page()
    page.goto(url, **kwargs)
    return page


def engine_data(page) -> dict:
    return page.eval_on_selector("#engine", "e => ({...e.dataset})")


def test_a_photo_waiting_at_ready_is_the_warm_up(browser, site_url, tmp_path):
    page = fresh_page(browser, site_url, wait_until="domcontentloaded")
    page.set_input_files("#file", str(PHOTO))  # before ready: queued
    page.wait_for_selector("body[data-result='1']", timeout=180_000)
    # Its own run warmed the model: no warm-up run was made, then or later.
    page.wait_for_timeout(1500)
    assert "warmupMs" not in engine_data(page)
    startup = json.loads(engine_data(page)["startup"])
    assert "warmup" not in startup
    # The same labels as CPython (q8), read back through the page's download.
    expected = native_segmenter("q8").segment_sync(PHOTO.read_bytes()).labels
    assert (labels_of(page, tmp_path) == expected).mean() >= 0.995
    page.context.close()


def test_with_no_photo_waiting_the_warm_up_follows_ready(browser, site_url):
    page = fresh_page(browser, site_url)
    page.wait_for_selector("body[data-ready=true]", timeout=180_000)
    # Ready came before the warm-up: it is reported afterwards, on its own, all its runs made.
    page.wait_for_selector("#engine[data-warmup-ms]", state="attached", timeout=60_000)
    assert int(engine_data(page)["warmupMs"]) > 0
    assert engine_data(page)["warmupRuns"] == "3"
    assert "warmup" not in json.loads(engine_data(page)["startup"])
    # A photo picked now is answered (its speed against later photos is bench/peer.py's).
    page.set_input_files("#file", str(PHOTO))
    page.wait_for_selector("body[data-result='1']", timeout=120_000)
    page.context.close()


# Picks the photo (base64 below) from inside the page the moment it says ready, as a visitor's
# pick would come in: Playwright's own pick lands 0.1-0.4 s later, sometimes after the warm-up.
PICK_AT_READY = """
((name, b64) => {
  new MutationObserver((_, observer) => {
    if (document.body?.dataset.ready !== 'true') return;
    observer.disconnect();
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const files = new DataTransfer();
    files.items.add(new File([bytes], name, { type: 'image/png' }));
    const input = document.querySelector('#file');
    input.files = files.files;
    input.dispatchEvent(new Event('change', { bubbles: true }));
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-ready'] });
})
"""


def test_a_photo_picked_during_the_warm_up_stops_it(browser, site_url, tmp_path):
    context = browser.new_context(accept_downloads=True, service_workers="block")
    photo = base64.b64encode(PHOTO.read_bytes()).decode()
    context.add_init_script(f"{PICK_AT_READY}({json.dumps(PHOTO.name)}, {json.dumps(photo)})")
    page = context.new_page()
    page.goto(site_url)
    page.wait_for_selector("body[data-result='1']", timeout=180_000)
    # The warm-up had begun (ready queues it at once) and stopped after its first small run;
    # or the photo came before its first run, and it made none.
    assert int(engine_data(page).get("warmupRuns", "0")) <= 1
    expected = native_segmenter("q8").segment_sync(PHOTO.read_bytes()).labels
    assert (labels_of(page, tmp_path) == expected).mean() >= 0.995
    context.close()


def build_info_requests(page) -> list[str]:
    """build-info.json requests of the page and its workers (a service worker's are not here)."""
    seen = []
    page.on("request", lambda r: seen.append(r.url) if r.url.endswith("/build-info.json") else None)
    return seen


def test_the_page_reads_build_info_once(browser, site_url):
    context = browser.new_context(service_workers="block")
    page = context.new_page()
    seen = build_info_requests(page)
    page.goto(site_url)
    page.wait_for_selector("body[data-ready=true]", timeout=180_000)
    # The model file's line, from the same read (without build-info: the precision only).
    page.wait_for_function("document.querySelector('#model-file').textContent.includes('sha256')")
    # main.js's one read: its text went to the worker with 'init', its object to the model
    # picker; neither fetched it again.
    assert len(seen) == 1, seen
    context.close()


# The public API given build-info.json's text late, as a promise: a photo and a cache request
# posted before 'init' wait behind it, and the worker does not fetch the file itself.
LATE_BUILD_INFO = """async () => {
  const { createSegmenter } = await import('/lib/sceneseg.js');
  const text = new Promise((resolve) =>
    setTimeout(() => fetch('/build-info.json').then((r) => r.text()).then(resolve), 1500));
  const segmenter = createSegmenter({ buildInfo: text });
  const canvas = new OffscreenCanvas(64, 48);
  const context = canvas.getContext('2d');
  context.fillStyle = '#3a6'; context.fillRect(0, 0, 64, 48);
  context.fillStyle = '#888'; context.fillRect(0, 24, 64, 24);
  const photo = await canvas.convertToBlob({ type: 'image/png' });
  const [result, cached] = await Promise.all([segmenter.segment(photo), segmenter.cachedModels()]);
  const info = await segmenter.ready;
  return { size: [result.width, result.height], labels: result.labels.length,
           cached: Array.isArray(cached), python: info.python.mode, model: info.model.id };
}"""


def test_build_info_given_later_holds_messages_behind_init(browser, site_url):
    context = browser.new_context(service_workers="block")
    page = context.new_page()
    seen = build_info_requests(page)
    page.goto(site_url + "build-info.json")  # the origin, without the app's own engine
    got = page.evaluate(LATE_BUILD_INFO)
    assert got["size"] == [64, 48] and got["labels"] == 64 * 48
    assert got["cached"] and got["model"]
    assert len(seen) == 2, seen  # the document itself and the one read passed on
    context.close()


def worker_urls(context, page) -> list[str]:
    """Every dedicated worker alive in this page's browser context (nested ones too), by
    script URL; other tests' pages in the same browser have workers of their own."""
    cdp = context.new_cdp_session(page)
    own = cdp.send("Target.getTargetInfo")["targetInfo"]["browserContextId"]
    targets = cdp.send("Target.getTargets")["targetInfos"]
    return sorted(
        t["url"].rsplit("/", 1)[-1]
        for t in targets
        if t["type"] == "worker" and t.get("browserContextId") == own
    )


def labels_of(page, tmp_path) -> np.ndarray:
    page.wait_for_selector("#download-labels[aria-disabled=false]")
    with page.expect_download() as download:
        page.click("#download-labels")
    download.value.save_as(tmp_path / "labels.png")
    return np.asarray(Image.open(tmp_path / "labels.png"))


@pytest.mark.parametrize("model_worker", ["started", "fails to load"])
def test_the_wasm_session_runs_in_the_model_worker(model_worker, browser, built_site, tmp_path):
    """web/worker/model-worker.js: the WASM session in a worker of its own, beside Python's; if
    that worker cannot start (here: its script is missing from the site), the session is made
    in the engine's worker, with the same labels."""
    site = tmp_path / "site"
    shutil.copytree(built_site, site)
    if model_worker == "fails to load":
        (site / "worker" / "model-worker.js").unlink()
    context = browser.new_context(accept_downloads=True, service_workers="block")
    page = context.new_page()
    with serve_site(site) as port:
        page.goto(f"http://127.0.0.1:{port}/")
        check_session_worker(model_worker, context, page, tmp_path)
    context.close()


def check_session_worker(model_worker, context, page, tmp_path):
    page.wait_for_selector("body[data-ready=true]", timeout=180_000)
    startup = json.loads(engine_data(page)["startup"])
    workers = worker_urls(context, page)
    if model_worker == "started":
        assert startup["session_worker"] == "model"
        assert workers.count("model-worker.js") == 1 and workers.count("segment-worker.js") == 1
    else:
        assert startup["session_worker"] == "engine"
        assert "model-worker.js" not in workers
    assert startup["session_create"] > 0
    page.set_input_files("#file", str(PHOTO))
    page.wait_for_selector("body[data-result='1']", timeout=120_000)
    expected = native_segmenter("q8").segment_sync(PHOTO.read_bytes()).labels
    assert (labels_of(page, tmp_path) == expected).mean() >= 0.995

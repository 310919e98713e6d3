"""Start-up: 'ready' as soon as a photo can be taken; the warm-up run after it, and only when no
photo is waiting (web/worker/engine-start.js, segment-worker.js).

A photo picked while the page loads is queued; at ready its own run warms onnxruntime-web, and
no blank run delays its labels. With no photo waiting, the warm-up runs right after ready, so a
photo picked a moment later gets steady-state speed. The labels are the same either way."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import SHARED, native_segmenter

pytestmark = pytest.mark.browser

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
    page.wait_for_selector("#download-labels[aria-disabled=false]")
    with page.expect_download() as download:
        page.click("#download-labels")
    download.value.save_as(tmp_path / "labels.png")
    labels = np.asarray(Image.open(tmp_path / "labels.png"))
    expected = native_segmenter("q8").segment_sync(PHOTO.read_bytes()).labels
    assert (labels == expected).mean() >= 0.995
    page.context.close()


def test_with_no_photo_waiting_the_warm_up_follows_ready(browser, site_url):
    page = fresh_page(browser, site_url)
    page.wait_for_selector("body[data-ready=true]", timeout=180_000)
    # Ready came before the warm-up: it is reported afterwards, on its own.
    page.wait_for_selector("#engine[data-warmup-ms]", state="attached", timeout=60_000)
    assert int(engine_data(page)["warmupMs"]) > 0
    assert "warmup" not in json.loads(engine_data(page)["startup"])
    # A photo picked now is answered (its speed against later photos is bench/peer.py's).
    page.set_input_files("#file", str(PHOTO))
    page.wait_for_selector("body[data-result='1']", timeout=120_000)
    page.context.close()

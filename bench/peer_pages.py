"""bench/peer.py's hands on the pages: Chromium contexts that watch for requests leaving
127.0.0.1, one visit (navigate or reload, pick the photo, wait for its labels), and an app kept
open for photos with its renderer processes' memory. Only the page hooks are used (input#file,
body[data-ready], body[data-result], #timings), for SceneSeg and the peer alike."""

from __future__ import annotations

import contextlib
import json
import re
import sys
import threading
import urllib.parse
from pathlib import Path

import psutil
from PIL import Image
from playwright.sync_api import Error as PlaywrightError

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "py")]

from peer_serving import Site  # noqa: E402

from devharness import CHROMIUM, CHROMIUM_ARGS, SHARED  # noqa: E402

SOURCE_PHOTO = SHARED / "photos" / "ade20k-val" / "ADE_val_00000001.jpg"
ARGS = [
    *CHROMIUM_ARGS,
    # Nothing but localhost resolves: a request that tries to leave fails (and is logged).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    # No spare renderer waiting for the next tab: a page's renderer is the process it creates.
    "--disable-features=SpareRendererForSitePerProcess",
]
# On the page's clock: DOMContentLoaded, when it said ready, when photos were picked, when
# results appeared.
MARKS_SCRIPT = """
(() => {
  const marks = { dcl: null, ready: null, picks: [], results: [] };
  window.__bench = marks;
  document.addEventListener('DOMContentLoaded', () => { marks.dcl = performance.now(); });
  document.addEventListener('change', (e) => {
    if (e.target && e.target.id === 'file') marks.picks.push(performance.now());
  }, true);
  new MutationObserver(() => {
    const body = document.body;
    if (!body) return;
    if (body.dataset.ready === 'true' && marks.ready === null) marks.ready = performance.now();
    const n = Number(body.dataset.result || 0);
    while (marks.results.length < n) marks.results.push(performance.now());
  }).observe(document, { subtree: true, attributes: true,
                         attributeFilter: ['data-ready', 'data-result'] });
})();
"""
# Done when the n-th result is there, or the page shows an error.
RESULT_OR_ERROR = """(n) => {
  const body = document.body, error = document.getElementById('error');
  if (Number(body?.dataset.result || 0) >= n) return 'ok';
  if (error && !error.hidden && error.textContent.trim()) return 'error: ' + error.textContent;
  return false;
}"""
READY_OR_ERROR = """() => {
  const body = document.body, error = document.getElementById('error');
  if (body?.dataset.ready === 'true') return 'ok';
  if (error && !error.hidden && error.textContent.trim()) return 'error: ' + error.textContent;
  return false;
}"""


def make_photos(dest: Path, sizes_mp) -> dict[float, Path]:
    """One real photo at each size (Lanczos resampling, JPEG quality 92 as a camera writes)."""
    source = Image.open(SOURCE_PHOTO).convert("RGB")
    photos = {}
    for mp in sizes_mp:
        scale = (mp * 1e6 / (source.width * source.height)) ** 0.5
        size = (round(source.width * scale), round(source.height * scale))
        path = dest / f"photo-{size[0]}x{size[1]}.jpg"
        source.resize(size, Image.Resampling.LANCZOS).save(path, quality=92)
        photos[mp] = path
    return photos


def renderer_processes() -> dict[int, psutil.Process]:
    """Chromium renderer processes started (through Playwright) by this process."""
    found = {}
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "--type=renderer" in proc.cmdline():
                found[proc.pid] = proc
    return found


class PeakRss:
    """Peak of the summed RSS of some processes, polled every 50 ms while in the with-block."""

    def __init__(self, processes):
        self.processes, self.peak = list(processes), 0
        self._stop = threading.Event()

    def sample(self) -> int:
        total = 0
        for proc in self.processes:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        self.peak = max(self.peak, total)
        return total

    def _poll(self):
        while not self._stop.wait(0.05):
            self.sample()

    def __enter__(self):
        self.sample()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sample()


class ForeignRequests(list):
    """Every request a context made to anything but 127.0.0.1."""

    def watch(self, context):
        context.on("request", lambda r: self.check(r.url))
        return context

    def check(self, url: str):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            return
        if parts.scheme not in ("http", "https", "ws", "wss") or parts.hostname != "127.0.0.1":
            self.append(url)


def new_context(browser_or_type, foreign: ForeignRequests, user_data_dir=None):
    """A fresh context of `browser_or_type` (a browser), or a browser launched on a persistent
    profile (`browser_or_type` is playwright.chromium)."""
    options = {"viewport": {"width": 1280, "height": 900}}
    if user_data_dir is None:
        context = browser_or_type.new_context(**options)
    else:
        context = browser_or_type.launch_persistent_context(
            user_data_dir, executable_path=CHROMIUM, args=ARGS, **options
        )
    context.add_init_script(MARKS_SCRIPT)
    return foreign.watch(context)


def wait_for(page, script, arg=None, timeout_s=120.0) -> str | None:
    """None when the page got there, else what went wrong (its #error, a crash, a time-out)."""
    try:
        state = page.wait_for_function(script, arg=arg, timeout=timeout_s * 1000, polling=50)
        value = state.json_value()
        return None if value == "ok" else value
    except PlaywrightError as exc:
        return str(exc).splitlines()[0]


def visit(page, site: Site, photo: Path, pick: str, reload: bool, timeout_s: float) -> dict:
    """Navigate (or reload), pick the photo once the page says it is ready (pick="ready") or
    right after DOMContentLoaded (pick="dcl": the page queues it), wait for its result;
    times on the page's clock, from navigation start, and the bytes the server sent."""
    site.take(settle_s=0)
    wait_until = "domcontentloaded" if pick == "dcl" else "commit"
    if reload:
        page.reload(wait_until=wait_until)
    else:
        page.goto(site.url, wait_until=wait_until)
    if pick == "dcl":
        page.set_input_files("#file", str(photo))
    failure = wait_for(page, READY_OR_ERROR, timeout_s=timeout_s)
    if failure is None and pick == "ready":
        page.set_input_files("#file", str(photo))
    if failure is None:
        failure = wait_for(page, RESULT_OR_ERROR, 1, timeout_s=timeout_s)
    marks = page.evaluate("window.__bench")
    stages = page.evaluate(ENGINE_STAGES)
    bytes_ = site.take()
    if failure:
        return {"error": failure, "bytes": bytes_}
    return {
        "dcl_ms": marks["dcl"],
        "pick_ms": marks["picks"][0],
        "ready_ms": marks["ready"],
        "first_labels_ms": marks["results"][0],
        "pick_to_labels_ms": marks["results"][0] - marks["picks"][0],
        "bytes": bytes_,
        "stages": stages,
    }


# SceneSeg's own start-up figures (#engine's data: ms per stage, Python's start, the warm-up
# after ready); null for the peer, which reports none.
ENGINE_STAGES = """(() => {
  const e = document.querySelector('#engine');
  if (!e?.dataset.startup) return null;
  const python = JSON.parse(e.dataset.python || 'null');
  return { ...JSON.parse(e.dataset.startup), python: python?.ms, python_mode: python?.mode,
           ...(python?.steps ?? {}), warmup_after_ready: Number(e.dataset.warmupMs) || null };
})()"""


class App:
    """One app open in its own fresh context, with its renderer processes."""

    def __init__(self, name, browser, site, foreign):
        self.name, self.site = name, site
        self.before = set(renderer_processes())
        self.context = new_context(browser, foreign)
        self.page = self.context.new_page()
        self.failed = None

    def find_processes(self):
        self.processes = [p for pid, p in renderer_processes().items() if pid not in self.before]

    def upload(self, photo: Path, timeout_s: float) -> dict:
        """'change' -> result on the page's clock, and the renderer's peak RSS meanwhile."""
        count = int(self.page.evaluate("Number(document.body.dataset.result || 0)"))
        with PeakRss(self.processes) as memory:
            self.page.set_input_files("#file", str(photo))
            failure = wait_for(self.page, RESULT_OR_ERROR, count + 1, timeout_s=timeout_s)
        if failure:
            self.failed = failure
            return {"error": failure, "peak_rss": memory.peak}
        marks = self.page.evaluate("window.__bench")
        timings = json.loads(self.page.get_attribute("#timings", "data-timings") or "{}")
        result = {
            "ms": marks["results"][-1] - marks["picks"][-1],
            "peak_rss": memory.peak,
            "timings": timings,
        }
        if self.name == "peer":  # its masks' size, and whether they cover every pixel
            result["output"] = self.page.evaluate("window.peerResult")
        return result

    def threads(self) -> int | None:
        if self.name == "peer":
            return int(self.page.get_attribute("body", "data-threads"))
        # SceneSeg: #engine[data-threads] (set when ready); else its backend's name in #timings,
        # e.g. "wasm (q8, 2 threads): ..." (in the Details panel, which may be closed).
        if self.page.get_attribute("#engine", "data-threads"):
            return int(self.page.get_attribute("#engine", "data-threads"))
        match = re.search(r"(\d+) threads?", self.page.text_content("#timings") or "")
        return int(match.group(1)) if match else None

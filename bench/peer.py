#!/usr/bin/env python3
"""SceneSeg against its peer, transformers.js, side by side in one Chromium session.

    .venv/bin/python bench/peer.py --site DIST [--repeat N] [--out DIR] [--quick]

The peer is transformers.js 4.3.1 (`@huggingface/transformers`, an npm devDependency) running
`pipeline('image-segmentation')` on the same stand-in model files (q8), device 'wasm', with
SceneSeg's thread count, every file served from localhost (bench/peer/ is its page). Both
sites are served by build.py's Handler (COOP/COEP: cross-origin isolated), each on its own
port (its own origin, so its own storage), and a server-side log counts every byte sent.

SceneSeg is measured only through its page hooks (input#file, body[data-ready],
body[data-result], #timings), so this keeps working whatever happens inside it. An init script
in both pages stamps, on the page's own clock (0 = navigation start), when data-ready appears,
when input#file fires 'change' and when each data-result appears.

Measured, alternating SceneSeg and the peer:
- start-up: navigation -> ready and -> the first photo's labels (the photo is picked as soon as
  the page says it is ready), on a first visit (fresh browser context: empty profile), a return
  visit (reload in that context) and a browser relaunch on the same persistent profile (V8's
  code cache, Cache Storage, IndexedDB all on disk);
- photo -> full-resolution result ('change' to data-result), median after a warm-up, per size;
  SceneSeg's result is its label map drawn on screen, the peer's is what transformers.js
  delivers: one full-resolution mask per class (a label map from those costs one more pass,
  reported apart);
- peak resident memory (RSS) of each page's renderer process (the page and its workers), psutil
  polling every 50 ms while a photo is processed;
- bytes sent by the server per visit (headers + bodies as written on the socket), the files'
  own sizes, and the site's size raw, gzip and brotli, as a static host would serve them.

Any request to something other than 127.0.0.1 fails the run (exit status 1); Chromium also
resolves no host name but 127.0.0.1 here. A failure of the peer (out of memory at 12 MP, a
crash, a time-out) is recorded as a finding.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gzip
import http.server
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import psutil
from PIL import Image
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import build  # noqa: E402
from conftest import CHROMIUM, CHROMIUM_ARGS, SHARED, STANDIN_DIR, STANDIN_ID  # noqa: E402

try:
    import brotli
except ImportError:  # reported in the output, not fatal
    brotli = None

APPS = ("sceneseg", "peer")
NAMES = {"sceneseg": "SceneSeg", "peer": "transformers.js"}
PEER_VERSION = "4.3.1"
TRANSFORMERS = ROOT / "node_modules" / "@huggingface" / "transformers"
SOURCE_PHOTO = SHARED / "photos" / "ade20k-val" / "ADE_val_00000001.jpg"
SIZES_MP = (0.25, 2.0, 12.0)
ARGS = [
    *CHROMIUM_ARGS,
    # Nothing but localhost resolves: a request that tries to leave fails (and is logged).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    # No spare renderer waiting for the next tab: a page's renderer is the process it creates.
    "--disable-features=SpareRendererForSitePerProcess",
]

# On the page's clock: when it said ready, when photos were picked, when results appeared.
MARKS_SCRIPT = """
(() => {
  const marks = { ready: null, picks: [], results: [] };
  window.__bench = marks;
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


# ---------------------------------------------------------------------------------------------
# Serving, with a log of every byte


class _CountingWriter:
    def __init__(self, raw):
        self.raw, self.count = raw, 0

    def write(self, data):
        self.count += len(data)
        return self.raw.write(data)

    def __getattr__(self, name):
        return getattr(self.raw, name)


class LoggingHandler(build.Handler):
    """build.Handler (the site's real headers), recording each response's bytes on the wire."""

    log: list  # set per server

    def setup(self):
        super().setup()
        self.wfile = _CountingWriter(self.wfile)

    def send_response(self, code, message=None):
        self.status = code
        super().send_response(code, message)

    def log_message(self, format, *args):  # errors are in the summary (Site.take)
        pass

    def handle_one_request(self):
        self.status, self.wfile.count = None, 0
        super().handle_one_request()
        if self.status is not None:
            self.log.append((self.path, self.status, self.wfile.count, self._raw_size()))

    def _raw_size(self) -> int:
        if self.status != 200:
            return 0
        path = Path(self.translate_path(urllib.parse.urlsplit(self.path).path))
        if path.is_dir():
            path /= "index.html"
        return path.stat().st_size if path.is_file() else 0


class Site:
    """One site on its own port (its own origin)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.log: list = []
        handler = type("Handler", (LoggingHandler,), {"log": self.log})
        handler = functools.partial(handler, directory=str(directory))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def take(self, settle_s: float = 1.0, limit_s: float = 30.0) -> dict:
        """Wait until nothing was requested for settle_s (background downloads end), then
        summarise and clear the log."""
        deadline, seen, quiet_since = time.monotonic() + limit_s, -1, time.monotonic()
        while time.monotonic() < deadline:
            if len(self.log) != seen:
                seen, quiet_since = len(self.log), time.monotonic()
            elif time.monotonic() - quiet_since >= settle_s:
                break
            time.sleep(0.1)
        entries, self.log[:] = list(self.log), []
        ok = [urllib.parse.urlsplit(p).path for p, status, _, _ in entries if status == 200]
        files = sorted(set(ok))
        return {
            "requests": len(entries),
            "not_modified": sum(status == 304 for _, status, _, _ in entries),
            "errors": sorted({f"{status} {p}" for p, status, _, _ in entries if status >= 400}),
            "wire_bytes": sum(wire for _, _, wire, _ in entries),
            "file_bytes": sum(raw for _, _, _, raw in entries),
            "files": files,
        }

    def close(self):
        self.server.shutdown()


def make_peer_site(dest: Path) -> Path:
    """The peer's static site: its page, transformers.js as CDNs serve it, the onnxruntime-web
    files it loads (its own pinned build), and the model in transformers.js's local layout."""
    if not (TRANSFORMERS / "package.json").is_file():
        sys.exit(
            "transformers.js is not installed: run `npm install` (it is a devDependency, "
            f"@huggingface/transformers@{PEER_VERSION})"
        )
    version = json.loads((TRANSFORMERS / "package.json").read_text())["version"]
    if version != PEER_VERSION:
        sys.exit(f"expected @huggingface/transformers {PEER_VERSION}, found {version}")
    ort = TRANSFORMERS / "node_modules" / "onnxruntime-web"
    if not ort.is_dir():  # hoisted when the versions agree
        ort = ROOT / "node_modules" / "onnxruntime-web"
    model = dest / "models" / STANDIN_ID
    (model / "onnx").mkdir(parents=True)
    (dest / "ort").mkdir()
    for name in ("index.html", "peer.js"):
        shutil.copy(ROOT / "bench" / "peer" / name, dest / name)
    shutil.copy(TRANSFORMERS / "dist" / "transformers.min.js", dest)
    for name in ("ort-wasm-simd-threaded.asyncify.mjs", "ort-wasm-simd-threaded.asyncify.wasm"):
        shutil.copy(ort / "dist" / name, dest / "ort" / name)
    for name in ("config.json", "preprocessor_config.json", "onnx/model_quantized.onnx"):
        shutil.copy(STANDIN_DIR / name, model / name)
    return dest


# ---------------------------------------------------------------------------------------------
# Photos, memory


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
    """Chromium renderer processes started (through Playwright) by this script."""
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


# ---------------------------------------------------------------------------------------------
# Driving the pages


class ForeignRequests(list):
    def watch(self, context):
        context.on("request", lambda r: self.check(r.url))
        return context

    def check(self, url: str):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            return
        if parts.scheme not in ("http", "https", "ws", "wss") or parts.hostname != "127.0.0.1":
            self.append(url)


def new_context(browser_or_type, foreign, user_data_dir=None):
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


def visit(page, site: Site, photo: Path, reload: bool, timeout_s: float) -> dict:
    """Navigate (or reload), pick the photo the moment the page says it is ready, wait for its
    result; times on the page's clock, from navigation start."""
    site.take(settle_s=0)
    if reload:
        page.reload(wait_until="commit")
    else:
        page.goto(site.url, wait_until="commit")
    failure = wait_for(page, READY_OR_ERROR, timeout_s=timeout_s)
    if failure is None:
        page.set_input_files("#file", str(photo))
        failure = wait_for(page, RESULT_OR_ERROR, 1, timeout_s=timeout_s)
    marks = page.evaluate("window.__bench")
    bytes_ = site.take()
    if failure:
        return {"error": failure, "bytes": bytes_}
    return {
        "ready_ms": marks["ready"],
        "first_labels_ms": marks["results"][0],
        "pick_to_labels_ms": marks["results"][0] - marks["picks"][0],
        "bytes": bytes_,
    }


class App:
    """One app open in its own fresh context, with its renderer processes."""

    def __init__(self, name, browser, site, foreign):
        self.name, self.site = name, site
        before = set(renderer_processes())
        self.context = new_context(browser, foreign)
        self.page = self.context.new_page()
        self.before = before
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


# ---------------------------------------------------------------------------------------------
# Sizes of what a static host serves


@functools.cache
def compressed_sizes(path: Path, brotli_quality: int) -> tuple[int, int, int | None]:
    data = path.read_bytes()
    gz = len(gzip.compress(data, compresslevel=6))  # what hosts use on the fly
    br = len(brotli.compress(data, quality=brotli_quality)) if brotli else None
    return len(data), gz, br


def size_summary(paths, brotli_quality: int) -> dict:
    sizes = [compressed_sizes(p, brotli_quality) for p in paths]
    return {
        "files": len(sizes),
        "raw": sum(s[0] for s in sizes),
        "gzip": sum(s[1] for s in sizes),
        "brotli": sum(s[2] for s in sizes) if brotli else None,
    }


def site_sizes(site: Site, downloaded: list[str], brotli_quality: int) -> dict:
    everything = [p for p in site.directory.rglob("*") if p.is_file()]
    fetched = []
    for url_path in downloaded:
        path = site.directory / urllib.parse.unquote(url_path).lstrip("/")
        fetched.append(path / "index.html" if path.is_dir() else path)
    return {
        "site": size_summary(everything, brotli_quality),
        "first_visit_files": size_summary([p for p in fetched if p.is_file()], brotli_quality),
    }


# ---------------------------------------------------------------------------------------------
# The run


def run(args, out: dict) -> dict:
    sizes = (0.25,) if args.quick else tuple(args.sizes)
    repeat = 1 if args.quick else args.repeat
    relaunch = not (args.quick or args.no_relaunch)
    tmp = Path(tempfile.mkdtemp(prefix="sceneseg-peer-"))
    foreign = ForeignRequests()
    out |= {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB",
        "load_average": os.getloadavg(),
        "repeat": repeat,
        "peer": f"transformers.js {PEER_VERSION}, pipeline('image-segmentation'), device wasm, q8",
        "model": STANDIN_ID,
        "memory_method": "peak RSS of the page's renderer processes (psutil, every 50 ms)",
        "startup": {app: {"first": [], "reload": [], "relaunch": []} for app in APPS},
        "photos": {},
        "bytes": {app: {} for app in APPS},
        "threads": {},
        "findings": [],
    }
    try:
        photos = make_photos(tmp, sizes)
        out["photo_files"] = {
            str(mp): f"{p.name} ({Image.open(p).width * Image.open(p).height / 1e6:.2f} MP)"
            for mp, p in photos.items()
        }
        out["photo_sizes"] = {str(mp): Image.open(p).size for mp, p in photos.items()}
        small = photos[min(sizes)]
        sites = {"sceneseg": Site(args.site.resolve()), "peer": Site(make_peer_site(tmp / "peer"))}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            out["chromium"] = browser.version
            kept: dict[str, App] = {}
            for round_ in range(repeat):
                order = APPS if round_ % 2 == 0 else APPS[::-1]
                for name in order:
                    app = App(name, browser, sites[name], foreign)
                    for kind, reload in (("first", False), ("reload", True)):
                        result = visit(app.page, sites[name], small, reload, args.timeout)
                        out["startup"][name][kind].append(result)
                        log(f"{name} {kind} visit: {brief(result)}")
                    if round_ == repeat - 1:
                        app.find_processes()
                        kept[name] = app
                    else:
                        app.context.close()
                    if relaunch:
                        profile = tmp / f"profile-{name}-{round_}"
                        for kind in ("first", "relaunch"):
                            context = new_context(playwright.chromium, foreign, profile)
                            page = context.pages[0] if context.pages else context.new_page()
                            result = visit(page, sites[name], small, False, args.timeout)
                            context.close()
                            if kind == "relaunch":
                                out["startup"][name][kind].append(result)
                            log(f"{name} persistent profile, {kind} launch: {brief(result)}")
            for name, app in kept.items():
                out["threads"][name] = app.threads()
                out["startup"][name]["idle_rss"] = PeakRss(app.processes).sample()
            photo_runs(
                kept, photos, repeat, 1 if args.quick else args.big_repeat, args.timeout, out
            )
            browser.close()
        for name in APPS:
            first = [r for r in out["startup"][name]["first"] if "bytes" in r]
            out["bytes"][name] = site_sizes(
                sites[name], first[0]["bytes"]["files"] if first else [], args.brotli_quality
            )
        for site in sites.values():
            site.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["foreign_requests"] = sorted(set(foreign))
    out["brotli"] = brotli and f"brotli {brotli.__version__}, quality {args.brotli_quality}"
    return out


def photo_runs(apps: dict[str, App], photos, repeat: int, big_repeat: int, timeout_s, out) -> None:
    """Per size: one warm-up each, then `repeat` runs, alternating; peak RSS over all of them.
    From 10 MP on, one run of the peer takes minutes here: no warm-up of its own (the pages are
    warm from the smaller sizes) and `big_repeat` runs."""
    for mp, photo in photos.items():
        entry = out["photos"][str(mp)] = {name: {"ms": [], "peak_rss": 0} for name in apps}
        big = mp >= 10
        for run_ in range(1 if big else 0, (big_repeat if big else repeat) + 1):  # 0: warm-up
            order = list(apps) if run_ % 2 == 0 else list(apps)[::-1]
            for name in order:
                app = apps[name]
                if app.failed:
                    continue
                result = app.upload(photo, timeout_s)
                record = entry[name]
                record["peak_rss"] = max(record["peak_rss"], result["peak_rss"])
                if "error" in result:
                    record["error"] = result["error"]
                    out["findings"].append(f"{NAMES[name]} at {mp} MP: {result['error']}")
                elif run_ > 0:
                    record["ms"].append(result["ms"])
                    record.setdefault("timings", []).append(result["timings"])
                    if "output" in result:
                        record["output"] = result["output"]
                what = "warm-up" if run_ == 0 else f"run {run_}"
                log(f"{name} {photo.name} {what}: {brief(result)}")
        for app in apps.values():  # a failure at one size is reported, the next size tried afresh
            if app.failed and "crash" not in app.failed.lower():
                app.failed = None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def brief(result: dict) -> str:
    if "error" in result:
        return f"FAILED {result['error']}"
    parts = [f"{k} {v:.0f}" for k, v in result.items() if isinstance(v, int | float)]
    parts = [p for p in parts if not p.startswith("peak_rss")]
    if "peak_rss" in result:
        parts.append(f"peak {result['peak_rss'] / 2**20:.0f} MiB")
    if "bytes" in result:
        parts.append(f"{result['bytes']['wire_bytes'] / 1e6:.1f} MB sent")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------
# The table


def spread(values, scale=1.0, digits=2) -> tuple[str, float | None]:
    values = [v * scale for v in values if v is not None]
    if not values:
        return "-", None
    median = statistics.median(values)
    text = f"{median:.{digits}f}"
    if len(values) > 1:
        text += f" ({min(values):.{digits}f}–{max(values):.{digits}f})"
    return text, median


def ratio(a, b) -> str:
    if a is None or not b:
        return "-"
    return f"{a / b:.2f}×" if a / b < 100 else "> 100×"


def markdown(out: dict) -> str:
    lines = [
        f"# SceneSeg vs transformers.js ({out['when']})",
        "",
        f"Headless Chromium {out.get('chromium', '?')}, {out['machine']} (load average at start "
        f"{', '.join(f'{x:.1f}' for x in out['load_average'])}; a shared, loaded machine: compare "
        f"the ratios, measured side by side, alternating). Both pages cross-origin isolated, "
        f"threads: SceneSeg {out['threads'].get('sceneseg')}, transformers.js "
        f"{out['threads'].get('peer')}. Model: the {out['model']} stand-in, q8, in both. "
        f"Peer: {out['peer']}. Medians of {out['repeat']} (min–max). Ratio = SceneSeg ÷ "
        "transformers.js (below 1: SceneSeg is faster/smaller).",
        "",
        "| measure | SceneSeg | transformers.js | ratio |",
        "|---|---|---|---|",
    ]

    def row(label, values_by_app, scale=1.0, digits=2, failed=()):
        cells, medians = [], []
        for name in APPS:
            text, median = spread(values_by_app[name], scale, digits)
            cells.append("failed (see below)" if median is None and name in failed else text)
            medians.append(median)
        lines.append(f"| {label} | {cells[0]} | {cells[1]} | {ratio(*medians)} |")

    visits = {
        "first": "first visit (empty profile)",
        "reload": "return visit (reload)",
        "relaunch": "return visit (browser relaunch, same profile)",
    }
    small = out["photo_files"][min(out["photo_files"], key=float)]
    first_result = f"navigation → first photo's result ({small}), s"
    for key, label in (("ready_ms", "navigation → ready, s"), ("first_labels_ms", first_result)):
        for kind, visit_label in visits.items():
            runs = {name: out["startup"][name][kind] for name in APPS}
            if not any(runs.values()):
                continue
            row(f"{label}: {visit_label}", {n: [r.get(key) for r in runs[n]] for n in APPS}, 1e-3)
    for mp, entry in out["photos"].items():
        name = out["photo_files"][mp]
        failed = [n for n in APPS if entry[n].get("error")]
        times = {n: entry[n]["ms"] for n in APPS}
        row(f"photo → full-resolution result, {name}, s", times, 1e-3, failed=failed)
    for mp, entry in out["photos"].items():
        name = out["photo_files"][mp]
        row(f"peak renderer memory (RSS), {name}, MB",
            {n: [entry[n]["peak_rss"] or None] for n in APPS}, 1e-6, 0)  # fmt: skip
    row("renderer memory when ready (RSS, idle), MB",
        {n: [out["startup"][n].get("idle_rss")] for n in APPS}, 1e-6, 0)  # fmt: skip
    for kind, visit_label in visits.items():
        runs = {n: [r["bytes"] for r in out["startup"][n][kind] if "bytes" in r] for n in APPS}
        if not any(runs.values()):
            continue
        row(f"bytes sent, {visit_label}, MB", {n: [b["wire_bytes"] for b in runs[n]] for n in APPS},
            1e-6)  # fmt: skip
        row(f"requests, {visit_label}", {n: [b["requests"] for b in runs[n]] for n in APPS}, 1, 0)
    for part, label in (("first_visit_files", "files a first visit downloads"),
                        ("site", "whole site on disk")):  # fmt: skip
        for codec in ("raw", "gzip", "brotli"):
            values = {n: [out["bytes"][n].get(part, {}).get(codec)] for n in APPS}
            row(f"{label}, {codec}, MB", values, 1e-6)
    lines.append("")
    for mp, entry in out["photos"].items():
        timings = entry["peer"].get("timings")
        if timings:
            extra = statistics.median(t["label_map"] for t in timings)
            lines.append(
                f"- transformers.js, {out['photo_files'][mp]}: turning its masks into one label "
                f"map would add {extra:.0f} ms (not in the table)."
            )
    lines.append(
        "- SceneSeg's result includes drawing the overlay on screen; the peer's is its masks "
        "in memory, as its pipeline returns them. Its pipeline runs on the page's main thread "
        "(its default), SceneSeg's in a worker."
    )
    lines.append(
        "- A fresh context (first visit, reload) keeps its HTTP cache in memory, like a private "
        "window, and Chromium may not keep large files there; the relaunch rows use an on-disk "
        "profile, as a returning visitor has."
    )
    lines.append(f"- Memory: {out['memory_method']}.")
    lines.append(
        "- Bytes sent: headers and bodies as the local server wrote them (it does not compress: "
        "see the gzip/brotli rows for what a static host would send); gzip level 6; "
        + (out["brotli"] or "brotli not installed (pip install brotli)")
        + "."
    )
    for finding in out["findings"]:
        lines.append(f"- Finding: {finding}")
    for name in APPS:
        for kind in visits:
            for result in out["startup"][name][kind]:
                if "error" in result:
                    lines.append(f"- Finding: {NAMES[name]}, {visits[kind]}: {result['error']}")
    foreign = out["foreign_requests"]
    lines.append(
        f"- Requests to other hosts: {len(foreign)}" + (f": {foreign[:10]}" if foreign else ".")
    )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "dist", help="SceneSeg's built site")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, help="also write peer.md and peer.json here")
    parser.add_argument(
        "--sizes",
        type=lambda s: [float(x) for x in s.split(",")],
        default=list(SIZES_MP),
        help="photo sizes in megapixels (default 0.25,2,12)",
    )
    parser.add_argument("--no-relaunch", action="store_true", help="skip the relaunch visits")
    parser.add_argument(
        "--quick", action="store_true", help="one 0.25 MP photo, repeat 1, no relaunch (tests)"
    )
    parser.add_argument(
        "--big-repeat", type=int, default=2, help="runs at 10 MP and more (no warm-up of its own)"
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds per page or photo")
    parser.add_argument("--brotli-quality", type=int, default=11)
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        sys.exit(f"no built site at {args.site}: run build.py first")
    out: dict = {}
    try:
        run(args, out)
    except BaseException:
        if args.out:  # what was measured so far
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "peer.partial.json").write_text(json.dumps(out, indent=1, default=str))
        raise
    table = markdown(out)
    print(table)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "peer.md").write_text(table)
        (args.out / "peer.json").write_text(json.dumps(out, indent=1))
    if out["foreign_requests"]:
        print(f"FAIL: requests left localhost: {out['foreign_requests']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Two 12 MP photos picked back to back in the app page, built sites side by side in one run.

    .venv/bin/python bench/back_to_back.py --site before=OTHER/dist --site after=dist [--repeat 3]

Per site and repeat, a fresh tab on the app page (index.html), after ready and its warm-up:
1. one 12 MP photo: from its result on screen (body[data-result]) to its confidence map on
   screen (body[data-confidence="ready"]);
2. a 12 MP photo, and a second one picked the moment the first result is on screen: from the
   first result to the start of the second photo's decode in the worker: the pick's page time
   + the photo's `queued` (from the worker's taking the message in to its decode) and
   `messaging` timings (the time in no worker stage: the message waiting for a busy worker,
   and the result's way back, a few ms), and to the second result on screen.
The sites take turns (A, B, A, B, ...), so that both see the same machine load. Medians.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "py"))

from devharness import CHROMIUM, CHROMIUM_ARGS, SHARED  # noqa: E402
from sitebuild.server import Handler  # noqa: E402

# Records, in page time, when each result and each confidence map reaches the screen, and picks
# a photo through input#file the way a person's pick arrives (a change event with a File).
PAGE_SCRIPT = """() => {
window.__bench = {results: [], confidence: [], files: {}};
new MutationObserver(() => {
  const b = document.body.dataset;
  const n = Number(b.result || 0);
  const bench = window.__bench;
  if (n > bench.results.length) {
    bench.results.push(performance.now());
    bench.onResult?.();
  }
  if (b.confidence === 'ready' && bench.confidence.length < n) {
    bench.confidence.push(performance.now());
  }
}).observe(document.body, {attributes: true, attributeFilter: ['data-result', 'data-confidence']});
window.__pick = (name) => {
  const dt = new DataTransfer();
  dt.items.add(window.__bench.files[name]);
  const input = document.querySelector('input#file');
  input.files = dt.files;
  input.dispatchEvent(new Event('change', {bubbles: true}));
  return performance.now();
};
}"""


def make_photos(out: Path) -> list[Path]:
    """Two different 12 MP JPEGs (4000x3000), upscaled from two ADE20K validation photos."""
    sources = sorted((SHARED / "photos" / "ade20k-val").glob("*.jpg"))[:2]
    photos = []
    for i, source in enumerate(sources):
        image = Image.open(source).convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC)
        path = out / f"photo{i + 1}-12mp.jpg"
        image.save(path, quality=90)
        photos.append(path)
    return photos


def serve(directory: Path, photos: list[Path]) -> tuple[str, http.server.ThreadingHTTPServer]:
    handler = functools.partial(Handler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/", server


def wait_until(page, predicate: str, timeout_s: float = 300) -> None:
    """Poll from here: the page's CSP forbids the eval that page.wait_for_function needs. The
    times themselves are taken in the page, so the polling interval does not enter them."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(predicate):
        if time.monotonic() > deadline:
            raise TimeoutError(predicate)
        page.wait_for_timeout(100)


def one_run(browser, url: str, photos: list[Path]) -> dict:
    context = browser.new_context(service_workers="block")
    page = context.new_page()
    try:
        # The photos come from the page's own origin, as bytes a person's pick would carry.
        blobs = {p.name: p.read_bytes() for p in photos}
        page.route(
            "**/__bench/*",
            lambda route: route.fulfill(
                body=blobs[route.request.url.rsplit("/", 1)[1]],
                headers={"Content-Type": "image/jpeg"},
            ),
        )
        page.goto(url)
        page.evaluate(PAGE_SCRIPT)
        page.wait_for_selector("body[data-ready]", timeout=120_000)
        for p in photos:
            page.evaluate(
                """async (name) => {
                  const blob = await (await fetch('__bench/' + name)).blob();
                  window.__bench.files[name] = new File([blob], name, {type: 'image/jpeg'});
                }""",
                p.name,
            )
        page.wait_for_timeout(4000)  # the warm-up run and the snapshot's storing are done
        first, second = (p.name for p in photos)

        # 1. One photo: result on screen -> confidence map on screen.
        page.evaluate("(name) => window.__pick(name)", first)
        wait_until(page, "() => window.__bench.confidence.length >= 1")
        bench = page.evaluate("window.__bench")
        to_confidence = bench["confidence"][0] - bench["results"][0]
        page.wait_for_timeout(1500)

        # 2. Back to back: the second photo is picked the moment the first result is shown.
        page.evaluate(
            """([a, b]) => {
              const bench = window.__bench;
              bench.onResult = () => { bench.onResult = null; bench.pick2 = window.__pick(b); };
              bench.pick1 = window.__pick(a);
            }""",
            [second, first],
        )
        wait_until(page, "() => window.__bench.results.length >= 3")
        bench = page.evaluate("window.__bench")
        timings = json.loads(page.get_attribute("#timings", "data-timings") or "{}")
        first_result = bench["results"][1]
        waited = timings["messaging"] + timings["queued"]
        return {
            "result_to_confidence_ms": to_confidence,
            # messaging: the time not spent in any worker stage, mostly the pick's message waiting
            # for the worker to be free (a busy worker takes it in only when its job ends).
            "result_to_second_decode_ms": bench["pick2"] - first_result + waited,
            "result_to_second_result_ms": bench["results"][2] - first_result,
            "second_waited_ms": waited,
        }
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--site", action="append", required=True, help="label=path of a built site")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sites = [s.split("=", 1) for s in args.site]
    with tempfile.TemporaryDirectory() as tmp:
        photos = make_photos(Path(tmp))
        servers = {label: serve(Path(path), photos) for label, path in sites}
        runs: dict[str, list[dict]] = {label: [] for label, _ in sites}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for i in range(args.repeat):
                for label, _ in sites:
                    run = one_run(browser, servers[label][0], photos)
                    runs[label].append(run)
                    figures = ", ".join(f"{k} {v:.0f}" for k, v in run.items())
                    print(f"run {i + 1} {label}: {figures}", flush=True)
            browser.close()
    print(f"\nmedians of {args.repeat}, ms")
    keys = list(next(iter(runs.values()))[0])
    print("| site | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for label, samples in runs.items():
        cells = [f"{statistics.median(s[k] for s in samples):.0f}" for k in keys]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

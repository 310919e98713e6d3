#!/usr/bin/env python3
"""Python's start-up on a return visit (reload), three ways side by side, alternating:

    before      the wheels as Pyodide ships them (.py sources), Python started normally
    pyc         the wheels as build.py ships them (Pyodide-compiled .pyc), started normally
    snapshot    the same, Python restored from the memory snapshot in IndexedDB

    .venv/bin/python bench/python_startup.py [--site dist] [--rounds 5] [--json out.json]
                                             [--no-browser] [--no-node]

1. Pyodide under Node (bench/python_startup.mjs, the worker's own code paths, a fresh process
   per start): wall and CPU time of each way. CPU time barely moves with the machine's load.
2. The app in headless Chromium: each way has its own origin (own server, own browser
   context: own HTTP cache and IndexedDB); every round reloads each once, in turn. Reported:
   the worker's own Python start time (loadPyodide .. sceneseg.browser imported) and
   navigation -> ready, medians, with ratios to "before".
Timings on a loaded machine are noise: compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "py")]

import build  # noqa: E402
from devharness import CHROMIUM, CHROMIUM_ARGS, PYODIDE_MIRROR, serve_site  # noqa: E402
from sceneseg.tools.manifest import sha256_file  # noqa: E402

# Records when the worker says ready and how Python started; optionally turns the snapshot off
# (what the page's ?snapshot=0 passes to the worker).
INIT = """
(() => {
  const Native = window.Worker;
  const noSnapshot = %s;
  window.__starts = [];
  window.Worker = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', ({ data }) => {
        if (data.type !== 'ready') return;
        window.__starts.push({ ...data.info.python, readyAt: performance.now() });
      });
    }
    postMessage(message, ...rest) {
      if (noSnapshot && message?.type === 'init') message = { ...message, snapshot: false };
      return super.postMessage(message, ...rest);
    }
  };
})();
"""
STORED = """async () => new Promise((resolve) => {
  const open = indexedDB.open('sceneseg');  // web/worker/idb-store.js
  open.onupgradeneeded = () => open.transaction.abort();
  open.onerror = () => resolve(false);
  open.onsuccess = () => {
    const get = open.result.transaction('python').objectStore('python').get('python');
    get.onsuccess = () => { open.result.close(); resolve(Boolean(get.result)); };
  };
})"""


def source_wheel_site(site: Path, into: Path, mirror: Path) -> Path:
    """A copy of the site with the wheels as they were before the .pyc step."""
    copy = into / "before"
    shutil.copytree(site, copy)
    vendor = copy / "vendor" / "pyodide"
    lock = json.loads((vendor / "pyodide-lock.json").read_text())
    for name, entry in lock["packages"].items():
        wheel = vendor / entry["file_name"]
        wheel.unlink()
        if name == "sceneseg":
            build.build_sceneseg_wheel(vendor)
        else:
            shutil.copyfile(mirror / entry["file_name"], wheel)
        entry["sha256"] = sha256_file(wheel)
    (vendor / "pyodide-lock.json").write_text(json.dumps(lock, indent=1))
    return copy


def visit(page, url: str, timeout_s: float = 300) -> dict:
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=timeout_s * 1000)
    (start,) = page.evaluate("window.__starts")
    return start


def node_start(way: str, wheels: Path, snapshot: Path) -> dict:
    script = ROOT / "bench" / "python_startup.mjs"
    run = subprocess.run(
        ["node", str(script), way, str(wheels), str(snapshot)], capture_output=True, text=True
    )
    if run.returncode != 0:
        raise RuntimeError(f"{way}: {run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def bench_node(before: Path, site: Path, rounds: int, tmp: Path) -> dict:
    wheels = {"before": before / "vendor" / "pyodide", "pyc": site / "vendor" / "pyodide"}
    snapshot = tmp / "snapshot.gz"
    node_start("make", wheels["pyc"], snapshot)
    samples = {"before": [], "pyc": [], "snapshot": []}
    for _ in range(rounds):
        samples["before"].append(node_start("normal", wheels["before"], snapshot))
        samples["pyc"].append(node_start("normal", wheels["pyc"], snapshot))
        samples["snapshot"].append(node_start("restore", wheels["pyc"], snapshot))
    print(f"\nPyodide under Node, Python start, medians of {rounds}, alternating")
    print("| way | wall (ms) | ratio | CPU (ms) | ratio |")
    print("|---|---|---|---|---|")
    base = {k: statistics.median(s[k] for s in samples["before"]) for k in ("wall", "cpu")}
    for name, runs in samples.items():
        wall, cpu = (statistics.median(s[k] for s in runs) for k in ("wall", "cpu"))
        ratios = f"{wall / base['wall']:.2f} | {cpu:.0f} | {cpu / base['cpu']:.2f}"
        print(f"| {name} | {wall:.0f} | {ratios} |")
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "dist")
    parser.add_argument("--mirror", type=Path, default=PYODIDE_MIRROR, help="Pyodide's wheels")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--no-node", action="store_true")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        before = source_wheel_site(args.site.resolve(), Path(tmp), args.mirror)
        if not args.no_node:
            results["node"] = bench_node(before, args.site.resolve(), args.rounds, Path(tmp))
        if not args.no_browser:
            results["browser"] = bench_browser(before, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


def bench_browser(before: Path, args) -> dict:
    with sync_playwright() as playwright:
        ways = {"before": (before, True), "pyc": (args.site, True), "snapshot": (args.site, False)}
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        servers, pages = [], {}
        for name, (site, no_snapshot) in ways.items():
            server = serve_site(site)
            port = server.__enter__()
            servers.append(server)
            context = browser.new_context()
            context.add_init_script(INIT % ("true" if no_snapshot else "false"))
            pages[name] = (context.new_page(), f"http://127.0.0.1:{port}/")
        try:
            first = {name: visit(page, url) for name, (page, url) in pages.items()}
            page, _ = pages["snapshot"]
            deadline = time.monotonic() + 300
            while not page.evaluate(STORED):
                if time.monotonic() > deadline:
                    raise RuntimeError("no snapshot stored")
                time.sleep(0.5)
            samples = {name: [] for name in ways}
            for _ in range(args.rounds):
                for name, (page, url) in pages.items():
                    start = visit(page, url)
                    expected = "snapshot" if name == "snapshot" else "normal"
                    if start["mode"] != expected:
                        raise RuntimeError(f"{name}: Python started as {start['mode']}: {start}")
                    samples[name].append(start)
        finally:
            for server in servers:
                server.__exit__(None, None, None)
            browser.close()

    def median(name, key):
        return statistics.median(s[key] for s in samples[name])

    print(f"\nThe app, return visit (reload), medians of {args.rounds}, alternating")
    print("| way | Python start (ms) | ratio | navigation -> ready (ms) | ratio |")
    print("|---|---|---|---|---|")
    for name in ways:
        python, ready = median(name, "ms"), median(name, "readyAt")
        print(
            f"| {name} | {python:.0f} | {python / median('before', 'ms'):.2f} "
            f"| {ready:.0f} | {ready / median('before', 'readyAt'):.2f} |"
        )
    print(
        f"\nfirst visits (one each): Python start pyc {first['pyc']['ms']:.0f} ms, "
        f"snapshot {first['snapshot']['ms']:.0f} ms, of which capturing the heap "
        f"{first['snapshot']['steps'].get('capture', 0):.0f} ms"
    )
    steps = [s.get("steps", {}) for s in samples["snapshot"]]
    if steps and steps[0]:
        parts = ", ".join(f"{k} {statistics.median(s[k] for s in steps):.0f}" for k in steps[0])
        print(f"\nsnapshot restore, median ms: {parts}")
    return {"first_visit": first, "return_visits": samples}


if __name__ == "__main__":
    sys.exit(main())

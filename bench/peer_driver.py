"""bench/peer.py's run: the start-up visits (each pick mode, each visit kind, apps alternating),
then photos of each size through the pages kept open, with their renderers' memory."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import psutil
from peer_pages import ARGS, App, ForeignRequests, PeakRss, make_photos, new_context, visit
from peer_report import APPS, NAMES, PICKS, VISITS, brief, log
from peer_serving import PEER_VERSION, Site, brotli_version, make_peer_site, site_sizes
from PIL import Image
from playwright.sync_api import sync_playwright

from devharness import CHROMIUM, STANDIN_ID


def run(args, out: dict) -> dict:
    """Fill `out` (when interrupted, what was measured so far stays in it)."""
    sizes = sorted(args.sizes)[:1] if args.startup_only else sorted(args.sizes)
    brotli_quality = None if args.startup_only else args.brotli_quality
    tmp = Path(tempfile.mkdtemp(prefix="sceneseg-peer-"))
    foreign = ForeignRequests()
    out |= {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB",
        "load_average": os.getloadavg(),
        "repeat": args.repeat,
        "idle_s": args.idle,
        "peer": f"transformers.js {PEER_VERSION}, pipeline('image-segmentation'), device wasm, q8",
        "model": STANDIN_ID,
        "memory_method": "peak RSS of the page's renderer processes (psutil, every 50 ms)",
        "startup": {app: {pick: {v: [] for v in VISITS} for pick in PICKS} for app in APPS},
        "photos": {},
        "bytes": {app: {} for app in APPS},
        "threads": {},
        "idle_rss": {},
        "findings": [],
    }
    try:
        photos = make_photos(tmp, sizes)
        out["photo_files"], out["photo_sizes"] = {}, {}
        for mp, path in photos.items():
            width, height = out["photo_sizes"][str(mp)] = Image.open(path).size
            out["photo_files"][str(mp)] = f"{path.name} ({width * height / 1e6:.2f} MP)"
        sites = {"sceneseg": Site(args.site.resolve()), "peer": Site(make_peer_site(tmp / "peer"))}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            out["chromium"] = browser.version
            profiles = None if args.no_relaunch else tmp / "profiles"
            kept = startup_rounds(
                playwright, browser, sites, photos[sizes[0]], args, foreign, profiles, out
            )
            for name, app in kept.items():
                out["threads"][name] = app.threads()
                out["idle_rss"][name] = PeakRss(app.processes).sample()
            if not args.startup_only:
                photo_runs(kept, photos, args.repeat, args.big_repeat, args.timeout, out)
            browser.close()
        for name in APPS:
            first = out["startup"][name]["ready"]["first"]
            downloaded = first[0]["bytes"]["files"] if first else []
            out["bytes"][name] = site_sizes(sites[name], downloaded, brotli_quality)
        for site in sites.values():
            site.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        out["foreign_requests"] = sorted(set(foreign))
    out["brotli"] = brotli_version(brotli_quality)
    return out


def startup_rounds(playwright, browser, sites, photo, args, foreign, profiles, out):
    """`args.repeat` rounds; in each, per app and pick mode: a first visit in a fresh context,
    a reload of that tab after `args.idle` s, and (with `profiles`) a relaunch. Apps and pick
    modes swap their order each round. Returns each app's last fresh context, kept open."""
    kept: dict[str, App] = {}
    for round_ in range(args.repeat):
        apps = APPS if round_ % 2 == 0 else APPS[::-1]
        picks = list(PICKS) if round_ % 2 == 0 else list(PICKS)[::-1]
        for name in apps:
            for pick in picks:
                record = out["startup"][name][pick]
                app = App(name, browser, sites[name], foreign)
                for kind in ("first", "reload"):
                    if kind == "reload":
                        time.sleep(args.idle)  # SceneSeg stores its Python snapshot when idle
                    reload = kind == "reload"
                    result = visit(app.page, sites[name], photo, pick, reload, args.timeout)
                    record[kind].append(result)
                    log(f"{name}, photo picked {PICKS[pick]}, {kind} visit: {brief(result)}")
                if round_ == args.repeat - 1 and pick == picks[-1]:
                    app.find_processes()
                    kept[name] = app
                else:
                    app.context.close()
                if profiles:
                    profile = profiles / f"{name}-{pick}-{round_}"
                    result = relaunch(playwright, sites[name], photo, pick, profile, args, foreign)
                    record["relaunch"].append(result)
                    log(f"{name}, photo picked {PICKS[pick]}, relaunch: {brief(result)}")
    return kept


def relaunch(playwright, site, photo, pick, profile, args, foreign) -> dict:
    """A browser on a persistent profile (V8's code cache, Cache Storage, IndexedDB on disk)
    visits, idles, closes; started again on that profile, its visit is the one measured."""
    for launch in ("first", "again"):
        context = new_context(playwright.chromium, foreign, profile)
        page = context.pages[0] if context.pages else context.new_page()
        result = visit(page, site, photo, pick, False, args.timeout)
        if launch == "first":
            time.sleep(args.idle)
        context.close()
    return result


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

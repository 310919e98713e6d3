#!/usr/bin/env python3
"""Benchmarks, measured side by side in one run (this machine is noisy: compare ratios).

    .venv/bin/python bench/run.py [--site dist] [--repeat 3]

1. Postprocessing: the exact cell-shortcut argmax vs the naive path (PyTorch interpolates all
   150 channels, then argmax) at several output sizes, same logits, alternating runs.
2. The pipeline per stage, native onnxruntime (CPython) vs the browser app (Pyodide +
   onnxruntime-web WASM in headless Chromium), q8 and fp32, on the same photos, alternating.
3. A first visit: time until ready, the first photo's model time vs later photos'.

Needs a site built with --precisions q8,fp32 (build.py ... --precisions q8,fp32).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import onnxruntime
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "py")]

from devharness import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    PHOTOS,
    STANDIN_DIR,
    AppPage,
    native_segmenter,
    serve_site,
)


def alternating_median_ms(functions, repeat: int) -> list[float]:
    """Median wall time of each function, run in turn so that all see the same machine load."""
    times = [[] for _ in functions]
    for _ in range(repeat):
        for fn, samples in zip(functions, times, strict=True):
            start = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - start) * 1000)
    return [statistics.median(samples) for samples in times]


def bench_postprocess(repeat: int) -> None:
    import torch
    import torch.nn.functional as F

    from sceneseg.postprocess import upsample_argmax

    segmenter = native_segmenter("fp32")
    image = segmenter.processor.preprocess(
        __import__("sceneseg.processing", fromlist=["decode"]).decode(PHOTOS[0].read_bytes())
    )
    logits = segmenter.backend.run_sync(image)
    print("\n## Postprocessing: exact shortcut vs naive (PyTorch, all 150 channels)\n")
    print("| output | naive ms | exact ms | speed-up | naive memory |")
    print("|---|---|---|---|---|")
    for height, width in [(480, 640), (1080, 1440), (2000, 2666)]:
        tensor = torch.from_numpy(logits)

        def naive(height=height, width=width, tensor=tensor):
            size = (height, width)
            F.interpolate(tensor, size=size, mode="bilinear", align_corners=False)[0].argmax(0)

        def exact(height=height, width=width):
            upsample_argmax(logits, height, width)

        n, e = alternating_median_ms([naive, exact], repeat)
        gb = 150 * height * width * 4 / 1e9
        print(f"| {width}x{height} | {n:.0f} | {e:.0f} | {n / e:.1f}x | {gb:.1f} GB |")


def bench_pipeline(browser, url: str, repeat: int) -> None:
    stages = ["decode", "preprocess", "model", "postprocess"]
    browser_only = ["overlay", "render"]  # overlay: colouring in the worker; render: UI thread
    print("\n## Pipeline per stage, median ms (native onnxruntime vs browser WASM)\n")
    print("| photo | precision | where | " + " | ".join(stages + browser_only) + " |")
    print("|---|---|---|" + "---|" * (len(stages) + len(browser_only)))
    for precision in ("q8", "fp32"):
        app = AppPage(browser.new_page(), f"{url}?precision={precision}")
        segmenter = native_segmenter(precision)
        for photo in PHOTOS[:3]:
            native, web = [], []
            segmenter.segment_sync(photo.read_bytes())  # warm-up
            app.upload(photo)  # warm-up
            for _ in range(repeat):  # alternate, so both see the same machine load
                native.append(segmenter.segment_sync(photo.read_bytes()).timings_ms)
                app.upload(photo)
                web.append(app.timings())
            for where, runs in (("native", native), ("browser", web)):
                columns = stages + (browser_only if where == "browser" else [])
                cells = [f"{statistics.median(r[s] for r in runs):.0f}" for s in columns]
                cells += ["-"] * (len(stages) + len(browser_only) - len(cells))
                print(f"| {photo.name} | {precision} | {where} | {' | '.join(cells)} |")
        app.page.close()


def bench_first_visit(browser, url: str, repeat: int) -> None:
    """A new visitor: time until the page is ready, then the first photo and later ones.

    The worker runs the model once on a blank input as soon as it is ready (warm-up), so the
    first photo should cost about what later ones do, if the visitor takes a moment to pick it.
    """
    print("\n## First visit (fresh browser context, q8)\n")
    print("| visit | ready s | first photo: model ms | later photos: model ms (median of 3) |")
    print("|---|---|---|---|")
    for visit in range(1, repeat + 1):
        context = browser.new_context()
        start = time.perf_counter()
        app = AppPage(context.new_page(), url)
        ready_s = time.perf_counter() - start
        app.page.wait_for_timeout(2000)  # the visitor picks a photo
        app.upload(PHOTOS[0])
        first = app.timings()["model"]
        later = []
        for _ in range(3):
            app.upload(PHOTOS[0])
            later.append(app.timings()["model"])
        print(f"| {visit} | {ready_s:.1f} | {first:.0f} | {statistics.median(later):.0f} |")
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--site", type=Path, default=ROOT / "dist")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not (args.site / "models").is_dir():
        sys.exit(f"no built site at {args.site}: run build.py with --precisions q8,fp32")
    when = time.strftime("%Y-%m-%d %H:%M")
    info = json.loads((args.site / "build-info.json").read_text())
    print(f"# SceneSeg benchmarks ({when}; stand-in weights {STANDIN_DIR.name})")
    print(
        f"\nnative: onnxruntime {onnxruntime.__version__}, Python {sys.version.split()[0]}; "
        f"browser: Pyodide {info['pyodide']['version']}, "
        f"onnxruntime-web {info['onnxruntime_web']['version']} (WASM)"
    )
    bench_postprocess(args.repeat)
    with sync_playwright() as playwright, serve_site(args.site) as port:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        url = f"http://127.0.0.1:{port}/"
        bench_pipeline(browser, url, args.repeat)
        bench_first_visit(browser, url, args.repeat)
        print(f"\nChromium {browser.version}")
        browser.close()


if __name__ == "__main__":
    main()

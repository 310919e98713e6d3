"""Video and batch figures, side by side in one run (the machine is shared: read the ratios).

    PYTHONPATH=py .venv/bin/python bench/video_batch.py --site DIST [--seconds 8] [--photos 100]

1. Fake camera (640x360, a slow pan over a real photo): achieved frames/s, frame-to-overlay
   latency, worker time per frame and the UI thread's longest task, per input size; labels at
   the input size vs at the video's size; native onnxruntime's model time at the same sizes,
   measured in between, for the ratio.
2. Flicker on a static scene (one real photo + fresh sensor noise every frame) with
   smoothing off (alpha 1) and on (alpha 0.6), from the page's own figure.
3. Batch of N photos (the sample photos over and over, a 12 MP one in the middle): the
   browser's memory (resident set of its processes, from /proc) after every photo.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "py"))

from devharness import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    PHOTOS,
    SHARED,
    pan_frames,
    serve_site,
    write_y4m,
)

FAKE = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
LONG_TASKS = """() => { window.longTasks = [];
  new PerformanceObserver((l) => { for (const e of l.getEntries()) longTasks.push(e.duration); })
    .observe({ type: 'longtask' }); }"""


def descendants_rss_mb() -> float:
    """Resident memory of every process below this one (the browser and its children)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            pages = int(Path(f"/proc/{entry}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = pages * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total / 1e6


def native_model_ms(sizes: list[tuple[int, int]]) -> dict[str, float]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    model = SHARED / "models/segformer-b0-ade-synthetic/onnx/model_quantized.onnx"
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    out = {}
    for w, h in sizes:
        x = np.zeros((1, 3, h, w), np.float32)
        session.run(None, {"pixel_values": x})
        times = []
        for _ in range(5):
            t = time.perf_counter()
            session.run(None, {"pixel_values": x})
            times.append((time.perf_counter() - t) * 1000)
        out[f"{w}x{h}"] = float(np.median(times))
    return out


def camera_run(playwright, url, clip, size, labels_at, seconds, alpha="0.6"):
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[*CHROMIUM_ARGS, *FAKE, f"--use-file-for-fake-video-capture={clip}"],
    )
    try:
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]", timeout=180_000)
        page.click("#modes [data-mode=video]")
        page.select_option("#video-size", size)
        page.select_option("#video-labels-at", labels_at)
        page.locator("#video-alpha").evaluate(f"e => e.value = '{alpha}'")
        page.click("#video-camera")
        while int(page.get_attribute("#video", "data-frames") or 0) < 5:
            time.sleep(0.2)
        page.evaluate(LONG_TASKS)
        start_frames = int(page.get_attribute("#video", "data-frames"))
        time.sleep(seconds)
        stats = page.locator("#video-stats")
        frames = int(page.get_attribute("#video", "data-frames")) - start_frames
        return {
            "size": size,
            "labels_at": labels_at,
            "alpha": float(alpha),
            "fps": frames / seconds,
            "latency_ms": float(stats.get_attribute("data-latency")),
            "model_ms": float(stats.get_attribute("data-model")),
            "worker_ms": float(stats.get_attribute("data-worker")),
            "timings": json.loads(stats.get_attribute("data-timings")),
            "flicker": float(stats.get_attribute("data-flicker")),
            "auto_size": page.get_attribute("#video", "data-auto-size"),
            "ui_longest_task_ms": max(page.evaluate("longTasks"), default=0),
        }
    finally:
        browser.close()


def batch_run(playwright, url, count: int, folder: Path):
    big = folder / "phone-12mp.png"
    Image.open(PHOTOS[0]).convert("RGB").resize((4000, 3000)).save(big, compress_level=1)
    files = [PHOTOS[i % len(PHOTOS)] for i in range(count)]
    files[count // 2] = big
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]", timeout=180_000)
        page.click("#modes [data-mode=batch]")
        series = [(0, descendants_rss_mb())]
        start = time.perf_counter()
        page.set_input_files("#batch-files", [str(f) for f in files])
        seen = 0
        while page.get_attribute("#batch", "data-state") == "running":
            done = int(page.get_attribute("#batch", "data-done") or 0) + int(
                page.get_attribute("#batch", "data-failed") or 0
            )
            if done > seen:
                seen = done
                series.append((done, descendants_rss_mb()))
            time.sleep(0.1)
        series.append((count, descendants_rss_mb()))
        return {
            "photos": count,
            "seconds": time.perf_counter() - start,
            "state": page.get_attribute("#batch", "data-state"),
            "zip_store": page.get_attribute("#batch", "data-zip-store"),
            "rss_mb_after_photo": series,
        }
    finally:
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--site", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--skip", default="", help="comma list of: camera,flicker,batch")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    from playwright.sync_api import sync_playwright

    report = {"load_average": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp, serve_site(args.site) as port:
        url = f"http://127.0.0.1:{port}/"
        pan = write_y4m(Path(tmp) / "pan.y4m", pan_frames(SHARED / "photos/rocket.jpg", 90))
        rng = np.random.default_rng(0)
        still = pan_frames(SHARED / "photos/rocket.jpg", 1)[0].astype(np.float32)
        noisy = [
            np.clip(still + rng.normal(0, 6, still.shape), 0, 255).astype(np.uint8)
            for _ in range(60)
        ]
        static = write_y4m(Path(tmp) / "static.y4m", noisy)
        with sync_playwright() as pw:
            if "camera" not in skip:
                runs = []
                for size in ["192", "256", "320", "384", "512", "auto"]:
                    runs.append(camera_run(pw, url, pan, size, "input", args.seconds))
                    print(json.dumps(runs[-1]), flush=True)
                runs.append(camera_run(pw, url, pan, "256", "video", args.seconds))
                print(json.dumps(runs[-1]), flush=True)
                report["camera"] = runs
                sizes = [(s, s) for s in (192, 256, 320, 384, 512)]
                report["native_model_ms"] = native_model_ms(sizes)
                print(json.dumps(report["native_model_ms"]), flush=True)
            if "flicker" not in skip:
                report["flicker"] = [
                    camera_run(pw, url, static, "256", "input", args.seconds, alpha)
                    for alpha in ("1", "0.6", "1", "0.6")
                ]
                print(json.dumps(report["flicker"]), flush=True)
            if "batch" not in skip:
                report["batch"] = batch_run(pw, url, args.photos, Path(tmp))
                print(json.dumps(report["batch"]), flush=True)
    report["load_average_end"] = os.getloadavg()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

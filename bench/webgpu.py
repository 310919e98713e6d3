#!/usr/bin/env python3
"""WebGPU rows, side by side with WASM in one browser (this machine is noisy: compare ratios).

    .venv/bin/python bench/webgpu.py --site DIST [--photo PATH] [--wasm-repeat 3]
        [--webgpu-repeat 1] [--memory-photos 50] [--memory-webgpu-photos 3]

DIST must be built with the WebGPU runtime and the fp32 file (build.py --precisions
q8,fp16,fp32). Headless Chromium runs with --enable-unsafe-webgpu; where the only adapter is
SwiftShader (a CPU implementation of WebGPU, ~100x slower than a GPU) the WebGPU rows only
show that the path works, not how fast a GPU is.

1. Per stage, the same photo, alternating: WebGPU fp32 (forced), WASM fp32, WASM q8.
2. Reading the logits back (150x128x128 float32, 9.8 MB): a GPU buffer copied to a mappable
   buffer and mapped, on the page's own adapter, median of 5.
3. Memory over many photos in a row: the tab's renderer process (page + worker) and the GPU
   process, proportional set size from /proc (Linux), after every photo.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "py")]

from devharness import CHROMIUM, CHROMIUM_ARGS, SHARED, AppPage, serve_site  # noqa: E402

WEBGPU_ARGS = ["--enable-unsafe-webgpu"]
LOGITS_BYTES = 150 * 128 * 128 * 4

READBACK_JS = """async (bytes) => {
  const adapter = await navigator.gpu.requestAdapter();
  const device = await adapter.requestDevice({
    requiredLimits: { maxBufferSize: adapter.limits.maxBufferSize,
                      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize } });
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const src = device.createBuffer({ size: bytes, usage });
  device.queue.writeBuffer(src, 0, new Float32Array(bytes / 4).fill(1));
  await device.queue.onSubmittedWorkDone();
  const times = [];
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    const dst = device.createBuffer(
      { size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(src, 0, dst, 0, bytes);
    device.queue.submit([encoder.finish()]);
    await dst.mapAsync(GPUMapMode.READ);
    const copy = new Float32Array(dst.getMappedRange().slice(0));
    dst.unmap();
    dst.destroy();
    times.push(performance.now() - start);
    if (copy.length !== bytes / 4) throw new Error('short read');
  }
  device.destroy();
  times.sort((a, b) => a - b);
  return { median: times[2], adapter: adapter.info.architecture || adapter.info.vendor };
}"""


def chromium_processes(marker: str) -> dict[str, list[int]]:
    """The browser launched with ``marker`` on its command line and its child processes, by type."""
    parents, cmdlines = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            # Chromium rewrites its children's argv into one space-separated string.
            cmdlines[int(entry)] = (
                Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").split()
            )
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    (browser,) = [p for p, c in cmdlines.items() if marker.encode() in b" ".join(c)]
    found: dict[str, list[int]] = {"browser": [browser]}
    todo = [browser]
    while todo:
        pid = todo.pop()
        for child, parent in parents.items():
            if parent == pid:
                todo.append(child)
                kinds = [
                    a.split(b"=", 1)[1].decode()
                    for a in cmdlines[child]
                    if a.startswith(b"--type=")
                ]
                found.setdefault(kinds[0] if kinds else "other", []).append(child)
    return found


def pss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_mb(marker: str) -> dict[str, float]:
    procs = chromium_processes(marker)
    return {
        kind: sum(pss_mb(p) for p in procs.get(kind, [])) for kind in ("renderer", "gpu-process")
    }


def median_of(samples: list[dict], stage: str) -> float | None:
    values = [t[stage] for t in samples if stage in t]
    return statistics.median(values) if values else None


def bench_stages(open_app, photo: Path, wasm_repeat: int, webgpu_repeat: int) -> None:
    variants = {
        "WebGPU fp32 (forced, SwiftShader)": ("?backend=webgpu&precision=fp32", webgpu_repeat),
        "WASM fp32": ("?backend=wasm&precision=fp32", wasm_repeat),
        "WASM q8": ("?backend=wasm&precision=q8", wasm_repeat),
    }
    apps = {name: open_app(query) for name, (query, _) in variants.items()}
    samples: dict[str, list[dict]] = {name: [] for name in variants}
    for round_ in range(max(wasm_repeat, webgpu_repeat)):
        for name, (_, repeat) in variants.items():
            if round_ < repeat:
                apps[name].upload(photo, timeout=1_800_000)
                samples[name].append(apps[name].timings())
    stages = [
        "decode",
        "preprocess",
        "model",
        "model.session_run",
        "postprocess",
        "overlay",
        "render",
    ]
    print(f"\n## Per stage, {photo.name}, median ms (runs: "
          + ", ".join(f"{n} {len(s)}" for n, s in samples.items()) + ")\n")  # fmt: skip
    print("| stage | " + " | ".join(variants) + " |")
    print("|---" * (len(variants) + 1) + "|")
    for stage in stages:
        row = [median_of(samples[n], stage) for n in variants]
        print(f"| {stage} | " + " | ".join("–" if v is None else f"{v:.0f}" for v in row) + " |")
    for name, app in apps.items():
        print(f"- {name}: {app.page.text_content('#backend-choice')}")


def bench_memory(open_app, marker: str, photo: Path, query: str, count: int) -> None:
    app = open_app(query)
    app.upload(photo, timeout=1_800_000)  # first photo: buffers and caches set up
    rows = [memory_mb(marker)]
    start = time.perf_counter()
    for _ in range(count - 1):
        app.upload(photo, timeout=1_800_000)
        rows.append(memory_mb(marker))
    elapsed = time.perf_counter() - start
    print(f"\n## Memory over {count} photos in a row, {query}, {photo.name} "
          f"({elapsed / max(count - 1, 1):.1f} s per photo)\n")  # fmt: skip
    print("| process | after photo 1 | after photo 2 | after the last | max | last - photo 2 |")
    print("|---|---|---|---|---|---|")
    for kind in ("renderer", "gpu-process"):
        values = [r[kind] for r in rows]
        second = values[1] if len(values) > 1 else values[0]
        print(f"| {kind} (PSS MB) | {values[0]:.0f} | {second:.0f} | {values[-1]:.0f} | "
              f"{max(values):.0f} | {values[-1] - second:+.0f} |")  # fmt: skip
    for kind in ("renderer", "gpu-process"):
        print(f"- {kind} after each photo (MB): " + " ".join(f"{r[kind]:.0f}" for r in rows))
    print(f"- {app.page.text_content('#backend-choice')}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--site", type=Path, default=ROOT / "dist")
    parser.add_argument("--photo", type=Path, default=SHARED / "photos" / "chelsea.png")
    parser.add_argument("--wasm-repeat", type=int, default=3)
    parser.add_argument("--webgpu-repeat", type=int, default=1)
    parser.add_argument("--memory-photos", type=int, default=50)
    parser.add_argument("--memory-webgpu-photos", type=int, default=3)
    parser.add_argument("--skip", default="", help="comma-separated: stages,readback,memory")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    marker = f"--sceneseg-bench={uuid.uuid4().hex}"  # finds this browser's processes in /proc
    print(f"# WebGPU bench ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}; headless Chromium {WEBGPU_ARGS})")  # fmt: skip
    with serve_site(args.site) as port, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS + WEBGPU_ARGS + [marker]
        )
        url = f"http://127.0.0.1:{port}/"

        def open_app(query: str) -> AppPage:
            context = browser.new_context(accept_downloads=True)
            return AppPage(context.new_page(), url + query)

        if "stages" not in skip:
            bench_stages(open_app, args.photo, args.wasm_repeat, args.webgpu_repeat)
        if "readback" not in skip:
            page = browser.new_page()
            page.goto(url)
            result = page.evaluate(READBACK_JS, LOGITS_BYTES)
            mb = LOGITS_BYTES / 1e6
            print(f"\n## Readback of the logits ({mb:.1f} MB) on {result['adapter']}: "
                  f"median {result['median']:.1f} ms\n")  # fmt: skip
            page.close()
        if "memory" not in skip:
            for context in browser.contexts:  # only the measured tab in the renderer numbers
                context.close()
            if args.memory_photos:
                bench_memory(open_app, marker, args.photo, "?backend=wasm", args.memory_photos)
                for context in browser.contexts:
                    context.close()
            if args.memory_webgpu_photos:
                bench_memory(
                    open_app,
                    marker,
                    args.photo,
                    "?backend=webgpu&precision=fp32",
                    args.memory_webgpu_photos,
                )
        browser.close()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The resolution modes natively (CPython + native onnxruntime, the CLI's Segmenter): model
time, total time and peak memory per photo size and mode, on any execution provider, and on a
GPU provider each mode's labels against the CPU's fp32 labels. `bench/resolution.py` runs this
beside the page; alone it needs no browser (for a GPU machine without one).

    python3 bench/resolution_native.py [--provider cpu|cuda|webgpu] [--precision q8]
        [--modes square,keep,detail] [--sizes 0.24,2,12,3:1,4:1] [--repeat 1] [--once]
        [--timeout 600] [--out DIR]

Photos: a real photo (ADE_val_00000001, 683x512) cropped to the aspect ratio and resized with
Pillow (Lanczos, JPEG q92) to 0.24, 2 and 12 MP at 4:3 (566x424, 1632x1224, 4032x3024), a 3:1
and a 4:1 panorama (3072x1024, 4096x1024); the second photo of each size the same way from
ADE_val_00000002. ``SCENESEG_SHARED`` says where shared/ is (photos, the stand-in model).

Per repeat, size and mode a subprocess of its own (so that its peak RSS is that case's): it
makes the session, runs one 512x512 `square` warm-up (as the page does), then the photo and
(unless --once) the second photo of the same size: model time (every window), decode ->
labels, RSS before and its peak (ru_maxrss). With a provider other than the CPU it then makes
a CPU fp32 session and reports the share of the first photo's labels equal to the CPU's in the
same mode (after the peak is read). WebGPU through the onnxruntime-ep-webgpu plugin reports
its adapter.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "py")]

from devharness.paths import SHARED  # noqa: E402

SOURCE = SHARED / "photos" / "ade20k-val" / "ADE_val_00000001.jpg"  # 683x512
SECOND = SHARED / "photos" / "ade20k-val" / "ADE_val_00000002.jpg"  # the warm-up test's 2nd
# Photo key -> its size. 4:3 sizes as a phone writes them; panoramas as strips of the photo.
SIZES = {
    "0.24": (566, 424),
    "2": (1632, 1224),
    "12": (4032, 3024),
    "3:1": (3072, 1024),
    "4:1": (4096, 1024),
}
MODES = ("square", "keep", "detail")
MB = 2**20
GIB = 2**30


def make_photo(source: Path, size: tuple[int, int], dest: Path) -> Path:
    """`source` cropped to `size`'s aspect ratio (centred), resized to `size`."""
    image = Image.open(source).convert("RGB")
    ratio = size[0] / size[1]
    w, h = image.size
    if w / h > ratio:
        crop_w = round(h * ratio)
        image = image.crop(((w - crop_w) // 2, 0, (w - crop_w) // 2 + crop_w, h))
    else:
        crop_h = round(w / ratio)
        image = image.crop((0, (h - crop_h) // 2, w, (h - crop_h) // 2 + crop_h))
    path = dest / f"{source.stem}-{size[0]}x{size[1]}.jpg"
    image.resize(size, Image.Resampling.LANCZOS).save(path, quality=92)
    return path


def photo_name(size: str) -> str:
    w, h = SIZES[size]
    return f"{w}x{h} ({size}{'' if ':' in size else ' MP'})"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# argv: py folder, precision, provider, mode, photo paths. Prints one JSON line: the results
# per photo, the adapter (WebGPU plugin) and the first photo's agreement with the CPU's fp32.
NATIVE_CHILD = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np, psutil
from PIL import Image
from devharness.reference import native_segmenter
precision, provider, mode, paths = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
segmenter = native_segmenter(precision, provider)
segmenter.segment_sync(Image.new('RGB', (512, 512), (120, 110, 100)), resolution='square')
results, labels = [], None
for path in paths:
    data = open(path, 'rb').read()
    baseline = psutil.Process().memory_info().rss
    start = time.perf_counter()
    result = segmenter.segment_sync(data, resolution=mode)
    total = (time.perf_counter() - start) * 1000
    results.append({'model_ms': result.timings_ms['model'], 'total_ms': total,
        'windows': result.resolution['windows'], 'input': result.resolution['input'],
        'baseline_rss_mb': baseline / 2**20,
        'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'timings': result.timings_ms})
    labels = result.labels if labels is None else labels
agreement = None
if provider != 'cpu':
    cpu = native_segmenter('fp32', 'cpu').segment_sync(open(paths[0], 'rb').read(), resolution=mode)
    agreement = float(np.mean(cpu.labels == labels))
print(json.dumps({'results': results, 'agreement': agreement,
    'adapter': getattr(segmenter.backend, 'adapter', None), 'backend': segmenter.backend.name}))
"""


def native_runs(photos, seconds, modes, sizes, args, out, on_record=None) -> None:
    """Per repeat, photo and mode a subprocess: the photo, then (unless --once) the second.
    Records go to out["native"][mode][size]; `on_record(record)` after each (a log, a save)."""
    provider = getattr(args, "provider", "cpu")
    for run in range(args.repeat):
        for size in sizes:
            for mode in modes:
                paths = [photos[size]] + ([] if args.once else [seconds[size]])
                command = [sys.executable, "-c", NATIVE_CHILD, str(ROOT / "py"), args.precision]
                extra = {}
                try:
                    done = subprocess.run(
                        [*command, provider, mode, *map(str, paths)],
                        capture_output=True,
                        text=True,
                        timeout=args.timeout,
                    )
                    if done.returncode:
                        results = [{"error": " ".join(done.stderr.strip().splitlines()[-1:])}]
                    else:
                        extra = json.loads(done.stdout.strip().splitlines()[-1])
                        results = extra.pop("results")
                except subprocess.TimeoutExpired:
                    results = [{"error": f"timed out after {args.timeout:.0f} s"}]
                record = {"first": results[0], "second": results[1] if len(results) > 1 else None}
                record.update(extra)
                out["native"].setdefault(mode, {}).setdefault(size, []).append(record)
                if extra.get("adapter"):
                    out["adapter"] = extra["adapter"]
                if extra.get("backend"):
                    out["backend"] = extra["backend"]
                log(f"native {provider} {mode} {size} run {run + 1}: {brief(record)}")
                if on_record:
                    on_record(record)


def brief(record: dict) -> str:
    parts = [one_line(record["first"])]
    if record.get("second"):
        parts.append("again: " + one_line(record["second"]))
    if record.get("agreement") is not None:
        parts.append(f"labels = CPU fp32's on {100 * record['agreement']:.3f}%")
    return "; ".join(parts)


def one_line(result: dict) -> str:
    if "error" in result:
        return f"ERROR {result['error']}"
    return (
        f"model {result['model_ms']:.0f} ms, total {result['total_ms']:.0f} ms, "
        f"{result['input'][0]}x{result['input'][1]} in {result['windows']} window(s), "
        f"RSS {result['baseline_rss_mb']:.0f} -> peak {result['peak_rss_mb']:.0f} MB"
    )


def median(records: list[dict], part: str, key: str) -> float | None:
    found = [
        r[part][key]
        for r in records
        if r.get(part) and "error" not in r[part] and r[part].get(key) is not None
    ]
    return statistics.median(found) if found else None


def fmt(value, spec=".0f") -> str:
    return "–" if value is None else f"{value:{spec}}"


def report(out: dict) -> str:
    lines = [
        f"# Resolution modes natively: {out['provider']} {out['precision']} ({out['when']})",
        "",
        f"Machine: {out['machine']}; `uptime` at start: {out['uptime_start']}. "
        f"{out.get('backend', '?')}; adapter: {out.get('adapter') or '–'}. Medians of "
        f"{out['repeat']}; a process per case, after one 512x512 square run. Model = every "
        "window's run; total = decode -> labels; MB = the process's RSS before the photo and its "
        "peak (ru_maxrss). 1st = the photo (its first run at that shape), 2nd = another photo "
        "of the same size in the same process. Labels: share of the 1st photo's pixels equal "
        "to the CPU fp32 labels in the same mode.",
        "",
        "| mode | photo | input (windows) | model ms 1st / 2nd | total ms 1st / 2nd "
        "| MB before, peak | labels = CPU fp32 |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode in out["modes"]:
        for size in out["sizes"]:
            records = out["native"].get(mode, {}).get(size, [])
            shown = next((r["first"] for r in records if "error" not in r["first"]), {})
            errors = [r["first"]["error"] for r in records if "error" in r["first"]]
            agreements = [r["agreement"] for r in records if r.get("agreement") is not None]
            lines.append(
                f"| {mode} | {photo_name(size)} "
                f"| {'x'.join(map(str, shown.get('input', []))) or '–'} "
                f"({shown.get('windows', '–')}) "
                f"| {fmt(median(records, 'first', 'model_ms'))} / "
                f"{fmt(median(records, 'second', 'model_ms'))} "
                f"| {fmt(median(records, 'first', 'total_ms'))} / "
                f"{fmt(median(records, 'second', 'total_ms'))} "
                f"| {fmt(median(records, 'first', 'baseline_rss_mb'))}, "
                f"{fmt(median(records, 'first', 'peak_rss_mb'))} "
                f"| {fmt(100 * min(agreements), '.3f') + '%' if agreements else '–'} |"
                + (f" errors: {errors}" if errors else "")
            )
    return "\n".join(lines) + "\n"


def modes_and_sizes(parser, args) -> tuple[list[str], list[str]]:
    """--modes and --sizes as lists, each value checked (a parser error names a bad one)."""
    modes = [m for m in args.modes.split(",") if m]
    sizes = [s for s in args.sizes.split(",") if s]
    for name, given, allowed in (("--modes", modes, MODES), ("--sizes", sizes, SIZES)):
        if bad := [v for v in given if v not in allowed]:
            parser.error(f"{name}: {bad} not in {list(allowed)}")
    return modes, sizes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--provider", default="cpu", help="cpu (default), cuda, webgpu, ...")
    parser.add_argument("--precision", default="q8")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--sizes", default=",".join(SIZES), help="of " + ", ".join(SIZES))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--once", action="store_true", help="one photo per process")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per process")
    parser.add_argument("--out", type=Path, help="write native-PROVIDER-PRECISION.md/.json")
    args = parser.parse_args()
    modes, sizes = modes_and_sizes(parser, args)
    import psutil

    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    out = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores, {psutil.virtual_memory().total / GIB:.0f} GiB",
        "uptime_start": uptime,
        "provider": args.provider,
        "precision": args.precision,
        "repeat": args.repeat,
        "modes": modes,
        "sizes": sizes,
        "native": {},
    }
    stem = f"native-{args.provider}-{args.precision}"
    with tempfile.TemporaryDirectory(prefix="sceneseg-resolution-") as tmp:
        photos = {s: make_photo(SOURCE, SIZES[s], Path(tmp)) for s in sizes}
        seconds = {s: make_photo(SECOND, SIZES[s], Path(tmp)) for s in sizes}
        try:
            native_runs(photos, seconds, modes, sizes, args, out)
        finally:
            text = report(out)
            print("\n" + text, flush=True)
            if args.out:
                args.out.mkdir(parents=True, exist_ok=True)
                (args.out / f"{stem}.md").write_text(text)
                (args.out / f"{stem}.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()

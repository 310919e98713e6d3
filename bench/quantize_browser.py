#!/usr/bin/env python3
"""Browser speed of the files in a quantization report: onnxruntime-web 1.30 (WASM backend,
2 threads) in headless Chromium, the same 512x512 input for every file, runs alternating.

    PYTHONPATH=py .venv/bin/python -m sceneseg.quantize ... --report build/q
    PYTHONPATH=py .venv/bin/python bench/quantize_browser.py --report build/q [--repeat 7]

Serves bench/quantize/ (page.html, bench.mjs), node_modules/onnxruntime-web/dist and the
model files with build.py's own Handler (COOP/COEP: cross-origin isolated, so threads), and
adds ``browser_ms`` (median) to each row of report.json, then rewrites report.json/report.md.
Files are timed in groups (WASM memory is 4 GB); every group also runs the published ``q8``
file, so each file's ratio to it is measured side by side (``browser_baseline_ms``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "py")]

from devharness import CHROMIUM, CHROMIUM_ARGS, serve_site  # noqa: E402
from sceneseg.model import ModelInfo  # noqa: E402
from sceneseg.processing import SegformerProcessor, decode  # noqa: E402
from sceneseg.tools.quantize.report import Report  # noqa: E402

PAGE_DIR = Path(__file__).resolve().parent / "quantize"


def browser_times(
    files: dict[str, Path], pixels, repeat: int, group_size: int, baseline: str = "q8",
    threads: int = 2,
) -> dict[str, dict]:  # fmt: skip
    """{name: {"median_ms", "baseline_ms", "runs_ms", "first_ms", "create_ms"}}."""
    from playwright.sync_api import sync_playwright

    names = [n for n in files if n != baseline]
    groups = [names[i : i + group_size] for i in range(0, len(names), group_size)] or [[]]
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp)
        for name in ("page.html", "bench.mjs"):
            (site / name).symlink_to(PAGE_DIR / name)
        (site / "ort").symlink_to(ROOT / "node_modules" / "onnxruntime-web" / "dist")
        (site / "m").mkdir()
        for name, path in files.items():
            (site / "m" / f"{name}.onnx").symlink_to(Path(path).resolve())
        pixels.tofile(site / "input.bin")
        with sync_playwright() as playwright, serve_site(site) as port:
            url = f"http://127.0.0.1:{port}/"
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for group in groups:
                members = [baseline, *group] if baseline in files else group
                page = browser.new_page()  # a fresh page per group: a fresh WASM heap
                errors: list[str] = []
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                page.goto(url + "page.html")
                page.wait_for_selector("body[data-ready=true]", timeout=60_000)
                config = {
                    "models": {n: f"m/{n}.onnx" for n in members},
                    "input": "input.bin",
                    "dims": list(pixels.shape),
                    "repeat": repeat,
                    "threads": threads,
                }
                out = page.evaluate("cfg => window.bench(cfg)", config)
                page.close()
                if errors:
                    raise RuntimeError(f"page errors: {errors}")
                if out["threads"] != threads:
                    print(f"warning: ran with {out['threads']} WASM thread(s)", file=sys.stderr)
                base = statistics.median(out["runs_ms"][baseline]) if baseline in files else None
                for n in members:
                    if n == baseline and n in results:
                        results[n]["runs_ms"] += out["runs_ms"][n]
                        continue
                    base_runs = out["runs_ms"].get(baseline)
                    results[n] = {
                        "median_ms": statistics.median(out["runs_ms"][n]),
                        "baseline_ms": base,
                        # Round by round (the baseline ran just before): robust to load drift.
                        "paired_speedup": statistics.median(
                            b / r for b, r in zip(base_runs, out["runs_ms"][n], strict=True)
                        )
                        if base_runs
                        else None,
                        "runs_ms": out["runs_ms"][n],
                        "first_ms": out["first_ms"][n],
                        "create_ms": out["create_ms"][n],
                        "threads": out["threads"],
                    }
                line = ", ".join(f"{n} {statistics.median(out['runs_ms'][n]):.0f}" for n in members)
                print(f"browser median ms: {line}", flush=True)
            results["_chromium"] = {"version": browser.version}
            browser.close()
    if baseline in results:  # the baseline's own figure: all its runs, over all groups
        results[baseline]["median_ms"] = statistics.median(results[baseline]["runs_ms"])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", type=Path, required=True, help="folder with report.json")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--group-size", type=int, default=3, help="files per page besides q8")
    parser.add_argument("--only", help="comma-separated row names (default: all)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    report = Report.load(args.report / "report.json")
    only = set(args.only.split(",")) if args.only else None
    files = {"fp32": Path(report.fp32["file"])}
    files |= {r["name"]: Path(r["file"]) for r in report.rows if not only or r["name"] in only}
    if "q8" not in files:
        q8 = next((r for r in report.rows if r["name"] == "q8"), None)
        if q8 is None:
            sys.exit("the report has no q8 row: the browser ratios need the published recipe")
        files["q8"] = Path(q8["file"])
    model = ModelInfo.from_dir(report.model_dir)
    photo = Path(report.photos_dir) / report.photos[0]
    pixels = SegformerProcessor(model.preprocess).preprocess(decode(photo.read_bytes()))

    results = browser_times(files, pixels, args.repeat, args.group_size, threads=args.threads)
    chromium = results.pop("_chromium")["version"]
    report.fp32["browser_ms"] = results["fp32"]["median_ms"]
    for row in report.rows:
        if row["name"] in results:
            r = results[row["name"]]
            row["browser_ms"] = r["median_ms"]
            row["browser_baseline_ms"] = r["baseline_ms"] if row["name"] != "q8" else None
            row["browser_first_ms"] = r["first_ms"]
            row["browser_paired_speedup_vs_q8"] = r["paired_speedup"]
            row["browser_runs_ms"] = r["runs_ms"]
    package = json.loads((ROOT / "node_modules/onnxruntime-web/package.json").read_text())
    report.conditions |= {
        "onnxruntime-web": package["version"],
        "browser": f"headless Chromium {chromium}",
        "WASM threads": args.threads,
        "browser repeats": args.repeat,
        "browser input": f"{photo.name} preprocessed, {list(pixels.shape)}",
    }
    report.write(args.report)
    print((args.report / "report.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""SceneSeg's own start-up stages per visit, without the peer: a quick A/B of a start-up lever.

    .venv/bin/python bench/startup_stages.py [--site DIST] [--reloads N] [--relaunches N]
                                             [--later S]

One persistent profile: a first visit, then `--reloads` reloads of that tab (each after
`--idle` s: the Python snapshot is stored when idle) and `--relaunches` browser relaunches on
the same profile. Each visit picks the photo when the page says ready and prints, on the
page's clock (ms from navigation), ready and first labels, then the page's own figures
(#engine's data-startup and data-python, restoreSteps included). bench/peer.py is the
side-by-side measurement; this is the profiler for the stages between its runs.

With --later S, each visit instead picks the photo S seconds after ready (the warm-up has had
its time), then picks it 4 more times: the first photo's model time against the median of the
later ones (issue 14: a photo picked 3 s after ready gets steady-state speed, within 1.2x).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from peer_pages import (
    ARGS,
    MARKS_SCRIPT,
    READY_OR_ERROR,
    RESULT_OR_ERROR,
    SOURCE_PHOTO,
    Site,
    visit,
    wait_for,
)
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "py"))
from devharness import CHROMIUM  # noqa: E402

PYTHON_DATA = "JSON.parse(document.querySelector('#engine')?.dataset.python || 'null')"
MODEL_MS = "JSON.parse(document.querySelector('#timings').dataset.timings).model"
LATER_PHOTOS = 4


def later_visit(page, site, reload, later_s):
    """Ready, then the photo `later_s` after it and LATER_PHOTOS more: their model times."""
    site.take(settle_s=0)
    if reload:
        page.reload(wait_until="commit")
    else:
        page.goto(site.url, wait_until="commit")
    failure = wait_for(page, READY_OR_ERROR, timeout_s=300)
    if failure:
        return {"error": failure}
    page.wait_for_timeout(later_s * 1000)
    models = []
    for n in range(1, 2 + LATER_PHOTOS):
        page.set_input_files("#file", str(SOURCE_PHOTO))
        failure = wait_for(page, RESULT_OR_ERROR, n, timeout_s=300)
        if failure:
            return {"error": failure, "model_ms": models}
        models.append(round(page.evaluate(MODEL_MS)))
    engine = page.eval_on_selector("#engine", "e => ({...e.dataset})")
    return {
        "model_ms": models,
        "first_vs_later": round(models[0] / statistics.median(models[1:]), 2),
        "warmup_ms": int(engine.get("warmupMs", 0)) or None,
        "warmup_runs": int(engine.get("warmupRuns", 0)) or None,
    }


def one_visit(page, site, reload):
    result = visit(page, site, SOURCE_PHOTO, "ready", reload, timeout_s=300)
    python = page.evaluate(PYTHON_DATA) or {}
    stages = result.get("stages") or {}
    stages = {k: round(v) for k, v in stages.items() if isinstance(v, (int, float))}
    return {
        "ready": round(result.get("ready_ms") or -1),
        "labels": round(result.get("first_labels_ms") or -1),
        "error": result.get("error"),
        "stages": stages,
        "python_mode": python.get("mode"),
        "restore": {k: round(v) for k, v in (python.get("restoreSteps") or {}).items()},
    }


def show(name: str, row: dict) -> None:
    """One visit's row, printed as soon as it is done (a visit that hangs hides none before it)."""
    print(f"{name:12} {json.dumps(row)}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "dist")
    parser.add_argument("--reloads", type=int, default=3)
    parser.add_argument("--relaunches", type=int, default=0)
    parser.add_argument("--idle", type=float, default=8.0, help="seconds before each return visit")
    parser.add_argument(
        "--later", type=float, default=None, help="pick the photo this many s after ready"
    )
    args = parser.parse_args(argv)
    site = Site(args.site.resolve())

    def measure(page, site, reload):
        if args.later is None:
            return one_visit(page, site, reload)
        return later_visit(page, site, reload, args.later)

    rows = []
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        launch = lambda: p.chromium.launch_persistent_context(  # noqa: E731
            profile, executable_path=CHROMIUM, args=ARGS, viewport={"width": 1280, "height": 900}
        )
        context = launch()
        context.add_init_script(MARKS_SCRIPT)
        page = context.new_page()
        rows.append(("first visit", measure(page, site, reload=False)))
        show(*rows[-1])
        for _ in range(args.reloads):
            time.sleep(args.idle)
            rows.append(("reload", measure(page, site, reload=True)))
            show(*rows[-1])
        for _ in range(args.relaunches):
            time.sleep(args.idle)
            context.close()
            context = launch()
            context.add_init_script(MARKS_SCRIPT)
            page = context.pages[0] if context.pages else context.new_page()
            rows.append(("relaunch", measure(page, site, reload=False)))
            show(*rows[-1])
        context.close()
    site.close()


if __name__ == "__main__":
    main()

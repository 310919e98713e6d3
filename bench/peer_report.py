"""bench/peer.py's report: the markdown tables (start-up per visit kind and pick mode, bytes
sent, photos and memory), medians with their spread, SceneSeg ÷ peer ratios, and the one-line
summaries it logs while running. Reads only the run's JSON (bench/peer_driver.py fills it)."""

from __future__ import annotations

import statistics
import sys

APPS = ("sceneseg", "peer")
NAMES = {"sceneseg": "SceneSeg", "peer": "transformers.js"}
VISITS = {
    "first": "first visit (empty profile)",
    "reload": "reload (same tab, after {idle:g} s idle)",
    "relaunch": "relaunch (browser closed, same profile)",
}
# When the start-up photo is picked (peer_pages.visit): once the page says it is ready, or
# right after DOMContentLoaded (both pages queue a photo picked before their engine is ready).
PICKS = {"ready": "when ready", "dcl": "at DOMContentLoaded"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def brief(result: dict) -> str:
    """One visit or photo run on a line, for the log."""
    if "error" in result:
        return f"FAILED {result['error']}"
    parts = [f"{k} {v:.0f}" for k, v in result.items() if isinstance(v, int | float)]
    parts = [p for p in parts if not p.startswith("peak_rss")]
    if "peak_rss" in result:
        parts.append(f"peak {result['peak_rss'] / 2**20:.0f} MiB")
    if "bytes" in result:
        parts.append(f"{result['bytes']['wire_bytes'] / 1e6:.1f} MB sent")
    return ", ".join(parts)


def spread(values, scale=1.0, digits=2) -> tuple[str, float | None]:
    """'median (min–max)' of the values that are not None, and the median."""
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


def compare(values_by_app, scale=1.0, digits=2, failed=()) -> list[str]:
    """Cells: SceneSeg, peer, SceneSeg ÷ peer."""
    cells, medians = [], []
    for name in APPS:
        text, median = spread(values_by_app[name], scale, digits)
        cells.append("failed (see below)" if median is None and name in failed else text)
        medians.append(median)
    return [*cells, ratio(*medians)]


def visit_label(out: dict, kind: str) -> str:
    return VISITS[kind].format(idle=out.get("idle_s", 0))


def startup_table(out: dict) -> list[str]:
    """One row per visit kind and pick mode: ready and first labels, both apps, ratios."""
    small = out["photo_files"][min(out["photo_files"], key=float)]
    a, b = NAMES["sceneseg"], NAMES["peer"]
    lines = [
        "## Start-up",
        "",
        f"Navigation → ready and → the first photo's labels ({small}), s, on the page's clock. "
        "The photo is picked when the page says it is ready, or right after DOMContentLoaded "
        "(the page queues it until its engine is ready).",
        "",
        f"| visit | photo picked | {a} ready | {b} ready | ratio "
        f"| {a} first labels | {b} first labels | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind in VISITS:
        for pick, pick_label in PICKS.items():
            runs = {n: out["startup"][n][pick][kind] for n in APPS}
            if not any(runs.values()):
                continue
            cells = [visit_label(out, kind), pick_label]
            for key in ("ready_ms", "first_labels_ms"):
                cells += compare({n: [r.get(key) for r in runs[n]] for n in APPS}, 1e-3)
            lines.append(f"| {' | '.join(cells)} |")
    lines += [
        "",
        f"| bytes on the wire (gzip), MB | {a} | {b} | ratio | {a} requests | {b} requests |",
        "|---|---|---|---|---|---|",
    ]
    for kind in VISITS:  # both pick modes' visits together
        sent = {n: [r["bytes"] for p in PICKS for r in out["startup"][n][p][kind]] for n in APPS}
        if not any(sent.values()):
            continue
        wire = compare({n: [s["wire_bytes"] for s in sent[n]] for n in APPS}, 1e-6, 3)
        requests = compare({n: [s["requests"] for s in sent[n]] for n in APPS}, 1, 0)[:2]
        lines.append(f"| {' | '.join([visit_label(out, kind), *wire, *requests])} |")
    return lines


def stage_table(out: dict) -> list[str]:
    """SceneSeg's own start-up stages (the page's #engine data), medians per visit and pick."""
    rows = {}
    for kind in VISITS:
        for pick, pick_label in PICKS.items():
            runs = [r.get("stages") for r in out["startup"]["sceneseg"][pick][kind]]
            runs = [r for r in runs if r]
            if runs:
                rows[(visit_label(out, kind), pick_label)] = runs
    keys = sorted({k for runs in rows.values() for r in runs for k, v in r.items()
                   if isinstance(v, int | float)})  # fmt: skip
    if not rows:
        return []
    lines = [
        f"### {NAMES['sceneseg']}'s own start-up stages",
        "",
        "From the page (`#engine` data), ms, medians: each stage from its own start (stages "
        "overlap: Python starts while the model downloads and its session is created); "
        "warmup_after_ready is the warm-up run after ready (none when a photo was waiting).",
        "",
        f"| visit | photo picked | {' | '.join(keys)} |",
        f"|---|---|{'---|' * len(keys)}",
    ]
    for (visit, pick), runs in rows.items():
        cells = [spread([r.get(k) for r in runs], 1, 0)[0] for k in keys]
        lines.append(f"| {visit} | {pick} | {' | '.join(cells)} |")
    return lines


def photo_table(out: dict) -> list[str]:
    """Photo → result per size, memory, and what the sites weigh."""
    lines = [
        "## Photos, memory, size",
        "",
        f"| measure | {NAMES['sceneseg']} | {NAMES['peer']} | ratio |",
        "|---|---|---|---|",
    ]

    def row(label, values_by_app, scale=1.0, digits=2, failed=()):
        lines.append(f"| {label} | {' | '.join(compare(values_by_app, scale, digits, failed))} |")

    for mp, entry in out["photos"].items():
        failed = [n for n in APPS if entry[n].get("error")]
        row(f"photo → full-resolution result, {out['photo_files'][mp]}, s",
            {n: entry[n]["ms"] for n in APPS}, 1e-3, failed=failed)  # fmt: skip
    for mp, entry in out["photos"].items():
        row(f"peak renderer memory (RSS), {out['photo_files'][mp]}, MB",
            {n: [entry[n]["peak_rss"] or None] for n in APPS}, 1e-6, 0)  # fmt: skip
    row("renderer memory when ready (RSS, idle), MB",
        {n: [out["idle_rss"].get(n)] for n in APPS}, 1e-6, 0)  # fmt: skip
    for part, label in (("first_visit_files", "files a first visit downloads"),
                        ("site", "whole site on disk")):  # fmt: skip
        for codec in ("raw", "gzip", "brotli"):
            values = {n: [out["bytes"][n].get(part, {}).get(codec)] for n in APPS}
            row(f"{label}, {codec}, MB", values, 1e-6)
    return lines


def notes(out: dict) -> list[str]:
    lines = []
    for mp, entry in out["photos"].items():
        timings = entry["peer"].get("timings")
        if timings:
            extra = statistics.median(t["label_map"] for t in timings)
            lines.append(
                f"- transformers.js, {out['photo_files'][mp]}: turning its masks into one label "
                f"map would add {extra:.0f} ms (not in the table)."
            )
    picked = {
        n: [r.get("pick_ms") for k in VISITS for r in out["startup"][n]["dcl"][k]] for n in APPS
    }
    if any(picked.values()):
        when = ", ".join(f"{NAMES[n]} {spread(picked[n], 1e-3)[0]} s" for n in APPS)
        lines.append(f"- Picked at DOMContentLoaded: the 'change' came at {when} after navigation.")
    lines += [
        "- SceneSeg's result includes drawing the overlay on screen; the peer's is its masks "
        "in memory, as its pipeline returns them. Its pipeline runs on the page's main thread "
        "(its default), SceneSeg's in a worker.",
        "- A fresh context (first visit, reload) keeps its HTTP cache in memory, like a private "
        "window, and Chromium may not keep large files there; the relaunch rows use an on-disk "
        "profile, as a returning visitor has: it visited, idled, and the browser was closed.",
        f"- Memory: {out['memory_method']}.",
        "- Bytes on the wire: headers and bodies as the local server wrote them, gzipped as a "
        "static host does; the gzip/brotli rows are the files compressed apart (gzip level 6; "
        + (out["brotli"] or "brotli not installed (pip install brotli)")
        + ").",
    ]
    lines += [f"- Finding: {finding}" for finding in out["findings"]]
    for name in APPS:
        for pick, pick_label in PICKS.items():
            for kind in VISITS:
                for result in out["startup"][name][pick][kind]:
                    if "error" in result:
                        where = f"{visit_label(out, kind)}, photo picked {pick_label}"
                        lines.append(f"- Finding: {NAMES[name]}, {where}: {result['error']}")
    foreign = out["foreign_requests"]
    lines.append(
        f"- Requests to other hosts: {len(foreign)}" + (f": {foreign[:10]}" if foreign else ".")
    )
    return lines


def markdown(out: dict) -> str:
    threads = out["threads"]
    lines = [
        f"# SceneSeg vs transformers.js ({out['when']})",
        "",
        f"Headless Chromium {out.get('chromium', '?')}, {out['machine']} (load average at start "
        f"{', '.join(f'{x:.1f}' for x in out['load_average'])}; a shared, loaded machine: compare "
        f"the ratios, measured side by side, alternating). Both pages cross-origin isolated, "
        f"threads: SceneSeg {threads.get('sceneseg')}, transformers.js {threads.get('peer')}. "
        f"Model: the {out['model']} stand-in, q8, in both. Peer: {out['peer']}. Medians of "
        f"{out['repeat']} (min–max). Ratio = SceneSeg ÷ transformers.js (below 1: SceneSeg is "
        "faster/smaller).",
        "",
        *startup_table(out),
        "",
        *stage_table(out),
        "",
        *photo_table(out),
        "",
        *notes(out),
    ]
    return "\n".join(lines) + "\n"

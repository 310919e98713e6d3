"""bench/peer.py in seconds (the benchmark itself stays in bench/): its report on a recorded
run, its options, and one real visit of each page through the benchmark's own server, browser
flags, page hooks and memory probe, with nothing leaving 127.0.0.1."""

from __future__ import annotations

import copy
import json
import re
import statistics
import sys

import pytest
from PIL import Image

from conftest import CHROMIUM, ROOT

sys.path.insert(0, str(ROOT / "bench"))

import peer
from peer_pages import ARGS, App, ForeignRequests, PeakRss, make_photos, visit
from peer_report import markdown
from peer_serving import Site, make_peer_site

# A real run's peer.json (`--sizes 0.25 --repeat 1 --idle 2`, each visit's file list cut short).
RECORDED = ROOT / "bench" / "peer-recorded.json"


def table_rows(table: str, header_start: str) -> list[list[str]]:
    """The rows of the markdown table whose header begins with header_start, as cells."""
    lines = table.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs) / 1e3


def test_report_on_a_recorded_run():
    out = json.loads(RECORDED.read_text())
    table = markdown(out)
    rows = table_rows(table, "| visit | photo picked |")
    # One row per visit kind and pick mode; ready and first labels for both, with ratios.
    assert [row[:2] for row in rows] == [
        [kind, pick]
        for kind in (
            "first visit (empty profile)",
            "reload (same tab, after 2 s idle)",
            "relaunch (browser closed, same profile)",
        )
        for pick in ("when ready", "at DOMContentLoaded")
    ]
    startup = out["startup"]
    cases = [(kind, pick) for kind in ("first", "reload", "relaunch") for pick in ("ready", "dcl")]
    for row, (kind, pick) in zip(rows, cases, strict=True):
        for column, key in ((2, "ready_ms"), (5, "first_labels_ms")):
            a, b = (median_of(startup[n][pick][kind], key) for n in ("sceneseg", "peer"))
            assert row[column : column + 3] == [f"{a:.2f}", f"{b:.2f}", f"{a / b:.2f}×"], row
    # Bytes on the wire per visit kind, both pick modes together.
    wire = table_rows(table, "| bytes on the wire (gzip), MB |")
    assert [row[0] for row in wire] == [rows[0][0], rows[2][0], rows[4][0]]
    first = [r["bytes"] for p in ("ready", "dcl") for r in startup["sceneseg"][p]["first"]]
    assert wire[0][1].startswith(f"{median_of(first, 'wire_bytes') * 1e-3:.3f} (")
    photos = table_rows(table, "| measure |")
    assert photos[0][0] == "photo → full-resolution result, photo-577x433.jpg (0.25 MP), s"
    assert "- Requests to other hosts: 0." in table
    # What went wrong shows: a failed visit, a failed photo, a request that left localhost.
    broken = copy.deepcopy(out)
    [reload] = broken["startup"]["peer"]["dcl"]["reload"]
    broken["startup"]["peer"]["dcl"]["reload"] = [
        {"error": "Timeout exceeded.", "bytes": reload["bytes"]}
    ]
    broken["photos"]["0.25"]["peer"] |= {"ms": [], "error": "crashed"}
    broken["foreign_requests"] = ["https://cdn.jsdelivr.net/x.wasm"]
    table = markdown(broken)
    finding = "reload (same tab, after 2 s idle), photo picked at DOMContentLoaded: Timeout"
    assert f"- Finding: transformers.js, {finding} exceeded." in table
    assert re.search(
        r"\| photo → full-resolution result, .* \| failed \(see below\) \| - \|", table
    )
    assert "- Requests to other hosts: 1: ['https://cdn.jsdelivr.net/x.wasm']" in table


def test_options():
    args = peer.parse_args(["--site", "d", "--startup-only", "--idle", "3", "--repeat", "2"])
    assert (args.startup_only, args.idle, args.repeat, args.no_relaunch) == (True, 3.0, 2, False)
    quick = peer.parse_args(["--quick"])
    assert (quick.sizes, quick.repeat, quick.no_relaunch, quick.idle) == ([0.25], 1, True, 8.0)


@pytest.mark.slow
@pytest.mark.browser
def test_one_visit_of_each_page(playwright, built_site, tmp_path):
    """Each page loads and takes a photo picked at DOMContentLoaded (queued until its engine
    is ready); bytes, memory and threads are measured. The peer (whose page only this test
    loads) takes a second photo the way the photo rows do, and its masks are checked. The
    time is the two pages' own first start-up."""
    foreign = ForeignRequests()
    sites = {"sceneseg": Site(built_site), "peer": Site(make_peer_site(tmp_path / "peer"))}
    photo = make_photos(tmp_path, [0.05])[0.05]
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    threads = {}
    try:
        for name, site in sites.items():
            app = App(name, browser, site, foreign)
            result = visit(app.page, site, photo, "dcl", False, timeout_s=120)
            assert "error" not in result, (name, result)
            assert result["dcl_ms"] <= result["pick_ms"] < result["first_labels_ms"], result
            assert result["ready_ms"] < result["first_labels_ms"], result
            if name == "sceneseg":  # its engine takes seconds: the photo waited in its queue
                assert result["pick_ms"] < result["ready_ms"], result
            # The server gzips as a static host does: fewer bytes on the wire than in the files.
            sent = result["bytes"]
            assert sent["file_bytes"] > sent["wire_bytes"] > 1_000_000, (name, sent)
            # The model file: the peer's .onnx, SceneSeg's ORT-format copy (sitebuild/ort_format).
            assert any(f.endswith((".onnx", ".ort")) for f in sent["files"]), sent["files"]
            app.find_processes()
            assert PeakRss(app.processes).sample() > 50e6
            threads[name] = app.threads()
            if name == "peer":
                again = app.upload(photo, timeout_s=120)
                assert "error" not in again and again["ms"] > 0, again
                assert again["peak_rss"] > 50e6, again
                # Its masks cover the full photo, every pixel labelled.
                masks = again["output"]
                size = (masks["width"], masks["height"])
                assert (size, masks["unlabelled"]) == (Image.open(photo).size, 0)
            app.context.close()
    finally:
        browser.close()
        for site in sites.values():
            site.close()
    assert foreign == []
    assert threads["sceneseg"] == threads["peer"] >= 1

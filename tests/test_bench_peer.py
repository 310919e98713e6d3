"""bench/peer.py in its quick mode: it measures both apps and nothing leaves localhost."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.browser
def test_peer_benchmark_quick(built_site, tmp_path):
    run = subprocess.run(
        [
            sys.executable, str(ROOT / "bench" / "peer.py"),
            "--site", str(built_site), "--quick", "--brotli-quality", "1",
            "--timeout", "240", "--out", str(tmp_path),
        ],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads((tmp_path / "peer.json").read_text())
    assert out["foreign_requests"] == []
    assert out["findings"] == [], out["findings"]
    for app in ("sceneseg", "peer"):
        for kind in ("first", "reload"):
            [visit] = out["startup"][app][kind]
            assert "error" not in visit, (app, kind, visit)
            assert 0 < visit["ready_ms"] < visit["first_labels_ms"], (app, kind, visit)
        # A first visit downloads the site; its bytes are counted at the server, which gzips
        # as a static host does: fewer bytes on the wire than in the files.
        first = out["startup"][app]["first"][0]["bytes"]
        assert first["file_bytes"] > first["wire_bytes"] > 1_000_000, (app, first)
        assert any(f.endswith(".onnx") for f in first["files"]), first["files"]
        [photo] = out["photos"].values()
        assert len(photo[app]["ms"]) == 1 and photo[app]["ms"][0] > 0, photo[app]
        assert photo[app]["peak_rss"] > 50e6, photo[app]
        sizes = out["bytes"][app]["first_visit_files"]
        assert sizes["raw"] > sizes["gzip"] > 0
        assert out["threads"][app] >= 1
    # Both apps ran with the same thread count, and the peer's masks cover the full photo.
    assert out["threads"]["sceneseg"] == out["threads"]["peer"]
    [(width, height)] = out["photo_sizes"].values()
    assert (photo["peer"]["output"]["width"], photo["peer"]["output"]["height"]) == (width, height)
    assert photo["peer"]["output"]["unlabelled"] == 0
    table = (tmp_path / "peer.md").read_text()
    assert "| navigation → ready, s: first visit (empty profile) |" in table
    assert run.stdout == table + "\n"

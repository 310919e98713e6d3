"""One summary schema (docs/summary-schema.md) and one class-share layout, from every path.

The page's path runs the worker's own entry points (browser.segment, export_file,
shares_file) under CPython: a stand-in ``js`` module gives them Uint8Array, and the native
onnxruntime runs the model in place of onnxruntime-web. The CLI's path is the command itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import csv
import io
import json
import os
import subprocess
import sys
import types

import pytest

from conftest import PHOTOS, ROOT, STANDIN_DIR, STANDIN_ID, native_segmenter
from sceneseg import browser, outputs
from sceneseg.pipeline import Segmenter
from sceneseg.tools.manifest import Manifest

PHOTO = next(p for p in PHOTOS if p.stem == "ADE_val_00000001")


def run_async(coroutine):
    """Run a coroutine to its end from a test. In a thread of its own: once the session's
    Playwright (sync API) has started, this thread counts as running an event loop, and
    asyncio.run() refuses to start another in it."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class FakeUint8Array:
    """What the worker's Python sees of a JS Uint8Array: new(n), assign(view), to_bytes()."""

    def __init__(self, data: bytes = b""):
        self.data = bytes(data)

    @classmethod
    def new(cls, n: int) -> FakeUint8Array:
        return cls(bytes(n))

    def assign(self, view) -> None:
        self.data = bytes(view)

    def to_bytes(self) -> bytes:
        return self.data


@pytest.fixture
def page(monkeypatch):
    """browser.py as the worker calls it, with the model record the built site gives it."""
    monkeypatch.setitem(sys.modules, "js", types.SimpleNamespace(Uint8Array=FakeUint8Array))
    manifest = Manifest.named(STANDIN_ID)
    weights = manifest.precisions["q8"]
    model_file = {
        "id": STANDIN_ID, "file": weights, "sha256": manifest.files[weights].sha256,
        "precision": "q8",
    }  # fmt: skip
    native = native_segmenter("q8")
    monkeypatch.setattr(browser, "_segmenter", Segmenter(native.model, native.backend, model_file))
    monkeypatch.setattr(browser, "_last", None)
    return browser


def one_photo_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / PHOTO.name).write_bytes(PHOTO.read_bytes())
    return folder


def cli(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "py"), "XDG_CACHE_HOME": str(tmp_path / "c")}
    run = subprocess.run(
        [sys.executable, "-m", "sceneseg", *map(str, args),
         "--model", STANDIN_ID, "--model-dir", str(STANDIN_DIR)],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    return run


def page_summary(page, options: dict) -> dict:
    result = run_async(page.segment(FakeUint8Array(PHOTO.read_bytes()), "{}"))
    assert "error" not in result
    out = page.export_file("summary-json", json.dumps(options))
    assert out["mime"] == "application/json"
    return json.loads(out["data"].to_bytes())


def without_run_facts(summary: dict) -> dict:
    """What differs between two runs or hosts of the same photo: timings, the photo's name (a
    file name on the page, a path in the CLI) and the execution provider (null on the page)."""
    return {k: v for k, v in summary.items() if k not in ("timings_ms", "photo", "provider")}


def test_the_page_and_the_cli_write_the_same_summary(page, tmp_path):
    from_page = page_summary(page, {"name": PHOTO.name})
    cli(tmp_path, PHOTO, "--json", tmp_path / "one.json")
    from_cli = json.loads((tmp_path / "one.json").read_text())
    cli(tmp_path, one_photo_folder(tmp_path), "--out-dir", tmp_path / "many", "--jobs", "1")
    from_batch = json.loads((tmp_path / "many" / f"{PHOTO.stem}.json").read_text())
    for summary in (from_page, from_cli, from_batch):
        assert outputs.summary_problems(summary) == []  # every key, each of its one type
        assert summary["schema_version"] == outputs.SUMMARY_VERSION
    assert from_page["photo"] == PHOTO.name and from_cli["photo"] == str(PHOTO)
    assert from_page["provider"] is None and from_cli["provider"] == "cpu"
    assert set(from_page["timings_ms"]) >= {"decode", "preprocess", "model", "postprocess"}
    # Same keys, same types, same numbers: the model record, classes, areas, mean confidences.
    assert without_run_facts(from_page) == without_run_facts(from_cli)
    assert from_page["model"]["sha256"] and from_page["confidence"] is not None
    # The folder batch: the same areas; no confidence computed per photo (null, not missing).
    assert from_batch["confidence"] is None
    assert all(c["mean_confidence"] is None for c in from_batch["classes"])
    strip = [{**c, "mean_confidence": None} for c in from_cli["classes"]]
    assert from_batch["classes"] == strip and from_batch["model"] == from_cli["model"]
    assert from_batch["group_shares"] == from_cli["group_shares"]


def test_a_threshold_fills_the_threshold_object(page):
    summary = page_summary(page, {"threshold": 0.5})
    assert outputs.summary_problems(summary) == []
    assert summary["photo"] is None and summary["threshold"]["value"] == 0.5
    unlabelled = summary["threshold"]["unlabelled_pixels"]
    pixels = sum(c["pixels"] for c in summary["classes"]) + unlabelled
    assert pixels == summary["width"] * summary["height"]


def test_the_schema_check_finds_missing_extra_and_mistyped_keys(page):
    good = page_summary(page, {})
    assert outputs.summary_problems(good) == []
    missing = {k: v for k, v in good.items() if k != "threshold"}
    assert outputs.summary_problems(missing) == ["summary.threshold: missing"]
    assert outputs.summary_problems({**good, "image": "x.jpg"}) == [
        "summary.image: not in the schema"
    ]
    assert outputs.summary_problems({**good, "width": True}) == ["summary.width: bool, not int"]
    bad_class = {**good, "classes": [{**good["classes"][0], "mean_confidence": "high"}]}
    assert outputs.summary_problems(bad_class)
    # docs/summary-schema.md lists every key of the schema.
    doc = (ROOT / "docs" / "summary-schema.md").read_text()
    for key in [*outputs.SUMMARY_SCHEMA, *outputs.SUMMARY_SCHEMA["model"]]:
        assert f"`{key}`" in doc, key
    for key in outputs.SUMMARY_SCHEMA["classes"][0]:
        assert f"`{key}`" in doc, key


def test_video_class_shares_have_the_batches_layout(page, tmp_path):
    labels = page._segmenter.model.labels
    # Two video frames, as the page sends them: photo = <video>#t=<seconds, 3 decimals>.
    frame = {"width": 4, "height": 2}
    rows = [
        {
            "photo": "walk.mp4#t=0.000",
            **frame,
            "classes": [{"id": 2, "pixels": 6}, {"id": 4, "pixels": 2}],
        },
        {"photo": "walk.mp4#t=0.533", **frame, "classes": [{"id": 4, "pixels": 8}]},
    ]
    out = page.shares_file("csv", json.dumps(rows))
    assert out["mime"] == "text/csv"
    table = list(csv.reader(io.StringIO(out["data"].to_bytes().decode())))
    assert tuple(table[0]) == outputs.SHARES_COLUMNS
    assert table[1:] == [
        ["walk.mp4#t=0.000", "4", "2", "2", labels[2], "6", "0.750000"],
        ["walk.mp4#t=0.000", "4", "2", "4", labels[4], "2", "0.250000"],
        ["walk.mp4#t=0.533", "4", "2", "4", labels[4], "8", "1.000000"],
    ]
    out = page.shares_file("json", json.dumps(rows))
    assert out["mime"] == "application/json"
    records = json.loads(out["data"].to_bytes())
    assert [tuple(r) for r in records] == [outputs.SHARES_COLUMNS] * 3
    assert records[0] == {"photo": "walk.mp4#t=0.000", "width": 4, "height": 2, "class_id": 2,
                          "class": labels[2], "pixels": 6, "share": 0.75}  # fmt: skip
    # The CLI's folder batch writes the same layout (its rows: test_cli).
    cli(tmp_path, one_photo_folder(tmp_path), "--out-dir", tmp_path / "many", "--jobs", "1")
    with (tmp_path / "many" / "classes.csv").open() as f:
        assert tuple(next(csv.reader(f))) == outputs.SHARES_COLUMNS
    # Mistakes are answered, not raised.
    assert "format" in page.shares_file("xml", "[]")["error"]
    assert "JSON" in page.shares_file("csv", "{")["error"]
    assert (
        "no class 999"
        in page.shares_file(
            "csv", json.dumps([{**rows[0], "classes": [{"id": 999, "pixels": 1}]}])
        )["error"]
    )
    assert "needs photo" in page.shares_file("csv", json.dumps([{"photo": "x"}]))["error"]

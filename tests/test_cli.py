"""The command line as a new user meets it: a batch of photos, outputs checked before the run,
offline hints that name the model and the command that works, help texts; build.py's
offline hint and its all-or-nothing output folder."""

from __future__ import annotations

import csv
import json
import os
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import PHOTOS, PYODIDE_MIRROR, ROOT, SHARED, STANDIN_DIR, STANDIN_ID, native_segmenter
from sceneseg.outputs import SHARES_COLUMNS, SUMMARY_VERSION, summary_problems
from sceneseg.tools.manifest import all_manifests


def cli(tmp_path, *args, model=STANDIN_ID, model_dir=STANDIN_DIR, cwd=None):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "py"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    env.pop("SCENESEG_MODEL_DIR", None)
    extra = ["--model", model] + (["--model-dir", str(model_dir)] if model_dir else [])
    return subprocess.run(
        [sys.executable, "-m", "sceneseg", *map(str, args), *extra],
        capture_output=True, text=True, env=env, cwd=cwd or tmp_path,
    )  # fmt: skip


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """A folder with two photos (one in a subfolder), a broken JPEG and a text file, labelled
    into an output folder that does not exist yet (processes: --jobs defaults to the cores)."""
    tmp = tmp_path_factory.mktemp("batch")
    photos = tmp / "photos"
    (photos / "sub").mkdir(parents=True)
    shutil.copy(SHARED / "photos" / "chelsea.png", photos / "chelsea.png")
    shutil.copy(SHARED / "photos" / "coffee.png", photos / "sub" / "coffee.png")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really a JPEG")
    (photos / "notes.txt").write_text("not a photo, not picked up")
    out = tmp / "new" / "results"
    return tmp, photos, out, cli(tmp, photos, "--out-dir", out)


def test_batch_labels_a_folder_and_lists_what_failed(batch):
    _, _, out, run = batch
    chelsea, coffee = SHARED / "photos" / "chelsea.png", SHARED / "photos" / "coffee.png"
    assert run.returncode == 1
    assert "1 file(s) failed" in run.stderr and "broken.jpg" in run.stderr
    assert "notes.txt" not in run.stderr
    rows = list(csv.DictReader((out / "classes.csv").open()))
    segmenter = native_segmenter("q8")
    for source, stem in ((chelsea, "chelsea"), (coffee, "sub/coffee")):
        expected = segmenter.segment_sync(source.read_bytes())
        labels = np.asarray(Image.open(out / f"{stem}.labels.png"))
        np.testing.assert_array_equal(labels, expected.labels)
        overlay = np.asarray(Image.open(out / f"{stem}.overlay.png"))
        colours = np.asarray(expected.model.colors, np.uint8)
        np.testing.assert_array_equal(overlay[..., :3], colours[expected.labels])
        assert (overlay[..., 3] == 255).all()  # RGBA, as the page's overlay download
        summary = json.loads((out / f"{stem}.json").read_text())
        assert summary_problems(summary) == []  # the one schema (docs/summary-schema.md)
        assert summary["schema_version"] == SUMMARY_VERSION
        assert summary["model"]["id"] == STANDIN_ID and summary["model"]["precision"] == "q8"
        assert summary["photo"].endswith(f"{stem}.png") and summary["provider"] == "cpu"
        assert summary["confidence"] is None  # not computed in a batch: mean_confidence null
        assert [c["pixels"] for c in summary["classes"]] == [
            c["pixels"] for c in expected.classes()
        ]
        mine = [r for r in rows if r["photo"].endswith(f"{stem}.png")]
        assert list(rows[0]) == list(SHARES_COLUMNS)  # the long layout, as the page's batch
        assert [r["class"] for r in mine] == [c["name"] for c in expected.classes()]
        assert {int(r["class_id"]): int(r["pixels"]) for r in mine} == {
            c["id"]: c["pixels"] for c in expected.classes()
        }
        assert abs(sum(float(r["share"]) for r in mine) - 1) < 1e-4
    assert not (out / "broken.labels.png").exists()


@pytest.mark.slow
def test_batch_on_ray_gives_the_same_files(batch):
    tmp, photos, out, _ = batch
    ray_out = tmp / "ray"
    run = cli(tmp, photos, "--out-dir", ray_out, "--ray", "local", "--jobs", "2")
    assert run.returncode == 1 and "broken.jpg" in run.stderr
    for stem in ("chelsea", "sub/coffee"):
        for suffix in (".labels.png", ".overlay.png"):
            assert (ray_out / f"{stem}{suffix}").read_bytes() == (
                out / f"{stem}{suffix}"
            ).read_bytes()
        mine, theirs = (json.loads((d / f"{stem}.json").read_text()) for d in (ray_out, out))
        assert mine["classes"] == theirs["classes"]
    rows = [sorted(csv.reader((d / "classes.csv").open())) for d in (ray_out, out)]
    assert rows[0] == rows[1]


def test_out_into_a_missing_folder_is_created_and_a_folder_is_refused(tmp_path):
    target = tmp_path / "a" / "b" / "labels.png"
    run = cli(tmp_path, PHOTOS[0], "--out", target)
    assert run.returncode == 0, run.stderr
    assert np.asarray(Image.open(target)).shape[:2] == Image.open(PHOTOS[0]).size[::-1]
    # A folder as --out is refused before anything is fetched or run: with a model folder
    # that does not exist, the message is still about --out.
    run = cli(tmp_path, PHOTOS[0], "--out", tmp_path / "a", model_dir=tmp_path / "nowhere")
    assert run.returncode == 2
    assert "is a folder" in run.stderr and "could not get" not in run.stderr
    blocker = tmp_path / "file"
    blocker.write_text("x")
    run = cli(tmp_path, PHOTOS[0], "--out-dir", blocker / "sub")
    assert run.returncode == 2 and "cannot create the folder" in run.stderr
    run = cli(tmp_path, PHOTOS[0], "--out-dir", blocker)
    assert run.returncode == 2 and "exists and is not a folder" in run.stderr


def test_offline_hint_names_the_model_and_the_command_works(tmp_path):
    # The stand-in's files given for the real model (what the old hint led to).
    run = cli(tmp_path, PHOTOS[0], "--out", tmp_path / "l.png", model="segformer-b0-ade")
    assert run.returncode == 2
    assert f"belong to model {STANDIN_ID!r}" in run.stderr
    assert "4408135 bytes, expected 4418863" in run.stderr
    # The message names the file that was copied, not a temporary one.
    assert run.stderr.split("tried:\n")[1].startswith(f"  {STANDIN_DIR}/onnx/model_quantized.onnx:")
    command = run.stderr.split("This command works with them:\n")[1].strip().splitlines()[0]
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "sceneseg"] and f"--model {STANDIN_ID}" in command
    env = {**os.environ, "PYTHONPATH": str(ROOT / "py"), "XDG_CACHE_HOME": str(tmp_path / "c")}
    fixed = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, env=env)
    assert fixed.returncode == 0, fixed.stderr
    assert (tmp_path / "l.png").is_file()


def test_every_option_has_help_and_the_models_are_listed():
    import build
    from sceneseg.tools.cli import eval_parser, photos_parser

    ids = [m.id for m in all_manifests()]
    assert {"segformer-b1-ade", "segformer-b5-ade-640", STANDIN_ID} <= set(ids)
    for parser in (photos_parser(), eval_parser(), build.main_parser()):
        undocumented = [a.dest for a in parser._actions if not a.help]
        assert undocumented == [], parser.prog
        text = parser.format_help()
        assert all(i in text for i in ids), parser.prog


def test_failed_build_leaves_the_previous_site_and_no_partial_one(tmp_path):
    def build(out, model_dir):
        return subprocess.run(
            [
                sys.executable, str(ROOT / "build.py"), "--model", "segformer-b0-ade",
                "--model-dir", str(model_dir), "--pyodide-mirror", str(PYODIDE_MIRROR),
                "--out", str(out),
            ],
            capture_output=True, text=True,
        )  # fmt: skip

    fresh = tmp_path / "fresh" / "dist"
    run = build(fresh, STANDIN_DIR)
    assert run.returncode == 1
    assert not fresh.exists() and list(fresh.parent.iterdir()) == []
    assert f"belong to model {STANDIN_ID!r}" in run.stderr
    command = run.stderr.split("This command works with them:\n")[1].splitlines()[0]
    assert f"--model {STANDIN_ID}" in command and "--pyodide-mirror" in command

    previous = tmp_path / "old" / "dist"
    previous.mkdir(parents=True)
    (previous / "build-info.json").write_text('{"previous": true}')
    (previous / "index.html").write_text("old site")
    assert build(previous, tmp_path / "nowhere").returncode == 1
    assert (previous / "index.html").read_text() == "old site"
    assert sorted(p.name for p in previous.parent.iterdir()) == ["dist"]


def test_documented_entry_points_reach_the_tools(tmp_path):
    # The CLI lives in sceneseg.tools (the CPython room); `python -m sceneseg`, `python -m
    # sceneseg.quantize` and the `sceneseg` command (pyproject.toml) still reach it.
    import importlib
    import tomllib

    script = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, name = script["sceneseg"].partition(":")
    assert module.startswith("sceneseg.tools.")
    with pytest.raises(SystemExit) as exit_code:
        getattr(importlib.import_module(module), name)(["--help"])
    assert exit_code.value.code == 0
    env = {**os.environ, "PYTHONPATH": str(ROOT / "py")}
    for argv in (
        ["sceneseg", "--help"],
        ["sceneseg", "eval", "--help"],
        ["sceneseg.quantize", "--help"],
    ):
        run = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, env=env)
        assert run.returncode == 0 and "usage:" in run.stdout, (argv, run.stderr)

"""`python -m sceneseg eval`: metrics against known answers and against torchmetrics, on
synthetic cases and on ../shared's three annotated ADE20K images; resuming; processes and Ray
give the single-process result."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassJaccardIndex,
)

from conftest import ROOT, SHARED, STANDIN_DIR, STANDIN_ID, native_segmenter
from sceneseg.tools.eval import IGNORE, confusion_matrix, metrics, reduce_labels

ADE = SHARED / "photos" / "ade20k-val"


def run_eval(tmp_path, out_dir, *extra, check=True):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "py"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    return subprocess.run(
        [
            sys.executable, "-m", "sceneseg", "eval", str(ADE), str(ADE),
            "--model", STANDIN_ID, "--model-dir", str(STANDIN_DIR),
            "--out-dir", str(out_dir), *extra,
        ],
        capture_output=True, text=True, check=check, env=env,
    )  # fmt: skip


def torchmetrics_reference(truth: np.ndarray, pred: np.ndarray, n: int) -> dict:
    """The same figures from torchmetrics (ignore_index for unlabelled pixels)."""
    t, p = torch.from_numpy(truth.astype(np.int64)), torch.from_numpy(pred.astype(np.int64))
    kw = {"num_classes": n, "ignore_index": IGNORE}
    confusion = MulticlassConfusionMatrix(**kw)(p, t).numpy()
    iou = MulticlassJaccardIndex(average=None, **kw)(p, t).numpy()
    per_class_acc = MulticlassAccuracy(average=None, **kw)(p, t).numpy()
    pixel_acc = float(MulticlassAccuracy(average="micro", **kw)(p, t))
    # torchmetrics reports 0 for classes absent from both; the mean is over classes present
    # in the annotation or the prediction (as evaluate's mean_iou and mmseg count them).
    present = (confusion.sum(0) + confusion.sum(1)) > 0
    annotated = confusion.sum(1) > 0
    return {
        "confusion": confusion,
        "iou": np.where(present, iou, np.nan),
        "mean_iou": float(iou[present].mean()),
        "pixel_accuracy": pixel_acc,
        "mean_accuracy": float(per_class_acc[annotated].mean()),
    }


def test_known_answers_by_hand():
    annotation = np.array([[0, 1, 1, 2], [2, 2, 3, 3]])  # 0 ignored; classes 0, 1, 2
    pred = np.array([[2, 0, 1, 1], [1, 1, 2, 0]], dtype=np.uint8)
    truth = reduce_labels(annotation)
    assert truth[0, 0] == IGNORE
    m = metrics(confusion_matrix(truth, pred, 4))
    # counted (truth, pred): (0,0) (0,1) (1,1) (1,1) (1,1) (2,2) (2,0); (ignored, 2) is not
    # class 0: 2 annotated, 1 right, 2 predicted -> IoU 1/(2+2-1) = 1/3, accuracy 1/2
    # class 1: 3 annotated, 3 right, 4 predicted -> IoU 3/(3+4-3) = 3/4, accuracy 1
    # class 2: 2 annotated, 1 right, 1 predicted -> IoU 1/(2+1-1) = 1/2, accuracy 1/2
    # class 3: neither annotated nor predicted -> not counted
    np.testing.assert_allclose(m["iou"][:3], [1 / 3, 3 / 4, 1 / 2])
    assert np.isnan(m["iou"][3])
    np.testing.assert_allclose(m["accuracy"][:3], [1 / 2, 1, 1 / 2])
    assert m["mean_iou"] == pytest.approx((1 / 3 + 3 / 4 + 1 / 2) / 3)
    assert m["pixel_accuracy"] == pytest.approx(5 / 7)
    assert m["mean_accuracy"] == pytest.approx(2 / 3)
    # Perfect prediction, and a class only predicted (IoU 0, no accuracy term).
    perfect = metrics(confusion_matrix(truth, np.where(truth == IGNORE, 3, truth), 4))
    assert perfect["mean_iou"] == perfect["pixel_accuracy"] == perfect["mean_accuracy"] == 1
    only_predicted = metrics(confusion_matrix(np.array([[0, 0]]), np.array([[0, 1]]), 2))
    assert only_predicted["iou"].tolist() == [0.5, 0.0]
    assert only_predicted["mean_accuracy"] == 0.5


def test_random_cases_match_torchmetrics():
    rng = np.random.default_rng(0)
    for n in (3, 20, 150):
        annotation = rng.integers(0, n + 1, size=(37, 53))
        pred = rng.integers(0, n, size=(37, 53)).astype(np.uint8)
        truth = reduce_labels(annotation)
        ours = metrics(confusion_matrix(truth, pred, n))
        ref = torchmetrics_reference(truth, pred, n)
        np.testing.assert_array_equal(confusion_matrix(truth, pred, n), ref["confusion"])
        np.testing.assert_allclose(ours["iou"], ref["iou"], rtol=1e-6)
        for key in ("mean_iou", "pixel_accuracy", "mean_accuracy"):
            assert ours[key] == pytest.approx(ref[key], rel=1e-6), key


@pytest.fixture(scope="module")
def single_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("eval")
    out = tmp / "out"
    run = run_eval(tmp, out, "--jobs", "1")
    return tmp, out, run, json.loads((out / "eval.json").read_text())


@pytest.mark.slow
def test_shared_images_match_torchmetrics(single_run):
    _, out, _, report = single_run
    (r,) = report["runs"]
    assert report["pairs"] == r["images"] == 3 and r["failed"] == {}
    segmenter = native_segmenter("q8")
    truths, preds = [], []
    for name in ("ADE_val_00000001", "ADE_val_00000002", "ADE_val_00000003"):
        preds.append(segmenter.segment_sync((ADE / f"{name}.jpg").read_bytes()).labels.ravel())
        truths.append(reduce_labels(np.asarray(Image.open(ADE / f"{name}.png"))).ravel())
    ref = torchmetrics_reference(np.concatenate(truths), np.concatenate(preds), 150)
    np.testing.assert_array_equal(np.array(r["confusion_matrix"]), ref["confusion"])
    iou = np.array([np.nan if c["iou"] is None else c["iou"] for c in r["per_class"]])
    np.testing.assert_allclose(iou, ref["iou"], rtol=1e-6)
    for key in ("mean_iou", "pixel_accuracy", "mean_accuracy"):
        assert r[key] == pytest.approx(ref[key], rel=1e-6), key
    print(
        f"\nstand-in q8 on the 3 annotated images: mIoU {r['mean_iou']:.4f} "
        f"(torchmetrics {ref['mean_iou']:.4f}), pixel acc {r['pixel_accuracy']:.4f}, "
        f"mean acc {r['mean_accuracy']:.4f}"
    )
    md = (out / "eval.md").read_text()
    assert f"{r['mean_iou'] * 100:.2f}" in md and "stand-in" in md


@pytest.mark.slow
def test_rerun_resumes(single_run):
    tmp, out, _, report = single_run
    partial = out / "partial" / f"{STANDIN_ID}--q8--square"
    kept = {p.name: p.stat().st_mtime_ns for p in partial.glob("ADE_val_0000000[12].npz")}
    (partial / "ADE_val_00000003.npz").unlink()
    run = run_eval(tmp, out, "--jobs", "1")
    assert "2 images already done" in run.stderr
    assert {p.name: p.stat().st_mtime_ns for p in partial.glob("*[12].npz")} == kept
    assert (partial / "ADE_val_00000003.npz").is_file()
    assert json.loads((out / "eval.json").read_text())["runs"] == report["runs"]


@pytest.mark.slow
def test_processes_and_ray_match_one_process(single_run, tmp_path):
    tmp, _, _, report = single_run
    for extra in (["--jobs", "2"], ["--ray", "local", "--jobs", "2"]):
        out = tmp_path / extra[0].strip("-")
        run_eval(tmp, out, *extra)
        (r,) = json.loads((out / "eval.json").read_text())["runs"]
        assert r["confusion_matrix"] == report["runs"][0]["confusion_matrix"], extra
        assert r["mean_iou"] == report["runs"][0]["mean_iou"]

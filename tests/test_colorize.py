"""The browser's one colouring function (web/lib/colorize.js), run in Node and checked against
numpy: the engine worker's overlays and the paint worker's repaints both come from it."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs Node")

SCRIPT = """
import { classLut, colorize, greyLut, packRGBA } from './web/lib/colorize.js';
const input = JSON.parse(process.argv[1]);
const labels = Uint8Array.from(input.labels);
const mask = Uint8Array.from(input.mask);
const lut = classLut(input.classes);
const out = new Uint8ClampedArray(labels.length * 4).fill(7);  // reused: every byte rewritten
const bytes = (a) => Array.from(a);
console.log(JSON.stringify({
  plain: bytes(colorize(labels, lut)),
  masked: bytes(colorize(labels, lut, { out, mask, threshold: input.threshold })),
  grey: bytes(colorize(mask, greyLut(input.threshold))),
  packed: bytes(new Uint8Array(new Uint32Array([packRGBA(1, 2, 3, 4)]).buffer)),
  reusedIsOut: colorize(labels, lut, { out }) === out,
}));
"""


def run_node(payload: dict) -> dict:
    result = subprocess.run(
        ["node", "--input-type=module", "-e", SCRIPT, json.dumps(payload)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)


def test_colorize_matches_numpy():
    rng = np.random.default_rng(18)
    labels = rng.choice([0, 3, 12, 149, 255], size=(37, 53)).astype(np.uint8)
    mask = rng.integers(0, 256, size=labels.shape, dtype=np.uint8)
    classes = [
        {"id": i, "color": [int(c) for c in rng.integers(0, 256, 3)]} for i in (0, 3, 12, 149)
    ]
    threshold = 100
    got = run_node(
        {
            "labels": labels.ravel().tolist(),
            "mask": mask.ravel().tolist(),
            "classes": classes,
            "threshold": threshold,
        }
    )
    # The expected RGBA with numpy: class colours, opaque; ids without a class transparent.
    table = np.zeros((256, 4), np.uint8)
    for c in classes:
        table[c["id"]] = [*c["color"], 255]
    plain = table[labels]
    assert np.array_equal(np.array(got["plain"], np.uint8).reshape(*labels.shape, 4), plain)
    assert plain[labels == 255].max() == 0  # unlabelled: transparent
    masked = np.where((mask < threshold)[..., None], 0, plain)
    assert np.array_equal(np.array(got["masked"], np.uint8).reshape(*labels.shape, 4), masked)
    grey = np.stack([mask, mask, mask, np.full_like(mask, 255)], axis=-1)
    grey[mask < threshold] = 0
    assert np.array_equal(np.array(got["grey"], np.uint8).reshape(*labels.shape, 4), grey)
    assert got["packed"] == [1, 2, 3, 4]  # ImageData's byte order on this platform
    assert got["reusedIsOut"]


def test_the_engine_and_paint_workers_both_colour_with_it():
    # One colouring function: neither worker keeps a per-pixel lookup loop of its own.
    for path in ("web/worker/overlay-image.js", "web/lib/paint-worker.js"):
        source = (ROOT / path).read_text()
        assert "colorize(" in source, path
        assert "for (let i = 0" not in source, path

"""The browser's one colouring function (web/lib/colorize.js), run in Node and checked against
numpy: the engine worker's overlays and the paint worker's repaints both come from it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import ROOT, node_json

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
    return node_json(SCRIPT, json.dumps(payload))


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
    # One colouring function: neither worker keeps a per-pixel lookup loop of its own; both
    # colour through colorizedBitmap, which is colorize() a strip at a time.
    for path in ("web/worker/overlay-image.js", "web/lib/paint-worker.js"):
        source = (ROOT / path).read_text()
        assert "colorizedBitmap(" in source, path
        assert "for (let i = 0" not in source, path


BITMAP_CHECK = """async ({ width, height }) => {
  const { classLut, colorize, colorizedBitmap } = await import('/lib/colorize.js');
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  const labels = Uint8Array.from({ length: width * height }, () => random() % 5);
  const mask = Uint8Array.from({ length: width * height }, random);
  const lut = classLut([0, 1, 2, 3, 4].map((id) => ({ id, color: [40 * id, 255 - 30 * id, 17] })));
  const read = (bitmap) => {
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext('2d');
    context.drawImage(bitmap, 0, 0);
    return context.getImageData(0, 0, width, height).data;
  };
  const differ = (a, b) => a.findIndex((v, i) => v !== b[i]);
  return {
    plain: differ(read(colorizedBitmap(labels, lut, width, height)), colorize(labels, lut)),
    masked: differ(read(colorizedBitmap(labels, lut, width, height, { mask, threshold: 100 })),
                   colorize(labels, lut, { mask, threshold: 100 })),
  };
}"""


@pytest.mark.browser
def test_colorized_bitmap_is_colorize_in_strips(browser, site_url):
    """1500 x 1000 (two strips of rows: 699 + 301) and 37 x 3 (one): the bitmap's pixels are
    colorize()'s, the threshold's transparent pixels included."""
    page = browser.new_page()
    page.goto(site_url + "icons/icon-192.png")  # the site's origin, without starting the app
    for width, height in ((1500, 1000), (37, 3)):
        assert page.evaluate(BITMAP_CHECK, {"width": width, "height": height}) == {
            "plain": -1,
            "masked": -1,
        }
    page.close()


NEAREST = """
import { sampleNearest } from './web/lib/colorize.js';
const { values, width, height, sizes } = JSON.parse(process.argv[1]);
const map = Uint8Array.from(values);
const sampled = sizes.map(([w, h]) => Array.from(sampleNearest(map, width, height, w, h)));
console.log(JSON.stringify(sampled));
"""


def test_sample_nearest_takes_the_value_under_each_pixel_centre():
    # The page's overlay of a big photo at the screen's resolution (paint-worker.js): each
    # shown pixel is the label under its centre, never a blend.
    rng = np.random.default_rng(20)
    values = rng.integers(0, 256, size=(61, 97), dtype=np.uint8)
    sizes = [(97, 61), (40, 25), (13, 61), (1, 1), (31, 7)]
    payload = {"values": values.ravel().tolist(), "width": 97, "height": 61, "sizes": sizes}
    for (w, h), got in zip(sizes, node_json(NEAREST, json.dumps(payload)), strict=True):
        # Centres in source pixels: (i + 0.5) * source / target, floored.
        rows = ((np.arange(h) + 0.5) * 61 / h).astype(int)
        columns = ((np.arange(w) + 0.5) * 97 / w).astype(int)
        expected = values[rows[:, None], columns[None, :]]
        assert np.array_equal(np.array(got, np.uint8).reshape(h, w), expected), (w, h)

"""The batch zip (sceneseg.batch_zip), written to a stream that cannot seek, as in the worker."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import numpy as np
from PIL import Image

from conftest import PHOTOS, native_segmenter
from sceneseg import outputs
from sceneseg.batch_zip import BatchZip
from sceneseg.palette import ADE20K_PALETTE


class Unseekable(io.RawIOBase):
    """Write and tell only, like the OPFS stream (JsSyncFile) the worker uses."""

    def __init__(self):
        self.data = bytearray()

    def writable(self):
        return True

    def write(self, b):
        self.data += b
        return len(b)

    def tell(self):
        return len(self.data)

    def seekable(self):
        return False


def test_zip_holds_each_photos_files_and_the_csvs():
    segmenter = native_segmenter("q8")
    out = Unseekable()
    batch = BatchZip(out, segmenter.model.labels)
    photos = [p for p in PHOTOS if p.suffix == ".png"][:2]
    results = [segmenter.segment_sync(p.read_bytes()) for p in photos]
    for photo, result in zip(photos, results, strict=True):
        batch.add(photo.name, result)
    batch.add("again/" + photos[0].name, results[0])  # same stem from another folder
    batch.fail("notes.txt", "not an image")
    batch.close()

    archive = zipfile.ZipFile(io.BytesIO(bytes(out.data)))
    assert archive.testzip() is None
    stems = [photos[0].stem, photos[1].stem, photos[0].stem + "-2"]
    for stem, result in zip(stems, [*results, results[0]], strict=True):
        labels = np.asarray(Image.open(io.BytesIO(archive.read(f"labels/{stem}.png"))))
        np.testing.assert_array_equal(labels, result.labels)
        overlay = np.asarray(Image.open(io.BytesIO(archive.read(f"overlays/{stem}.png"))))
        palette = np.asarray(ADE20K_PALETTE, np.uint8)
        np.testing.assert_array_equal(overlay[..., :3], palette[labels])
        assert (overlay[..., 3] == 255).all()  # RGBA, as the overlay download
        # The same file as outputs' (the overlay download's at the batch's PNG level).
        assert archive.read(f"overlays/{stem}.png") == outputs.overlay_png(result, level=1)
        assert archive.read(f"labels/{stem}.png") == outputs.labels_png(result)
        summary = json.loads(archive.read(f"json/{stem}.json"))
        assert outputs.summary_problems(summary) == []
        assert summary["photo"] in (photos[0].name, photos[1].name, "again/" + photos[0].name)
        assert [{k: c[k] for k in ("id", "pixels", "fraction")} for c in summary["classes"]] == [
            {k: c[k] for k in ("id", "pixels", "fraction")} for c in result.classes()
        ]
    rows = list(csv.DictReader(io.StringIO(archive.read("class-shares.csv").decode())))
    assert tuple(rows[0]) == outputs.SHARES_COLUMNS  # long: one row per photo and class
    names = [photos[0].name, photos[1].name, "again/" + photos[0].name]
    assert list(dict.fromkeys(r["photo"] for r in rows)) == names
    for name, result in zip(names, [*results, results[0]], strict=True):
        mine = [r for r in rows if r["photo"] == name]
        assert [int(r["class_id"]) for r in mine] == [c["id"] for c in result.classes()]
        assert [r["class"] for r in mine] == [c["name"] for c in result.classes()]
        shares = np.array([float(r["share"]) for r in mine])
        counts = np.array([int(r["pixels"]) for r in mine])
        sizes = {(int(r["width"]), int(r["height"])) for r in mine}
        assert sizes == {(result.width, result.height)}
        np.testing.assert_allclose(shares, counts / result.labels.size, atol=1e-6)
        assert counts.sum() == result.labels.size
    failed = list(csv.reader(io.StringIO(archive.read("failed.csv").decode())))
    assert failed == [["photo", "reason"], ["notes.txt", "not an image"]]

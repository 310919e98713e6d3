"""The batch zip (sceneseg.batch_zip), written to a stream that cannot seek, as in the worker."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import numpy as np
from PIL import Image

from conftest import PHOTOS, native_segmenter
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
        np.testing.assert_array_equal(overlay, np.asarray(ADE20K_PALETTE, np.uint8)[labels])
        summary = json.loads(archive.read(f"json/{stem}.json"))
        assert summary["classes"] == result.classes()
    rows = list(csv.reader(io.StringIO(archive.read("class-shares.csv").decode())))
    assert rows[0] == ["photo", "width", "height", *segmenter.model.labels]
    assert [r[0] for r in rows[1:]] == [photos[0].name, photos[1].name, "again/" + photos[0].name]
    shares = np.array([float(v) for v in rows[1][3:]])
    np.testing.assert_allclose(shares, results[0].counts / results[0].labels.size, atol=1e-6)
    failed = list(csv.reader(io.StringIO(archive.read("failed.csv").decode())))
    assert failed == [["photo", "reason"], ["notes.txt", "not an image"]]

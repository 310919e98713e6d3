"""The class-group table (py/sceneseg/data/class_groups.csv) against the model's own labels."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import zipfile
from collections import Counter

import pytest

from conftest import ROOT, SHARED, STANDIN_DIR
from sceneseg.groups import CONTEXTS, KINDS, class_groups, groups_for
from sceneseg.model import ModelInfo

REFERENCE_CONFIG = SHARED / "reference" / "xenova_b0_config.json"


def test_every_class_exactly_once_with_the_models_names():
    groups = class_groups()
    for config_dir in (STANDIN_DIR,):
        labels = ModelInfo.from_dir(config_dir).labels
        assert tuple(g.name for g in groups) == labels
    # The real model's config (not only the stand-in's) names the same classes.
    real = json.loads(REFERENCE_CONFIG.read_text())["id2label"]
    assert [real[str(i)].strip() for i in range(len(real))] == [g.name for g in groups]
    assert [g.id for g in groups] == list(range(150))
    assert len({g.name for g in groups}) == 150


def test_names_follow_ade20k_objectinfo150():
    """Each name is made of ADE20K's official words for that index (objectInfo150.csv), which
    writes multi-word names with ';' like its synonyms ("chest;of;drawers;chest;bureau")."""
    rows = list(csv.DictReader((SHARED / "reference" / "objectInfo150.csv").open()))
    assert len(rows) == 150
    for group, row in zip(class_groups(), rows, strict=True):
        assert int(row["Idx"]) == group.id + 1
        official = set(row["Name"].split(";"))
        assert set(group.name.split()) <= official, (group.name, row["Name"])


def test_small_fixed_vocabulary_used_fully():
    groups = class_groups()
    contexts = Counter(g.context for g in groups)
    kinds = Counter(g.kind for g in groups)
    assert set(contexts) == set(CONTEXTS) and set(kinds) == set(KINDS)
    assert sum(contexts.values()) == sum(kinds.values()) == 150
    by_name = {g.name: g for g in groups}
    # A few that any reader would check.
    assert (by_name["sky"].context, by_name["sky"].kind) == ("outdoor", "nature")
    assert (by_name["bed"].context, by_name["bed"].kind) == ("indoor", "furniture")
    assert by_name["person"].kind == "people" and by_name["car"].kind == "vehicles"


def test_other_label_sets_get_no_groups():
    assert groups_for(tuple(g.name for g in class_groups())) is not None
    assert groups_for(("background", "cat")) is None


@pytest.mark.slow
def test_table_ships_in_the_wheel(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("sceneseg-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read("sceneseg/data/class_groups.csv").decode()
    assert shipped == (ROOT / "py" / "sceneseg" / "data" / "class_groups.csv").read_text()

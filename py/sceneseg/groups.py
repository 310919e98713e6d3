"""Class groups: each ADE20K class's scene context and kind, from ``data/class_groups.csv``.

The table is data (documented in its header); this module only reads and checks it.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from importlib import resources

CONTEXTS = ("indoor", "outdoor", "both")
KINDS = ("architecture", "furniture", "nature", "vehicles", "people", "objects")


@dataclass(frozen=True)
class ClassGroup:
    id: int
    name: str
    context: str  # one of CONTEXTS
    kind: str  # one of KINDS

    def as_dict(self) -> dict:
        return {"context": self.context, "kind": self.kind}


@functools.cache
def class_groups() -> tuple[ClassGroup, ...]:
    """All rows of the table, by class id (row i is class i)."""
    text = resources.files("sceneseg").joinpath("data/class_groups.csv").read_text("utf-8")
    rows = csv.DictReader(
        io.StringIO("".join(line for line in io.StringIO(text) if line[:1] != "#"))
    )
    groups = []
    for expected_id, row in enumerate(rows):
        group = ClassGroup(int(row["id"]), row["name"], row["context"], row["kind"])
        if group.id != expected_id:
            raise ValueError(f"class_groups.csv: row {expected_id} has id {group.id}")
        if group.context not in CONTEXTS or group.kind not in KINDS:
            raise ValueError(
                f"class_groups.csv: {group.name}: unknown {group.context}/{group.kind}"
            )
        groups.append(group)
    return tuple(groups)


def groups_for(labels: tuple[str, ...]) -> tuple[ClassGroup, ...] | None:
    """The groups of a model's classes, or None when its classes are not ADE20K's 150."""
    table = class_groups()
    if tuple(g.name for g in table) != tuple(labels):
        return None
    return table

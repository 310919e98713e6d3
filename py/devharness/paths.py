"""Where things are: the checkout, ../shared (the stand-in model, the Pyodide mirror, photos)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SCENESEG_SHARED", ROOT.parent / "shared"))
STANDIN_ID = "segformer-b0-ade-synthetic"
STANDIN_DIR = SHARED / "models" / STANDIN_ID
PYODIDE_MIRROR = SHARED / "pyodide-0.27.7"
PHOTOS = sorted(p for p in (SHARED / "photos").rglob("*") if p.suffix in {".jpg", ".png"})
# ADE20K annotations sit next to their photos as .png; they are not photos.
PHOTOS = [p for p in PHOTOS if not (p.suffix == ".png" and p.with_suffix(".jpg").exists())]

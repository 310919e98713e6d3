"""Built sites: build_site runs build.py as a user would; prebuilt_site takes an already-built
one (SCENESEG_SITE=DIR) instead, for the quick loop (docs/development.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from devharness.paths import PYODIDE_MIRROR, ROOT, STANDIN_DIR, STANDIN_ID

SITE_ENV = "SCENESEG_SITE"
# What the tests' site is built with (the built_site fixture): the stand-in, q8 and fp32.
TEST_PRECISIONS = "q8,fp32"
# What a site is made from: a file here newer than the site's build-info.json means the site
# is stale (tests would check old code).
SITE_SOURCES = ("web", "py/sceneseg", "py/sitebuild", "build.py", "package-lock.json")


def build_site(
    out: Path,
    *extra: str,
    model: str = STANDIN_ID,
    model_dirs: tuple[str, ...] = (str(STANDIN_DIR),),
    precisions: str = TEST_PRECISIONS,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run build.py as a user would, into ``out``, with the local Pyodide mirror (``extra``:
    more options). ``check``: raise AssertionError, with build.py's messages, unless it
    succeeds (a failed test under pytest)."""
    dirs = [arg for directory in model_dirs for arg in ("--model-dir", str(directory))]
    run = subprocess.run(
        [
            sys.executable, str(ROOT / "build.py"), "--model", model, *dirs,
            "--pyodide-mirror", str(PYODIDE_MIRROR), "--precisions", precisions,
            "--out", str(out), *extra,
        ],
        capture_output=True, text=True,
    )  # fmt: skip
    if check:
        assert run.returncode == 0, f"build.py failed:\n{run.stderr}"
    return run


def _newest(path: Path) -> tuple[float, Path]:
    if path.is_file():
        return path.stat().st_mtime, path
    # sceneseg/tools/ (the CPython tools) never reaches the site.
    files = (
        p
        for p in path.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and path / "tools" not in p.parents
    )
    return max(((p.stat().st_mtime, p) for p in files), default=(0.0, path))


def prebuilt_site(directory: str | os.PathLike | None = None) -> Path | None:
    """The already-built site named by ``directory`` (default: $SCENESEG_SITE), checked to be
    what the tests' own build makes (the stand-in model, q8 and fp32) and not older than its
    sources; None when neither names one. Raises ValueError, saying how to build it, else."""
    directory = directory if directory is not None else os.environ.get(SITE_ENV)
    if not directory:
        return None
    site = Path(directory).resolve()
    build = (
        f"python3 build.py --model {STANDIN_ID} --model-dir {STANDIN_DIR} "
        f"--pyodide-mirror {PYODIDE_MIRROR} --precisions {TEST_PRECISIONS} --out {site}"
    )
    info_path = site / "build-info.json"
    if not info_path.is_file():
        raise ValueError(f"{SITE_ENV}={directory}: no built site there (no build-info.json); "
                         f"build it with:\n  {build}")  # fmt: skip
    model = json.loads(info_path.read_text())["model"]
    if model["id"] != STANDIN_ID or set(model["precisions"]) != set(TEST_PRECISIONS.split(",")):
        raise ValueError(
            f"{SITE_ENV}={directory}: built with {model['id']} {sorted(model['precisions'])}; "
            f"the tests need {STANDIN_ID} with {TEST_PRECISIONS}; build it with:\n  {build}"
        )
    built = info_path.stat().st_mtime
    mtime, newest = max(_newest(ROOT / source) for source in SITE_SOURCES)
    if mtime > built:
        raise ValueError(
            f"{SITE_ENV}={directory}: older than its sources ({newest.relative_to(ROOT)} "
            f"changed after the build); rebuild it with:\n  {build}"
        )
    return site

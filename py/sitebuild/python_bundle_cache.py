"""A cache of finished Python bundles (what add_pyodide makes in vendor/pyodide/), keyed by
everything the bundle is made from, so that building again with the same inputs takes a copy
instead of ~17 s of wheel building, precompiling and tracing in Pyodide under Node.

The key is a SHA-256 over: this Python's version; Pyodide's core files (npm package); the
pinned sha256 of every wheel shipped; the sceneseg sources and pyproject.toml; the build's own
code (py/sitebuild/, the trace's flows included); and the default model's two config files
(the trace reads them). The bundle's bytes depend on nothing else: precompiling and tracing
are deterministic (tests/test_python_startup.py, tests/test_python_bundle.py), so a hit gives
the same files a fresh build would.

Where: $SCENESEG_BUILD_CACHE, else ~/.cache/sceneseg/python-bundle; "off" turns it off.
Only the newest KEEP entries stay.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from sceneseg.tools.manifest import sha256_file

from .common import ROOT, log

CACHE_ENV = "SCENESEG_BUILD_CACHE"
KEEP = 4
SOURCES = ("pyproject.toml", "py/sceneseg", "py/sitebuild")


def cache_root() -> Path | None:
    setting = os.environ.get(CACHE_ENV, "")
    if setting.lower() == "off":
        return None
    if setting:
        return Path(setting)
    return Path.home() / ".cache" / "sceneseg" / "python-bundle"


def bundle_key(core: list[Path], wheel_sha256: list[str], model_dir: Path) -> str:
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode() + data)

    add("python", sys.version.encode())
    for path in core:
        add(f"core/{path.name}", sha256_file(path).encode())
    for sha in sorted(wheel_sha256):
        add("wheel", sha.encode())
    for source in SOURCES:
        top = ROOT / source
        files = [top] if top.is_file() else sorted(top.rglob("*"))
        for path in files:
            if path.is_file() and "__pycache__" not in path.parts:
                add(path.relative_to(ROOT).as_posix(), path.read_bytes())
    for name in ("config.json", "preprocessor_config.json"):
        add(f"model/{name}", (model_dir / name).read_bytes())
    return digest.hexdigest()


def restore(key: str, target: Path) -> bool:
    """Copy the cached bundle for ``key`` into ``target``; False when there is none."""
    root = cache_root()
    entry = root / key if root else None
    if entry is None or not (entry / "pyodide-lock.json").is_file():
        return False
    for path in entry.iterdir():
        shutil.copyfile(path, target / path.name)
    os.utime(entry)  # recently used: kept longest
    log(f"Python bundle from the build cache ({entry})")
    return True


def store(key: str, target: Path, copied: set[str]) -> None:
    """Keep ``target``'s files under ``key``, but those in ``copied`` (copied into it as they
    are, and already there on a hit): written aside, then renamed, so that a reader never sees
    half an entry. Drops all but the newest KEEP entries. A cache that cannot be written only
    costs the next build its time."""
    root = cache_root()
    if root is None:
        return
    try:
        root.mkdir(parents=True, exist_ok=True)
        aside = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
        for path in target.iterdir():
            if path.is_file() and path.name not in copied:
                shutil.copyfile(path, aside / path.name)
        try:
            aside.rename(root / key)
        except OSError:  # another build stored the same key first
            shutil.rmtree(aside, ignore_errors=True)
        entries = sorted(
            (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for old in entries[KEEP:]:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as error:
        log(f"build cache not written ({error})")

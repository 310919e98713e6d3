"""vendor/pyodide/: Pyodide's core (npm package pyodide), the numpy and Pillow wheels (from a
local mirror or Pyodide's CDN, checked against Pyodide's lock), the sceneseg wheel, all three
precompiled to bytecode, and a pyodide-lock.json listing only what is shipped."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from sceneseg.tools.manifest import fetch_verified, sha256_file

from . import python_bundle_cache
from .common import ROOT, BuildError, copy_vendor, log, node_package
from .python_trim import trim_python

PYODIDE_VERSION = "0.27.7"
PYODIDE_CDN = f"https://cdn.jsdelivr.net/pyodide/v{PYODIDE_VERSION}/full/"
PYODIDE_CORE = ["pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip"]
# The core files the bundle step leaves as copied (python_stdlib.zip it trims).
CORE_AS_COPIED = {"pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm"}
# Pyodide packages the sceneseg wheel needs (its own dependencies come from the lock).
PYODIDE_PACKAGES = ["numpy", "pillow"]


def build_sceneseg_wheel(dest_dir: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        log("building the sceneseg wheel")
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", tmp, str(ROOT)],
            check=True,
        )
        (wheel,) = Path(tmp).glob("sceneseg-*.whl")
        return Path(shutil.copy2(wheel, dest_dir / wheel.name))


# Rewrites wheels inside Pyodide itself (its Python 3.12 makes the bytecode, its zlib the
# deflate streams), so the bytes depend only on the input wheels and the pinned Pyodide.
PRECOMPILE_JS = """
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const [pyodideDir, wheelDir, ...names] = process.argv.slice(1);
const { loadPyodide } = await import(pathToFileURL(`${pyodideDir}/pyodide.mjs`).href);
const py = await loadPyodide({ indexURL: `${pyodideDir}/`, args: ['-', ...names] });
py.FS.mkdirTree('/wheels');
py.FS.mount(py.FS.filesystems.NODEFS, { root: wheelDir }, '/wheels');
await py.runPythonAsync(readFileSync(0, 'utf-8'));
"""

PRECOMPILE_PY = r"""
import base64, hashlib, importlib.util, sys, sysconfig, zipfile
from importlib._bootstrap_external import _code_to_hash_pyc

SITE = sysconfig.get_path("purelib")  # where loadPackage installs: dfile for tracebacks
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip entry times: no build-time clock in the bytes


def record_row(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


# optimize=2 (as python -OO compiles): no docstrings, no asserts. The page never reads a
# docstring, and they are a large part of numpy's bytecode. Except where a module's import
# reads its functions' docstrings: numpy's dispatchers hand theirs to add_docstring, which
# (with Pyodide's interpreter not itself run with -OO) refuses None.
KEEP_DOCSTRINGS = ("numpy/_core/multiarray.py",)


def optimize(name):
    return 0 if name in KEEP_DOCSTRINGS else 2


def precompile(path):
    with zipfile.ZipFile(path) as wheel:
        members = [(info, wheel.read(info)) for info in wheel.infolist() if not info.is_dir()]
    out, rows, record = [], [], None
    for info, data in members:
        name = info.filename
        if name.endswith(".dist-info/RECORD"):
            record = name
            continue
        if name.endswith(".py"):
            try:
                where = f"{SITE}/{name}"
                code = compile(data, where, "exec", dont_inherit=True, optimize=optimize(name))
            except SyntaxError:  # e.g. a template, not a module: ship it as it is
                pass
            else:
                # Sourceless (module.pyc where module.py was), as Pyodide's py-compile does.
                name += "c"
                data = bytes(_code_to_hash_pyc(code, importlib.util.source_hash(data), False))
        out.append((name, data))
        rows.append(record_row(name, data))
    rows.append(f"{record},,")
    out.append((record, ("\n".join(rows) + "\n").encode()))
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in out:
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.external_attr = 0o644 << 16
            wheel.writestr(info, data, zipfile.ZIP_DEFLATED)


assert sys.version_info[:2] == (3, 12), sys.version
for name in sys.argv[1:]:
    precompile(f"/wheels/{name}")
"""


def precompile_wheels(pyodide_dir: Path, wheel_dir: Path, names: list[str]) -> None:
    """Replace each wheel's .py files by .pyc compiled by Pyodide's own Python.

    Importing numpy, Pillow and sceneseg from bytecode instead of source saves about 0.2 s of
    every start. The sources are dropped, as Pyodide's own `pyodide py-compile` does: keeping
    both would add ~1.2 MB to the download (tracebacks still name file and line, without the
    source text). Hash-based .pyc, so nothing in them depends on file times.
    """
    if shutil.which("node") is None:
        raise BuildError("Node.js is needed to precompile the wheels (runs Pyodide)")
    log(f"precompiling {', '.join(names)} to bytecode (in Pyodide)")
    subprocess.run(
        [
            "node",
            "--input-type=module",
            "-e",
            PRECOMPILE_JS,
            str(pyodide_dir),
            str(wheel_dir),
            *names,
        ],
        input=PRECOMPILE_PY,
        text=True,
        check=True,
    )


def add_pyodide(out: Path, mirror: Path | None, model_dir: Path) -> dict:
    """Pyodide's core, its numpy and Pillow wheels and the sceneseg wheel, precompiled, then
    trimmed to what the page imports (python_trim.py; model_dir: the configs its trace uses)."""
    package = node_package("pyodide")
    version = json.loads((package / "package.json").read_text())["version"]
    if version != PYODIDE_VERSION:
        raise BuildError(f"node_modules/pyodide is {version}, expected {PYODIDE_VERSION} (npm ci)")
    target = out / "vendor" / "pyodide"
    for name in PYODIDE_CORE:
        copy_vendor(package / name, target / name)

    lock = json.loads((package / "pyodide-lock.json").read_text())
    needed = {}
    wanted = list(PYODIDE_PACKAGES)
    while wanted:
        name = wanted.pop()
        if name not in needed:
            needed[name] = lock["packages"][name]
            wanted.extend(needed[name].get("depends", []))
    key = python_bundle_cache.bundle_key(
        [package / name for name in PYODIDE_CORE],
        [entry["sha256"] for entry in needed.values()],
        model_dir,
    )
    if not python_bundle_cache.restore(key, target):
        make_bundle(package, target, mirror, model_dir, lock, needed)
        python_bundle_cache.store(key, target, CORE_AS_COPIED)
    shipped = json.loads((target / "pyodide-lock.json").read_text())["packages"]
    # Sizes of what the worker downloads, so that its progress counts every byte.
    files = {p.name: p.stat().st_size for p in sorted(target.iterdir()) if p.is_file()}
    return {
        "version": version,
        "packages": {k: v["version"] for k, v in shipped.items()},
        "files": files,
    }


def make_bundle(
    package: Path, target: Path, mirror: Path | None, model_dir: Path, lock: dict, needed: dict
) -> None:
    """The wheels fetched and verified, the sceneseg wheel built, all precompiled, then the
    stdlib and wheels trimmed to what the page imports; pyodide-lock.json written."""
    shipped = {}
    for name, entry in needed.items():
        sources: list[str | Path] = []
        if mirror is not None:
            sources.append(mirror / entry["file_name"])
        sources.append(PYODIDE_CDN + entry["file_name"])
        log(f"wheel {entry['file_name']}")
        fetch_verified(sources, target / entry["file_name"], None, entry["sha256"])
        shipped[name] = entry

    wheel = build_sceneseg_wheel(target)
    shipped["sceneseg"] = {
        "name": "sceneseg",
        "version": wheel.name.split("-")[1],
        "file_name": wheel.name,
        "install_dir": "site",
        "sha256": sha256_file(wheel),
        "package_type": "package",
        "imports": ["sceneseg"],
        "depends": list(PYODIDE_PACKAGES),
        "unvendored_tests": False,
        "shared_library": False,
    }
    # Not the standard library's zip (sources): as bytecode, even without docstrings, it is
    # half as big again on the wire (1.40 vs 0.92 MB gzip, measured).
    precompile_wheels(package, target, [entry["file_name"] for entry in shipped.values()])

    def write_lock():
        for entry in shipped.values():
            entry["sha256"] = sha256_file(target / entry["file_name"])
        # The lock lists exactly what is shipped; Pyodide verifies each wheel's sha256 against it.
        (target / "pyodide-lock.json").write_text(
            json.dumps({"info": lock["info"], "packages": shipped}, indent=1)
        )

    write_lock()  # the trace loads the wheels through it
    trim_python(package, target, model_dir)
    write_lock()

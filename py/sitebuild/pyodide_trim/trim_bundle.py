"""Rewrite the standard library zip and the wheels with only what the traced flows import
(run in Pyodide by run.mjs, so that the zips' deflate streams come from Pyodide's own zlib and
the bytes depend only on the inputs).

Kept: every module the flows imported; every non-module file (data, metadata) of a kept
package; a few modules the flows may not reach (ALWAYS). Dropped: modules never imported and
files that only serve compilers and type checkers (.pyi, .pxd, headers, static libraries).
numpy is trimmed by subpackage (numpy.random, numpy.fft, ...: a subpackage none of whose
modules was imported goes whole), so a lazily imported module of a kept subpackage stays.

Extension modules (.so) are the exception: Pyodide loads (downloads, compiles, instantiates)
every shared library of a package when the package loads, imported or not, on every start. So
one that was never imported goes even from a kept subpackage (numpy's test modules,
numpy.linalg.lapack_lite), and numpy.linalg's LAPACK module, imported by `import numpy` but
never called by the page, is replaced by a stub (STUBS) that says so if it ever is: 1.9 MB of
WebAssembly less to fetch, compile and instantiate at every start.
"""

import base64
import hashlib
import importlib.util
import json
import zipfile
from importlib._bootstrap_external import _code_to_hash_pyc
from pathlib import Path

STDLIB = "/bundle/python_stdlib.zip"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
# Codecs that a photo's metadata or a file name may ask for, and modules the trace can miss
# because the worker imports them only on an error path.
ALWAYS = {
    "encodings.ascii", "encodings.latin_1", "encodings.utf_8", "encodings.utf_8_sig",
    "encodings.utf_16", "encodings.utf_16_le", "encodings.utf_16_be", "encodings.utf_32",
    "encodings.charmap", "encodings.raw_unicode_escape", "encodings.unicode_escape",
    "encodings.idna", "encodings.cp437", "hashlib", "random", "traceback", "warnings",
}  # fmt: skip
BUILD_ONLY = (".pyi", ".pxd", ".h", ".hpp", ".a", ".c", ".pc", "py.typed")
BY_SUBPACKAGE = {"numpy"}
# Extension modules imported at package import but never called by the page: a pure-Python
# stand-in of the same module name, whose every attribute raises a clear error.
STUBS = {
    "numpy/linalg/_umath_linalg.cpython-312-wasm32-emscripten.so": (
        "numpy/linalg/_umath_linalg.py",
        '''"""numpy.linalg's LAPACK routines are not shipped in SceneSeg's browser build
(sitebuild/pyodide_trim/trim_bundle.py): its pipeline never calls them."""


def __getattr__(name):
    raise AttributeError(
        f"numpy.linalg._umath_linalg.{name}: numpy.linalg's LAPACK routines are not part of "
        "SceneSeg's browser build (its pipeline does not use them)"
    )
''',
    ),
}


def module_of(path):
    """'numpy/linalg/_linalg.pyc' -> 'numpy.linalg._linalg'; None for a non-module file."""
    if path.endswith((".py", ".pyc")):
        stem = path.rsplit(".", 1)[0]
    elif path.endswith(".so") and ".cpython-" in path:
        stem = path.split(".cpython-")[0]
    else:
        return None
    name = stem.replace("/", ".")
    return name.removesuffix(".__init__")


def imported(name, modules):
    return name in modules or any(m.startswith(name + ".") for m in modules)


def wanted(path, modules):
    """Whether a wheel's file ships."""
    if path.endswith(BUILD_ONLY) or "/include/" in path or path in STUBS:
        return False
    parts = path.split("/")
    if path.endswith(".so") and module_of(path) not in modules:  # loaded at start, imported or not
        return False
    if parts[0].endswith((".dist-info", ".data")):
        return True
    if parts[0] in BY_SUBPACKAGE and len(parts) > 2:  # numpy/<sub>/...: with its subpackage
        return imported(f"{parts[0]}.{parts[1]}", modules)
    module = module_of(path)
    if module is None:  # data: kept with its top-level package
        return parts[0] in modules
    return module in modules


def stdlib_file(startup):
    """A kept standard library file as shipped: a .py without docstrings and comments, and as
    bytecode (module.pyc, sourceless) where the worker imports it before it is ready.

    Why bytecode there: Pyodide ships the standard library as sources, so a first visit's
    Python compiles every module it imports at start (~180 before numpy; loadPyodide took
    2.2 s in Node with sources, 0.7 s with bytecode). Only those modules: bytecode is ~3x the
    bytes of a stripped source on the wire, and the rest are imported later, if ever.
    Compiled from the stripped source (docstrings "" as in the .py, asserts kept): the same
    code, line numbers included, as the source would have given."""

    def transform(name, data):
        if not name.endswith(".py"):
            return name, data
        # strip_docs: defined by strip_docs.py, run before this file in the same namespace.
        source = strip_docs(data.decode())  # noqa: F821
        if module_of(name) not in startup:
            return name, source.encode()
        code = compile(source, name, "exec", dont_inherit=True)
        pyc = _code_to_hash_pyc(code, importlib.util.source_hash(source.encode()), False)
        return name + "c", bytes(pyc)

    return transform


def rewrite(path, keep, record=None, transform=None):
    with zipfile.ZipFile(path) as archive:
        members = [(i.filename, archive.read(i)) for i in archive.infolist() if not i.is_dir()]
    kept = [(name, data) for name, data in members if keep(name)]
    if transform is not None:  # (name, data) -> (name, data)
        kept = [transform(name, data) for name, data in kept]
    stubs = [(STUBS[name][0], STUBS[name][1].encode()) for name, _ in members if name in STUBS]
    kept += stubs
    if record is not None:  # a wheel: its RECORD lists exactly what it holds
        names = {name for name, _ in kept}
        added = [record_row(name, data) for name, data in stubs]
        kept = [
            (
                name,
                record_without(data, names, added) if name.endswith(".dist-info/RECORD") else data,
            )
            for name, data in kept
        ]
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in kept:
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.external_attr = 0o644 << 16
            archive.writestr(info, data, zipfile.ZIP_DEFLATED)
    return {"files": len(members), "kept": len(kept),
            "dropped": sorted(n for n, _ in members if not keep(n))}  # fmt: skip


def record_row(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def record_without(data, names, added=()):
    rows = [r for r in data.decode().splitlines() if r.split(",")[0] in names] + list(added)
    return ("\n".join(rows) + "\n").encode()


def trim(flows_json, startup_json):
    flows = json.loads(flows_json)
    modules = {name for name, _ in flows["modules"]} | ALWAYS
    startup = set(json.loads(startup_json))
    # The standard library's sources also lose their docstrings and comments (strip_docs.py),
    # and those imported at start become bytecode (stdlib_file).
    stdlib_kept = lambda p: module_of(p) is None or module_of(p) in modules  # noqa: E731
    report = {"stdlib": rewrite(STDLIB, stdlib_kept, transform=stdlib_file(startup))}
    with zipfile.ZipFile(STDLIB) as archive:
        report["stdlib"]["bytecode"] = sum(n.endswith(".pyc") for n in archive.namelist())
    lock = json.loads(Path("/bundle/pyodide-lock.json").read_text())
    for name, entry in sorted(lock["packages"].items()):
        report[name] = rewrite(f"/bundle/{entry['file_name']}", lambda p: wanted(p, modules), True)
    report["flow_errors"] = flows["errors"]
    # The browser's room as the flows use it: python_trim refuses a trace that reaches the
    # CPython tools, and tests/test_python_bundle.py checks the wheel holds exactly these.
    report["sceneseg_modules"] = sorted(m for m in modules if m.split(".")[0] == "sceneseg")
    return json.dumps(report)

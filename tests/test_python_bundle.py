"""The Python the site ships is what the page imports (py/sitebuild/python_trim.py): the build
traces the worker's flows in Pyodide and drops every module they never import. The browser
tests (test_browser, test_app_ui, test_video_batch_browser, test_offline) then run the real page
on that trimmed bundle; these tests check the bundle itself."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tokenize
import zipfile

import pytest

from conftest import ROOT, STANDIN_DIR, run_in_pyodide

TRIM = ROOT / "py" / "sitebuild" / "pyodide_trim" / "run.mjs"


def sceneseg_wheel_modules(site):
    """Modules of the sceneseg wheel ('sceneseg/backends/web.pyc' -> 'sceneseg.backends.web')."""
    (wheel,) = (site / "vendor" / "pyodide").glob("sceneseg-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    modules = {n.removesuffix(".pyc").replace("/", ".") for n in names if n.endswith(".pyc")}
    return {m.removesuffix(".__init__") for m in modules}


def bundle_names(site):
    pyodide = site / "vendor" / "pyodide"
    lock = json.loads((pyodide / "pyodide-lock.json").read_text())
    names = set(zipfile.ZipFile(pyodide / "python_stdlib.zip").namelist())
    for entry in lock["packages"].values():
        names |= set(zipfile.ZipFile(pyodide / entry["file_name"]).namelist())
    return names


@pytest.mark.slow
def test_the_trimmed_bundle_runs_every_flow_of_the_worker(built_site, tmp_path):
    # The trace again, on the bundle as shipped: every flow (all formats and colour modes, bad
    # inputs, exports, confidence, video frames, batch zips) runs without an import error, and
    # there is nothing left to drop: the bundle is exactly what those flows import.
    bundle = shutil.copytree(built_site / "vendor" / "pyodide", tmp_path / "pyodide")
    run = subprocess.run(
        [
            "node",
            str(TRIM),
            str(ROOT / "node_modules" / "pyodide"),
            str(bundle),
            str(STANDIN_DIR.resolve()),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert report.pop("flow_errors") == []
    # sys.modules in Pyodide after a photo (every format), a video frame, a batch, every
    # export kind and the class-share files: the wheel as built holds exactly those sceneseg
    # modules, no more, no fewer, and none of the CPython room (sceneseg.tools).
    traced = set(report.pop("sceneseg_modules"))
    assert {
        "sceneseg.browser",
        "sceneseg.outputs",
        "sceneseg.video",
        "sceneseg.batch_zip",
    } <= traced
    assert not any(m.startswith(("sceneseg.tools", "sceneseg.__main__")) for m in traced)
    assert sceneseg_wheel_modules(built_site) == traced
    for name, part in report.items():
        assert part["dropped"] == [], name
        assert part["kept"] == part["files"] > 10, name
    # The trim rewrote every zip: with nothing to drop, the same bytes (no time stamps, the
    # same zlib), so a build is reproducible and its sha256s in the lock stay stable.
    for path in sorted(bundle.iterdir()):
        shipped = built_site / "vendor" / "pyodide" / path.name
        assert path.read_bytes() == shipped.read_bytes(), path.name


def test_what_the_page_never_imports_is_not_shipped(built_site):
    names = bundle_names(built_site)
    # Kept: what every photo needs.
    for needed in (
        "numpy/_core/_multiarray_umath.cpython-312-wasm32-emscripten.so",
        "numpy/linalg/_umath_linalg.py",  # import numpy imports it: a stub (trim_bundle.STUBS)
        "PIL/_imaging.cpython-312-wasm32-emscripten.so",
        "PIL/_webp.cpython-312-wasm32-emscripten.so",
        "PIL/JpegImagePlugin.pyc",
        "sceneseg/browser.pyc",
        "sceneseg/data/class_groups.csv",
        "asyncio/__init__.pyc",  # Pyodide's event loop: awaiting onnxruntime-web
        "zipfile/__init__.pyc",  # the batch zip
    ):
        assert needed in names, needed
    # Dropped: the CPython-only tools, numpy's unused subpackages, fonts, test frameworks.
    for dropped in (
        "sceneseg/__main__.pyc",
        "sceneseg/tools/cli.pyc",
        "sceneseg/tools/eval.pyc",
        "sceneseg/tools/native.pyc",
        "numpy/random/_generator.cpython-312-wasm32-emscripten.so",
        # Shared libraries Pyodide would load at every start: LAPACK (never called; stubbed),
        # lapack_lite and numpy's test modules (never imported).
        "numpy/linalg/_umath_linalg.cpython-312-wasm32-emscripten.so",
        "numpy/linalg/lapack_lite.cpython-312-wasm32-emscripten.so",
        "numpy/_core/_rational_tests.cpython-312-wasm32-emscripten.so",
        "numpy/fft/_pocketfft_umath.cpython-312-wasm32-emscripten.so",
        "numpy/f2py/__init__.pyc",
        "PIL/_imagingft.cpython-312-wasm32-emscripten.so",
        "unittest/__init__.py",
        "pydoc.py",
    ):
        assert dropped not in names, dropped
    assert not any(n.endswith((".pyi", ".pxd", ".h")) for n in names)
    # The CPython room is never shipped; the browser's is (tools: the slow test above).
    assert not any(n.startswith("sceneseg/tools/") for n in names)
    assert sceneseg_wheel_modules(built_site) >= {
        "sceneseg", "sceneseg.browser", "sceneseg.outputs", "sceneseg.pipeline",
        "sceneseg.video", "sceneseg.batch_zip", "sceneseg.backends.web",
    }  # fmt: skip


def test_shipped_numpy_has_no_lapack_and_no_docstrings(built_site):
    # The shipped numpy and Pillow (pyodide_files.py, trim_bundle.py): `import numpy` works,
    # numpy.linalg's LAPACK module is a stub that says what is missing when called, what the
    # pipeline uses of numpy.linalg (norm: palette.py) still works, and the bytecode carries no
    # docstrings (optimize=2), which were most of numpy's download.
    code = """
import json
import numpy as np
import PIL.Image
try:
    np.linalg.inv(np.eye(2))
    error = None
except AttributeError as e:
    error = str(e)
print(json.dumps({
    "error": error,
    "norm": float(np.linalg.norm(np.array([[3.0, 4.0]]), axis=1)[0]),
    "docs": [np._core.fromnumeric.__doc__, np.clip.__doc__, PIL.Image.open.__doc__],
}))
"""
    run = subprocess.run(
        ["node", str(ROOT / "tests" / "pyodide_run.mjs"), str(built_site / "vendor" / "pyodide")],
        input=code, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout)
    assert "not part of SceneSeg's browser build" in out["error"]
    assert out["norm"] == 5.0
    assert out["docs"] == [None, None, None]


def comments(source):
    """Comment tokens in a source (0 if this CPython cannot tokenize it: newer syntax)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (SyntaxError, tokenize.TokenError):
        return 0
    return sum(t.type == tokenize.COMMENT for t in tokens)


def test_the_standard_library_ships_without_docstrings_and_comments(built_site):
    # strip_docs.py: every kept source of the standard library lost its docstrings and
    # comments, and kept every line where it was (tracebacks still point at the right line).
    official = zipfile.ZipFile(ROOT / "node_modules" / "pyodide" / "python_stdlib.zip")
    shipped = zipfile.ZipFile(built_site / "vendor" / "pyodide" / "python_stdlib.zip")
    sources = [n for n in shipped.namelist() if n.endswith(".py")]  # the rest: bytecode (below)
    assert len(sources) > 5
    for name in sources:
        before, after = official.read(name).decode(), shipped.read(name).decode()
        assert after.count("\n") == before.count("\n"), name
        assert len(after) < len(before) or '"""' not in before, name
        assert comments(after) <= 2, name  # an encoding declaration may stay
    # (What stays source is small modules with few docstrings: the encodings, importlib's readers.)
    before = sum(len(official.read(n)) for n in sources)
    assert sum(len(shipped.read(n)) for n in sources) < 0.85 * before


# In Pyodide (its Python 3.12 made the bytecode): each shipped .pyc is exactly the code of the
# stripped source (code objects compare consts, names, line tables: line numbers included).
SAME_CODE = """
import marshal, sys, zipfile
sys.path.insert(0, "/src/sitebuild/pyodide_trim")
from strip_docs import strip_docs
official, shipped = (zipfile.ZipFile("/host" + p) for p in sys.argv[1:3])
for name in (n for n in shipped.namelist() if n.endswith(".pyc")):
    code = marshal.loads(shipped.read(name)[16:])
    source = strip_docs(official.read(name[:-1]).decode())
    assert code == compile(source, name[:-1], "exec", dont_inherit=True), name
    assert code.co_filename == name[:-1], name
print(sum(n.endswith(".pyc") for n in shipped.namelist()))
"""


def test_the_modules_imported_at_start_ship_as_bytecode(built_site):
    # trim_bundle.stdlib_file: the standard library modules the worker imports before it is
    # ready (~170: Pyodide's own start, numpy, Pillow, sceneseg.browser) are compiled at build
    # time, so a first visit's Python does not compile them from source (loadPyodide in Node:
    # 2.2 s -> 0.7 s); the rest stay stripped sources.
    shipped = zipfile.ZipFile(built_site / "vendor" / "pyodide" / "python_stdlib.zip")
    names = shipped.namelist()
    for module in ("encodings/__init__", "asyncio/__init__", "json/__init__", "zipfile/__init__"):
        assert f"{module}.pyc" in names and f"{module}.py" not in names, module
    assert "encodings/utf_16.py" in names  # imported later if ever: stays a (stripped) source
    official = ROOT / "node_modules" / "pyodide" / "python_stdlib.zip"
    shipped_path = built_site / "vendor" / "pyodide" / "python_stdlib.zip"
    assert int(run_in_pyodide(SAME_CODE, str(official), str(shipped_path))) > 100

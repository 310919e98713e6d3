"""Python's start-up in the app: wheels with bytecode compiled by Pyodide's own Python, and the
memory snapshot that brings Python back on a return visit (web/worker/python-snapshot.js).

The browser tests follow one visitor through a persistent profile: a first visit (normal
start; the snapshot is stored), a browser relaunch (restored from it), a damaged snapshot
(normal start again) and a new build (the old snapshot ignored). Each visit's label map is
read back through the page's own download and must equal the first visit's, byte for byte.
"""

from __future__ import annotations

import io
import json
import shutil
import time
import zipfile
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

from conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LAN_HOST,
    PHOTOS,
    PYODIDE_MIRROR,
    ROOT,
    STORED_SNAPSHOT,
    AppPage,
    run_in_pyodide,
    serve_site,
)
from sceneseg.tools.manifest import sha256_file

pytestmark = pytest.mark.slow

PHOTO = next(p for p in PHOTOS if p.name == "ADE_val_00000003.jpg")  # 400 x 300: quick

# Records the worker's 'ready' info (it says how Python started) before the app's scripts run.
RECORD_READY = """
(() => {
  const Native = window.Worker;
  window.__pythonStarts = [];
  window.Worker = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', ({ data }) => {
        if (data.type === 'ready') window.__pythonStarts.push(data.info.python);
      });
    }
  };
})();
"""
# The snapshot file (web/worker/python-snapshot-store.js), for DAMAGE and READ_MIDDLE.
SNAPSHOT_FILE = """async () => {
  const root = await navigator.storage.getDirectory();
  return root.getFileHandle('python-snapshot');
}"""
# Flip 64 bytes in the middle of the stored snapshot (its SHA-256 no longer matches); returns
# them as written.
DAMAGE = f"""async () => {{
  const file = await ({SNAPSHOT_FILE})();
  const bytes = new Uint8Array(await (await file.getFile()).arrayBuffer());
  const middle = bytes.length >> 1;
  const damaged = bytes.slice(middle, middle + 64).map((b) => b ^ 0xff);
  const writable = await file.createWritable({{ keepExistingData: true }});
  await writable.write({{ type: 'write', position: middle, data: damaged }});
  await writable.close();
  return Array.from(damaged);
}}"""
READ_MIDDLE = f"""async () => {{
  const file = await ({SNAPSHOT_FILE})();
  const bytes = new Uint8Array(await (await file.getFile()).arrayBuffer());
  const middle = bytes.length >> 1;
  return Array.from(bytes.subarray(middle, middle + 64));
}}"""


def shipped_wheels(site):
    lock = json.loads((site / "vendor" / "pyodide" / "pyodide-lock.json").read_text())
    return {
        name: site / "vendor" / "pyodide" / e["file_name"] for name, e in lock["packages"].items()
    }


def test_shipped_wheels_hold_bytecode_for_pyodides_python(built_site):
    lock = json.loads((built_site / "vendor" / "pyodide" / "pyodide-lock.json").read_text())
    official = json.loads((ROOT / "node_modules" / "pyodide" / "pyodide-lock.json").read_text())
    for name, path in shipped_wheels(built_site).items():
        assert sha256_file(path) == lock["packages"][name]["sha256"]
        if name != "sceneseg":
            assert sha256_file(PYODIDE_MIRROR / path.name) == official["packages"][name]["sha256"]
    # Inside Pyodide: every module shipped from the official wheels (and from py/sceneseg) is a
    # .pyc with this Python's magic number, made from exactly that source (its hash inside).
    report = run_in_pyodide(
        """
import importlib.util, json, marshal, sys, zipfile
from pathlib import Path
shipped, originals = sys.argv[1], sys.argv[2:]
out = {"version": list(sys.version_info), "wheels": {}}
for path in sorted(Path("/host" + shipped).glob("*.whl")):
    wheel = zipfile.ZipFile(path)
    names = wheel.namelist()
    sources = {}
    original = [o for o in originals if Path(o).name == path.name]
    if original:
        with zipfile.ZipFile("/host" + original[0]) as source_wheel:
            for info in source_wheel.infolist():
                if info.filename.endswith(".py"):
                    sources[info.filename] = source_wheel.read(info)
    else:  # sceneseg: its sources are py/sceneseg
        for py in Path("/host" + originals[-1]).rglob("*.py"):
            sources["sceneseg/" + str(py.relative_to("/host" + originals[-1]))] = py.read_bytes()
    bad = []
    for name, source in sources.items():
        if name + "c" not in names:  # not imported by the page: not shipped (python_trim.py)
            continue
        data = wheel.read(name + "c")
        ok = data[:4] == importlib.util.MAGIC_NUMBER and int.from_bytes(data[4:8], "little") == 1
        ok = ok and data[8:16] == importlib.util.source_hash(source)
        marshal.loads(data[16:])
        if not ok:
            bad.append(name)
    record = wheel.read(next(n for n in names if n.endswith(".dist-info/RECORD"))).decode()
    out["wheels"][path.name] = {
        "modules": sum(name + "c" in names for name in sources),
        "bad": bad,
        "py_left": [n for n in names if n.endswith(".py")],
        "unrecorded": sorted(set(names) - {row.split(",")[0] for row in record.splitlines()}),
    }
print(json.dumps(out))
""",
        str(built_site / "vendor" / "pyodide"),
        *[
            str(PYODIDE_MIRROR / p.name)
            for n, p in shipped_wheels(built_site).items()
            if n != "sceneseg"
        ],
        str(ROOT / "py" / "sceneseg"),
    )
    result = json.loads(report.strip().splitlines()[-1])
    assert len(result["wheels"]) == 3
    for name, wheel in result["wheels"].items():
        assert wheel["modules"] > 10, name
        # The one source left: numpy.linalg's LAPACK stub, written by the trim (trim_bundle.STUBS).
        stubs = ["numpy/linalg/_umath_linalg.py"] if name.startswith("numpy-") else []
        assert wheel == {
            "modules": wheel["modules"],
            "bad": [],
            "py_left": stubs,
            "unrecorded": [],
        }, name
    assert result["version"][:2] == [3, 12]


def test_precompiling_is_deterministic(built_site, tmp_path):
    import build

    original = PYODIDE_MIRROR / shipped_wheels(built_site)["pillow"].name
    copy = tmp_path / original.name
    shutil.copyfile(original, copy)
    build.precompile_wheels(ROOT / "node_modules" / "pyodide", tmp_path, [copy.name])
    # The shipped wheel is this one trimmed (python_trim.py; that step's own determinism is
    # checked in test_python_bundle): every file it holds has the same bytes as here.
    shipped = zipfile.ZipFile(shipped_wheels(built_site)["pillow"])
    again = zipfile.ZipFile(copy)
    names = [n for n in shipped.namelist() if not n.endswith(".dist-info/RECORD")]
    assert any(n.endswith(".pyc") for n in names)
    for name in names:
        assert shipped.read(name) == again.read(name), name


@pytest.fixture(scope="module")
def visitor(playwright, built_site, tmp_path_factory):
    """One visitor with a persistent profile; visit() (re)launches the browser when asked.
    The site is a copy of the build served on its own port (visit.site): a test makes it a new
    build by changing its build-info.json, as a deployment would."""
    profile = tmp_path_factory.mktemp("profile")
    site = tmp_path_factory.mktemp("site") / "site"
    shutil.copytree(built_site, site)
    state = {"context": None}

    def launch():
        if state["context"]:
            state["context"].close()
        # No service worker: these tests are about Python's snapshot (and the service worker
        # would keep serving the old build-info.json from its cache).
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            accept_downloads=True,
            service_workers="block",
        )
        context.add_init_script(RECORD_READY)
        state["context"] = context
        return context

    def visit(relaunch=False):
        context = launch() if relaunch or not state["context"] else state["context"]
        page = context.pages[0] if context.pages else context.new_page()
        app = AppPage(page, site_url)
        (start,) = page.evaluate("window.__pythonStarts")
        return app, start

    visit.context = lambda: state["context"]
    visit.site = site
    with serve_site(site) as port:
        site_url = f"http://127.0.0.1:{port}/"
        yield visit
        if state["context"]:
            state["context"].close()


def labels_of(app, tmp_path, name):
    app.upload(PHOTO)
    png = app.download_labels(tmp_path / f"{name}.png").read_bytes()
    return np.asarray(Image.open(io.BytesIO(png)))


def wait_for_snapshot(page, timeout_s=180):
    """The stored snapshot entry, once the worker has stored one (it does so after ready)."""
    deadline = time.monotonic() + timeout_s
    while (entry := page.evaluate(STORED_SNAPSHOT)) is None:
        assert time.monotonic() < deadline, "no snapshot stored"
        time.sleep(0.5)
    return entry


@pytest.mark.browser
def test_a_return_visit_restores_python_from_the_snapshot(visitor, tmp_path):
    app, start = visitor(relaunch=True)  # a fresh profile: first visit
    assert start["mode"] == "normal" and not start.get("fallback")
    first = labels_of(app, tmp_path, "first")
    stored = wait_for_snapshot(app.page)
    assert stored["size"] > 1_000_000

    app, start = visitor(relaunch=True)  # the browser closed and opened again
    assert start["mode"] == "snapshot", start
    assert start["storage"] == "opfs"
    assert not app.errors
    assert np.array_equal(labels_of(app, tmp_path, "restored"), first)
    visitor.first_labels = first


@pytest.mark.browser
def test_a_damaged_snapshot_means_a_normal_start_and_the_same_labels(visitor, tmp_path):
    first = getattr(visitor, "first_labels", None)
    if first is None:
        pytest.skip("needs test_a_return_visit_restores_python_from_the_snapshot first")
    page = visitor.context().pages[0]
    damaged = page.evaluate(DAMAGE)
    assert page.evaluate(READ_MIDDLE) == damaged
    app, start = visitor()
    assert start["mode"] == "normal"
    assert start["fallback"]  # the reason: the SHA-256 differs
    assert np.array_equal(labels_of(app, tmp_path, "after-damage"), first)
    # A fresh snapshot replaces the damaged one, and the next visit uses it.
    wait_for_snapshot(app.page)
    app, start = visitor()
    assert start["mode"] == "snapshot", start
    assert np.array_equal(labels_of(app, tmp_path, "restored-again"), first)


@pytest.mark.browser
def test_a_new_build_ignores_the_old_snapshot(visitor, tmp_path):
    if getattr(visitor, "first_labels", None) is None:
        pytest.skip("needs test_a_return_visit_restores_python_from_the_snapshot first")
    context = visitor.context()
    old = wait_for_snapshot(context.pages[0])

    # A new build: the same site with a different build-info.json, changed on disk (not by
    # Playwright's routing: enabling it waits on every worker, and once the model's worker has
    # run a photo the call never returns; most likely onnxruntime's waiting threads there).
    build_info = visitor.site / "build-info.json"
    original = build_info.read_bytes()
    build_info.write_bytes(original + b"\n")
    try:
        app, start = visitor()
        assert start["mode"] == "normal" and not start.get("fallback")
        new = wait_for_snapshot(app.page)
        assert new["key"] != old["key"]
        assert np.array_equal(labels_of(app, tmp_path, "new-build"), visitor.first_labels)
    finally:
        build_info.write_bytes(original)


# The snapshot's IndexedDB record where there is no origin private file system: null or
# {key, size, encoding} (web/worker/idb-store.js: database 'sceneseg', store 'python').
STORED_IN_INDEXEDDB = """async () => new Promise((resolve) => {
  const open = indexedDB.open('sceneseg');
  open.onupgradeneeded = () => open.transaction.abort();
  open.onerror = open.onblocked = () => resolve(null);
  open.onsuccess = () => {
    const db = open.result;
    let get;
    try {
      get = db.transaction('python').objectStore('python').get('python');
    } catch {
      db.close();  // no 'python' store yet
      return resolve(null);
    }
    get.onerror = () => { db.close(); resolve(null); };
    get.onsuccess = () => {
      db.close();
      const e = get.result;
      resolve(e ? { key: e.key, size: e.data.byteLength, encoding: e.encoding } : null);
    };
  };
})"""


@pytest.mark.browser
def test_without_a_secure_context_the_snapshot_is_kept_in_indexeddb(
    lan_browser, site_url, tmp_path
):
    """A page over plain http on a LAN address has neither Web Crypto nor the origin private
    file system: its snapshot is an IndexedDB record, gzip'd (its CRC-32 the check), and the
    next visit restores Python from it, with the same labels."""
    context = lan_browser.new_context(accept_downloads=True, service_workers="block")
    context.add_init_script(RECORD_READY)
    page = context.new_page()
    url = f"http://{LAN_HOST}:{urlsplit(site_url).port}/"
    try:
        app = AppPage(page, url)
        assert page.evaluate("isSecureContext") is False
        (start,) = page.evaluate("window.__pythonStarts")
        assert start["mode"] == "normal" and not start.get("fallback")
        first = labels_of(app, tmp_path, "first")
        deadline = time.monotonic() + 180
        while (entry := page.evaluate(STORED_IN_INDEXEDDB)) is None:
            assert time.monotonic() < deadline, "no snapshot stored"
            time.sleep(0.5)
        assert entry["encoding"] == "gzip" and entry["size"] > 1_000_000

        app = AppPage(page, url)  # the next visit, in the same tab
        (start,) = page.evaluate("window.__pythonStarts")
        assert start["mode"] == "snapshot" and start["storage"] == "indexeddb", start
        assert np.array_equal(labels_of(app, tmp_path, "restored"), first)
    finally:
        context.close()

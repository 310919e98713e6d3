"""Shared fixtures: paths into ../shared, native reference segmenters, a built and served site,
and headless Chromium (Debian's, through Playwright). The parts that the benchmarks share (paths,
Chromium, the server, the app-page driver, clips, build_site, native_segmenter) live in the dev
harness, py/devharness/, and are re-exported here for the tests' ``from conftest import ...``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# py/devharness: importable without the editable install too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "py"))

from devharness import (
    BYTES_AS_BASE64,
    CHROMIUM,
    CHROMIUM_ARGS,
    PHOTOS,
    PYODIDE_MIRROR,
    ROOT,
    SHARED,
    STANDIN_DIR,
    STANDIN_ID,
    STORED_SNAPSHOT,
    AppPage,
    DualStackServer,
    build_site,
    bytes_from_base64,
    canvas_pixels,
    launch_chromium,
    native_segmenter,
    open_app,
    prebuilt_site,
    serve_site,
)

__all__ = [
    "BYTES_AS_BASE64",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "LAN_HOST",
    "PHOTOS",
    "PYODIDE_MIRROR",
    "ROOT",
    "SHARED",
    "STANDIN_DIR",
    "STANDIN_ID",
    "STORED_SNAPSHOT",
    "AppPage",
    "DualStackServer",
    "ade_labels",
    "build_site",
    "bytes_from_base64",
    "canvas_pixels",
    "native_segmenter",
    "open_app",
    "run_in_pyodide",
    "segformer_checkpoint",
    "serve_site",
    "variant_manifest",
]

sys.path.insert(0, str(ROOT))  # build.py


# Browser agreement per precision and photo, filled by test_browser.py, printed at the end.
AGREEMENT_REPORT: dict[str, dict[str, dict[str, float]]] = {}


def pytest_sessionfinish(session):
    """Under pytest-xdist, a worker hands its share of the report to the controller."""
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["agreement"] = json.dumps(AGREEMENT_REPORT)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """pytest-xdist's controller: a worker's report merged into the one printed at the end."""
    for precision, photos in json.loads(node.workeroutput.get("agreement", "{}")).items():
        AGREEMENT_REPORT.setdefault(precision, {}).update(photos)


def pytest_terminal_summary(terminalreporter):
    if not AGREEMENT_REPORT:
        return
    write = terminalreporter.write_line
    terminalreporter.section("browser vs CPython: share of identical label pixels")
    write(f"{'precision':9}  {'photo':24}  {'same decoded pixels':>19}  {'from file bytes':>15}")
    for precision, photos in AGREEMENT_REPORT.items():
        for name, r in photos.items():
            same, raw = r["same_decoded_pixels"], r["from_file_bytes"]
            write(f"{precision:9}  {name:24}  {same:19.4%}  {raw:15.4%}")


# An already-built site to test instead of building one ($SCENESEG_SITE, checked once at start).
PREBUILT_SITE: Path | None = None


def pytest_configure(config):
    global PREBUILT_SITE
    missing = [p for p in (STANDIN_DIR, PYODIDE_MIRROR) if not p.is_dir()]
    if missing:
        raise pytest.UsageError(
            f"test data missing: {missing} (../shared must sit beside the repo)"
        )
    try:
        PREBUILT_SITE = prebuilt_site()
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


def run_in_pyodide(code: str, *args: str) -> str:
    """Run Python ``code`` in Pyodide under Node (the app's runtime and wheels, sceneseg from
    py/), with ``sys.argv[1:] == args``; returns what it printed. Host paths are under /host."""
    run = subprocess.run(
        ["node", str(ROOT / "tests" / "pyodide_run.mjs"), str(PYODIDE_MIRROR), *args],
        input=code, capture_output=True, text=True,
    )  # fmt: skip
    if run.returncode != 0:
        raise AssertionError(f"Pyodide failed:\n{run.stderr[-3000:]}")
    return run.stdout


@pytest.fixture(scope="session")
def model_info():
    from sceneseg.model import ModelInfo

    return ModelInfo.from_dir(STANDIN_DIR)


def variant_manifest(path: Path, model_dir: Path, name: str, config_expect: dict) -> Path:
    """Write a test-only model's manifest (its id: the file's stem) as a variant's would be:
    its fp32 file pinned, its config files checked by content (build with --allow-unpinned)."""
    from sceneseg.model import ModelInfo
    from sceneseg.tools.manifest import sha256_file

    config = ModelInfo.from_dir(model_dir).preprocess
    weights = model_dir / "onnx" / "model.onnx"
    manifest = {
        "id": path.stem,
        "name": name,
        "source": None,
        "standin": True,
        "files": {
            "config.json": {"sha256": None, "expect": config_expect},
            "preprocessor_config.json": {
                "sha256": None,
                "expect": {"input_size": [config.height, config.width]},
            },
            "onnx/model.onnx": {"size": weights.stat().st_size, "sha256": sha256_file(weights)},
        },
        "precisions": {"fp32": "onnx/model.onnx"},
    }
    path.write_text(json.dumps(manifest))
    return path


def node_json(script: str, *args: str):
    """Run an ES module ``script`` in Node (``process.argv[1:]`` are ``args``, from the
    checkout's root) and parse the JSON it printed."""
    run = subprocess.run(
        ["node", "--input-type=module", "-e", script, *args],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(run.stdout)


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """dist/ built by build.py exactly as a user would, with the q8 and fp32 files; or the one
    $SCENESEG_SITE names, built so already (tests copy it before changing anything)."""
    if PREBUILT_SITE is not None:
        return PREBUILT_SITE
    if "PYTEST_XDIST_WORKER" not in os.environ:
        out = tmp_path_factory.mktemp("site") / "dist"
        build_site(out)
        return out
    # pytest-xdist: one build for all workers, in the run's shared temporary folder (no test
    # changes built_site: those that need another site copy it, as with $SCENESEG_SITE).
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent / "shared-site"
    with FileLock(f"{shared}.lock"):
        if not (shared / "dist" / "build-info.json").is_file():
            build_site(shared / "dist")
    return shared / "dist"


@pytest.fixture(scope="session")
def site_url(built_site):
    with serve_site(built_site) as port:
        yield f"http://127.0.0.1:{port}/"


# A name for the test server that is not "localhost" or a loopback IP: a site reached that
# way is not a secure context, as on a LAN address over plain http (no Web Crypto, no threads,
# no origin private file system). lan_browser resolves it to 127.0.0.1.
LAN_HOST = "sceneseg.test"


@pytest.fixture(scope="module")
def lan_browser(playwright):
    rules = f"--host-resolver-rules=MAP {LAN_HOST} 127.0.0.1"
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, rules])
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright):
    browser = launch_chromium(playwright)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def app_context(browser):
    """The session's visitor: one profile for the app's tabs (app_factory's and tests' own), so
    only the first tab starts cold; the others start as a return visit does (HTTP cache, the
    model in IndexedDB, Python's snapshot, the service worker). Tests of the first visit or of
    caching open contexts of their own."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    yield context
    context.close()


@pytest.fixture(scope="session")
def app_factory(app_context, site_url):
    """One tab per query string for the whole session (tests in turn use the same tab)."""
    pages = {}

    def open_app(query: str = "") -> AppPage:
        if query not in pages:
            pages[query] = AppPage(app_context.new_page(), site_url + query)
        return pages[query]

    return open_app


def segformer_checkpoint(
    directory: Path,
    id2label: dict[int, str],
    *,
    depths: tuple[int, ...] = (2, 2, 2, 2),
    hidden_sizes: tuple[int, ...] = (16, 32, 80, 128),
    decoder_hidden_size: int = 64,
    input_size: int = 128,
    seed: int = 0,
    reduce_labels: bool | None = None,
) -> Path:
    """A randomly initialised SegFormer checkpoint in Hugging Face's format (config.json,
    model.safetensors, preprocessor_config.json), built from a config here: nothing is
    downloaded. Attention heads 1/2/5/8 as every SegFormer variant has them."""
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    config = SegformerConfig(
        depths=list(depths),
        hidden_sizes=list(hidden_sizes),
        num_attention_heads=[1, 2, 5, 8],
        decoder_hidden_size=decoder_hidden_size,
        id2label=dict(id2label),
        label2id={v: k for k, v in id2label.items()},
    )
    torch.manual_seed(seed)
    SegformerForSemanticSegmentation(config).save_pretrained(directory)
    preprocessor = json.loads((STANDIN_DIR / "preprocessor_config.json").read_text())
    preprocessor["size"] = {"height": input_size, "width": input_size}
    # ADE20K's annotations count classes from 1 (0 = other): do_reduce_labels, as the real
    # B0's file says; other label sets' annotations hold the class id itself.
    preprocessor["do_reduce_labels"] = (
        len(id2label) == 150 if reduce_labels is None else reduce_labels
    )
    (directory / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2))
    return directory


def ade_labels() -> dict[int, str]:
    config = json.loads((STANDIN_DIR / "config.json").read_text())
    return {int(k): v for k, v in config["id2label"].items()}

"""Shared fixtures: paths into ../shared, native reference segmenters, a built and served site,
and headless Chromium (Debian's, through Playwright)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SCENESEG_SHARED", ROOT.parent / "shared"))
STANDIN_ID = "segformer-b0-ade-synthetic"
STANDIN_DIR = SHARED / "models" / STANDIN_ID
PYODIDE_MIRROR = SHARED / "pyodide-0.27.7"
PHOTOS = sorted(p for p in (SHARED / "photos").rglob("*") if p.suffix in {".jpg", ".png"})
# ADE20K annotations sit next to their photos as .png; they are not photos.
PHOTOS = [p for p in PHOTOS if not (p.suffix == ".png" and p.with_suffix(".jpg").exists())]
CHROMIUM = os.environ.get("SCENESEG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

sys.path.insert(0, str(ROOT))  # build.py


# Browser agreement per precision and photo, filled by test_browser.py, printed at the end.
AGREEMENT_REPORT: dict[str, dict[str, dict[str, float]]] = {}


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


def pytest_configure(config):
    missing = [p for p in (STANDIN_DIR, PYODIDE_MIRROR) if not p.is_dir()]
    if missing:
        raise pytest.UsageError(
            f"test data missing: {missing} (../shared must sit beside the repo)"
        )


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


@functools.cache
def native_segmenter(precision: str):
    from sceneseg.backends.native import OnnxRuntimeBackend
    from sceneseg.manifest import Manifest
    from sceneseg.model import ModelInfo
    from sceneseg.pipeline import Segmenter

    manifest = Manifest.named(STANDIN_ID)
    backend = OnnxRuntimeBackend(STANDIN_DIR / manifest.precisions[precision], label=precision)
    return Segmenter(ModelInfo.from_dir(STANDIN_DIR), backend)


def build_site(
    out: Path,
    *extra: str,
    model: str = STANDIN_ID,
    model_dirs: tuple[str, ...] = (str(STANDIN_DIR),),
    precisions: str = "q8,fp32",
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run build.py as a user would, into ``out``, with the local Pyodide mirror (``extra``:
    more options). ``check``: fail the test, with build.py's messages, unless it succeeds."""
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


def variant_manifest(path: Path, model_dir: Path, name: str, config_expect: dict) -> Path:
    """Write a test-only model's manifest (its id: the file's stem) as a variant's would be:
    its fp32 file pinned, its config files checked by content (build with --allow-unpinned)."""
    from sceneseg.manifest import sha256_file
    from sceneseg.model import ModelInfo

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


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """dist/ built by build.py exactly as a user would, with the q8 and fp32 files."""
    out = tmp_path_factory.mktemp("site") / "dist"
    build_site(out)
    return out


class DualStackServer(http.server.ThreadingHTTPServer):
    """Listens on IPv6 and IPv4: Chromium may resolve "localhost" to ::1 only."""

    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


@contextlib.contextmanager
def serve_site(directory: Path, dual_stack: bool = False):
    """Serve a built site on a free port with build.py's own handler; yields the port. On
    127.0.0.1, or with ``dual_stack`` on every address, IPv6 too (for "localhost")."""
    import build

    handler = functools.partial(build.Handler, directory=str(directory))
    if dual_stack:
        server = DualStackServer(("::", 0), handler)
    else:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


@pytest.fixture(scope="session")
def site_url(built_site):
    with serve_site(built_site) as port:
        yield f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="session")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


class AppPage:
    """The app in one tab, driven the way a person uses it."""

    def __init__(self, page, url: str):
        self.page = page
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]", timeout=120_000)
        self.results = 0

    def upload(self, path: Path, timeout: float = 120_000) -> None:
        """Pick a file and wait until the page has shown its result."""
        self.page.set_input_files("#file", str(path))
        self.results += 1
        self.page.wait_for_selector(f"body[data-result='{self.results}']", timeout=timeout)

    def upload_bad(self, path: Path) -> str:
        """Pick a file the app must refuse; returns the error shown."""
        self.page.locator("#error").evaluate("e => { e.hidden = true; e.textContent = ''; }")
        self.page.set_input_files("#file", str(path))
        self.page.wait_for_selector("#error:not([hidden])", timeout=60_000)
        self.page.wait_for_selector("body:not([data-busy])")
        return self.page.inner_text("#error")

    def download_labels(self, dest: Path) -> Path:
        self.page.wait_for_selector("#download-labels[aria-disabled=false]")
        with self.page.expect_download() as download:
            self.page.click("#download-labels")
        download.value.save_as(dest)
        return dest

    def timings(self) -> dict:
        import json

        return json.loads(self.page.get_attribute("#timings", "data-timings"))


def open_app(browser, url: str, **context_options) -> AppPage:
    """The app in the tab of a new context (an empty profile); close it with the context."""
    context = browser.new_context(accept_downloads=True, **context_options)
    return AppPage(context.new_page(), url)


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

"""The dev harness: what the tests (tests/conftest.py) and the benchmarks (bench/*.py) share,
with no pytest in it.

    paths      ROOT, ../shared (SCENESEG_SHARED), the stand-in model, the Pyodide mirror, PHOTOS
    chromium   Debian's Chromium through Playwright (SCENESEG_CHROMIUM), its headless flags
    site       build_site (build.py as a user runs it), prebuilt_site (SCENESEG_SITE)
    server     serve_site: a built site on a free port with build.py's own handler (COOP/COEP)
    app        AppPage / open_app: the app in one tab, driven through its automation hooks;
               canvas_pixels: what a canvas shows; BYTES_AS_BASE64 / bytes_from_base64: a
               page's bytes back as one string; STORED_SNAPSHOT: Python's stored snapshot
    clips      pan_frames / write_y4m: short real clips for the video tests and benchmarks
    reference  native_segmenter: the CPython pipeline on native onnxruntime, per precision

Importable from a checkout once py/ is on sys.path (the editable install puts it there; the
bench scripts insert it). Not part of the sceneseg wheel (pyproject.toml includes sceneseg*
only), so never shipped to the browser.
"""

from devharness.app import (
    BYTES_AS_BASE64,
    STORED_SNAPSHOT,
    AppPage,
    bytes_from_base64,
    canvas_pixels,
    open_app,
)
from devharness.chromium import CHROMIUM, CHROMIUM_ARGS, launch_chromium
from devharness.clips import pan_frames, write_y4m
from devharness.paths import (
    PHOTOS,
    PYODIDE_MIRROR,
    ROOT,
    SHARED,
    STANDIN_DIR,
    STANDIN_ID,
)
from devharness.reference import native_segmenter
from devharness.server import DualStackServer, serve_site
from devharness.site import SITE_ENV, build_site, prebuilt_site

__all__ = [
    "BYTES_AS_BASE64",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "PHOTOS",
    "PYODIDE_MIRROR",
    "ROOT",
    "SHARED",
    "SITE_ENV",
    "STANDIN_DIR",
    "STANDIN_ID",
    "STORED_SNAPSHOT",
    "AppPage",
    "DualStackServer",
    "build_site",
    "bytes_from_base64",
    "canvas_pixels",
    "launch_chromium",
    "native_segmenter",
    "open_app",
    "pan_frames",
    "prebuilt_site",
    "serve_site",
    "write_y4m",
]

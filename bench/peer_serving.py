"""bench/peer.py's servers: both sites served by build.py's Handler, each on its own port (its
own origin, so its own storage), logging every byte written; the peer's static site; the sizes
a static host would serve (raw, gzip, brotli)."""

from __future__ import annotations

import functools
import gzip
import http.server
import json
import shutil
import sys
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "py")]

import build  # noqa: E402
from devharness import STANDIN_DIR, STANDIN_ID  # noqa: E402

try:
    import brotli
except ImportError:  # reported in the output, not fatal
    brotli = None

PEER_VERSION = "4.3.1"
TRANSFORMERS = ROOT / "node_modules" / "@huggingface" / "transformers"


class _CountingWriter:
    def __init__(self, raw):
        self.raw, self.count = raw, 0

    def write(self, data):
        self.count += len(data)
        return self.raw.write(data)

    def __getattr__(self, name):
        return getattr(self.raw, name)


class LoggingHandler(build.Handler):
    """build.Handler (the site's real headers, gzip), recording each response's bytes on the
    wire."""

    log: list  # set per server

    def setup(self):
        super().setup()
        self.wfile = _CountingWriter(self.wfile)

    def send_response(self, code, message=None):
        self.status = code
        super().send_response(code, message)

    def log_message(self, format, *args):  # errors are in the summary (Site.take)
        pass

    def handle_one_request(self):
        self.status, self.wfile.count = None, 0
        super().handle_one_request()
        if self.status is not None:
            self.log.append((self.path, self.status, self.wfile.count, self._raw_size()))

    def _raw_size(self) -> int:
        if self.status != 200:
            return 0
        path = Path(self.translate_path(urllib.parse.urlsplit(self.path).path))
        if path.is_dir():
            path /= "index.html"
        return path.stat().st_size if path.is_file() else 0


class Site:
    """One site on its own port (its own origin). Not devharness's serve_site: that one
    serves with build.Handler itself, this one with the logging subclass."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.log: list = []
        handler = type("Handler", (LoggingHandler,), {"log": self.log})
        handler = functools.partial(handler, directory=str(directory))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def take(self, settle_s: float = 1.0, limit_s: float = 30.0) -> dict:
        """Wait until nothing was requested for settle_s (background downloads end), then
        summarise and clear the log."""
        deadline, seen, quiet_since = time.monotonic() + limit_s, -1, time.monotonic()
        while time.monotonic() < deadline:
            if len(self.log) != seen:
                seen, quiet_since = len(self.log), time.monotonic()
            elif time.monotonic() - quiet_since >= settle_s:
                break
            time.sleep(0.1)
        entries, self.log[:] = list(self.log), []
        ok = [urllib.parse.urlsplit(p).path for p, status, _, _ in entries if status == 200]
        return {
            "requests": len(entries),
            "not_modified": sum(status == 304 for _, status, _, _ in entries),
            "errors": sorted({f"{status} {p}" for p, status, _, _ in entries if status >= 400}),
            "wire_bytes": sum(wire for _, _, wire, _ in entries),
            "file_bytes": sum(raw for _, _, _, raw in entries),
            "files": sorted(set(ok)),
        }

    def close(self):
        self.server.shutdown()


def make_peer_site(dest: Path) -> Path:
    """The peer's static site: its page, transformers.js as CDNs serve it, the onnxruntime-web
    files it loads (its own pinned build), and the model in transformers.js's local layout."""
    if not (TRANSFORMERS / "package.json").is_file():
        sys.exit(
            "transformers.js is not installed: run `npm install` (it is a devDependency, "
            f"@huggingface/transformers@{PEER_VERSION})"
        )
    version = json.loads((TRANSFORMERS / "package.json").read_text())["version"]
    if version != PEER_VERSION:
        sys.exit(f"expected @huggingface/transformers {PEER_VERSION}, found {version}")
    ort = TRANSFORMERS / "node_modules" / "onnxruntime-web"
    if not ort.is_dir():  # hoisted when the versions agree
        ort = ROOT / "node_modules" / "onnxruntime-web"
    model = dest / "models" / STANDIN_ID
    (model / "onnx").mkdir(parents=True)
    (dest / "ort").mkdir()
    for name in ("index.html", "peer.js"):
        shutil.copy(ROOT / "bench" / "peer" / name, dest / name)
    shutil.copy(TRANSFORMERS / "dist" / "transformers.min.js", dest)
    for name in ("ort-wasm-simd-threaded.asyncify.mjs", "ort-wasm-simd-threaded.asyncify.wasm"):
        shutil.copy(ort / "dist" / name, dest / "ort" / name)
    for name in ("config.json", "preprocessor_config.json", "onnx/model_quantized.onnx"):
        shutil.copy(STANDIN_DIR / name, model / name)
    return dest


# ---------------------------------------------------------------------------------------------
# Sizes of what a static host serves


@functools.cache
def compressed_sizes(path: Path, brotli_quality: int | None) -> tuple[int, int, int | None]:
    """Raw, gzip and brotli sizes; no brotli without the module or a quality (it takes
    minutes at quality 11 for both sites)."""
    data = path.read_bytes()
    gz = len(gzip.compress(data, compresslevel=6))  # what hosts use on the fly
    with_brotli = brotli and brotli_quality is not None
    br = len(brotli.compress(data, quality=brotli_quality)) if with_brotli else None
    return len(data), gz, br


def size_summary(paths, brotli_quality: int | None) -> dict:
    sizes = [compressed_sizes(p, brotli_quality) for p in paths]
    return {
        "files": len(sizes),
        "raw": sum(s[0] for s in sizes),
        "gzip": sum(s[1] for s in sizes),
        "brotli": None if None in (s[2] for s in sizes) else sum(s[2] for s in sizes),
    }


def site_sizes(site: Site, downloaded: list[str], brotli_quality: int | None) -> dict:
    everything = [p for p in site.directory.rglob("*") if p.is_file()]
    fetched = []
    for url_path in downloaded:
        path = site.directory / urllib.parse.unquote(url_path).lstrip("/")
        fetched.append(path / "index.html" if path.is_dir() else path)
    return {
        "site": size_summary(everything, brotli_quality),
        "first_visit_files": size_summary([p for p in fetched if p.is_file()], brotli_quality),
    }


def brotli_version(quality: int | None) -> str | None:
    if quality is None:
        return "brotli not computed"
    return brotli and f"brotli {brotli.__version__}, quality {quality}"

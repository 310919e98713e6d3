"""The static server of --serve (and of the tests and benchmarks): dist/ as a real host serves
it, with the headers that make the page cross-origin isolated."""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import io
import json
from pathlib import Path
from typing import ClassVar

MIME_TYPES = {
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".onnx": "application/octet-stream",
    ".whl": "application/zip",
    ".zip": "application/zip",
    ".svg": "image/svg+xml",
}


# Served gzip-compressed when the client accepts it, as a static host would (wheels, PNGs and
# other zips are compressed already).
COMPRESSIBLE = {".html", ".js", ".mjs", ".css", ".json", ".webmanifest", ".svg", ".wasm", ".onnx",
                ".ort", ".zip", ".txt"}  # fmt: skip


@functools.lru_cache(maxsize=256)
def gzipped(path: str, mtime_ns: int, size: int) -> bytes:
    """A file's gzip encoding, made once per version of the file (mtime and size key it)."""
    with open(path, "rb") as f:
        return gzip.compress(f.read(), compresslevel=6, mtime=0)


class Handler(http.server.SimpleHTTPRequestHandler):
    """Static files as a real host serves them: the right MIME types, gzip when the client
    accepts it, revalidation (Last-Modified), and the headers that make the page cross-origin
    isolated. A subclass with ``isolation_headers = False`` is a host that cannot set them."""

    extensions_map: ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        **MIME_TYPES,
    }
    isolation_headers = True

    def end_headers(self):
        self.send_header("Cache-Control", "no-cache")
        if self.isolation_headers:
            # Cross-origin isolation lets onnxruntime-web use WebAssembly threads.
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("X-Content-Type-Options", "nosniff")
        if self.path.startswith("/embed/"):
            self.send_embed_headers()
        super().end_headers()

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            if not self.path.split("?")[0].endswith("/"):
                return super().send_head()  # redirects to the slash
            path = path / "index.html"
        accepts_gzip = "gzip" in self.headers.get("Accept-Encoding", "")
        if not (accepts_gzip and path.suffix in COMPRESSIBLE and path.is_file()):
            return super().send_head()
        stat = path.stat()
        since = self.headers.get("If-Modified-Since")
        last_modified = self.date_time_string(int(stat.st_mtime))
        if since == last_modified:
            self.send_response(http.HTTPStatus.NOT_MODIFIED)
            self.end_headers()
            return None
        body = gzipped(str(path), stat.st_mtime_ns, stat.st_size)
        self.send_response(http.HTTPStatus.OK)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Vary", "Accept-Encoding")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Last-Modified", last_modified)
        self.end_headers()
        return io.BytesIO(body)

    def send_embed_headers(self):
        """The iframe widget (web/embed/): other sites may frame it. CORP lets hosts that are
        cross-origin isolated (COEP require-corp) load it; frame-ancestors (a header only: a
        <meta> CSP cannot set it) limits framing to embed-config.json's origins, if listed."""
        self.send_header("Cross-Origin-Resource-Policy", "cross-origin")
        with contextlib.suppress(OSError, ValueError):
            config = json.loads((Path(self.directory) / "embed" / "embed-config.json").read_text())
            origins = [o for o in config.get("allowed_origins", []) if isinstance(o, str)]
            if origins:
                self.send_header("Content-Security-Policy", "frame-ancestors " + " ".join(origins))

    def log_message(self, format, *args):  # quieter: errors only
        if len(args) > 1 and str(args[1]).startswith(("4", "5")):
            super().log_message(format, *args)


def serve(directory: Path, host: str, port: int) -> None:
    handler = functools.partial(Handler, directory=str(directory))
    with http.server.ThreadingHTTPServer((host, port), handler) as httpd:
        print(f"Serving {directory} at http://{host}:{httpd.server_address[1]}/ (Ctrl+C stops)")
        with contextlib.suppress(KeyboardInterrupt):
            httpd.serve_forever()

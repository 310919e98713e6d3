#!/usr/bin/env python3
"""Assemble dist/: a self-contained static site, and optionally serve it on localhost.

    python3 build.py               # real model from its manifest URL, wheels from Pyodide's CDN
    python3 build.py --model segformer-b0-ade-synthetic \\
        --model-dir ../shared/models/segformer-b0-ade-synthetic \\
        --pyodide-mirror ../shared/pyodide-0.27.7 --serve

What goes into dist/ (everything the page loads comes from the site's own origin):

    index.html, styles.css, app/, lib/, worker/   the app (web/, served as written: no bundler)
    vendor/pyodide/      Pyodide's core (npm package pyodide), the numpy and Pillow wheels,
                         the sceneseg wheel, and a pyodide-lock.json listing only those
    vendor/onnxruntime-web/   the three onnxruntime-web files the WASM backend loads
    models/<id>/         the model files of the chosen precisions + manifest.json
    build-info.json      what was built: versions, model, precisions

Every downloaded or copied file is checked against a sha256 (Pyodide's lock for wheels, the
model manifest for model files). Standard library only: runs before anything is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "py"))

from sceneseg.manifest import (  # noqa: E402  (needs the sys.path line above)
    DEFAULT_MODEL,
    PRECISIONS,
    FetchError,
    Manifest,
    fetch_verified,
    sha256_file,
)

PYODIDE_VERSION = "0.27.7"
PYODIDE_CDN = f"https://cdn.jsdelivr.net/pyodide/v{PYODIDE_VERSION}/full/"
PYODIDE_CORE = ["pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip"]
# Pyodide packages the sceneseg wheel needs (its own dependencies come from the lock).
PYODIDE_PACKAGES = ["numpy", "pillow"]
# The WASM backend: the ES module API, its Emscripten glue and the SIMD+threads binary.
ORT_WASM = "ort-wasm-simd-threaded.wasm"
ORT_FILES = ["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", ORT_WASM]
MODEL_CONFIG_FILES = ["config.json", "preprocessor_config.json"]

# Absolute URLs inside vendor files that a browser never requests, rewritten so that no file
# of dist/ names another origin (checked by check_no_foreign_urls).
VENDOR_REWRITES = {
    # Pyodide only uses its CDN URL from Node.js, to fetch packages missing locally.
    "pyodide.mjs": [("https://cdn.jsdelivr.net/pyodide/v${", "./cdn-disabled/v${")],
    # A link inside a console warning text; keep the words, drop the scheme.
    "ort.wasm.min.mjs": [
        ("https://web.dev/cross-origin-isolation-guide/", "web.dev/cross-origin-isolation-guide")
    ],
}
TEXT_SUFFIXES = {".html", ".js", ".mjs", ".css", ".json", ".webmanifest", ".svg", ".txt"}
URL_PATTERN = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+")
ALLOWED_URL_HOSTS = {"http://www.w3.org"}  # XML namespace names in SVG, never fetched

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


class BuildError(RuntimeError):
    pass


def log(message: str) -> None:
    print(f"build: {message}", flush=True)


def node_package(name: str) -> Path:
    path = ROOT / "node_modules" / name
    if not (path / "package.json").is_file():
        if shutil.which("npm") is None:
            raise BuildError(f"node_modules/{name} is missing and npm is not installed")
        log("node_modules incomplete: running npm ci")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True)
    return path


def copy_vendor(src: Path, dest: Path) -> None:
    """Copy a vendor file, applying VENDOR_REWRITES and dropping source-map comments."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    rewrites = VENDOR_REWRITES.get(src.name)
    if src.suffix not in {".js", ".mjs"}:
        shutil.copyfile(src, dest)
        return
    text = src.read_text(encoding="utf-8")
    for old, new in rewrites or []:
        if text.count(old) != 1:
            raise BuildError(f"{src}: expected one {old!r} to rewrite, found {text.count(old)}")
        text = text.replace(old, new)
    text = re.sub(r"^//# sourceMappingURL=.*$", "", text, flags=re.M)
    dest.write_text(text, encoding="utf-8")


def build_sceneseg_wheel(dest_dir: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        log("building the sceneseg wheel")
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", tmp, str(ROOT)],
            check=True,
        )
        (wheel,) = Path(tmp).glob("sceneseg-*.whl")
        return Path(shutil.copy2(wheel, dest_dir / wheel.name))


def add_pyodide(out: Path, mirror: Path | None) -> dict:
    package = node_package("pyodide")
    version = json.loads((package / "package.json").read_text())["version"]
    if version != PYODIDE_VERSION:
        raise BuildError(f"node_modules/pyodide is {version}, expected {PYODIDE_VERSION} (npm ci)")
    target = out / "vendor" / "pyodide"
    for name in PYODIDE_CORE:
        copy_vendor(package / name, target / name)

    lock = json.loads((package / "pyodide-lock.json").read_text())
    shipped = {}
    wanted = list(PYODIDE_PACKAGES)
    while wanted:
        name = wanted.pop()
        if name in shipped:
            continue
        entry = lock["packages"][name]
        sources: list[str | Path] = []
        if mirror is not None:
            sources.append(mirror / entry["file_name"])
        sources.append(PYODIDE_CDN + entry["file_name"])
        log(f"wheel {entry['file_name']}")
        fetch_verified(sources, target / entry["file_name"], None, entry["sha256"])
        shipped[name] = entry
        wanted.extend(entry.get("depends", []))

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
    # The lock lists exactly what is shipped; Pyodide verifies each wheel's sha256 against it.
    (target / "pyodide-lock.json").write_text(
        json.dumps({"info": lock["info"], "packages": shipped}, indent=1)
    )
    return {"version": version, "packages": {k: v["version"] for k, v in shipped.items()}}


def add_onnxruntime_web(out: Path) -> dict:
    package = node_package("onnxruntime-web")
    target = out / "vendor" / "onnxruntime-web"
    for name in ORT_FILES:
        copy_vendor(package / "dist" / name, target / name)
    # The worker downloads the WASM binary itself (byte progress, sha256 check).
    wasm = target / ORT_WASM
    return {
        "version": json.loads((package / "package.json").read_text())["version"],
        "wasm": {
            "path": f"vendor/onnxruntime-web/{ORT_WASM}",
            "size": wasm.stat().st_size,
            "sha256": sha256_file(wasm),
        },
    }


def add_model(out: Path, manifest: Manifest, precisions: list[str], model_dir: Path | None) -> dict:
    target = out / "models" / manifest.id
    names = MODEL_CONFIG_FILES + [manifest.precisions[p] for p in precisions]
    for name in names:
        log(f"model file {name}")
        manifest.fetch(name, target / name, local_dir=model_dir)
    info = {
        "id": manifest.id,
        "name": manifest.name,
        "description": manifest.description,
        "license": manifest.license,
        "standin": manifest.standin,
        "path": f"models/{manifest.id}/",
        "files": {n: vars(manifest.files[n]) for n in names},
        "precisions": {p: manifest.precisions[p] for p in precisions},
    }
    (target / "manifest.json").write_text(json.dumps(info, indent=1))
    return info


def check_no_foreign_urls(out: Path) -> None:
    """Fail if any text file the browser interprets names another origin."""
    found = []
    for path in sorted(out.rglob("*")):
        if path.suffix in TEXT_SUFFIXES and path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            hosts = set(URL_PATTERN.findall(text)) - ALLOWED_URL_HOSTS
            found += [f"  {path.relative_to(out)}: {h}" for h in sorted(hosts)]
    if found:
        raise BuildError("files in dist/ refer to other origins:\n" + "\n".join(found))


def build(args) -> Path:
    out = args.out.resolve()
    if out.exists():
        if out != ROOT / "dist" and not (out / "build-info.json").exists() and any(out.iterdir()):
            raise BuildError(f"{out} exists and is not a previous build; not deleting it")
        shutil.rmtree(out)
    shutil.copytree(ROOT / "web", out)
    manifest = Manifest.named(args.model)
    precisions = args.precisions
    missing = [p for p in precisions if p not in manifest.precisions]
    if missing:
        raise BuildError(f"{manifest.id} has no {', '.join(missing)} file")
    info = {
        "sceneseg": __import__("sceneseg").__version__,
        "pyodide": add_pyodide(out, args.pyodide_mirror),
        "onnxruntime_web": add_onnxruntime_web(out),
        "model": add_model(out, manifest, precisions, args.model_dir),
        "default_precision": {"wasm": precisions[0]},
    }
    (out / "build-info.json").write_text(json.dumps(info, indent=1))
    check_no_foreign_urls(out)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    log(f"wrote {out} ({size / 1e6:.1f} MB)")
    return out


class Handler(http.server.SimpleHTTPRequestHandler):
    """Static files with the right MIME types and the headers a real deployment should send."""

    extensions_map: ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        **MIME_TYPES,
    }

    def end_headers(self):
        self.send_header("Cache-Control", "no-cache")
        # Cross-origin isolation lets onnxruntime-web use WebAssembly threads.
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("X-Content-Type-Options", "nosniff")
        if self.path.startswith("/embed/"):
            self.send_embed_headers()
        super().end_headers()

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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=DEFAULT_MODEL, help="manifest name in models/")
    parser.add_argument(
        "--model-dir", type=Path, help="take model files from here, not the manifest URL"
    )
    parser.add_argument(
        "--pyodide-mirror", type=Path, help="directory with Pyodide wheels (tried first)"
    )
    parser.add_argument(
        "--precisions",
        default="q8",
        type=lambda s: [p.strip() for p in s.split(",") if p.strip()],
        help=f"comma-separated, first is the default ({', '.join(PRECISIONS)}); default q8",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--serve", action="store_true", help="serve the result on localhost")
    parser.add_argument("--serve-only", action="store_true", help="serve an existing build")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    try:
        out = args.out.resolve() if args.serve_only else build(args)
    except (BuildError, FetchError) as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        print(
            "Offline? Use local copies: --model-dir DIR for the model files, "
            "--pyodide-mirror DIR for Pyodide's wheels (see README).",
            file=sys.stderr,
        )
        return 1
    if args.serve or args.serve_only:
        serve(out, args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())

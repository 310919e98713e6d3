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
    vendor/onnxruntime-web/   per backend, the three onnxruntime-web files it loads (WASM;
                         WebGPU when an fp16/fp32 file is shipped, see --backends)
    models/<id>/         the model files of the chosen precisions + manifest.json
    build-info.json      what was built: versions, model, precisions, the build's version
    sw.js                the service worker (web/sw/), with the list of files it precaches and
                         their sha256; its version changes whenever any shipped file does
    manifest.webmanifest, icons/   the installable web app (PWA)

Every downloaded or copied file is checked against a sha256 (Pyodide's lock for wheels, the
model manifest for model files). Standard library only: runs before anything is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gzip
import hashlib
import http.server
import io
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
    MANIFEST_DIR,
    PRECISIONS,
    FetchError,
    Manifest,
    UnpinnedError,
    all_manifests,
    fetch_verified,
    model_dir_for,
    offline_hint,
    sha256_file,
)

PYODIDE_VERSION = "0.27.7"
PYODIDE_CDN = f"https://cdn.jsdelivr.net/pyodide/v{PYODIDE_VERSION}/full/"
PYODIDE_CORE = ["pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip"]
# Pyodide packages the sceneseg wheel needs (its own dependencies come from the lock).
PYODIDE_PACKAGES = ["numpy", "pillow"]
# Per backend: the ES module API, its Emscripten glue and its SIMD+threads binary. The worker
# imports only the chosen backend's bundle and downloads only its binary. The WebGPU bundle
# (onnxruntime's C++ WebGPU execution provider) runs on the "asyncify" build of the binary.
ORT_BACKENDS = {
    "wasm": ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"),
    "webgpu": (
        "ort.webgpu.min.mjs",
        "ort-wasm-simd-threaded.asyncify.mjs",
        "ort-wasm-simd-threaded.asyncify.wasm",
    ),
}
ORT_WASM = ORT_BACKENDS["wasm"][2]
# Model files WebGPU can run (the 8-bit file's integer ops have no WebGPU kernels).
WEBGPU_PRECISIONS = {"fp16", "fp32"}
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
    "ort.webgpu.min.mjs": [
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


# The service worker's source; build.py writes it to the site's root as sw.js (a service worker
# controls the folder its script is in), with the precache list prepended.
SERVICE_WORKER_SOURCE = ROOT / "web" / "sw" / "service-worker.js"
# Files the service worker does not precache: model weights live in IndexedDB, one home per file
# (web/worker/model-cache.js), and only the precision a visitor uses is ever downloaded.
NOT_PRECACHED = re.compile(r"^models/[^/]+/onnx/")
# Served gzip-compressed when the client accepts it, as a static host would (wheels, PNGs and
# other zips are compressed already).
COMPRESSIBLE = {".html", ".js", ".mjs", ".css", ".json", ".webmanifest", ".svg", ".wasm", ".onnx",
                ".zip", ".txt"}  # fmt: skip


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
                code = compile(data, f"{SITE}/{name}", "exec", dont_inherit=True)
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
    precompile_wheels(package, target, [entry["file_name"] for entry in shipped.values()])
    for entry in shipped.values():
        entry["sha256"] = sha256_file(target / entry["file_name"])
    # The lock lists exactly what is shipped; Pyodide verifies each wheel's sha256 against it.
    (target / "pyodide-lock.json").write_text(
        json.dumps({"info": lock["info"], "packages": shipped}, indent=1)
    )
    # Sizes of what the worker downloads, so that its progress counts every byte.
    files = {p.name: p.stat().st_size for p in sorted(target.iterdir()) if p.is_file()}
    return {
        "version": version,
        "packages": {k: v["version"] for k, v in shipped.items()},
        "files": files,
    }


def add_onnxruntime_web(out: Path, backends: list[str]) -> dict:
    package = node_package("onnxruntime-web")
    target = out / "vendor" / "onnxruntime-web"
    shipped = {}
    for backend in backends:
        module, glue, binary = ORT_BACKENDS[backend]
        for name in (module, glue, binary):
            copy_vendor(package / "dist" / name, target / name)
        # The worker downloads the binary itself (byte progress, size and sha256 check).
        shipped[backend] = {
            "module": f"vendor/onnxruntime-web/{module}",
            "binary": {
                "path": f"vendor/onnxruntime-web/{binary}",
                "size": (target / binary).stat().st_size,
                "sha256": sha256_file(target / binary),
            },
        }
    return {
        "version": json.loads((package / "package.json").read_text())["version"],
        "wasm": shipped["wasm"]["binary"],  # kept for readers of the earlier layout
        "backends": shipped,
    }


def choose_backends(option: str, precisions: list[str]) -> list[str]:
    """WASM always (every device has it, and it is the fallback); WebGPU when asked, or by
    default when a file WebGPU can run (fp16, fp32) is shipped."""
    if option == "auto":
        return ["wasm", "webgpu"] if WEBGPU_PRECISIONS & set(precisions) else ["wasm"]
    backends = [b.strip() for b in option.split(",") if b.strip()]
    unknown = set(backends) - set(ORT_BACKENDS)
    if unknown:
        raise BuildError(f"unknown backend {', '.join(sorted(unknown))} (have: wasm, webgpu)")
    if "wasm" not in backends:
        raise BuildError("the WASM backend is always shipped: it is WebGPU's fallback")
    if "webgpu" in backends and not WEBGPU_PRECISIONS & set(precisions):
        raise BuildError("WebGPU needs the fp16 or fp32 file: add it to --precisions")
    return backends


def add_model(
    out: Path,
    manifest: Manifest,
    precisions: list[str],
    model_dir: Path | None,
    allow_unpinned: bool = False,
) -> dict:
    target = out / "models" / manifest.id
    names = MODEL_CONFIG_FILES + [manifest.precisions[p] for p in precisions]
    for name in names:
        log(f"model file {manifest.id}/{name}")
        manifest.fetch(name, target / name, local_dir=model_dir, allow_unpinned=allow_unpinned)
    # Sizes and sha256 of the shipped bytes: the manifest's where pinned, and for an unpinned
    # config file (accepted by content) its own, which the browser then verifies.
    files = {
        n: {"size": (target / n).stat().st_size, "sha256": sha256_file(target / n)} for n in names
    }
    for name, spec in files.items():
        if not manifest.files[name].pinned:
            log(f"  {name} is unpinned: accepted by content, sha256 {spec['sha256']}")
    preprocessor = json.loads((target / "preprocessor_config.json").read_text())
    size = preprocessor.get("size", {"height": 512, "width": 512})
    size = size if isinstance(size, dict) else {"height": size, "width": size}
    configs = sum(files[n]["size"] for n in MODEL_CONFIG_FILES)
    info = {
        "id": manifest.id,
        "name": manifest.name,
        "description": manifest.description,
        "license": manifest.license,
        "standin": manifest.standin,
        "path": f"models/{manifest.id}/",
        "files": files,
        "precisions": {p: manifest.precisions[p] for p in precisions},
        "default_precision": precisions[0],
        # What a picker shows before anything is downloaded.
        "input_size": {"height": int(size["height"]), "width": int(size["width"])},
        "download_size": {p: configs + files[manifest.precisions[p]]["size"] for p in precisions},
    }
    (target / "manifest.json").write_text(json.dumps(info, indent=1))
    return info


def add_models(out: Path, args, command: list[str]) -> tuple[dict, dict]:
    """The models of --model a,b,...: each with those of --precisions it has (a model with
    none of them, or a single model without one of them, is an error). The first model is
    the page's default. Returns (default model's info, {id: info})."""
    models = {}
    for model_id in args.model:
        manifest = Manifest.named(model_id)
        precisions = [p for p in args.precisions if p in manifest.precisions]
        missing = [p for p in args.precisions if p not in manifest.precisions]
        if missing and (len(args.model) == 1 or not precisions):
            raise BuildError(
                f"{manifest.id} has no {', '.join(missing)} file pinned "
                f"(it has: {', '.join(manifest.precisions)})"
            )
        if missing:
            log(
                f"{manifest.id}: no {', '.join(missing)} file pinned; "
                f"shipping {', '.join(precisions)}"
            )
        if manifest.id in models:
            raise BuildError(f"{manifest.id} is listed twice")
        local = model_dir_for(manifest.id, args.model_dir)
        try:
            models[manifest.id] = add_model(out, manifest, precisions, local, args.allow_unpinned)
        except UnpinnedError:
            raise
        except FetchError as exc:
            hint = offline_hint(local, manifest, command, args.precisions, "--precisions")
            raise FetchError(f"{exc}\n{hint}") from None
    return next(iter(models.values())), models


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


def not_served(directory: str, names: list[str]) -> list[str]:
    """What web/ holds that is not part of the site: the service worker's source (it becomes
    sw.js) and helper scripts (web/icons/make_icons.py)."""
    skip = [n for n in names if n.endswith(".py") or n == "__pycache__"]
    return skip + (["sw"] if Path(directory) == ROOT / "web" else [])


def add_service_worker(out: Path, info: dict) -> str:
    """Write sw.js with the precache list and return the build's version.

    The version is a hash over every shipped file's sha256, so any change to any file makes a new
    sw.js byte-for-byte, which is how browsers notice an update. build-info.json carries the
    version and is itself in the list (hashed after the version is written into it).
    """
    files = {}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if (
            path.is_file()
            and rel not in {"build-info.json", "sw.js"}
            and not NOT_PRECACHED.match(rel)
        ):
            files[rel] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    version = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
    info["version"] = version
    (out / "build-info.json").write_text(json.dumps(info, indent=1))
    path = out / "build-info.json"
    files["build-info.json"] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    # The runtimes of backends other than WASM are cached on first use, not up front: only
    # visitors whose device picks WebGPU ever download its 27 MB.
    lazy = {
        f"vendor/onnxruntime-web/{name}"
        for backend in info["onnxruntime_web"].get("backends", {})
        if backend != "wasm"
        for name in ORT_BACKENDS[backend]
    }
    precache = {
        "version": version,
        "files": {k: v for k, v in sorted(files.items()) if k not in lazy},
        "lazy": {k: v for k, v in sorted(files.items()) if k in lazy},
    }
    source = SERVICE_WORKER_SOURCE.read_text(encoding="utf-8")
    (out / "sw.js").write_text(
        f"// Written by build.py: the files of build {version}.\n"
        f"self.PRECACHE = {json.dumps(precache, indent=1)};\n\n{source}",
        encoding="utf-8",
    )
    return version


def build(args) -> Path:
    out = args.out.resolve()
    if out.exists():
        if out != ROOT / "dist" and not (out / "build-info.json").exists() and any(out.iterdir()):
            raise BuildError(f"{out} exists and is not a previous build; not deleting it")
        shutil.rmtree(out)
    # web/sw/ becomes sw.js at the root (add_service_worker); the rest is served as written.
    shutil.copytree(ROOT / "web", out, ignore=not_served)
    model, models = add_models(out, args, getattr(args, "command", ["python3", "build.py"]))
    backends = choose_backends(args.backends, args.precisions)
    info = {
        "sceneseg": __import__("sceneseg").__version__,
        "pyodide": add_pyodide(out, args.pyodide_mirror),
        "onnxruntime_web": add_onnxruntime_web(out, backends),
        # The default model (as before), and every model of the build under its id.
        "model": model,
        "models": models,
        "default_model": model["id"],
        "default_precision": {"wasm": model["default_precision"]},
    }
    check_no_foreign_urls(out)
    for path in out.rglob("*"):  # readable by a web server's user (temporary files are 0600)
        path.chmod(0o755 if path.is_dir() else 0o644)
    version = add_service_worker(out, info)
    log(f"version {version}")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    log(f"built {size / 1e6:.1f} MB")
    return out


def build_atomically(args) -> Path:
    """build() into a fresh folder beside --out, swapped in only when complete: a failed
    build leaves the previous dist/ as it was (or none), never a partial one."""
    final = args.out.resolve()
    previous_build = (final / "build-info.json").exists() or final == ROOT / "dist"
    if final.exists() and not previous_build and (not final.is_dir() or any(final.iterdir())):
        raise BuildError(f"{final} exists and is not a previous build; not replacing it")
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.building-", dir=final.parent))
    try:
        built = build(argparse.Namespace(**{**vars(args), "out": staging / final.name}))
        if final.exists():
            final.rename(staging / "previous")
        built.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(f"wrote {final}")
    return final


def comma_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def models_epilog() -> str:
    lines = [f"models (manifests in {MANIFEST_DIR}):"]
    for m in all_manifests():
        sizes = ", ".join(f"{p} {m.download_size(p) / 1e6:.1f} MB" for p in m.precisions)
        lines.append(f"  {m.id}: {m.name}; {sizes}" + (" (stand-in weights)" if m.standin else ""))
        if any(not f.pinned for f in m.files.values()):
            lines.append("      config files unpinned: needs --allow-unpinned")
    return "\n".join(lines)


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


def main_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        "--models",
        default=DEFAULT_MODEL,
        type=comma_list,
        help="model id(s) from the list below, or manifest files (.json), separated by "
        "commas; the first is the page's default (?model=ID picks another); "
        "default %(default)s",
    )
    parser.add_argument(
        "--model-dir",
        action="append",
        metavar="[ID=]DIR",
        help="take model files from here, not the manifest URL (checked against the manifest "
        "all the same); ID=DIR for one model of several, or DIR/<id>/ subfolders",
    )
    parser.add_argument(
        "--allow-unpinned",
        action="store_true",
        help="accept config files that the manifest has no sha256 for, checked by their "
        "content; their sha256 is pinned in the site's own manifest",
    )
    parser.add_argument(
        "--pyodide-mirror", type=Path, help="directory with Pyodide wheels (tried first)"
    )
    parser.add_argument(
        "--precisions",
        default="q8",
        type=comma_list,
        help=f"model files to ship, comma-separated ({', '.join(PRECISIONS)}; q8 = 8-bit, "
        "smallest and fastest on CPU); the first is the default; default q8",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "dist", help="output folder (default: dist/)"
    )
    parser.add_argument(
        "--backends",
        default="auto",
        help="onnxruntime-web backends to ship: wasm or wasm,webgpu; default: WebGPU too when "
        "an fp16 or fp32 file is shipped",
    )
    parser.add_argument("--serve", action="store_true", help="serve the result on localhost")
    parser.add_argument("--serve-only", action="store_true", help="serve an existing build")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on")
    parser.add_argument("--port", type=int, default=8000, help="port to serve on")
    parser.epilog = (__doc__ or "").split("\n\n", 1)[1] + "\n" + models_epilog()
    return parser


def main(argv=None) -> int:
    args = main_parser().parse_args(argv)
    args.command = ["python3", "build.py", *(sys.argv[1:] if argv is None else argv)]
    try:
        out = args.out.resolve() if args.serve_only else build_atomically(args)
    except (BuildError, FetchError) as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        if (
            isinstance(exc, FetchError)
            and not isinstance(exc, UnpinnedError)
            and ("Offline?" not in str(exc) and "This command works" not in str(exc))
        ):
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

"""dist/ as a whole: web/ copied (its modules bundled), the vendor files, models and service
worker added, no file naming another origin, and the result swapped in only when complete."""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
from pathlib import Path

from .common import ROOT, BuildError, log
from .js_bundles import bundle_modules
from .model_files import add_models
from .onnxruntime_files import add_onnxruntime_web, choose_backends
from .pyodide_files import add_pyodide
from .service_worker import add_service_worker

TEXT_SUFFIXES = {".html", ".js", ".mjs", ".css", ".json", ".webmanifest", ".svg", ".txt"}
URL_PATTERN = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+")
ALLOWED_URL_HOSTS = {"http://www.w3.org"}  # XML namespace names in SVG, never fetched


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
        "pyodide": add_pyodide(out, args.pyodide_mirror, out / model["path"]),
        "onnxruntime_web": add_onnxruntime_web(out, backends),
        # The default model (as before), and every model of the build under its id.
        "model": model,
        "models": models,
        "default_model": model["id"],
        "default_precision": {"wasm": model["default_precision"]},
    }
    bundle_modules(out)  # the page's, the widget's and each worker's modules: one file each
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

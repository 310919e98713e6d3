"""What every part of the build uses: the checkout's root, errors, the log, and files taken
from node_modules (copied with the rewrites that keep dist/ free of other origins)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

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

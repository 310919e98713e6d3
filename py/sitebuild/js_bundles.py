"""The page's, the widget's and the workers' modules bundled, one file per way in.

Why: a browser loads an ES module graph level by level, one round trip per level (through the
service worker on a return visit), and a worker's graph only starts loading once the page's
has run. The engine's worker is 5 imports deep, the page's engine start 3: measured on a
reload, interleaved with the unbundled site (8 reloads each), bundling moved ready 712 -> 636 ms
and first labels 1433 -> 1324 ms (docs/measurements.md, round 9). esbuild (a devDependency) does
it; its output is not minified: the files stay readable, each module under a comment naming
its source.

What is bundled (the modules of web/ stay as written; only dist/ changes):
- app/engine-boot.js and app/main.js, with code splitting: main.js takes the same
  engine-boot instance (one engine per page), and what both use lands in a chunk in app/;
- embed/embed.js (the widget), and each worker's script: worker/segment-worker.js,
  worker/model-worker.js, lib/paint-worker.js, each one file.
Vendor files stay apart (loaded by URL, verified and cached as they are), except Pyodide's
small loader, pyodide.mjs, folded into the engine's worker (see EXTERNAL). The modules folded
into a bundle leave dist/ (the service worker would precache them for nothing), except lib/:
the public API (lib/sceneseg.js and what it imports) stays importable as written.

esbuild leaves `new URL(..., import.meta.url)` as written, so such a URL in a bundled module must
name the same file from the bundle's folder as from its own: check_relative_urls() fails the
build otherwise.
"""

from __future__ import annotations

import json
import posixpath
import re
import subprocess
import tempfile
from pathlib import Path

from .common import BuildError, log, node_package

# (entry points, options): each group is one esbuild run.
GROUPS = [
    (["app/engine-boot.js", "app/main.js"], ["--splitting", "--chunk-names=app/[name]-[hash]"]),
    (["embed/embed.js"], []),
    (["worker/segment-worker.js"], []),
    (["worker/model-worker.js"], []),
    (["lib/paint-worker.js"], []),
]
# Loaded by URL at run time, never folded into a bundle: onnxruntime-web (each backend's own
# bundle, imported once chosen), and what Pyodide imports only under Node. Pyodide's
# pyodide.mjs is folded into the engine's worker (one round trip less before it starts: 13 ms
# on a reload); its core script and WASM are loaded by URL, verified, as before.
EXTERNAL = ["../vendor/onnxruntime-web/*", "node:*", "ws"]
# Folders whose modules may be removed once bundled (lib/ is the public API: kept).
BUNDLED_AWAY = ("app/", "worker/", "embed/")
URL_IN_MODULE = re.compile(r"new URL\(\s*['\"`]([^'\"`]+)['\"`]\s*,\s*import\.meta\.url\s*\)")


def bundle_modules(out: Path, groups=GROUPS) -> dict:
    """Bundle dist/'s modules in place; returns {file: size} of the bundles written."""
    esbuild = node_package("esbuild") / "bin" / "esbuild"
    folded: set[str] = set()
    outputs: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for number, (entries, options) in enumerate(groups):
            meta_path = Path(tmp) / f"meta-{number}.json"
            staging = Path(tmp) / f"out-{number}"
            command = [
                str(esbuild),
                *entries,
                "--bundle",
                "--format=esm",
                "--charset=utf8",
                f"--outdir={staging}",
                "--outbase=.",
                f"--metafile={meta_path}",
                "--log-level=warning",
                *[f"--external:{pattern}" for pattern in EXTERNAL],
                *options,
            ]
            done = subprocess.run(command, cwd=out, capture_output=True, text=True)
            if done.returncode != 0 or done.stderr.strip():
                raise BuildError(f"esbuild {' '.join(entries)}:\n{done.stderr}")
            meta = json.loads(meta_path.read_text())
            for name, output in meta["outputs"].items():
                rel = (out / name).resolve().relative_to(staging.resolve()).as_posix()
                check_relative_urls(out, rel, output["inputs"])
                folded |= set(output["inputs"]) - {rel}
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                (out / rel).write_bytes((staging / rel).read_bytes())
                outputs[rel] = (out / rel).stat().st_size
    removed = sorted(n for n in folded if n.startswith(BUNDLED_AWAY) and n not in outputs)
    for name in removed:
        (out / name).unlink()
    for folder in sorted({(out / name).parent for name in removed}, reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    log(f"bundled: {len(outputs)} files for {len(folded | set(outputs))} modules")
    return outputs


def check_relative_urls(out: Path, bundle: str, inputs) -> None:
    """`new URL('x', import.meta.url)` in a module must name the same file from the bundle's
    folder as from the module's own (esbuild leaves import.meta.url as it is)."""
    wrong = []
    for name in sorted(inputs):
        text = (out / name).read_text(encoding="utf-8")
        for target in URL_IN_MODULE.findall(text):
            here = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
            there = posixpath.normpath(posixpath.join(posixpath.dirname(bundle), target))
            if here != there:
                wrong.append(f"  {name} (in {bundle}): new URL({target!r}, import.meta.url)")
    if wrong:
        raise BuildError(
            "a bundled module names a file relative to its own folder, which the bundle does"
            " not share; name it from the site's top ('../lib/x.js'):\n" + "\n".join(wrong)
        )

"""sw.js: the service worker (web/sw/) with the list of files it precaches and their sha256,
and the build's version, which changes whenever any shipped file does."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from sceneseg.tools.manifest import sha256_file

from .common import ROOT
from .onnxruntime_files import ORT_BACKENDS

# The service worker's source; build.py writes it to the site's root as sw.js (a service worker
# controls the folder its script is in), with the precache list prepended.
SERVICE_WORKER_SOURCE = ROOT / "web" / "sw" / "service-worker.js"
# Files the service worker does not precache: model weights live in IndexedDB, one home per file
# (web/worker/model-cache.js), and only the precision a visitor uses is ever downloaded.
NOT_PRECACHED = re.compile(r"^models/[^/]+/onnx/")


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
    # The example photos too (0.12 MB gzip): only a visitor who tries one needs it; offline,
    # those tried before work.
    lazy |= {name for name in files if name.startswith("examples/")}
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

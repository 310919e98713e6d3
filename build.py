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
The finished vendor/pyodide/ is kept in ~/.cache/sceneseg/python-bundle, keyed by all it is
made from (py/sitebuild/python_bundle_cache.py): a build with the same inputs takes ~1 s
instead of ~18. SCENESEG_BUILD_CACHE=DIR keeps it elsewhere, =off not at all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "py"))

# The parts live in py/sitebuild/, one module a job; the names tests and benchmarks use stay
# importable from here (build.Handler, build.add_service_worker, ...).
from sceneseg.tools.manifest import (  # noqa: E402  (needs the sys.path line above)
    PRECISIONS,
    FetchError,
    UnpinnedError,
    sha256_file,
)
from sceneseg.tools.model_options import add_model_arguments, comma_list, models_epilog  # noqa: E402
from sitebuild.assemble import build, build_atomically  # noqa: E402
from sitebuild.common import BuildError  # noqa: E402
from sitebuild.pyodide_files import build_sceneseg_wheel, precompile_wheels  # noqa: E402
from sitebuild.server import Handler, serve  # noqa: E402
from sitebuild.service_worker import add_service_worker  # noqa: E402

__all__ = [
    "ROOT",
    "BuildError",
    "Handler",
    "add_service_worker",
    "build",
    "build_atomically",
    "build_sceneseg_wheel",
    "main",
    "main_parser",
    "precompile_wheels",
    "serve",
    "sha256_file",
]


def main_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_arguments(parser, site=True)
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

"""Ship only the Python the page runs: the standard library zip and the numpy, Pillow and
sceneseg wheels, less every module the browser's flows never import.

Measured on the first visit (gzip on the wire, as a static host sends it): stdlib 2.32 -> 0.93
MB, numpy 3.57 -> 1.99 MB, Pillow 1.23 -> 0.88 MB, sceneseg 0.15 -> 0.09 MB. The trace runs
the worker's own entry points in Pyodide under Node (pyodide_trim/browser_flows.py: every
photo format and colour mode, the bad inputs, exports, confidence, video frames, batch zips),
so what it keeps is what the page imports, not a hand-kept list. pyodide-pack does the same for
Pyodide apps in general; this is the part of it this site needs, with no extra dependency,
inside the build's existing Node + Pyodide step.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .common import BuildError, log

SCRIPTS = Path(__file__).resolve().parent / "pyodide_trim"
# sceneseg's CPython room and the shims of its documented `python -m` entry points.
CPYTHON_ONLY = ("sceneseg.tools", "sceneseg.__main__", "sceneseg.quantize")


def trim_python(core_dir: Path, pyodide_dir: Path, model_dir: Path) -> dict:
    """Rewrite pyodide_dir's python_stdlib.zip and wheels in place (the lock must list the
    wheels already), tracing in the Pyodide core of core_dir (the npm package); returns what
    was kept and dropped per file."""
    log("tracing the browser's Python flows; shipping only the modules they import")
    run = subprocess.run(
        [
            "node",
            str(SCRIPTS / "run.mjs"),
            str(core_dir.resolve()),
            str(pyodide_dir.resolve()),
            str(model_dir.resolve()),
        ],
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        # Node's report of an uncaught error quotes the source line: Pyodide's is megabytes of
        # minified JS. Keep the lines a person can read.
        readable = [line for line in run.stderr.splitlines() if len(line) < 1000]
        raise BuildError("tracing the browser's Python failed:\n" + "\n".join(readable)[-4000:])
    report = json.loads(run.stdout)
    # The flows catch nothing the page would not: an exception there is a bug in the browser's
    # pipeline, and the modules after it were not traced.
    if report["flow_errors"]:
        raise BuildError(f"the browser's Python flows failed: {report['flow_errors']}")
    # The browser's room never imports the CPython tools (sceneseg.tools; the -m shims).
    tools = [m for m in report["sceneseg_modules"] if m.startswith(CPYTHON_ONLY)]
    if tools:
        raise BuildError(f"the browser's Python imports CPython-only modules: {tools}")
    for name, part in report.items():
        if name not in ("flow_errors", "sceneseg_modules"):
            compiled = f", {part['bytecode']} as bytecode" if "bytecode" in part else ""
            log(f"  {name}: {part['kept']} of {part['files']} files kept{compiled}")
    return report

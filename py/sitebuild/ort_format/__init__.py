"""The WASM backend's model files in onnxruntime's ORT format, made at build time.

Why: onnxruntime-web creates a session from an ORT-format file in ~0.08 s where the same model
as ONNX takes ~0.36 s (parsing the protobuf, resolving and optimising the graph: measured in
Node, onnxruntime-web 1.30, q8, WASM already up), and it outputs exactly the same logits. On a
return visit, creating the session is on the path to 'ready' (issue 14).

How: onnxruntime-node, the native build of the same onnxruntime version (an npm devDependency),
loads the verified .onnx with graph optimisation 'extended' and saves the optimised graph as
.ort (convert.mjs). Only for the files the WASM backend runs (q8, fp32): WebGPU keeps the .onnx,
whose graph it optimises for its own kernels. onnxruntime writes some tables in hash order
seeded by addresses, so the conversion runs with address randomisation off (setarch -R) and
V8's random seed fixed: the same .onnx then gives the same .ort bytes as a rule, though not
on every run (see convert); a build whose .ort differs is a new version of the site.

Without a usable onnxruntime-node (another version than onnxruntime-web's, or none), the build
says so and ships no .ort: the WASM backend then loads the .onnx, as before.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..common import ROOT, log

CONVERTER = Path(__file__).with_name("convert.mjs")
WASM_PRECISIONS = ("q8", "fp32")  # the files the WASM backend may run (backend-choice.js)
PACKAGES = ("onnxruntime-node", "onnxruntime-common")  # what convert.mjs loads


def converter_problem() -> str | None:
    """Why the build cannot convert (None when it can)."""
    node_dir = ROOT / "node_modules" / "onnxruntime-node"
    web_dir = ROOT / "node_modules" / "onnxruntime-web"
    if shutil.which("node") is None:
        return "node is not installed"
    if not (node_dir / "package.json").is_file():
        return "node_modules/onnxruntime-node is missing (npm ci installs it)"
    node_version = json.loads((node_dir / "package.json").read_text())["version"]
    web_version = json.loads((web_dir / "package.json").read_text())["version"]
    if node_version != web_version:
        return f"onnxruntime-node {node_version} is not onnxruntime-web's version {web_version}"
    return None


def convert(onnx: Path, out: Path) -> None:
    """onnx -> out (.ort). onnxruntime writes some tables in an order that follows heap
    addresses, so what could move them is held still: address randomisation off (setarch -R),
    V8's seed fixed, one thread, the same paths and environment whatever the checkout (a
    scratch folder, the packages reached through links in it), no standard input. Two
    conversions then give the same bytes as a rule (tested here from two checkouts), but not
    always (a CI run's build and its test differed): the file is the same model either way."""
    with tempfile.TemporaryDirectory(prefix="sceneseg-ort-") as scratch:
        work = Path(scratch)
        (work / "node_modules").mkdir()
        for name in PACKAGES:
            (work / "node_modules" / name).symlink_to(ROOT / "node_modules" / name)
        shutil.copy(CONVERTER, work / "convert.mjs")
        shutil.copy(onnx, work / "in.onnx")
        command = [shutil.which("node"), "--preserve-symlinks", "--random-seed=1"]
        command += ["--single-threaded", "convert.mjs", "in.onnx", "out.ort"]
        if shutil.which("setarch"):
            command = [shutil.which("setarch"), "-R", *command]
        env = {"PATH": "/usr/bin:/bin", "LANG": "C"}
        subprocess.run(
            command, check=True, env=env, cwd=work, stdin=subprocess.DEVNULL, capture_output=True,
            text=True,
        )  # fmt: skip
        if (work / "out.ort").read_bytes()[4:8] != b"ORTM":
            raise RuntimeError(f"{out.name} is not an ORT-format file")
        shutil.move(work / "out.ort", out)


def add_wasm_files(target: Path, precisions: dict[str, str]) -> dict[str, str]:
    """Next to each WASM-runnable .onnx in target/, its .ort. Returns {precision: file}."""
    problem = converter_problem()
    if problem:
        log(f"  no ORT-format files ({problem}): the WASM backend loads the .onnx")
        return {}
    made = {}
    for precision, name in precisions.items():
        if precision not in WASM_PRECISIONS or not name.endswith(".onnx"):
            continue
        ort_name = name[: -len(".onnx")] + ".ort"
        try:
            convert(target / name, target / ort_name)
        except (subprocess.CalledProcessError, RuntimeError) as exc:
            detail = (getattr(exc, "stderr", "") or str(exc)).strip().splitlines()
            log(f"  {name}: no ORT-format file ({detail[-1] if detail else exc}); WASM loads it")
            (target / ort_name).unlink(missing_ok=True)
            continue
        log(f"  {ort_name}: ORT format for WASM")
        made[precision] = ort_name
    return made

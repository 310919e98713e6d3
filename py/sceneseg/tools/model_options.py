"""The model options that ``python -m sceneseg`` and ``build.py`` share (--model, --model-dir,
--allow-unpinned, the models list under --help) and the hints they print when a model's files
are missing offline. Standard library only, like manifest.py, for build.py."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from .manifest import CONFIG_FILES, DEFAULT_MODEL, MANIFEST_DIR, Manifest, all_manifests, identify

if TYPE_CHECKING:  # argparse is only named in annotations
    import argparse


def command_with(argv: list[str], option: str, value: str) -> list[str]:
    """``argv`` with ``option``'s value replaced (or the option added)."""
    out, skip = [], False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg == option and i + 1 < len(argv):
            skip = True
            continue
        if arg.startswith(option + "="):
            continue
        out.append(arg)
    return [*out, option, value]


def offline_hint(
    model_dir: Path | None,
    wanted: Manifest,
    command: list[str],
    precisions: list[str],
    precision_option: str,
) -> str:
    """What to tell someone whose model files did not verify: which model the files in
    ``model_dir`` look like and the whole command that works with them. ``command`` is the
    command line that failed (program and arguments)."""
    if model_dir is None:
        files = [*CONFIG_FILES, *sorted(set(wanted.precisions.values()))]
        return (
            "Offline? Point --model-dir at a folder with the model's "
            f"files ({', '.join(files)}), e.g. a copy of {wanted.id}'s."
        )
    if not Path(model_dir).is_dir():
        return f"--model-dir {model_dir} is not a folder."
    matches = identify(Path(model_dir))
    if not matches:
        return (
            f"None of the files in {model_dir} belong to a known model "
            f"(compared by size and sha256 with every manifest in {MANIFEST_DIR})."
        )
    best = matches[0]
    lines = []
    if best.manifest.id != wanted.id:
        lines.append(
            f"The files in {model_dir} belong to model {best.manifest.id!r} "
            f"({best.manifest.name}), not {wanted.id!r}: {', '.join(best.files)} match its "
            "manifest by size and sha256."
        )
    if not best.precisions:
        lines.append(f"{model_dir} has none of {best.manifest.id!r}'s weight files.")
        return "\n".join(lines)
    fixed = command_with(command, "--model", best.manifest.id)
    usable = [p for p in precisions if p in best.precisions]
    if usable != precisions:
        lines.append(
            f"{model_dir} has these precisions of {best.manifest.id!r}: "
            f"{', '.join(best.precisions)}."
        )
        fixed = command_with(fixed, precision_option, ",".join(usable or best.precisions[:1]))
    lines.append("This command works with them:\n  " + shlex.join(fixed))
    return "\n".join(lines)


def model_dir_for(model_id: str, model_dirs: list[str] | None) -> Path | None:
    """The local folder for a model from ``--model-dir`` values: ``ID=DIR`` for one model,
    a plain ``DIR`` for every model (its ``DIR/<id>/`` subfolder if there is one)."""
    plain = None
    for value in model_dirs or []:
        key, sep, path = str(value).partition("=")
        if sep and not Path(value).exists():
            if key == model_id:
                return Path(path)
        elif plain is None:
            plain = Path(value)
    if plain is not None and (plain / model_id).is_dir():
        return plain / model_id
    return plain


# --- the model options of build.py and python -m sceneseg --------------------------------


def comma_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def models_epilog() -> str:
    """The list of models that both commands' --help ends with."""
    lines = [f"models (--model; manifests in {MANIFEST_DIR}):"]
    for m in all_manifests():
        sizes = ", ".join(f"{p} {m.download_size(p) / 1e6:.1f} MB" for p in m.precisions)
        default = " (default)" if m.id == DEFAULT_MODEL else ""
        lines.append(f"  {m.id}{default}: {m.name}" + (f"; {sizes}" if sizes else ""))
        if m.export and not m.precisions:
            source = m.export.get("source")
            lines.append(f"      no published file: python -m sceneseg export {source} --out DIR")
        if m.standin:
            lines.append("      stand-in weights for offline development: labels are not accuracy")
        if m.precisions and any(not f.pinned for f in m.files.values()):
            lines.append("      has unpinned config files: needs --allow-unpinned")
    return "\n".join(lines)


def add_model_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    *,
    site: bool = False,
    several: bool = False,
) -> None:
    """--model, --model-dir and --allow-unpinned, for both commands.

    ``site`` (build.py): the models a site ships, parsed into a list (--models too), the
    first the page's default; an unpinned file's sha256 goes into the site's manifest.
    Otherwise (python -m sceneseg): the model run here, a string (``several``: eval's
    comma-separated models), defaults from $SCENESEG_MODEL and $SCENESEG_MODEL_DIR.
    """
    if site:
        names, model_default, dirs_default = ("--model", "--models"), DEFAULT_MODEL, None
    else:
        names = ("--model",)
        model_default = os.environ.get("SCENESEG_MODEL", DEFAULT_MODEL)
        env_dir = os.environ.get("SCENESEG_MODEL_DIR")
        dirs_default = [env_dir] if env_dir else []
    parser.add_argument(
        *names,
        default=model_default,
        type=comma_list if site else str,
        help="model id from the list below, or a manifest file (.json)"
        + ("; several separated by commas" if several or site else "")
        + ("; the first is the page's default (?model=ID picks another)" if site else "")
        + ("; default %(default)s" if site else " (default: $SCENESEG_MODEL or %(default)s)"),
    )
    parser.add_argument(
        "--model-dir",
        action="append",
        default=dirs_default,
        metavar="[ID=]DIR",
        help="take the model's files from this folder instead of downloading them (every file "
        "is checked against the manifest); ID=DIR for one model of several, or DIR/<id>/ "
        "subfolders" + ("" if site else " (default: $SCENESEG_MODEL_DIR)"),
    )
    parser.add_argument(
        "--allow-unpinned",
        action="store_true",
        help="accept config files the manifest has no sha256 for, checked by their content; "
        + (
            "their sha256 is pinned in the site's own manifest"
            if site
            else "their sha256 is printed"
        ),
    )

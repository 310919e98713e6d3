"""models/<id>/: the model files of the chosen precisions, each checked against its manifest,
and the site's own manifest.json (sizes, sha256, what a model picker shows)."""

from __future__ import annotations

import json
from pathlib import Path

from sceneseg.tools.manifest import (
    FetchError,
    Manifest,
    UnpinnedError,
    exported_manifest,
    sha256_file,
)
from sceneseg.tools.model_options import model_dir_for, offline_hint

from .common import BuildError, log
from .ort_format import add_wasm_files

MODEL_CONFIG_FILES = ["config.json", "preprocessor_config.json"]


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
    # The WASM backend's files in ORT format, made here from the verified .onnx (ort_format).
    wasm_files = add_wasm_files(target, {p: manifest.precisions[p] for p in precisions})
    files = {
        n: {"size": (target / n).stat().st_size, "sha256": sha256_file(target / n)}
        for n in names + list(wasm_files.values())
    }
    for name, spec in files.items():
        if name in manifest.files and not manifest.files[name].pinned:
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
        # What the WASM backend loads instead, where the build made it: {precision: .ort file}.
        "wasm_files": wasm_files,
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
        local = model_dir_for(manifest.id, args.model_dir)
        manifest = exported_manifest(manifest, local)
        if manifest.export and not manifest.precisions:
            raise BuildError(manifest.export_hint())
        precisions = [p for p in args.precisions if p in manifest.precisions]
        missing = [p for p in args.precisions if p not in manifest.precisions]
        if missing and (len(args.model) == 1 or not precisions):
            raise BuildError(
                f"{manifest.id} has no {', '.join(missing)} file pinned "
                f"(it has: {', '.join(manifest.precisions)})"
                + (f"\n{manifest.export_hint(', '.join(missing))}" if manifest.export else "")
            )
        if missing:
            log(
                f"{manifest.id}: no {', '.join(missing)} file pinned; "
                f"shipping {', '.join(precisions)}"
            )
        if manifest.id in models:
            raise BuildError(f"{manifest.id} is listed twice")
        try:
            models[manifest.id] = add_model(out, manifest, precisions, local, args.allow_unpinned)
        except UnpinnedError:
            raise
        except FetchError as exc:
            hint = offline_hint(local, manifest, command, args.precisions, "--precisions")
            raise FetchError(f"{exc}\n{hint}") from None
    return next(iter(models.values())), models

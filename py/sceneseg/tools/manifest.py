"""Model manifests (``models/*.json``) and verified fetching. Standard library only, so that
``build.py`` can use it before anything is installed.

A manifest names a model's files with their size and sha256 and where to get them:

    {"id": ..., "name": ..., "source": "https://.../resolve/<commit or main>/" or null,
     "files": {"onnx/model_quantized.onnx": {"size": ..., "sha256": ...}, ...},
     "precisions": {"q8": "onnx/model_quantized.onnx", "fp16": ..., "fp32": ...},
     "unknown": ["what is not pinned yet, in words", ...]}

A model with no published ONNX file (B4, say) has ``"export": {"source": "<checkpoint>"}``
and no precisions: its files are made by ``python -m sceneseg export <checkpoint> --out DIR``,
whose ``DIR/manifest.json`` pins them (with ``"exported": {"source": ...}``); ``--model ID
--model-dir DIR`` then takes that manifest (``exported_manifest``), once DIR's config files
state this manifest's ``expect`` facts.

Every pinned file is checked against both before it is used; a mismatch is an error, never a
warning. A file whose sha256 is not known (``"sha256": null``) is *unpinned*. Only small JSON
configuration files may be unpinned, and only with an ``"expect"`` object: the facts the file
must state (for example ``{"num_labels": 150, "depths": [2, 2, 2, 2]}``, or
``{"input_size": [640, 640]}`` for a preprocessor config). Unpinned files are refused unless
the caller opts in (``--allow-unpinned``); then they are checked by content against
``expect`` and their sha256 is printed (and pinned in a built site's own manifest, which the
browser verifies). Model weights (the files ``precisions`` point at) are always pinned.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# The project's manifests, when running from a checkout.
MANIFEST_DIR = Path(__file__).resolve().parents[3] / "models"
DEFAULT_MODEL = "segformer-b0-ade"
PRECISIONS = ("q8", "fp16", "fp32")
CONFIG_FILES = ("config.json", "preprocessor_config.json")


class FetchError(RuntimeError):
    """A file could not be had or did not verify; the message lists what was tried."""


class UnpinnedError(FetchError):
    """A file has no sha256 in its manifest and the caller did not allow that."""


@dataclass(frozen=True)
class FileSpec:
    size: int | None
    sha256: str | None  # None: unpinned (see the module docstring)
    expect: dict | None = None  # facts an unpinned JSON file must state

    @property
    def pinned(self) -> bool:
        return self.sha256 is not None


@dataclass(frozen=True)
class Manifest:
    id: str
    name: str
    source: str | None  # base URL the file names are relative to; None: local files only
    files: dict[str, FileSpec]
    precisions: dict[str, str]  # precision -> file name
    standin: bool  # weights that are not the published model (offline development)
    description: str
    license: str
    unknown: tuple[str, ...] = ()  # what is not pinned yet, in words
    path: Path | None = field(default=None, compare=False)
    export: dict | None = None  # {"source": checkpoint}: files made by python -m sceneseg export
    exported: dict | None = None  # what python -m sceneseg export wrote about these files

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        files = {}
        for name, f in raw["files"].items():
            sha256 = f.get("sha256")
            spec = FileSpec(
                int(f["size"]) if f.get("size") is not None else None,
                sha256.lower() if sha256 else None,
                f.get("expect"),
            )
            if not spec.pinned and not (name.endswith(".json") and spec.expect):
                raise ValueError(
                    f"{path}: {name} has no sha256; only JSON files with an 'expect' object "
                    f"may be unpinned"
                )
            files[name] = spec
        precisions = dict(raw["precisions"])
        for precision, name in precisions.items():
            if precision not in PRECISIONS or name not in files:
                raise ValueError(
                    f"{path}: precision {precision!r} -> {name!r} is not a listed file"
                )
            if not files[name].pinned:
                raise ValueError(f"{path}: {name} holds weights and must have a sha256")
        return cls(
            id=raw["id"],
            name=raw["name"],
            source=raw.get("source"),
            files=files,
            precisions=precisions,
            standin=bool(raw.get("standin", False)),
            description=raw.get("description", ""),
            license=raw.get("license", ""),
            unknown=tuple(raw.get("unknown", ())),
            path=Path(path),
            export=raw.get("export"),
            exported=raw.get("exported"),
        )

    @classmethod
    def named(cls, model_id: str, manifest_dir: Path = MANIFEST_DIR) -> Manifest:
        """A manifest by id (``models/<id>.json``) or by path (anything ending in .json)."""
        if model_id.endswith(".json"):
            if not Path(model_id).is_file():
                raise FetchError(f"no manifest file {model_id}")
            return cls.load(model_id)
        path = manifest_dir / f"{model_id}.json"
        if not path.is_file():
            known = sorted(p.stem for p in manifest_dir.glob("*.json"))
            raise FetchError(f"no model {model_id!r}; known models: {', '.join(known) or 'none'}")
        return cls.load(path)

    def export_hint(self, precision: str | None = None) -> str:
        """How to make this model's files (``export``): all of them, or ``precision``'s."""
        source = (self.export or {}).get("source", "CHECKPOINT")
        what = f"no published {precision} file" if precision else "no published ONNX file"
        return (
            f"{self.id} has {what} pinned: make the files from the PyTorch "
            f"checkpoint {source} (pip install -e '.[export]'; the checkpoint in the Hugging "
            f"Face cache or a folder) with\n"
            f"  python -m sceneseg export {source} --out models-local/{self.id}\n"
            f"and pass --model-dir models-local/{self.id} (its manifest.json pins the files made)"
        )

    def url(self, name: str) -> str | None:
        return self.source.rstrip("/") + "/" + name if self.source else None

    def download_size(self, precision: str) -> int:
        """Bytes a user downloads for one precision: weights and config files (an unpinned
        config file's few kB are not known and not counted)."""
        names = (*CONFIG_FILES, self.precisions[precision])
        return sum(self.files[n].size or 0 for n in names if n in self.files)

    def fetch(
        self,
        name: str,
        dest: Path,
        local_dir: Path | None = None,
        *,
        allow_unpinned: bool = False,
    ) -> Path:
        """Put file ``name`` at ``dest``, from ``local_dir`` if given, else from the source URL."""
        spec = self.files[name]
        if not spec.pinned and not allow_unpinned:
            raise UnpinnedError(
                f"{self.id}: {name} is not pinned (no sha256 is known for it yet), so it is "
                f"refused; --allow-unpinned accepts a copy that states "
                f"{json.dumps(spec.expect)} and prints its sha256"
            )
        if local_dir is not None:
            sources: list[str | Path] = [Path(local_dir) / name]
        elif self.source:
            sources = [self.url(name)]
        else:
            raise FetchError(
                f"{self.id}: {name} has no download address (local files only); "
                f"pass the directory that holds it (--model-dir)"
            )
        check = None if spec.pinned else (lambda p: check_expect(spec.expect, p))
        return fetch_verified(sources, dest, spec.size, spec.sha256, check=check)


def exported_manifest(manifest: Manifest, local_dir: Path | None) -> Manifest:
    """For a manifest whose files are made by ``python -m sceneseg export``: the export's own
    manifest in ``local_dir`` (checked: same source checkpoint, config files stating the
    ``expect`` facts), under this manifest's id and name. Otherwise ``manifest`` itself."""
    if not manifest.export or local_dir is None:
        return manifest
    path = Path(local_dir) / "manifest.json"
    if not path.is_file() or "exported" not in json.loads(path.read_text(encoding="utf-8")):
        return manifest  # published files (or a built site's own manifest.json) there
    made = Manifest.load(path)
    source = (made.exported or {}).get("source")
    if source != manifest.export.get("source"):
        raise FetchError(
            f"{path} describes files exported from {source!r}, not {manifest.export['source']!r}"
        )
    for name, spec in manifest.files.items():
        if spec.expect and name in made.files:
            try:
                check_expect(spec.expect, Path(local_dir) / name)
            except FetchError as exc:
                raise FetchError(f"{Path(local_dir) / name}: {exc}") from None
    return dataclasses.replace(
        made, id=manifest.id, name=manifest.name, license=manifest.license, export=manifest.export
    )


def all_manifests(manifest_dir: Path = MANIFEST_DIR) -> list[Manifest]:
    return [Manifest.load(p) for p in sorted(manifest_dir.glob("*.json"))]


def json_facts(data: dict) -> dict:
    """A config file's keys plus the facts ``expect`` may name that the file implies:
    ``num_labels`` (config.json) and ``input_size`` [height, width] (preprocessor config,
    whose ``size`` is {"height", "width"} or one number for a square in older files)."""
    facts = dict(data)
    if "id2label" in data:
        facts.setdefault("num_labels", len(data["id2label"]))
    if "size" in data:
        size = data["size"]
        if isinstance(size, int):
            facts["input_size"] = [size, size]
        elif isinstance(size, dict) and {"height", "width"} <= size.keys():
            facts["input_size"] = [size["height"], size["width"]]
    return facts


def check_expect(expect: dict, path: Path) -> None:
    try:
        facts = json_facts(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, UnicodeDecodeError) as exc:
        raise FetchError(f"not a JSON file ({exc})") from None
    wrong = [
        f"{k}={facts.get(k)!r} (expected {v!r})" for k, v in expect.items() if facts.get(k) != v
    ]
    if wrong:
        raise FetchError("content does not match the manifest: " + ", ".join(wrong))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, size: int | None, sha256: str | None, label: str | None = None) -> None:
    """Check size and sha256 (None: not checked). Messages name ``label`` (the source a
    temporary copy came from) rather than the temporary file."""
    what = label or str(path)
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise FetchError(f"{what}: {actual_size} bytes, expected {size}")
    if sha256 is not None:
        actual = sha256_file(path)
        if actual != sha256.lower():
            raise FetchError(f"{what}: sha256 {actual}, expected {sha256}")


def fetch_verified(
    sources: list[str | Path],
    dest: Path,
    size: int | None,
    sha256: str | None,
    timeout: float = 60,
    check: Callable[[Path], None] | None = None,
) -> Path:
    """Copy or download the first source that works to ``dest`` and verify it.

    ``sha256=None`` needs a ``check`` (a content check that raises ``FetchError``). A ``dest``
    that already verifies is kept. Raises ``FetchError`` naming every attempt.
    """
    if sha256 is None and check is None:
        raise ValueError("an unpinned file needs a content check")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file():
        try:
            verify(dest, size, sha256)
            if check:
                check(dest)
            return dest
        except FetchError:
            dest.unlink()
    tried = []
    for source in sources:
        with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
            tmp_path = Path(tmp.name)
        try:
            if isinstance(source, Path):
                shutil.copyfile(source, tmp_path)
            else:
                with (
                    urllib.request.urlopen(source, timeout=timeout) as response,
                    open(tmp_path, "wb") as out,
                ):
                    shutil.copyfileobj(response, out, 1 << 20)
            verify(tmp_path, size, sha256, label=str(source))
            if check:
                try:
                    check(tmp_path)
                except FetchError as exc:
                    raise FetchError(f"{source}: {exc}") from None
            tmp_path.replace(dest)
            return dest
        except FetchError as exc:
            tried.append(f"  {exc}")
        except (OSError, urllib.error.URLError) as exc:
            tried.append(f"  {source}: {exc}")
        finally:
            tmp_path.unlink(missing_ok=True)
    raise FetchError(f"could not get {dest.name}; tried:\n" + "\n".join(tried))


# --- offline hints: which model do the files in a folder belong to? ---------------------


@dataclass
class Match:
    manifest: Manifest
    files: list[str]  # files present in the folder that verify against this manifest
    precisions: list[str]  # precisions whose weights are among them


def identify(directory: Path, manifests: list[Manifest] | None = None) -> list[Match]:
    """The manifests whose pinned files are in ``directory`` (same size and sha256), best
    first: most weight files, then most files. A folder can match several manifests on its
    config files alone (the stand-in shares the real B0's), so weights decide."""
    directory = Path(directory)
    hashes: dict[Path, str] = {}
    matches = []
    for manifest in manifests if manifests is not None else all_manifests():
        found = []
        for name, spec in manifest.files.items():
            path = directory / name
            if not spec.pinned or not path.is_file():
                continue
            if spec.size is not None and path.stat().st_size != spec.size:
                continue
            if path not in hashes:
                hashes[path] = sha256_file(path)
            if hashes[path] == spec.sha256:
                found.append(name)
        precisions = [p for p, n in manifest.precisions.items() if n in found]
        if found:
            matches.append(Match(manifest, found, precisions))
    matches.sort(key=lambda m: (-len(m.precisions), -len(m.files)))
    return matches

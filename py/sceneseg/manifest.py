"""Model manifests (``models/*.json``) and verified fetching. Standard library only, so that
``build.py`` can use it before anything is installed.

A manifest names a model's files with their size and sha256 and where to get them:

    {"id": ..., "name": ..., "source": "https://.../resolve/<commit or main>/" or null,
     "files": {"onnx/model_quantized.onnx": {"size": ..., "sha256": ...}, ...},
     "precisions": {"q8": "onnx/model_quantized.onnx", "fp16": ..., "fp32": ...}}

Every file is checked against both before it is used; a mismatch is an error, never a warning.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

# The project's manifests, when running from a checkout.
MANIFEST_DIR = Path(__file__).resolve().parents[2] / "models"
DEFAULT_MODEL = "segformer-b0-ade"
PRECISIONS = ("q8", "fp16", "fp32")


class FetchError(RuntimeError):
    """A file could not be had or did not verify; the message lists what was tried."""


@dataclass(frozen=True)
class FileSpec:
    size: int
    sha256: str


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

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        files = {
            name: FileSpec(int(f["size"]), f["sha256"].lower()) for name, f in raw["files"].items()
        }
        precisions = dict(raw["precisions"])
        for precision, name in precisions.items():
            if precision not in PRECISIONS or name not in files:
                raise ValueError(
                    f"{path}: precision {precision!r} -> {name!r} is not a listed file"
                )
        return cls(
            id=raw["id"],
            name=raw["name"],
            source=raw.get("source"),
            files=files,
            precisions=precisions,
            standin=bool(raw.get("standin", False)),
            description=raw.get("description", ""),
            license=raw.get("license", ""),
        )

    @classmethod
    def named(cls, model_id: str, manifest_dir: Path = MANIFEST_DIR) -> Manifest:
        path = manifest_dir / f"{model_id}.json"
        if not path.is_file():
            known = sorted(p.stem for p in manifest_dir.glob("*.json"))
            raise FetchError(f"no manifest {path}; known models: {', '.join(known) or 'none'}")
        return cls.load(path)

    def url(self, name: str) -> str | None:
        return self.source.rstrip("/") + "/" + name if self.source else None

    def fetch(self, name: str, dest: Path, local_dir: Path | None = None) -> Path:
        """Put file ``name`` at ``dest``, from ``local_dir`` if given, else from the source URL."""
        spec = self.files[name]
        if local_dir is not None:
            sources: list[str | Path] = [Path(local_dir) / name]
        elif self.source:
            sources = [self.url(name)]
        else:
            raise FetchError(
                f"{self.id}: {name} has no download address (local files only); "
                f"pass the directory that holds it (--model-dir)"
            )
        return fetch_verified(sources, dest, spec.size, spec.sha256)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, size: int | None, sha256: str) -> None:
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise FetchError(f"{path}: {actual_size} bytes, expected {size}")
    actual = sha256_file(path)
    if actual != sha256.lower():
        raise FetchError(f"{path}: sha256 {actual}, expected {sha256}")


def fetch_verified(
    sources: list[str | Path], dest: Path, size: int | None, sha256: str, timeout: float = 60
) -> Path:
    """Copy or download the first source that works to ``dest`` and verify it.

    A ``dest`` that already verifies is kept. Raises ``FetchError`` naming every attempt.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file():
        try:
            verify(dest, size, sha256)
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
            verify(tmp_path, size, sha256)
            tmp_path.replace(dest)
            return dest
        except (OSError, urllib.error.URLError, FetchError) as exc:
            tried.append(f"  {source}: {exc}")
        finally:
            tmp_path.unlink(missing_ok=True)
    raise FetchError(f"could not get {dest.name}; tried:\n" + "\n".join(tried))

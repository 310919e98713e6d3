"""The build's module bundles (py/sitebuild/js_bundles.py): each way in is one file, the folded
modules are gone from the site, the public API stays as written, and a module whose relative
URL would change meaning in its bundle fails the build."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from sitebuild.common import BuildError
from sitebuild.js_bundles import GROUPS, bundle_modules

ROOT = Path(__file__).resolve().parents[1]
STATIC_IMPORT = re.compile(r'^\s*(?:import|export)\b[^;]*?\bfrom\s*["\']([^"\']+)["\']', re.M)


def static_imports(path: Path) -> list[str]:
    return STATIC_IMPORT.findall(path.read_text(encoding="utf-8"))


def test_each_way_in_is_one_file_and_the_folded_modules_are_gone(built_site):
    entries = [entry for group, _ in GROUPS for entry in group]
    for entry in entries:
        assert (built_site / entry).is_file(), entry
    # A worker's script and the widget load nothing else before they run, except the vendor
    # files (loaded and verified by URL).
    for entry in [
        "worker/segment-worker.js",
        "worker/model-worker.js",
        "embed/embed.js",
        "lib/paint-worker.js",
    ]:
        assert [i for i in static_imports(built_site / entry) if "/vendor/" not in i] == [], entry
    # The page: engine-boot.js and main.js share one chunk (one engine per page).
    chunks = sorted(p.name for p in (built_site / "app").glob("chunk-*.js"))
    assert len(chunks) >= 1
    for entry in ["app/engine-boot.js", "app/main.js"]:
        imported = static_imports(built_site / entry)
        assert imported and all(
            re.fullmatch(r"\./(chunk-\w+|engine-boot)\.js", i) for i in imported
        ), imported
    # Every module of web/app, web/worker and web/embed was folded into a bundle: only bundles
    # (and files that are not modules) are left.
    for room in ["app", "worker", "embed"]:
        for source in (ROOT / "web" / room).rglob("*.js"):
            rel = source.relative_to(ROOT / "web").as_posix()
            if rel in entries or rel == "embed/example-host.js":
                continue
            assert not (built_site / rel).exists(), f"{rel} is bundled and should not ship"
    # The bundled worker still names its sources (readable in the browser's tools).
    text = (built_site / "worker/segment-worker.js").read_text(encoding="utf-8")
    assert "// worker/engine-start.js" in text and "// worker/python-snapshot.js" in text
    # lib/ is the public API: every module ships as written.
    for source in (ROOT / "web" / "lib").glob("*.js"):
        if source.name != "paint-worker.js":
            assert (built_site / "lib" / source.name).read_bytes() == source.read_bytes(), (
                source.name
            )


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")


def test_a_url_that_would_change_meaning_in_the_bundle_fails_the_build(tmp_path):
    # app/deep/helper.js names a worker relative to its own folder: from app/ (where the bundle
    # is) that is another file.
    write(
        tmp_path,
        {
            "app/main.js": "import { start } from './deep/helper.js';\nstart();\n",
            "app/deep/helper.js": "export const start = () => new URL('./w.js', import.meta.url);",
        },
    )
    with pytest.raises(BuildError, match=r"app/deep/helper\.js.*'\./w\.js'"):
        bundle_modules(tmp_path, groups=[(["app/main.js"], [])])
    # A lib/ module that names its worker from the site's top means the same file from app/:
    # bundled; lib/ (the public API) keeps its file, app/'s folded module is removed.
    shutil.rmtree(tmp_path / "app")
    write(
        tmp_path,
        {
            "app/main.js": "import { start } from './helper.js';\nstart();\n",
            "app/helper.js": "export { start } from '../lib/start.js';\n",
            "lib/start.js": "export const start = () => new URL('../worker/w.js', import.meta.url)",
        },
    )
    assert list(bundle_modules(tmp_path, groups=[(["app/main.js"], [])])) == ["app/main.js"]
    assert not (tmp_path / "app/helper.js").exists()
    assert (tmp_path / "lib/start.js").exists()
    assert 'new URL("../worker/w.js", import.meta.url)' in (tmp_path / "app/main.js").read_text()

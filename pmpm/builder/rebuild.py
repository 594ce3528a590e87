"""What the engine lacks for fast rebuilds: fingerprints, `--dirty` workspaces, `clean`.

A fingerprint digests everything that decides a package's content: the recipe text
(its script included), the used variant, the content of `path:` sources, the resolved
build and host environments (so a rebuilt local dependency changes its dependents'
fingerprints) and pmpm's version. A package whose file and fingerprint are already in
the channel is up to date.

`--dirty` reuses one persistent workspace per package × variant under
`.pmpm/dirty/<name>/<build>/` (see `state`): a derived recipe without `source:` (the engine would copy
the whole tree every time), a stable output directory (so `$PREFIX` and the work dir keep
their paths), a persistent out-of-source build tree for the build system's own
incremental logic, and for kinds that write into their source, a mirror synced file by
file. Out-of-source kinds (CMake, Meson) build straight from the user's tree.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .. import __version__
from ..channel.layout import is_local_channel
from ..options import STATE_DIR

IN_PLACE_KINDS = ("cmake", "meson")
SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", str(STATE_DIR), ".mypy_cache", ".pytest_cache"}


def walk_source(root: Path) -> Iterator[tuple[str, list[str], list[str]]]:
    """`os.walk` over what a source tree's build reads: without VCS metadata, caches, pmpm's
    state dir, or a local channel inside it (`source: {path: .}` beside `./local-channel`),
    whose every publish would otherwise make the package out of date again."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not is_local_channel(Path(dirpath, d)))
        yield dirpath, dirnames, filenames


def tree_digest(root: Path) -> str:
    """Content digest of a source tree (names and bytes; see `walk_source` for what is left out)."""
    digest = hashlib.sha256()
    for dirpath, _, filenames in walk_source(root):
        for name in sorted(filenames):
            path = Path(dirpath, name)
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            if path.is_symlink():
                digest.update(os.readlink(path).encode())
            elif path.is_file():
                with open(path, "rb") as f:
                    digest.update(hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()


def fingerprint(
    *, recipe_text: str, variant: dict, source_digests: list[str], environment: list[str], engine: str = "rattler-build"
) -> str:
    """Digest of everything that decides a package's content (`source_digests` from `tree_digest`)."""
    payload = {
        "pmpm": __version__,
        "engine": engine,
        "recipe": hashlib.sha256(recipe_text.encode()).hexdigest(),
        "variant": {k: str(v) for k, v in sorted(variant.items())},
        "sources": list(source_digests),
        "environment": sorted(environment),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def resolved_environment(specs: list[str], channels: list[str]) -> list[str]:
    """`name-version-build sha256` of what the build/host specs resolve to right now."""
    if not specs:
        return []
    from ..envs.solve import solve
    from ..errors import NetworkTimeout, SolveError

    try:
        records = solve(specs, channels)
    except NetworkTimeout:
        raise  # the engine would wait on the same channel, unbounded: fail the build now
    except SolveError as exc:
        return [f"unresolved: {exc}"]
    return [f"{r.name.normalized}-{r.version}-{r.build} {(r.sha256 or b'').hex()}" for r in records]


# --- --dirty workspaces --------------------------------------------------------------


@dataclass
class DirtyWorkspace:
    """The persistent directories of one package × variant for `--dirty` builds."""

    root: Path

    @property
    def recipe_dir(self) -> Path:
        return self.root / "recipe"

    @property
    def output_dir(self) -> Path:
        return self.root / "out"

    @property
    def build_dir(self) -> Path:
        return self.root / "build"

    @property
    def mirror(self) -> Path:
        return self.root / "src"

    def prepare(self, recipe_path: Path, sources: list[Path], kind: str) -> Path:
        """Write the derived recipe and sync the source mirror; returns the recipe to build."""
        target = self.recipe_dir / recipe_path.name
        stamp = self._stamp(recipe_path, sources, kind)
        mirrored = kind not in IN_PLACE_KINDS and len(sources) == 1
        stamp_file = self.root / "recipe.stamp"
        # The edit-compile loop's usual case: same recipe as last time, only sources changed.
        if target.is_file() and stamp_file.is_file() and stamp_file.read_text() == stamp:
            if mirrored and "PMPM_SOURCE_DIR" in target.read_text():
                sync_tree(sources[0], self.mirror)
            return target
        from ruamel.yaml import YAML

        yaml = YAML(typ="rt")
        recipe = yaml.load(recipe_path.read_text())
        env: dict[str, str] = {"PMPM_BUILD_DIR": str(self.build_dir)}
        only_local_path = len(sources) == 1 and len(recipe.get("source") or []) == 1 and not _has_patches(recipe)
        if only_local_path:
            del recipe["source"]
            if kind in IN_PLACE_KINDS:
                env["PMPM_SOURCE_DIR"] = str(sources[0])
            else:
                sync_tree(sources[0], self.mirror)
                env["PMPM_SOURCE_DIR"] = str(self.mirror)
        script = recipe["build"]["script"]
        script.setdefault("env", {}).update(env)
        self.build_dir.mkdir(parents=True, exist_ok=True)
        _copy_recipe_dir(recipe_path.parent, self.recipe_dir)
        with open(target, "w") as f:
            yaml.dump(recipe, f)
        stamp_file.write_text(stamp)
        return target

    def _stamp(self, recipe_path: Path, sources: list[Path], kind: str) -> str:
        """What the derived recipe is made of: the recipe, its sibling files, sources and kind."""
        siblings = sorted((p.name, p.read_bytes()) for p in recipe_path.parent.iterdir() if p.is_file())
        payload = repr((str(self.root), kind, [str(s) for s in sources], siblings)).encode()
        return hashlib.sha256(payload).hexdigest()


def _has_patches(recipe: Any) -> bool:
    return any(isinstance(s, dict) and s.get("patches") for s in recipe.get("source") or [])


def _copy_recipe_dir(source: Path, target: Path) -> None:
    """Sibling files a recipe may reference (patches, scripts), not its build products."""
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.is_file():
            shutil.copy2(item, target / item.name)


def sync_tree(source: Path, mirror: Path) -> int:
    """Make `mirror` equal `source`, copying only files whose size or mtime differ.

    Copies keep their mtimes, so the build system sees exactly the files the user changed.
    Returns the number of files copied. Build products inside the mirror that have no
    counterpart in the source are left alone: in-source build systems keep their state there.
    """
    copied = 0
    for dirpath, _, filenames in walk_source(source):
        relative = Path(dirpath).relative_to(source)
        (mirror / relative).mkdir(parents=True, exist_ok=True)
        for name in filenames:
            src, dst = Path(dirpath, name), mirror / relative / name
            st = src.stat()
            try:
                dt = dst.stat()
                if dt.st_size == st.st_size and dt.st_mtime_ns == st.st_mtime_ns:
                    continue
            except FileNotFoundError:
                pass
            shutil.copy2(src, dst)
            copied += 1
    return copied

"""Work answered from the previous run's record, without loading the engine or the stack model.

`pmpm build` of an unchanged stack must cost next to nothing, but validating a stack,
rendering and planning import pydantic, Jinja, py-rattler and py-rattler-build and solve
every build/host environment. After a successful build pmpm records, per invocation
(working directory, targets and options), the digest of every input that decided the result:
the stack and config files, the recipes, pmpm's own templates and catalogue, the host
compilers and CPU (for `native`), every `path:` source tree and patch, and the local and
file:// upstream channels' repodata. The next identical invocation re-digests exactly those
inputs, by content, never by mtime; if all match and every package file is still in the
channel, the previous report stands. Anything else (a remote upstream channel, which only
a solve can check, `--force`, `--dirty`) takes the full path.

A build that does run (`--dirty` after an edit, `--force`) still needs no new render when the
stack, its config files, the templates, catalogue, compilers and CPU are unchanged and the
rendered files are as pmpm wrote them: a render record (same checks, kind "render") lets it
read the rendered directory back instead (~0.2 s of pydantic, Jinja and rendering).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Iterable

from .. import __version__, cpu_identity
from ..files import atomic_write, sha256_file
from .rebuild import tree_digest

COMPILERS = ("gcc", "g++", "gfortran", "cc", "c++")


def invocation_key(cwd: Path, options: dict) -> str:
    payload = {"pmpm": __version__, "cwd": str(cwd), "options": options}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _file_digest(path: Path) -> str | None:
    try:
        return sha256_file(path)
    except OSError:
        return None


def _host_files() -> list[Path]:
    """The compilers rendering and building use (their version is in every compiled recipe)."""
    found = (shutil.which(name) for name in COMPILERS)
    return sorted({Path(os.path.realpath(path)) for path in found if path})


class Record:
    """The inputs (and result) of one successful invocation, under `.pmpm/<kind>/`."""

    def __init__(self, state_dir: Path, key: str, kind: str = "noop"):
        self.path = Path(state_dir) / kind / f"{key}.json"

    def load(self) -> dict | None:
        """The record if nothing it depended on changed, else None."""
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        if data.get("cpu") != cpu_identity():
            return None
        if any(_file_digest(Path(p)) != digest for p, digest in data["files"].items()):
            return None
        if any(not Path(p).is_file() for p in data["packages"]):
            return None
        if any(
            not Path(p).is_dir() or str(Path(p).resolve()) != resolved for p, resolved in data.get("dirs", {}).items()
        ):
            return None
        if any(tree_digest(Path(p)) != digest for p, digest in data["trees"].items()):
            return None
        return data

    def replay(self) -> dict | None:
        """The previous build's report, every package up to date, if nothing it depended on changed."""
        data = self.load()
        if data is None:
            return None
        report = {**data["report"], "replayed": True}
        for package in report["packages"]:
            package.update(status="up to date", seconds=0.0, script_seconds=0.0, log=None, message="")
        return report

    def save(
        self,
        report: dict,
        *,
        files: Iterable[Path],
        trees: dict[Path, str | None] | None = None,
        packages: Iterable[Path] = (),
        dirs: Iterable[Path] = (),
    ) -> None:
        """Remember this run; written atomically, so a concurrent replay reads the old or the new record.
        `trees` maps each source tree to the digest the build already took of it (None: take it here);
        `dirs` must still exist and resolve to where they do now (only their place matters)."""
        all_files = {*map(Path, files), *_host_files()}
        data = {
            "cpu": cpu_identity(),
            "report": report,
            "files": {str(p): _file_digest(p) for p in sorted(all_files)},
            "trees": {str(p): digest or tree_digest(Path(p)) for p, digest in sorted((trees or {}).items())},
            "dirs": {str(p): str(Path(p).resolve()) for p in sorted(map(Path, dirs))},
            "packages": sorted(map(str, packages)),
        }
        atomic_write(self.path, json.dumps(data, indent=1, sort_keys=True))

    def forget(self) -> None:
        self.path.unlink(missing_ok=True)


def build_record(targets: Iterable[Path], recipes, options, render_dir: Path) -> Record:
    """Where `pmpm build TARGETS` with these options (`pmpm.options` groups) is remembered."""
    from ..options import key

    fields = key(recipes, options.channels, options.settings, options.engine)
    return Record(
        Path(options.state_dir).absolute(),
        invocation_key(
            Path.cwd(),
            {
                "targets": [str(Path(t).absolute()) for t in targets],
                "render_dir": str(Path(render_dir).absolute()),
                **fields,
            },
        ),
    )

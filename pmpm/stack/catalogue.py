"""The catalogue of known packages behind the original pmpm shorthand.

`_pmpm: {dependencies: [fftw, mpi4py=4.0.1]}` names packages whose full definition (source,
build kind, options) lives in `catalogue/<name>.yml`. `name=REF` overrides a git source's
revision, or the version of any other source.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Protocol

from .. import resources
from ..order import NAME_RE
from ..yamlio import read_yaml
from .model import COMPILERS


class _Where(Protocol):
    """A position in the stack file (the stack's own `_Where`), for errors: the stack validates entries."""

    def error(self, what: str, fix: str | None = None, key: str | None = None) -> Exception: ...


class Catalogue:
    """Package definitions keyed by name, read lazily from one directory."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    @classmethod
    def default(cls) -> "Catalogue":
        return cls(resources.catalogue_dir())

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.yml"))

    def expand(self, entry: str, where: "_Where", compiler: str = "system") -> dict:
        """Turn a shorthand entry `name` or `name=ref` into a package definition (validated by the stack),
        for the stack's `_pmpm.compiler` mode."""
        name, _, ref = str(entry).partition("=")
        name, ref = name.strip(), ref.strip()
        if not NAME_RE.match(name):
            raise where.error(f"invalid package name {name!r}", fix="write NAME or NAME=GITREF")
        path = self.directory / f"{name}.yml"
        if not path.is_file():
            close = difflib.get_close_matches(name, self.names(), n=3)
            hint = f"did you mean {', '.join(close)}? or " if close else ""
            raise where.error(f"{name!r} is not in the pmpm catalogue", fix=f"{hint}define it under _pmpm.packages")
        data = dict(read_yaml(path))
        data.setdefault("name", name)
        # `conda:`/`system:` hold what only one compiler mode takes, e.g. conda-forge's libblas in
        # conda mode where system mode links the host's BLAS that CMake finds by itself.
        modes = {mode: data.pop(mode, None) or {} for mode in COMPILERS}
        _merge(data, modes[compiler])
        # `refs:` names the refs the original pmpm used (toast=toast3) for what this entry pins.
        ref = str((data.pop("refs", None) or {}).get(ref, ref))
        if ref:
            _apply_ref(data, ref, where)
        return data


def _merge(data: dict, extra: dict) -> None:
    """Add a mode's keys to an entry: lists are extended, mappings (requirements) merged key by key."""
    for key, value in extra.items():
        if isinstance(value, list):
            data[key] = [*(data.get(key) or []), *value]
        elif isinstance(value, dict):
            merged = dict(data.get(key) or {})
            _merge(merged, value)
            data[key] = merged
        else:
            data[key] = value


def _version_of(ref: str, base: str) -> str:
    """The conda version a git ref stands for: `v0.3.28` -> 0.3.28; a branch -> BASE+git.BRANCH."""
    tag = re.fullmatch(r"[vV]?(\d+(?:\.\d+)*[A-Za-z0-9.]*)", ref)
    return tag.group(1) if tag else f"{base}+git.{re.sub(r'[^A-Za-z0-9_.]', '_', ref)}"


def _apply_ref(data: dict, ref: str, where: "_Where") -> None:
    source = dict(data.get("source") or {})
    if "git" in source:
        source["rev"] = ref
        data["version"] = _version_of(ref, str(data.get("version", "0")))
    elif "pypi" in source:
        if not re.fullmatch(r"[A-Za-z0-9_.+!]+", ref) or not ref[0].isdigit():
            raise where.error(
                f"{data['name']!r} comes from PyPI: ={ref} must be a version",
                fix=f"write {data['name']}=VERSION, e.g. {data['name']}={data.get('version')}",
            )
        data["version"] = ref
        source["pypi"] = f"{source['pypi'].split('==')[0]}=={ref}"
        source.pop("sha256", None)
    else:
        raise where.error(
            f"{data['name']!r} has a {next(iter(source), 'path')} source: =REF only selects a git rev or a PyPI version",
            fix="define the package under _pmpm.packages to change its source",
        )
    data["source"] = source

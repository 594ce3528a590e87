"""PyPI sources: `pypi: NAME==VERSION` as the sdist (or, `wheel: true`, the wheel) pip fetched,
by `file://` URL and sha256.

pip already knows how the user reaches PyPI (index URL, extra indexes, find-links, proxies,
certificates, from pip.conf and PIP_* variables), so pmpm asks pip to download the sdist and
hands the engine that very file: a recipe never names pypi.org, which a mirror would 404.

The cache under `~/.cache/pmpm/sdists/` is content-addressed and safe for concurrent pmpm
processes: `sha256/<digest>/<file>` is only ever created by an atomic rename of a complete
download, and `index/<name>==<version>.json` (written the same way) remembers which digest a
requirement resolved to. A stack that gives sha256 is served by digest without asking pip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .. import network, user_cache
from ..errors import NetworkTimeout, NotOnIndex, StackError
from ..files import atomic_write, sha256_file
from ..order import canonical

_FIX_INDEX = "check the name and version, and which index pip uses: pip config list"
# What pip fetches: the sdist, the wheel pip picks for this host, or a pure-Python (py3-none-any) one.
Form = Literal["sdist", "wheel", "pure"]
_PIP_FORM = {
    "sdist": lambda name: ["--no-binary", name],  # not :all:, which would build the build backend from source too
    "wheel": lambda name: ["--only-binary", ":all:"],
    "pure": lambda name: ["--only-binary", ":all:", "--platform", "any", "--implementation", "py", "--abi", "none"],
}


def pypi_form(source, noarch: str | None) -> Form:
    """What a `pypi:` source is taken as: its sdist, or (`wheel: true`) its wheel, pure for noarch python."""
    if not source.wheel:
        return "sdist"
    return "pure" if noarch == "python" else "wheel"


@dataclass(frozen=True)
class Sdist:
    filename: str
    sha256: str
    path: Path

    @property
    def url(self) -> str:
        return self.path.as_uri()


def resolve_sdist(
    requirement: str,
    sha256: str | None = None,
    *,
    offline: bool = False,
    form: Form = "sdist",
    python: str | None = None,
) -> Sdist:
    """The sdist (or wheel) of `name==version` (with this sha256, if given): from the cache, else through pip.

    A binary wheel is the one for `python` (the stack's, e.g. "3.11"), not for the Python pmpm runs on.
    """
    store = user_cache("sdists")
    expected = sha256.lower() if sha256 else None
    target = python if form == "wheel" else None
    sdist = (_by_digest(store, expected) if expected else None) or _by_requirement(store, requirement, form, target)
    if sdist is None and offline:
        raise StackError(
            f"--offline: the {form} of {requirement} is not in pmpm's cache ({store})",
            fix="fill a mirror with `pmpm fetch` and pass --source-mirror DIR, render once online, or drop --offline",
        )
    if sdist is None:
        sdist = _download(store, requirement, form, target)
    if expected and sdist.sha256 != expected:
        raise StackError(
            f"pypi source {requirement}: the stack gives sha256 {expected} but the sdist pip fetched "
            f"({sdist.filename}) has {sdist.sha256}",
            fix="correct sha256 in the stack, or check which index pip uses: pip config list",
        )
    return sdist


def _by_digest(store: Path, digest: str) -> Sdist | None:
    directory = store / "sha256" / digest
    files = sorted(directory.iterdir()) if directory.is_dir() else []
    return Sdist(files[0].name, digest, files[0]) if files else None


def _index_entry(store: Path, requirement: str, form: Form, python: str | None) -> Path:
    name, _, version = requirement.partition("==")
    suffix = ("" if form == "sdist" else f".{form}") + (f"-py{python}" if python else "")
    return store / "index" / f"{canonical(name)}=={version}{suffix}.json"


def _by_requirement(store: Path, requirement: str, form: Form, python: str | None) -> Sdist | None:
    try:
        entry = json.loads(_index_entry(store, requirement, form, python).read_text())
        path = store / "sha256" / entry["sha256"] / entry["filename"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent, or another process's half-written index predating atomic writes
    return Sdist(entry["filename"], entry["sha256"], path) if path.is_file() else None


def _download(store: Path, requirement: str, form: Form, python: str | None) -> Sdist:
    """pip download into a private directory, then publish by rename: concurrent runs never see half a file."""
    (store / "tmp").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=store / "tmp") as tmp:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                *network.pip_args(),
                *_PIP_FORM[form](requirement.split("==")[0]),
                *(["--python-version", python] if python else []),
                "--no-deps",
                "--disable-pip-version-check",
                "-q",
                "-d",
                tmp,
                requirement,
            ],
            capture_output=True,
            text=True,
        )
        files = list(Path(tmp).iterdir())
        if proc.returncode and (waited := network.pip_timed_out(proc.stderr)):
            raise NetworkTimeout(f"cannot fetch the sdist of {requirement} through pip: {waited}")
        if proc.returncode or len(files) != 1:
            raise NotOnIndex(
                f"cannot fetch the {form} of {requirement} through pip: {pip_reason(proc.stderr)}", fix=_FIX_INDEX
            )
        digest = sha256_file(files[0])
        target = store / "sha256" / digest / files[0].name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(files[0], target)
    atomic_write(
        _index_entry(store, requirement, form, python), json.dumps({"filename": target.name, "sha256": digest})
    )
    return Sdist(target.name, digest, target)


def pip_reason(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if any("No module named pip" in line for line in lines):
        return "pip is not installed in pmpm's Python"
    return next(
        (line for line in lines if line.lower().startswith("error")), lines[-1] if lines else "no sdist downloaded"
    )

"""Lock files: what `pmpm lock` writes and `create --locked`, `bundle` and `verify` read.

`STACK.lock` is rattler's lock format (pixi.lock's, version 7): the conda records, and the
stack's `pip:` list resolved to exact wheels as pixi's `pypi:` entries, each with its
`sha256:` field (py-rattler 0.28's `add_pypi_package` takes no hash, so the field is added
to the written YAML and checked by reading the file back with rattler). A first comment line
holds a hash of the stack's inputs (channels, conda specs, pip list, local packages): a lock
whose hash differs from the stack's is stale, as pixi reports a lock file that no longer
satisfies its manifest.

Beside it, two `@EXPLICIT` lists: `STACK-linux-64.txt` with md5 (every conda) and
`STACK-linux-64.sha256.txt` with sha256, which conda reads from 24.9 on (conda/conda#14048;
older conda fails to parse a 64-character hash, hence two files).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from rattler import LockChannel, LockFile, LockPlatform

from .channel import PLATFORM
from .errors import SolveError, first_line

INPUTS_PREFIX = "# pmpm-inputs: sha256:"


@dataclass(frozen=True)
class Wheel:
    """One locked pip package: an exact wheel, by URL and sha256."""

    name: str
    version: str
    url: str
    sha256: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1].split("#", 1)[0]

    def requirement(self) -> str:
        """A line for pip's hash-checking mode (`--require-hashes`)."""
        return f"{self.name}=={self.version} --hash=sha256:{self.sha256}"


@dataclass
class Locked:
    """A lock file's content: conda records, wheels, the stack inputs it was made from."""

    path: Path
    records: list
    wheels: list[Wheel]
    inputs: str | None
    channels: list[str]

    def python_version(self) -> str | None:
        python = next((r for r in self.records if r.name.normalized == "python"), None)
        return ".".join(str(python.version).split(".")[:2]) if python else None


def inputs_hash(stack) -> str:
    """What a lock is made from (a `StackSummary`); any change makes the lock stale."""
    inputs = {"channels": list(stack.channels), "conda": list(stack.conda_specs),
              "pip": list(stack.pip_requirements), "packages": list(stack.package_names)}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def lock_paths(stack_path: Path) -> tuple[Path, Path]:
    """`STACK.lock` and `STACK-linux-64.txt` beside the stack file."""
    return stack_path.with_suffix(".lock"), stack_path.with_name(f"{stack_path.stem}-{PLATFORM}.txt")


def sha256_explicit_path(explicit_path: Path) -> Path:
    return explicit_path.with_name(f"{explicit_path.stem}.sha256.txt")


# --- pip: list -> wheels -------------------------------------------------------------

def canonical(name: str) -> str:
    """PEP 503 names, to compare pip and conda names."""
    return re.sub(r"[-_.]+", "-", name).lower()


def resolve_pip(requirements: Sequence[str], python_version: str | None, conda_names: Sequence[str] = ()) -> list[Wheel]:
    """The pip: list resolved by pip's own resolver (the user's index configuration) to exact wheels.

    No environment exists at lock time, so pmpm's pip resolves for the locked python's
    version (`--python-version`, linux-64 is this host's platform) with `--dry-run --report`.
    Wheels only: a locked sdist would have to be built at install time, with a build backend
    and its network. Packages the conda part already provides are left to conda, and
    `create --locked` installs with `--no-deps`, so pip never replaces them.
    """
    if not requirements:
        return []
    if python_version is None:
        raise SolveError("the stack has a pip: list but the environment has no python (add python and pip to dependencies)")
    with tempfile.TemporaryDirectory(prefix="pmpm-pip-") as tmp:
        report = Path(tmp) / "report.json"
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                               "--no-input", "--report", str(report), "--target", str(Path(tmp) / "target"),
                               "--python-version", python_version, "--only-binary", ":all:", *requirements],
                              capture_output=True, text=True)
        if proc.returncode:
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise SolveError(f"pip cannot resolve {' '.join(requirements)} to wheels for python {python_version} "
                             f"(locking needs wheels; build an sdist-only package in _pmpm.packages):\n{tail}")
        installs = json.loads(report.read_text())["install"]
    provided = {canonical(n) for n in conda_names}
    wheels = []
    for item in installs:
        info, archive = item["metadata"], item["download_info"]
        if canonical(info["name"]) in provided:
            continue
        sha256 = archive.get("archive_info", {}).get("hashes", {}).get("sha256")
        if not sha256:
            raise SolveError(f"pip gave no sha256 for {info['name']} {info['version']} ({archive['url']})")
        wheels.append(Wheel(canonical(info["name"]), info["version"], archive["url"], sha256))
    return sorted(wheels, key=lambda w: w.name)


# --- writing -------------------------------------------------------------------------

def write_lock(records: list, channels: Sequence[str], lock_path: Path, explicit_path: Path, *,
               wheels: Sequence[Wheel] = (), inputs: str | None = None) -> None:
    """The lock file and both @EXPLICIT lists, each written atomically."""
    platform = LockPlatform(PLATFORM)
    lock = LockFile([platform])
    lock.set_channels("default", [LockChannel(c) for c in channels])
    ordered = sorted(records, key=lambda r: r.name.normalized)
    for record in ordered:
        lock.add_conda_package("default", platform, record)
    for wheel in wheels:
        lock.add_pypi_package("default", platform, wheel.name, wheel.version, wheel.url)
    tmp = lock_path.with_name(f".{lock_path.name}.tmp")
    lock.to_path(tmp)
    _add_wheel_hashes(tmp, wheels)
    text = tmp.read_text()
    tmp.write_text((f"{INPUTS_PREFIX}{inputs}\n" if inputs else "") + text)
    os.replace(tmp, lock_path)
    _write_explicit(explicit_path, [f"{r.url}#{r.md5.hex()}" for r in ordered])
    _write_explicit(sha256_explicit_path(explicit_path), [f"{r.url}#{r.sha256.hex()}" for r in ordered],
                    note="# needs conda >= 24.9 (sha256 hashes); older conda: use the md5 list beside it")


def _add_wheel_hashes(path: Path, wheels: Sequence[Wheel]) -> None:
    """pixi's `sha256:` field on each `pypi:` package entry, then read back by rattler to prove it."""
    if not wheels:
        return
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.width = 1 << 16
    data = yaml.load(path.read_text())
    by_url = {w.url: w for w in wheels}
    for entry in data["packages"]:
        if "pypi" in entry and entry["pypi"] in by_url:
            entry["sha256"] = by_url[entry["pypi"]].sha256
    with open(path, "w") as f:
        yaml.dump(data, f)
    read = {w.url: w.sha256 for w in _read(path).wheels}
    if read != {w.url: w.sha256 for w in wheels}:
        raise SolveError(f"{path}: rattler does not read back the pip hashes written (py-rattler changed its lock format?)")


def _write_explicit(path: Path, urls: list[str], note: str | None = None) -> None:
    lines = ["# This file may be used to create an environment using:",
             f"# $ conda create --prefix <env> --file {path.name}", *([note] if note else []),
             f"# platform: {PLATFORM}", "@EXPLICIT", *urls]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)


# --- reading -------------------------------------------------------------------------

def read_lock(lock_path: Path) -> Locked:
    """A lock file's records, wheels and inputs hash."""
    try:
        return _read(Path(lock_path))
    except SolveError:
        raise
    except Exception as exc:  # rattler's parse errors, a missing file
        raise SolveError(f"{lock_path}: not a readable lock file: {first_line(exc)} (run `pmpm lock` again)") from None


def _read(path: Path) -> Locked:
    lock = LockFile.from_path(path)
    environment = lock.default_environment()
    platform = next((p for p in lock.platforms() if p.name == PLATFORM), None)
    if environment is None or platform is None:
        raise SolveError(f"{path}: no default environment for {PLATFORM} (run `pmpm lock` again)")
    records = environment.conda_repodata_records_for_platform(platform) or []
    wheels = [Wheel(p.name, p.version, p.location, p.hashes.sha256.hex())
              for p in environment.pypi_packages_for_platform(platform) or [] if p.hashes and p.hashes.sha256]
    with open(path) as f:
        first = f.readline().strip()
    inputs = first[len(INPUTS_PREFIX):] if first.startswith(INPUTS_PREFIX) else None
    return Locked(path, records, wheels, inputs, [str(c) for c in environment.channels()])


def check_fresh(locked: Locked, stack) -> None:
    """A lock made from other stack inputs is stale: say so rather than install the old set."""
    if locked.inputs != inputs_hash(stack):
        raise SolveError(f"{locked.path}: stale lock: {stack.path}'s dependencies, channels or pip: list changed "
                         f"since it was locked (run `pmpm lock {stack.path}`)")

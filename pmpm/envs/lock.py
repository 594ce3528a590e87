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

`pmpm lock --platform P` (repeatable) puts several platforms in the one lock file, as pixi
does, with both lists for each (`STACK-osx-arm64.txt`, ...). `create --locked`, `bundle` and
`verify` read the linux-64 part, the only platform pmpm installs on.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from rattler import LockChannel, LockFile, LockPlatform

from .. import network
from ..channel.layout import PLATFORM
from ..errors import SolveError, UsageError, first_line
from ..files import atomic_write, replacing
from ..order import canonical

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
    inputs = {
        "channels": list(stack.channels),
        "conda": list(stack.conda_specs),
        "pip": list(stack.pip_requirements),
        "packages": list(stack.package_names),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def lock_paths(stack_path: Path) -> tuple[Path, Path]:
    """`STACK.lock` and `STACK-linux-64.txt` beside the stack file."""
    return stack_path.with_suffix(".lock"), stack_path.with_name(f"{stack_path.stem}-{PLATFORM}.txt")


def explicit_path_for(lock_path: Path, platform: str) -> Path:
    """`STACK-<platform>.txt` beside `STACK.lock`."""
    return lock_path.with_name(f"{lock_path.stem}-{platform}.txt")


def sha256_explicit_path(explicit_path: Path) -> Path:
    return explicit_path.with_name(f"{explicit_path.stem}.sha256.txt")


# --- pip: list -> wheels -------------------------------------------------------------


# pip's --platform tags for a platform this host is not (pip widens macosx and manylinux2014 tags itself)
def pip_platform_tags(platform: str) -> list[str]:
    from .solve import DEFAULT_GLIBC, DEFAULT_OSX, GENERIC_ARCH

    family, _, arch = platform.partition("-")
    machine = GENERIC_ARCH.get(arch, arch)
    if family == "linux":
        glibc = int((os.environ.get("CONDA_OVERRIDE_GLIBC") or DEFAULT_GLIBC).split(".")[1])
        return [*(f"manylinux_2_{minor}_{machine}" for minor in range(glibc, 16, -1)), f"manylinux2014_{machine}"]
    if family == "osx":
        osx = (os.environ.get("CONDA_OVERRIDE_OSX") or DEFAULT_OSX).split(".")
        return [f"macosx_{osx[0]}_{osx[1] if len(osx) > 1 else 0}_{machine}"]
    if family == "win":
        return [{"64": "win_amd64", "32": "win32", "arm64": "win_arm64"}.get(arch, f"win_{arch}")]
    raise SolveError(f"{platform}: pmpm cannot resolve pip: packages for this platform")


def resolve_pip(
    requirements: Sequence[str], python_version: str | None, conda_names: Sequence[str] = (), platform: str = PLATFORM
) -> list[Wheel]:
    """The pip: list resolved by pip's own resolver (the user's index configuration) to exact wheels.

    No environment exists at lock time, so pmpm's pip resolves for the locked python's
    version (`--python-version`, linux-64 is this host's platform; another `platform` is given
    to pip as its wheel tags, `--platform`) with `--dry-run --report`.
    Wheels only: a locked sdist would have to be built at install time, with a build backend
    and its network. Packages the conda part already provides are left to conda, and
    `create --locked` installs with `--no-deps`, so pip never replaces them.
    """
    if not requirements:
        return []
    if python_version is None:
        raise UsageError(
            "the stack has a pip: list but the environment has no python", fix="add python and pip to dependencies"
        )
    with tempfile.TemporaryDirectory(prefix="pmpm-pip-") as tmp:
        report = Path(tmp) / "report.json"
        tags = [] if platform == PLATFORM else [a for tag in pip_platform_tags(platform) for a in ("--platform", tag)]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                *network.pip_args(),
                "--dry-run",
                "--ignore-installed",
                "--quiet",
                "--no-input",
                "--report",
                str(report),
                "--target",
                str(Path(tmp) / "target"),
                "--python-version",
                python_version,
                "--only-binary",
                ":all:",
                *tags,
                *requirements,
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode:
            if waited := network.pip_timed_out(proc.stderr):
                raise SolveError(f"pip cannot resolve {' '.join(requirements)}: {waited}")
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise SolveError(
                f"pip cannot resolve {' '.join(requirements)} to wheels for python {python_version} "
                f"{'' if platform == PLATFORM else f'on {platform} '}(locking needs wheels; build an sdist-only "
                f"package in _pmpm.packages):\n{tail}"
            )
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


def write_lock(
    records: list,
    channels: Sequence[str],
    lock_path: Path,
    explicit_path: Path,
    *,
    wheels: Sequence[Wheel] = (),
    inputs: str | None = None,
) -> None:
    """The lock file and both @EXPLICIT lists for linux-64, each written atomically."""
    write_locks({PLATFORM: (records, wheels)}, channels, lock_path, inputs=inputs, explicit={PLATFORM: explicit_path})


def write_locks(
    solved: dict[str, tuple[list, Sequence[Wheel]]],
    channels: Sequence[str],
    lock_path: Path,
    *,
    inputs: str | None = None,
    explicit: dict[str, Path] | None = None,
) -> dict[str, Path]:
    """One lock file holding every platform of `solved` (platform -> records, wheels), and both
    @EXPLICIT lists per platform (`STACK-<platform>.txt` unless `explicit` names them); returns those."""
    platforms = {name: LockPlatform(name) for name in solved}
    lock = LockFile(list(platforms.values()))
    lock.set_channels("default", [LockChannel(c) for c in channels])
    for name, (records, wheels) in solved.items():
        for record in sorted(records, key=lambda r: r.name.normalized):
            lock.add_conda_package("default", platforms[name], record)
        for wheel in wheels:
            lock.add_pypi_package("default", platforms[name], wheel.name, wheel.version, wheel.url)
    with replacing(lock_path) as tmp:
        lock.to_path(tmp)
        _add_wheel_hashes(tmp, {name: wheels for name, (_, wheels) in solved.items()})
        tmp.write_text((f"{INPUTS_PREFIX}{inputs}\n" if inputs else "") + tmp.read_text())
    written = {}
    for name, (records, _) in solved.items():
        path = (explicit or {}).get(name) or explicit_path_for(lock_path, name)
        ordered = sorted(records, key=lambda r: r.name.normalized)
        _write_explicit(path, [f"{r.url}#{r.md5.hex()}" for r in ordered], platform=name)
        _write_explicit(
            sha256_explicit_path(path),
            [f"{r.url}#{r.sha256.hex()}" for r in ordered],
            platform=name,
            note="# needs conda >= 24.9 (sha256 hashes); older conda: use the md5 list beside it",
        )
        written[name] = path
    return written


def _add_wheel_hashes(path: Path, per_platform: dict[str, Sequence[Wheel]]) -> None:
    """pixi's `sha256:` field on each `pypi:` package entry, then read back by rattler to prove it."""
    wheels = [w for ws in per_platform.values() for w in ws]
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
    read = {w.url: w.sha256 for name in per_platform for w in _read(path, name).wheels}
    if read != {w.url: w.sha256 for w in wheels}:
        raise SolveError(
            f"{path}: rattler does not read back the pip hashes written (py-rattler changed its lock format?)"
        )


def _write_explicit(path: Path, urls: list[str], note: str | None = None, platform: str = PLATFORM) -> None:
    lines = [
        "# This file may be used to create an environment using:",
        f"# $ conda create --prefix <env> --file {path.name}",
        *([note] if note else []),
        f"# platform: {platform}",
        "@EXPLICIT",
        *urls,
    ]
    atomic_write(path, "\n".join(lines) + "\n")


# --- reading -------------------------------------------------------------------------


def read_lock(lock_path: Path) -> Locked:
    """A lock file's records, wheels and inputs hash."""
    try:
        return _read(Path(lock_path))
    except (SolveError, UsageError):
        raise
    except Exception as exc:  # rattler's parse errors, a missing file
        raise UsageError(
            f"not a readable lock file: {first_line(exc)}", file=str(lock_path), fix="run `pmpm lock` again"
        ) from None


def _read(path: Path, platform_name: str = PLATFORM) -> Locked:
    """The `platform_name` part (linux-64: what pmpm installs) of a lock that may hold several platforms."""
    lock = LockFile.from_path(path)
    environment = lock.default_environment()
    platform = next((p for p in lock.platforms() if p.name == platform_name), None)
    if environment is None or platform is None:
        held = ", ".join(sorted(p.name for p in lock.platforms())) or "none"
        raise UsageError(
            f"no default environment for {platform_name}",
            file=str(path),
            fix=f"the lock holds {held}; run `pmpm lock --platform {platform_name}` again",
        )
    records = environment.conda_repodata_records_for_platform(platform) or []
    wheels = [
        Wheel(p.name, p.version, p.location, p.hashes.sha256.hex())
        for p in environment.pypi_packages_for_platform(platform) or []
        if p.hashes and p.hashes.sha256
    ]
    with open(path) as f:
        first = f.readline().strip()
    inputs = first[len(INPUTS_PREFIX) :] if first.startswith(INPUTS_PREFIX) else None
    return Locked(path, records, wheels, inputs, [str(c) for c in environment.channels()])


def check_fresh(locked: Locked, stack) -> None:
    """A lock made from other stack inputs is stale: say so rather than install the old set."""
    if locked.inputs != inputs_hash(stack):
        raise UsageError(
            f"stale lock: {stack.path}'s dependencies, channels or pip: list changed since it was locked",
            file=str(locked.path),
            fix=f"run `pmpm lock {stack.path}`",
        )

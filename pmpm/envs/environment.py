"""Final environments with py-rattler: solve, install, activate.

The local channel is listed first and solving (`solver`) uses strict channel priority,
so a local build always wins over a package of the same name upstream.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import sys
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import rattler
from rattler import MatchSpec

from .. import __version__, resources, user_cache
from ..channel.local import PLATFORM, LocalChannel, search_order
from ..errors import SolveError, first_line
from ..order import spec_name
from .solve import solve

if TYPE_CHECKING:
    from ..stack.model import Stack


def default_cache_dir() -> Path:
    return user_cache("pkgs")


def install(records: list, prefix: str | Path, *, specs: Sequence[str] = (), cache_dir: Path | None = None,
            command: str = "pmpm create", force: bool = False) -> Path:
    """Install exactly `records` into `prefix` and record the action in conda-meta/history.

    A non-empty directory that is not a conda environment is refused unless `force`. While
    installing, conda-meta/pmpm-create holds this process's host and pid: a run that finds the
    marker of a process that is gone removes the half-made environment and starts clean.
    """
    prefix = Path(prefix).absolute()
    cache = cache_dir or default_cache_dir()
    marker = _claim_prefix(prefix, force)
    try:
        asyncio.run(rattler.install(records, target_prefix=prefix, cache_dir=cache, show_progress=False,
                                    requested_specs=[MatchSpec(s)._match_spec for s in specs]))
    except Exception as exc:  # rattler's install/link errors
        raise SolveError(f"{prefix}: install failed: {first_line(exc)}") from None
    _write_history(prefix, records, specs, command)
    marker.unlink(missing_ok=True)
    return prefix


CREATING = "pmpm-create"  # conda-meta/pmpm-create: "<host> <pid>" of a create under way


def _claim_prefix(prefix: Path, force: bool) -> Path:
    """Check that `prefix` may be installed into, clear what a killed create left, mark it ours."""
    import shutil

    from ..errors import InputError
    from ..state import host

    marker = prefix / "conda-meta" / CREATING
    if prefix.exists() and not prefix.is_dir():
        raise InputError("exists and is not a directory", file=str(prefix), fix="choose another -p/--prefix")
    if marker.is_file():
        from ..state import pid_alive

        marked, _, pid = marker.read_text().strip().partition(" ")
        if marked == host() and pid.isdigit() and pid_alive(int(pid)) and int(pid) != os.getpid():
            raise SolveError(f"{prefix}: pmpm process {pid} is creating this environment (wait for it to finish)")
        if marked == host():
            print(f"pmpm: removing {prefix}: an interrupted `pmpm create` (process {pid}, which is gone) left it "
                  "half-made", file=sys.stderr, flush=True)
            shutil.rmtree(prefix)
    elif prefix.is_dir() and any(prefix.iterdir()) and not (prefix / "conda-meta").is_dir() and not force:
        raise InputError("exists, is not empty and is not a conda environment", file=str(prefix),
                         fix="choose another -p/--prefix, or pass --force to install into it")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{host()} {os.getpid()}\n")
    return marker


def _write_history(prefix: Path, records: list, specs: Sequence[str], command: str) -> None:
    """conda's history format, so conda and mamba treat the prefix as one of theirs."""
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    dists = sorted(f"{r.channel.rstrip('/')}::{r.name.normalized}-{r.version}-{r.build}" for r in records)
    lines = [f"==> {stamp} <==", f"# cmd: {command}", f"# conda version: pmpm-{__version__}",
             *(f"+{d}" for d in dists), f"# update specs: {list(specs)}", ""]
    history = prefix / "conda-meta" / "history"
    history.parent.mkdir(parents=True, exist_ok=True)
    with open(history, "a") as f:
        f.write("\n".join(lines))


def activated_environment(prefix: str | Path) -> dict[str, str]:
    """The environment variables of `prefix` activated (PATH, CONDA_PREFIX, activate.d scripts)."""
    prefix = Path(prefix).absolute()
    if not (prefix / "conda-meta").is_dir():
        raise SolveError(f"{prefix}: not a conda environment (no conda-meta/; create it with `pmpm create`)")
    from rattler.shell import ActivationVariables, PathModificationBehavior, Shell, activate

    result = activate(prefix, ActivationVariables(None, os.environ.get("PATH", "").split(os.pathsep),
                                                  path_modification_behavior=PathModificationBehavior.Prepend),
                      Shell.bash)
    out = subprocess.run(["bash", "-c", result.script + "\nenv -0"], capture_output=True, check=True).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


# --- the stack's final environment ---------------------------------------------------

@dataclass
class StackSummary:
    """What an environment needs from a stack file: the conda part and the local package names."""

    path: Path
    channels: list[str]
    conda_specs: list[str]
    pip_requirements: list[str]
    package_names: list[str]


def summarize(stack_path: str | Path, channel: str | Path | None = None) -> StackSummary:
    """The summary of a validated stack, cached by the file's content.

    Validation (pydantic, ruamel, the catalogue) costs more than solving a small
    environment (a second for a stack of 300 packages); an unchanged stack was validated
    already. The key covers the stack's bytes, the catalogue's entries and pmpm's version;
    any change validates afresh. The summary is kept in pmpm's user cache; `pmpm build`
    also leaves it in the local `channel` it built the stack into (`share_summary`), so a
    create with a fresh user cache (a new XDG_CACHE_HOME, a CI job, another user of a
    shared channel) does not validate again. Reading never writes into a channel.
    """
    import json

    path = Path(stack_path)
    try:
        content = path.read_bytes()
    except OSError:
        content = b""
    key = _summary_key(content)
    cache = user_cache("stacks", f"{key}.json")
    shared = _shared_summary(channel, key) if channel is not None else None
    if content:
        for place in (cache, shared):
            if place is not None and place.is_file():
                try:
                    summary = StackSummary(path=path, **json.loads(place.read_text()))
                except (OSError, ValueError, TypeError):  # half-written or from another layout: validate afresh
                    continue
                if place is shared:
                    _store_quietly(cache, summary)
                return summary
    from ..stack.model import load_stack

    summary = _summary_of(load_stack(path))
    _store_quietly(cache, summary)
    return summary


def share_summary(stack_path: Path, channel: Path) -> None:
    """Leave the stack's summary in the channel it was just built into (see `summarize`)."""
    summary = summarize(stack_path)
    if Path(channel, ".pmpm").is_dir():  # an existing channel's bookkeeping, never a new directory
        _store_quietly(_shared_summary(channel, _summary_key(Path(stack_path).read_bytes())), summary)


def _shared_summary(channel: str | Path, key: str) -> Path:
    return Path(channel, ".pmpm", "stacks", f"{key}.json")


def _store_quietly(place: Path, summary: StackSummary) -> None:
    try:
        _store(place, summary)
    except OSError:  # a read-only cache or channel only costs the next create a validation
        pass


def remember_summary(stack: "Stack") -> None:
    """Keep the summary of a stack validated elsewhere (render): the next create reads it."""
    try:
        _store(user_cache("stacks", f"{_summary_key(stack.path.read_bytes())}.json"), _summary_of(stack))
    except OSError:  # a read-only cache only costs the next create a validation
        pass


def _summary_of(stack: "Stack") -> StackSummary:
    return StackSummary(stack.path, stack.channels, stack.conda_specs, stack.pip_requirements,
                        [p.name for p in stack.packages])


def _summary_key(content: bytes) -> str:
    """The stack's bytes, the catalogue's entries (names and times) and pmpm's version."""
    import hashlib

    # resources, not pmpm.catalogue: that module loads pydantic.
    catalogue = sorted((p.name, p.stat().st_mtime_ns) for p in resources.catalogue_dir().glob("*.yml"))
    return hashlib.sha256(content + repr(catalogue).encode() + __version__.encode()).hexdigest()


def _store(cache: Path, summary: StackSummary) -> None:
    """Write a summary under a temporary name and rename it into place: readers never see half a file."""
    import json

    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({k: v for k, v in vars(summary).items() if k != "path"}))
        os.replace(tmp, cache)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass
class EnvironmentRequest:
    """What `create` and `lock` solve: specs, channels in priority order, the target CPU and platform."""

    specs: list[str]
    channels: list[str]
    archspec: str | None = None
    platform: str = PLATFORM


def request_for(stack: StackSummary, local: LocalChannel, *, extra_channels: Sequence[str] = (),
                override_channels: bool = False, offline: bool = False, archspec: str | None = None,
                platform: str = PLATFORM) -> EnvironmentRequest:
    """The stack's conda dependencies plus its local packages, local builds pinned to the local channel.

    Strict channel priority already keeps dependencies local; a root spec needs the explicit
    `channel::name` form, or the solver may take a higher version of the same name upstream.
    For another `platform` than linux-64 (`pmpm lock --platform`), pmpm's builds serve only
    when they are noarch: a compiled local package is refused, naming it and the platform.
    """
    if not local.path.is_dir() and stack.package_names:
        raise SolveError(f"{local.path}: no local channel (run `pmpm build {stack.path}` first, or pass --channel)")
    channels = search_order(local, stack.channels, list(extra_channels), override=override_channels, offline=offline)
    if not local.path.is_dir():
        channels.remove(local.url)  # a plain environment.yml: nothing built here
    local_names = {record["name"] for record in local.packages().values()} if local.path.is_dir() else set()
    missing = [name for name in stack.package_names if name not in local_names]
    if missing:
        raise SolveError(f"{local.path}: no build of {', '.join(missing)} (run `pmpm build {stack.path}` first)")
    if platform != PLATFORM:
        builds = local.packages() if local.path.is_dir() else {}
        compiled = [name for name in stack.package_names
                    if not any(key.startswith("noarch/") and record["name"] == name for key, record in builds.items())]
        if compiled:
            raise SolveError(f"{', '.join(compiled)}: built for {PLATFORM} only (not noarch), so {stack.path} cannot be "
                             f"locked for {platform} (pmpm builds for {PLATFORM}; lock --platform {PLATFORM} or make "
                             f"{'it' if len(compiled) == 1 else 'them'} noarch)")
    named = {spec_name(s) for s in stack.conda_specs}
    wanted = [*stack.conda_specs, *(n for n in stack.package_names if n not in named)]
    specs = [f"{local.url}::{spec}" if spec_name(spec) in local_names else spec for spec in wanted]
    return EnvironmentRequest(specs, channels, archspec, platform)


def solve_request(request: EnvironmentRequest) -> list:
    return solve(request.specs, request.channels, archspec=request.archspec, platform=request.platform)


def create(stack: StackSummary | None, prefix: str | Path, request: EnvironmentRequest | None = None, *,
           records: list | None = None, wheels: Sequence | None = None, wheelhouse: Path | None = None,
           cache_dir: Path | None = None, command: str = "pmpm create", force: bool = False) -> Path:
    """Solve (or take locked records), install, then apply the stack's `pip:` list (or the locked wheels)."""
    records = records if records is not None else solve_request(request)
    specs = request.specs if request else [f"{r.name.normalized}=={r.version}={r.build}" for r in records]
    prefix = install(records, prefix, specs=specs, cache_dir=cache_dir, command=command, force=force)
    if wheels is not None:
        pip_install_locked(prefix, wheels, wheelhouse)
    else:
        pip_install(prefix, stack.pip_requirements)
    return prefix


def pip_install(prefix: Path, requirements: Sequence[str]) -> None:
    """The stack's `pip:` list, installed by the environment's own pip, as conda env create does."""
    if not requirements:
        return
    python = prefix / "bin" / "python"
    if not python.exists():
        raise SolveError(f"{prefix}: the stack has a pip: list but the environment has no python (add python and pip to dependencies)")
    proc = subprocess.run([str(python), "-m", "pip", "install", "--no-input", *requirements],
                          env=activated_environment(prefix), capture_output=True, text=True)
    if proc.returncode:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise SolveError(f"{prefix}: pip install {' '.join(requirements)} failed:\n{tail}")


def pip_install_locked(prefix: Path, wheels: Sequence, wheelhouse: Path | None = None) -> None:
    """Exactly the locked wheels: pip's hash-checking mode, no dependency resolution, and with a
    wheelhouse (a bundle's) no index at all."""
    if not wheels:
        return
    python = prefix / "bin" / "python"
    if not python.exists():
        raise SolveError(f"{prefix}: the lock has pip packages but the environment has no python")
    requirements = prefix / "conda-meta" / ".pmpm-pip-locked.txt"
    requirements.write_text("".join(f"{w.requirement()}\n" for w in wheels))
    source = ["--no-index", "--find-links", str(wheelhouse)] if wheelhouse else []
    proc = subprocess.run([str(python), "-m", "pip", "install", "--no-input", "--no-deps", "--require-hashes",
                           "--only-binary", ":all:", *source, "-r", str(requirements)],
                          env=activated_environment(prefix), capture_output=True, text=True)
    requirements.unlink()
    if proc.returncode:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise SolveError(f"{prefix}: pip install of the locked wheels failed:\n{tail}")


# --- lock files (pmpm.lock owns them; these names stay for callers of this module) ---

def run(prefix: str | Path, argv: Sequence[str]) -> int:
    """Run a command with the environment activated; returns its exit code."""
    env = activated_environment(prefix)
    try:
        return subprocess.run(list(argv), env=env).returncode
    except FileNotFoundError:
        raise SolveError(f"{argv[0]}: command not found in {prefix} or on PATH") from None

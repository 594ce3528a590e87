"""Final environments with py-rattler: solve, install, activate.

The local channel is listed first and solving (`solver`) uses strict channel priority,
so a local build always wins over a package of the same name upstream.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import rattler
from rattler import MatchSpec

from .. import __version__, network, user_cache
from ..channel.layout import PLATFORM, Readable, search_order
from ..errors import SolveError, UsageError, first_line
from ..order import spec_name
from .solve import solve
from .summary import StackSummary

if TYPE_CHECKING:
    pass


def default_cache_dir() -> Path:
    return user_cache("pkgs")


def channel_counts(prefix: Path, channels: Sequence[str] | None = None) -> dict[str, int]:
    """How many packages of an environment came from each channel: of `channels` (those just
    installed, one per package), else as its conda-meta records say (~1 ms per 10 packages)."""
    if channels is None:
        channels = [json.loads(p.read_text()).get("channel", "?") for p in (Path(prefix) / "conda-meta").glob("*.json")]
    return dict(sorted(Counter((c or "?").rstrip("/") for c in channels).items()))


def install(
    records: list,
    prefix: str | Path,
    *,
    specs: Sequence[str] = (),
    cache_dir: Path | None = None,
    command: str = "pmpm create",
    force: bool = False,
) -> Path:
    """Install exactly `records` into `prefix` and record the action in conda-meta/history.

    A non-empty directory that is not a conda environment is refused unless `force`. While
    installing, conda-meta/pmpm-create holds this process's host and pid: a run that finds the
    marker of a process that is gone removes the half-made environment and starts clean.
    """
    prefix = Path(prefix).absolute()
    cache = cache_dir or default_cache_dir()
    marker = _claim_prefix(prefix, force)
    try:
        asyncio.run(
            rattler.install(
                records,
                target_prefix=prefix,
                cache_dir=cache,
                show_progress=False,
                requested_specs=[MatchSpec(s)._match_spec for s in specs],
                client=network.client_for([r.url for r in records], max((r.size or 0 for r in records), default=0)),
            )
        )
    except Exception as exc:  # rattler's install/link errors
        if network.timed_out(str(exc)):
            raise SolveError(f"{prefix}: install failed: {network.waited(network.url_in(exc))}") from None
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
            print(
                f"pmpm: removing {prefix}: an interrupted `pmpm create` (process {pid}, which is gone) left it "
                "half-made",
                file=sys.stderr,
                flush=True,
            )
            shutil.rmtree(prefix)
    elif prefix.is_dir() and any(prefix.iterdir()) and not (prefix / "conda-meta").is_dir() and not force:
        raise InputError(
            "exists, is not empty and is not a conda environment",
            file=str(prefix),
            fix="choose another -p/--prefix, or pass --force to install into it",
        )
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{host()} {os.getpid()}\n")
    return marker


def _write_history(prefix: Path, records: list, specs: Sequence[str], command: str) -> None:
    """conda's history format, so conda and mamba treat the prefix as one of theirs."""
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    dists = sorted(f"{r.channel.rstrip('/')}::{r.name.normalized}-{r.version}-{r.build}" for r in records)
    lines = [
        f"==> {stamp} <==",
        f"# cmd: {command}",
        f"# conda version: pmpm-{__version__}",
        *(f"+{d}" for d in dists),
        f"# update specs: {list(specs)}",
        "",
    ]
    history = prefix / "conda-meta" / "history"
    history.parent.mkdir(parents=True, exist_ok=True)
    with open(history, "a") as f:
        f.write("\n".join(lines))


def activated_environment(prefix: str | Path) -> dict[str, str]:
    """The environment variables of `prefix` activated (PATH, CONDA_PREFIX, activate.d scripts)."""
    prefix = Path(prefix).absolute()
    if not (prefix / "conda-meta").is_dir():
        raise UsageError(
            "not a conda environment (no conda-meta/)", file=str(prefix), fix="create it with `pmpm create`"
        )
    from rattler.shell import ActivationVariables, PathModificationBehavior, Shell, activate

    result = activate(
        prefix,
        ActivationVariables(
            None,
            os.environ.get("PATH", "").split(os.pathsep),
            path_modification_behavior=PathModificationBehavior.Prepend,
        ),
        Shell.bash,
    )
    out = subprocess.run(["bash", "-c", result.script + "\nenv -0"], capture_output=True, check=True).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


# --- the stack's final environment ---------------------------------------------------


@dataclass
class EnvironmentRequest:
    """What `create` and `lock` solve: specs, channels in priority order, the target CPU and platform."""

    specs: list[str]
    channels: list[str]
    archspec: str | None = None
    platform: str = PLATFORM


def request_for(
    stack: StackSummary,
    local: Readable,
    *,
    extra_channels: Sequence[str] = (),
    override_channels: bool = False,
    offline: bool = False,
    archspec: str | None = None,
    platform: str = PLATFORM,
) -> EnvironmentRequest:
    """The stack's conda dependencies plus its local packages, local builds pinned to the local channel.

    Strict channel priority already keeps dependencies local; a root spec needs the explicit
    `channel::name` form, or the solver may take a higher version of the same name upstream.
    For another `platform` than linux-64 (`pmpm lock --platform`), pmpm's builds serve only
    when they are noarch: a compiled local package is refused, naming it and the platform.
    """
    exists = local.exists()
    if not exists and stack.package_names:
        raise UsageError(
            "no local channel", file=str(local.path), fix=f"run `pmpm build {stack.path}` first, or pass --channel"
        )
    channels = search_order(local, stack.channels, list(extra_channels), override=override_channels, offline=offline)
    if not exists:
        channels.remove(local.url)  # a plain environment.yml: nothing built here
    builds = local.packages() if exists else {}
    local_names = {record["name"] for record in builds.values()}
    missing = [name for name in stack.package_names if name not in local_names]
    if missing:
        raise UsageError(
            f"no build of {', '.join(missing)}", file=str(local.path), fix=f"run `pmpm build {stack.path}` first"
        )
    if platform != PLATFORM:
        compiled = [
            name
            for name in stack.package_names
            if not any(key.startswith("noarch/") and record["name"] == name for key, record in builds.items())
        ]
        if compiled:
            raise SolveError(
                f"{', '.join(compiled)}: built for {PLATFORM} only (not noarch), so {stack.path} cannot be "
                f"locked for {platform} (pmpm builds for {PLATFORM}; lock --platform {PLATFORM} or make "
                f"{'it' if len(compiled) == 1 else 'them'} noarch)"
            )
    named = {spec_name(s) for s in stack.conda_specs}
    wanted = [*stack.conda_specs, *(n for n in stack.package_names if n not in named)]
    specs = [f"{local.url}::{spec}" if spec_name(spec) in local_names else spec for spec in wanted]
    return EnvironmentRequest(specs, channels, archspec, platform)


def solve_request(request: EnvironmentRequest) -> list:
    return solve(request.specs, request.channels, archspec=request.archspec, platform=request.platform)


def create(
    stack: StackSummary | None,
    prefix: str | Path,
    request: EnvironmentRequest | None = None,
    *,
    records: list | None = None,
    wheels: Sequence | None = None,
    wheelhouse: Path | None = None,
    cache_dir: Path | None = None,
    command: str = "pmpm create",
    force: bool = False,
) -> Path:
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
        raise SolveError(
            f"{prefix}: the stack has a pip: list but the environment has no python (add python and pip to dependencies)"
        )
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-input", *network.pip_args(), *requirements],
        env=activated_environment(prefix),
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        if waited := network.pip_timed_out(proc.stderr):
            raise SolveError(f"{prefix}: pip install {' '.join(requirements)}: {waited}")
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
    proc = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--no-input",
            *network.pip_args(),
            "--no-deps",
            "--require-hashes",
            "--only-binary",
            ":all:",
            *source,
            "-r",
            str(requirements),
        ],
        env=activated_environment(prefix),
        capture_output=True,
        text=True,
    )
    requirements.unlink()
    if proc.returncode:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise SolveError(f"{prefix}: pip install of the locked wheels failed:\n{tail}")


def run(prefix: str | Path, argv: Sequence[str]) -> int:
    """Run a command with the environment activated; returns its exit code."""
    env = activated_environment(prefix)
    try:
        return subprocess.run(list(argv), env=env).returncode
    except FileNotFoundError:
        raise SolveError(f"{argv[0]}: command not found in {prefix} or on PATH") from None

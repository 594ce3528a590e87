"""Final environments with py-rattler: solve, install, activate.

Channels are searched in order with strict priority, so the local channel, listed
first, always wins over a package of the same name upstream. Virtual packages are
detected on this host; `CONDA_OVERRIDE_ARCHSPEC` / `CONDA_OVERRIDE_GLIBC` (or an explicit
`archspec=`) override them as in conda and mamba.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import subprocess
from pathlib import Path
from typing import Sequence

import rattler
from rattler import Gateway, MatchSpec, Override, VirtualPackage, VirtualPackageOverrides
from rattler.exceptions import GatewayError, InvalidMatchSpecError, SolverError
from rattler.shell import ActivationVariables, PathModificationBehavior, Shell, activate

from . import __version__
from .errors import SolveError

PLATFORMS = ["linux-64", "noarch"]


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pmpm" / "pkgs"


def channel_url(channel: str | Path) -> str:
    """Directories become file:// URLs; names and URLs pass through."""
    text = str(channel)
    if "://" not in text and (Path(text).is_dir() or text.startswith((".", "/"))):
        return Path(text).absolute().as_uri()
    return text


def virtual_packages(archspec: str | None = None) -> list:
    overrides = VirtualPackageOverrides.from_env()
    if archspec:
        overrides.archspec = Override.string(archspec)
    return VirtualPackage.detect(overrides)


def solve(specs: Sequence[str], channels: Sequence[str | Path], *, archspec: str | None = None) -> list:
    """Records for `specs`, channels in priority order (strict)."""
    urls = [channel_url(c) for c in channels]
    try:
        parsed = [MatchSpec(s) for s in specs]
    except InvalidMatchSpecError as exc:
        raise SolveError(f"invalid spec: {exc}") from None
    try:
        return asyncio.run(rattler.solve(urls, parsed, gateway=Gateway(), platforms=PLATFORMS,
                                         virtual_packages=virtual_packages(archspec)))
    except GatewayError as exc:
        raise SolveError(f"cannot read channel: {_first_line(exc)} (check the URL or path, or use --offline)") from None
    except SolverError as exc:
        raise SolveError(f"the environment cannot be solved:\n{_solver_message(exc)}") from None


def install(records: list, prefix: str | Path, *, specs: Sequence[str] = (), cache_dir: Path | None = None,
            command: str = "pmpm create") -> Path:
    """Install exactly `records` into `prefix` and record the action in conda-meta/history."""
    prefix = Path(prefix).absolute()
    cache = cache_dir or default_cache_dir()
    try:
        asyncio.run(rattler.install(records, target_prefix=prefix, cache_dir=cache, show_progress=False,
                                    requested_specs=[MatchSpec(s)._match_spec for s in specs]))
    except Exception as exc:  # rattler's install/link errors
        raise SolveError(f"{prefix}: install failed: {_first_line(exc)}") from None
    _write_history(prefix, records, specs, command)
    return prefix


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
    result = activate(prefix, ActivationVariables(None, os.environ.get("PATH", "").split(os.pathsep),
                                                  path_modification_behavior=PathModificationBehavior.Prepend),
                      Shell.bash)
    out = subprocess.run(["bash", "-c", result.script + "\nenv -0"], capture_output=True, check=True).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _solver_message(exc: SolverError) -> str:
    text = str(exc).strip()
    return text.split("because of:", 1)[-1].strip() if "because of:" in text else text

"""Solving with py-rattler: match specs + channels in priority order + this host's virtual packages.

Shared by `rebuild` (the resolved build/host environments that fingerprints cover) and
`environment` (the final environment). Channels are searched with strict priority, so a
channel listed first always wins over a package of the same name further down.
`CONDA_OVERRIDE_ARCHSPEC` / `CONDA_OVERRIDE_GLIBC` (or an explicit `archspec=`) override
the detected virtual packages, as in conda and mamba.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Sequence

import rattler
from rattler import Gateway, MatchSpec, Override, VirtualPackage, VirtualPackageOverrides
from rattler.exceptions import GatewayError, InvalidMatchSpecError, SolverError

from .channel import SOLVE_PLATFORMS, channel_url
from .errors import SolveError, first_line


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
        return asyncio.run(rattler.solve(urls, parsed, gateway=Gateway(), platforms=list(SOLVE_PLATFORMS),
                                         virtual_packages=virtual_packages(archspec)))
    except GatewayError as exc:
        raise SolveError(f"cannot read channel: {first_line(exc)} (check the URL or path, or use --offline)") from None
    except SolverError as exc:
        raise SolveError(f"the environment cannot be solved:\n{_solver_message(exc)}") from None


def _solver_message(exc: SolverError) -> str:
    text = str(exc).strip()
    return text.split("because of:", 1)[-1].strip() if "because of:" in text else text

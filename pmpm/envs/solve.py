"""Solving with py-rattler: match specs + channels in priority order + this host's virtual packages.

Shared by `rebuild` (the resolved build/host environments that fingerprints cover) and
`environment` (the final environment). Channels are searched with strict priority, so a
channel listed first always wins over a package of the same name further down.
`CONDA_OVERRIDE_ARCHSPEC` / `CONDA_OVERRIDE_GLIBC` (or an explicit `archspec=`) override
the detected virtual packages, as in conda and mamba.

Another `platform=` (`pmpm lock --platform osx-arm64`) is solved with that platform's
virtual packages rather than this host's (`platform_virtual_packages`): conda's set for the
platform with pixi's default system requirements, each overridable by the CONDA_OVERRIDE_*
variable conda reads (an empty value drops the package, as in conda).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Sequence

import rattler
from rattler import (
    BuildString,
    Gateway,
    GenericVirtualPackage,
    MatchSpec,
    Override,
    PackageName,
    Version,
    VirtualPackage,
    VirtualPackageOverrides,
)
from rattler.exceptions import GatewayError, InvalidMatchSpecError, SolverError

from .. import network
from ..channel.layout import PLATFORM, channel_url
from ..errors import NetworkTimeout, SolveError, first_line


def virtual_packages(archspec: str | None = None, platform: str = PLATFORM) -> list:
    if platform != PLATFORM:
        return platform_virtual_packages(platform)
    overrides = VirtualPackageOverrides.from_env()
    if archspec:
        overrides.archspec = Override.string(archspec)
    return VirtualPackage.detect(overrides)


# pixi's default system requirements for a platform it does not run on
DEFAULT_LINUX, DEFAULT_GLIBC, DEFAULT_OSX = "4.18", "2.28", "13.0"
GENERIC_ARCH = {
    "64": "x86_64",
    "32": "x86",
    "aarch64": "aarch64",
    "arm64": "arm64",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "armv6l": "armv6l",
    "armv7l": "armv7l",
    "riscv64": "riscv64",
}


def platform_virtual_packages(platform: str) -> list:
    """The virtual packages of a `platform` this host is not: __unix, __linux and __glibc or
    __osx or __win, a generic __archspec for the platform's architecture, __cuda only when
    CONDA_OVERRIDE_CUDA asks for it."""
    family, _, arch = platform.partition("-")
    if family not in ("linux", "osx", "win") or arch not in GENERIC_ARCH:
        raise SolveError(
            f"{platform}: not a conda platform pmpm can lock for (e.g. linux-64, linux-aarch64, osx-arm64, win-64)"
        )
    wanted = (
        [("__unix", "0", "0")]
        if family in ("linux", "osx")
        else [("__win", os.environ.get("CONDA_OVERRIDE_WIN", "0"), "0")]
    )
    if family == "linux":
        wanted += [
            ("__linux", os.environ.get("CONDA_OVERRIDE_LINUX", DEFAULT_LINUX), "0"),
            ("__glibc", os.environ.get("CONDA_OVERRIDE_GLIBC", DEFAULT_GLIBC), "0"),
        ]
    if family == "osx":
        wanted.append(("__osx", os.environ.get("CONDA_OVERRIDE_OSX", DEFAULT_OSX), "0"))
    wanted.append(("__archspec", "1", os.environ.get("CONDA_OVERRIDE_ARCHSPEC") or GENERIC_ARCH[arch]))
    if os.environ.get("CONDA_OVERRIDE_CUDA"):
        wanted.append(("__cuda", os.environ["CONDA_OVERRIDE_CUDA"], "0"))
    try:
        return [
            GenericVirtualPackage(PackageName(name), Version(version), BuildString(build))
            for name, version, build in wanted
            if version
        ]
    except Exception as exc:  # an unparsable CONDA_OVERRIDE_* version
        raise SolveError(
            f"virtual packages for {platform}: {first_line(exc)} (check the CONDA_OVERRIDE_* variables)"
        ) from None


def solve(
    specs: Sequence[str], channels: Sequence[str | Path], *, archspec: str | None = None, platform: str = PLATFORM
) -> list:
    """Records for `specs` on `platform` (this host's linux-64 by default), channels in priority order (strict)."""
    urls = [channel_url(c) for c in channels]
    try:
        parsed = [MatchSpec(s) for s in specs]
    except InvalidMatchSpecError as exc:
        raise SolveError(f"invalid spec: {exc}") from None
    try:
        return asyncio.run(
            rattler.solve(
                urls,
                parsed,
                gateway=Gateway(client=network.client_for(urls)),
                platforms=[platform, "noarch"],
                virtual_packages=virtual_packages(archspec, platform),
            )
        )
    except GatewayError as exc:
        if network.timed_out(str(exc)):
            raise NetworkTimeout(
                f"cannot reach channel {network.waited(network.url_in(exc) or ', '.join(urls))}"
            ) from None
        cause = str(exc).strip().splitlines()[-1].removeprefix("Caused by:").strip()  # the innermost, past retries
        where = network.url_in(exc) or ", ".join(urls)
        raise SolveError(
            f"cannot reach channel {where} ({cause}) (check the URL or path, the network or proxy; "
            "or use --override-channels / --offline)"
        ) from None
    except SolverError as exc:
        raise SolveError(f"the environment cannot be solved:\n{_solver_message(exc)}") from None


def _solver_message(exc: SolverError) -> str:
    text = str(exc).strip()
    return text.split("because of:", 1)[-1].strip() if "because of:" in text else text

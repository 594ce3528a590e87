"""Packages only PyPI has: `_pmpm.pypi` requirements made into package definitions.

pip resolves them with its own resolver, through the user's pip configuration (index, mirrors,
proxies: the path `pypi:` sources take), for the stack's python. Each distribution the stack's
conda channels do not provide becomes a `kind: python` package: a pure-Python one (its only
wheel is py3-none-any), or any given `wheel: true`, is a repack of that wheel; one with
compiled code is built from its sdist, for the stack's march variants. An sdist's build
requirements (its pyproject.toml's and those its backend asks for) are host requirements,
generated the same way where the channels lack them; a build tool is taken as its pure wheel
when one exists (it runs at build time only). Names follow PEP 503 and a table of the names
conda-forge spells differently; versions, extras and environment markers become conda specs.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from packaging.requirements import Requirement

from .. import network, user_cache
from ..errors import NetworkTimeout, NotOnIndex, SolveError, StackError, say
from ..files import atomic_write
from ..order import canonical
from .sources import Form, pip_reason, resolve_sdist

# PyPI name (PEP 503 normalized) -> conda-forge's name, where they differ.
CONDA_NAMES = {
    "msgpack": "msgpack-python",
    "tables": "pytables",
    "matplotlib": "matplotlib-base",
    "torch": "pytorch",
    "typing-extensions": "typing_extensions",
    "ruamel-yaml": "ruamel.yaml",
    "backports-zstd": "backports.zstd",
    "graphviz": "python-graphviz",
    "psycopg2-binary": "psycopg2",
}
FIX_WHEEL = "or take its wheel as is: `- {name: %s, wheel: true}` in _pmpm.pypi"
MAX_ROUNDS = 6  # build tools of build tools: setuptools-scm needs setuptools, ...


def conda_name(pypi_name: str) -> str:
    name = canonical(pypi_name)
    return CONDA_NAMES.get(name, name)


def conda_spec(requirement: Requirement) -> str:
    """`yarl<2.0,>=1.25.1` -> `yarl >=1.25.1,<2.0`; `~=1.4.2` -> `>=1.4.2,<1.5`; `===` -> `==`."""
    parts = []
    for spec in sorted(requirement.specifier, key=str):
        operator, version = spec.operator, spec.version
        if operator == "~=":
            release = version.split(".")
            upper = ".".join([*release[:-2], str(int(re.match(r"\d+", release[-2]).group()) + 1)])
            parts += [f">={version}", f"<{upper}"]
        else:
            parts.append(f"{'==' if operator == '===' else operator}{version}")
    name = conda_name(requirement.name)
    return f"{name} {','.join(parts)}" if parts else name


def marker_environment(python: str) -> dict[str, str]:
    """PEP 508 marker values of the stack's target: CPython `python` on linux-64."""
    full = python if python.count(".") >= 2 else f"{python}.0"
    return {
        "python_version": ".".join(python.split(".")[:2]),
        "python_full_version": full,
        "implementation_version": full,
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "os_name": "posix",
        "platform_release": "",
        "platform_version": "",
    }


def applies(requirement: Requirement, python: str, extras: Iterable[str] = ()) -> bool:
    """Whether a requirement holds for the target, with these extras of its dependent asked for."""
    if requirement.marker is None:
        return True
    environment = marker_environment(python)
    return any(requirement.marker.evaluate({**environment, "extra": extra}) for extra in ["", *extras])


@dataclass
class Dist:
    """One distribution of pip's resolution."""

    name: str  # as PyPI spells it
    version: str
    requires: list[str]  # Requires-Dist, markers not yet evaluated
    requires_python: str | None
    filename: str  # the file pip chose
    summary: str = ""
    license: str = ""
    homepage: str = ""
    extras: set[str] = field(default_factory=set)

    @property
    def pure(self) -> bool:
        return self.filename.endswith("-none-any.whl")

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"


def resolve(requirements: list[str], python: str, *, quiet: bool = False) -> dict[str, Dist]:
    """pip's resolution of `requirements` for the target python, by normalized name."""
    if not quiet:
        say(f"resolving {', '.join(requirements)} with pip for python {python}")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        running = f"{sys.version_info.major}.{sys.version_info.minor}"
        # pip evaluates markers for its own interpreter, or for --python-version from wheels only
        target = [] if python == running else ["--python-version", python, "--only-binary", ":all:"]
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
            + ["--disable-pip-version-check", "--report", str(report), *network.pip_args(), *target, *requirements],
            capture_output=True,
            text=True,
        )
        if proc.returncode and (waited := network.pip_timed_out(proc.stderr)):
            raise NetworkTimeout(f"cannot resolve _pmpm.pypi through pip: {waited}")
        if proc.returncode:
            raise StackError(
                f"pip cannot resolve {', '.join(requirements)} for python {python}: {pip_reason(proc.stderr)}",
                key="_pmpm.pypi",
                fix="check the names and versions, and which index pip uses: pip config list",
            )
        data = json.loads(report.read_text())
    dists = {}
    for item in data["install"]:
        meta = item["metadata"]
        urls = dict(url.split(", ", 1) for url in meta.get("project_url", []) if ", " in url)
        dists[canonical(meta["name"])] = Dist(
            name=meta["name"],
            version=meta["version"],
            requires=meta.get("requires_dist", []),
            requires_python=meta.get("requires_python"),
            filename=item["download_info"]["url"].rsplit("/", 1)[-1],
            summary=meta.get("summary", ""),
            license=meta.get("license_expression") or _spdx(meta.get("license") or "", meta.get("classifier", [])),
            homepage=meta.get("home_page") or urls.get("Homepage", ""),
        )
    return dists


# Engines accept only SPDX license expressions: the identifiers an older License field or
# a Trove classifier commonly means (anything else is left out rather than guessed).
SPDX = {"MIT": "MIT", "BSD-3-Clause": "BSD-3-Clause", "BSD-2-Clause": "BSD-2-Clause", "ISC": "ISC"}
SPDX |= {"Apache-2.0": "Apache-2.0", "Apache 2.0": "Apache-2.0", "Apache License 2.0": "Apache-2.0"}
SPDX |= {"MPL-2.0": "MPL-2.0", "PSF-2.0": "PSF-2.0", "Unlicense": "Unlicense", "0BSD": "0BSD"}
CLASSIFIERS = {
    "License :: OSI Approved :: MIT License": "MIT",
    "License :: OSI Approved :: Apache Software License": "Apache-2.0",
    "License :: OSI Approved :: ISC License (ISCL)": "ISC",
    "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "License :: OSI Approved :: Python Software Foundation License": "PSF-2.0",
}


def _spdx(field: str, classifiers: list[str]) -> str:
    known = [CLASSIFIERS[c] for c in classifiers if c in CLASSIFIERS]
    return SPDX.get(field.strip(), known[0] if len(set(known)) == 1 else "")


def build_requirements(requirement: str) -> list[str]:
    """What building `requirement`'s sdist needs (pyproject.toml's requires, and what its backend
    asks for), remembered per sdist: asking costs an isolated environment."""
    sdist = resolve_sdist(requirement, form="sdist")
    remembered = user_cache("pypi", "build-requires", f"{sdist.sha256}.json")
    try:
        return json.loads(remembered.read_text())
    except (OSError, ValueError):
        pass
    from build import BuildBackendException, ProjectBuilder
    from build.env import DefaultIsolatedEnv
    from pyproject_hooks import quiet_subprocess_runner

    say(f"asking the build backend of {requirement}'s sdist what it needs to build")
    with tempfile.TemporaryDirectory() as tmp:
        source = _unpack(sdist.path, Path(tmp))
        try:
            with DefaultIsolatedEnv() as env:
                builder = ProjectBuilder.from_isolated_env(env, source, runner=quiet_subprocess_runner)
                env.install(builder.build_system_requires)
                needed = sorted({*builder.build_system_requires, *builder.get_requires_for_build("wheel")})
        except (BuildBackendException, subprocess.CalledProcessError) as exc:
            raise StackError(
                f"{requirement}: its sdist's build backend cannot say what it needs ({exc})",
                key="_pmpm.pypi",
                fix=FIX_WHEEL % requirement,
            ) from None
    atomic_write(remembered, json.dumps(needed))
    return needed


def _unpack(archive: Path, into: Path) -> Path:
    if archive.name.endswith(".zip"):
        zipfile.ZipFile(archive).extractall(into)
    else:
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")
    tops = [p for p in into.iterdir() if p.is_dir()]
    return tops[0] if len(tops) == 1 else into


def console_scripts(wheel: Path) -> list[str]:
    """`name = module:function` entry points of a wheel (its console_scripts)."""
    with zipfile.ZipFile(wheel) as archive:
        found = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        text = archive.read(found[0]).decode() if found else ""
    section, scripts = None, []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]").strip()
        elif section == "console_scripts" and "=" in line:
            name, target = (part.strip() for part in line.split("=", 1))
            scripts.append(f"{name} = {target.split()[0]}")
    return scripts


def provided(specs: dict[str, list[str]], channels: list[str]) -> set[str]:
    """The conda names among `specs` that one of `channels` (URLs) has a record for, satisfying all
    the specs pip's resolution puts on it (a name no channel has is generated)."""
    if not specs or not channels:
        return set()
    import rattler

    async def query() -> set[str]:
        gateway = rattler.Gateway(client=network.client_for(channels))
        found = await gateway.query(channels, ["linux-64", "noarch"], list(specs), recursive=False)
        records = [record for per_channel in found for record in per_channel]
        return {
            name
            for name, wanted in specs.items()
            for record in records
            if record.name.normalized == name and all(rattler.MatchSpec(s).matches(record) for s in wanted)
        }

    from rattler.exceptions import GatewayError

    try:
        return asyncio.run(query())
    except GatewayError as exc:  # the one wording of envs.solve, for a channel a render now reads
        where = network.url_in(exc) or ", ".join(channels)
        raise SolveError(
            f"cannot reach channel {where} to see which PyPI distributions it has "
            f"({str(exc).strip().splitlines()[-1].removeprefix('Caused by:').strip()}) "
            "(check the URL or path, the network or proxy; or use --override-channels)"
        ) from None


def form_of(dist: Dist, *, wheel: bool, tool: bool) -> Form:
    """How a distribution is packaged: from its pure wheel, the wheel pip picked, or its sdist."""
    if dist.pure:
        return "pure"
    if wheel:
        return "wheel"
    if tool:  # a build tool runs at build time only: its pure wheel, when it has one, spares compiling it
        try:
            resolve_sdist(dist.pin, form="pure")
            return "pure"
        except NotOnIndex:
            pass
    return "sdist"

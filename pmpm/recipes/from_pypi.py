"""`_pmpm.pypi` made into package definitions: the stack's requirements, their dependencies and
their build tools, each a `kind: python` package unless the stack's channels provide it (see
`pypi` for how a distribution is resolved, named and packaged)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from packaging.requirements import InvalidRequirement, Requirement

from ..errors import NotOnIndex, StackError, first_line
from ..order import canonical
from .pypi import (
    FIX_WHEEL,
    MAX_ROUNDS,
    Dist,
    applies,
    build_requirements,
    conda_name,
    conda_spec,
    console_scripts,
    form_of,
    provided,
    resolve,
)
from .sources import resolve_sdist

if TYPE_CHECKING:
    from ..stack.fields import PypiEntry
    from ..stack.model import Package


def pypi_packages(
    entries: Sequence[str | PypiEntry], *, python: str, channels: Sequence[str], taken: set[str]
) -> list[Package]:
    """Packages for `entries` and what they need, the stack's own packages (`taken`) and what
    `channels` provide left out. Rounds: the requirements, then their sdists' build tools, then
    the build tools' build tools, until nothing new is needed."""
    wanted = [(entry, False) if isinstance(entry, str) else (entry.name, entry.wheel) for entry in entries]
    parsed = [parse(text) for text, _ in wanted]  # every entry checked before pip is asked
    wheels = {canonical(requirement.name) for requirement, (_, wheel) in zip(parsed, wanted) if wheel}
    requirements, generated, tools = [text for text, _ in wanted], {}, False
    for _ in range(MAX_ROUNDS):
        if not requirements:
            break
        dists = resolve(requirements, python)
        specs = _specs(dists, requirements, python)
        have = provided(specs, list(channels))
        needed: set[str] = set()
        for key, dist in dists.items():
            name = conda_name(dist.name)
            if name in have or name in taken or name in generated:
                continue
            form = form_of(dist, wheel=key in wheels, tool=tools)
            host = _build_tools(dist, python) if form == "sdist" else []
            generated[name] = _package(dist, form, host, python)
            needed.update(host)
        # the next round resolves the build tools no round has generated yet
        requirements, tools = sorted(r for r in needed if conda_name(parse(r).name) not in generated), True
    if requirements:
        raise StackError(
            f"build tools still need build tools after {MAX_ROUNDS} rounds: {', '.join(requirements)}",
            key="_pmpm.pypi",
            fix="add the last ones to the stack's channels, or take the distributions needing them as wheels",
        )
    return list(generated.values())


def parse(text: str) -> Requirement:
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        raise StackError(
            f"{text!r} is not a PyPI requirement ({first_line(exc)})",
            key="_pmpm.pypi",
            fix="e.g. aiohttp, aiohttp==3.14.5, requests[socks]>=2.31",
        ) from None


def _specs(dists: dict[str, Dist], requirements: list[str], python: str) -> dict[str, list[str]]:
    """Per conda name, the specs the resolution puts on it (the stack's and its dependents'); the
    extras each distribution is asked for are recorded on it on the way."""
    asked = [requirement for requirement in map(parse, requirements) if applies(requirement, python)]
    for requirement in asked:
        if (dist := dists.get(canonical(requirement.name))) is not None:
            dist.extras |= set(requirement.extras)
    changed = True
    while changed:  # extras asked for by dependents (requests[socks]) bring their own requirements
        changed = False
        for dist in dists.values():
            for requirement in _needs(dist, python):
                child = dists.get(canonical(requirement.name))
                if child is not None and not set(requirement.extras) <= child.extras:
                    child.extras |= set(requirement.extras)
                    changed = True
    specs: dict[str, list[str]] = {conda_name(d.name): [] for d in dists.values()}
    for requirement in [*asked, *(r for d in dists.values() for r in _needs(d, python))]:
        if canonical(requirement.name) in dists:
            specs[conda_name(requirement.name)].append(conda_spec(requirement))
    return specs


def _needs(dist: Dist, python: str) -> list[Requirement]:
    """A distribution's Requires-Dist that hold for the target and the extras asked of it."""
    return [r for r in map(Requirement, dist.requires) if applies(r, python, dist.extras)]


def _build_tools(dist: Dist, python: str) -> list[str]:
    try:
        return [text for text in build_requirements(dist.pin) if applies(Requirement(text), python)]
    except NotOnIndex as exc:  # no sdist on the index: only its wheel can be had
        raise StackError(exc.what, key="_pmpm.pypi", fix=FIX_WHEEL % dist.pin) from None


def _package(dist: Dist, form: str, host: list[str], python: str) -> Package:
    from ..stack.model import About, Package, Requirements, Source

    run = [conda_spec(r) for r in _needs(dist, python)]
    if dist.requires_python:
        run.insert(0, conda_spec(Requirement(f"python{dist.requires_python}")))
    return Package(
        name=conda_name(dist.name),
        version=dist.version,
        source=Source(pypi=dist.pin, wheel=form != "sdist"),
        kind="python",
        noarch="python" if form == "pure" else None,
        requirements=Requirements(host=[conda_spec(Requirement(text)) for text in host], run=run),
        about=About(summary=dist.summary or None, license=dist.license or None, homepage=dist.homepage or None),
        entry_points=console_scripts(resolve_sdist(dist.pin, form="pure").path) if form == "pure" else [],
    )

"""Conda package names and the dependency order of local packages, shared by the stack
(validation), the catalogue and build (plan)."""

from __future__ import annotations

import graphlib
import re

NAME_RE = re.compile(r"^[a-z0-9_][a-z0-9_.\-]*$")  # a conda package name


def canonical(name: str) -> str:
    """PEP 503 names (runs of -_. are one '-', lowercase), to compare pip's and conda's names."""
    return re.sub(r"[-_.]+", "-", name).lower()


def spec_name(spec: str) -> str:
    """The package name a match spec starts with: `zlib >=1.2`, `python>=3.8`, `numpy=2.1` -> the name."""
    return re.split(r"[\s=<>!~\[]", str(spec).strip(), maxsplit=1)[0]


def topological_order(graph: dict[str, list[str]]) -> list[str]:
    """Dependencies first; ties keep the graph's insertion order, so plans are deterministic."""
    sorter = graphlib.TopologicalSorter(graph)
    sorter.prepare()
    order: list[str] = []
    position = {name: i for i, name in enumerate(graph)}
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        order.extend(ready)
        sorter.done(*ready)
    return order


def local_deps(package, packages) -> list[str]:
    """Local packages this one needs: `depends:` plus requirements naming a local package."""
    names = {p.name for p in packages}
    reqs = package.requirements
    named = [spec_name(spec) for spec in [*reqs.build, *reqs.host, *reqs.run]]
    return list(dict.fromkeys([*package.depends, *(n for n in named if n in names and n != package.name)]))

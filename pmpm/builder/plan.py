"""The plan: every recipe × variant of a recipe set as a job, local dependencies first."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engines.base import PlannedBuild, plan_recipe
from ..errors import RecipeError
from ..order import spec_name, topological_order
from ..variants.cbc import PLATFORM

if TYPE_CHECKING:
    from ..recipes.render import RecipeSet


@dataclass
class Job:
    """One package × variant to build."""

    planned: PlannedBuild
    deps: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.planned.name

    @property
    def version(self) -> str:
        return self.planned.version

    @property
    def build_string(self) -> str:
        return self.planned.build_string

    @property
    def variant(self) -> dict[str, Any]:
        return self.planned.variant

    @property
    def recipe(self) -> Path:
        return self.planned.recipe

    @property
    def label(self) -> str:
        return self.planned.label

    @property
    def channel_key(self) -> str:
        """Where the package lands in the channel: `subdir/file`."""
        return f"{'noarch' if self.planned.noarch else PLATFORM}/{self.label}.conda"


def plan(recipe_set: RecipeSet) -> list[Job]:
    """Every recipe × variant as a job, dependencies first."""
    by_name: dict[str, list[Job]] = {}
    for path in recipe_set.recipes:
        for planned in plan_recipe(path, recipe_set.variants.values, recipe_set.variants.zip_keys):
            jobs = by_name.setdefault(planned.name, [])
            if all(j.build_string != planned.build_string for j in jobs):
                names = [spec_name(s) for section in planned.requirements.values() for s in section]
                jobs.append(Job(planned, list(dict.fromkeys(names))))
    for jobs in by_name.values():
        for job in jobs:
            job.deps = [d for d in job.deps if d in by_name and d != job.name]
    order = topological_order({name: jobs[0].deps for name, jobs in by_name.items()})
    return [job for name in order for job in by_name[name]]


def select(jobs: list[Job], packages: list[str]) -> list[Job]:
    """Only the jobs of `packages` (their dependencies must already be in the channel)."""
    unknown = sorted(set(packages) - {job.name for job in jobs})
    if unknown:
        raise RecipeError(
            f"--only-package {unknown[0]}: no such package in the plan",
            fix=f"choose one of {', '.join(sorted({j.name for j in jobs}))}",
        )
    return [job for job in jobs if job.name in packages]


def needed_by(jobs: list[Job], chosen: list[Job]) -> list[Job]:
    """The jobs of the plan that `chosen` (an --only-package selection) stands on and does not
    build: the CPU gate's and its packages' local dependencies, transitively, in plan order."""
    from ..variants.microarch import GATE_PACKAGE

    names, todo = {GATE_PACKAGE}, [d for job in chosen for d in job.deps]
    while todo:
        name = todo.pop()
        if name not in names:
            names.add(name)
            todo += [d for job in jobs if job.name == name for d in job.deps]
    selected = {job.label for job in chosen}
    return [job for job in jobs if job.name in names and job.label not in selected]

"""Cut a build plan into units an outside scheduler runs (Slurm jobs, CI jobs).

A unit is one package × one variant, named by the variant values *as the user wrote them*
(`march=native`, not the login node's resolution), with the local units it needs first.
Each unit runs pmpm itself: `pmpm build TARGET --only-package NAME --variant KEY=V…`
re-renders there with the matrix narrowed to that one variant, so `native` resolves on the
machine that compiles. Every variant of the CPU gate (one noarch metapackage per archspec
name, nothing compiled) is one unit: 33 jobs of a second each are pure queueing overhead.
This module decides what a unit is and its command line; it runs nothing.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..builder.plan import Job
from ..options import BuildOptions, RecipeOptions, to_argv
from ..variants.resolve import DERIVED_KEYS, GATE_KEYS, VariantSet

# Keys a unit is never pinned by: derived from march on the node, or the engine's own.
_UNPINNED = {*DERIVED_KEYS, *GATE_KEYS, "target_platform"}


@dataclass
class Unit:
    """One package × one variant, built by one outside job."""

    name: str
    pins: dict[str, str]  # --variant KEY=VALUE that narrow the matrix to this variant
    march: str | None = None  # as the user wrote it (e.g. native); None for noarch/gate units
    resolved_march: str | None = None  # as this host resolved it (e.g. x86-64-v4)
    jobs: list[Job] = field(default_factory=list)
    needs: list["Unit"] = field(default_factory=list)

    @property
    def key(self) -> str:
        """A name safe for job names, file names and CI job ids."""
        text = "-".join([self.name, *self.pins.values()])
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "unit"

    @property
    def native(self) -> bool:
        """Resolved where it runs: the submitting host cannot know its fingerprint."""
        return self.march == "native"

    @property
    def label(self) -> str:
        return " ".join([self.name, *(f"{k}={v}" for k, v in self.pins.items())])


def pins(job: Job, variants: VariantSet) -> dict[str, str]:
    """The user's spelling of every matrix key (more than one value) this job's variant takes."""
    out: dict[str, str] = {}
    for key, value in job.variant.items():
        if key in _UNPINNED or len(variants.values.get(key, [])) < 2:
            continue
        if key == "mtune" and "mtune" not in variants.origins:
            continue  # derived from march on the node
        if key == "march" and value in variants.microarchs:
            value = variants.microarchs[value].requested
        out[key] = str(value)
    return out


def units(jobs: list[Job], variants: VariantSet) -> list[Unit]:
    """The plan's jobs grouped per package × pinned variant, dependencies first."""
    by_key: dict[tuple, Unit] = {}
    for job in jobs:
        pinned = pins(job, variants)
        resolved = job.variant.get("march") if job.variant.get("target_platform") != "noarch" else None
        march = variants.microarchs[resolved].requested if resolved in variants.microarchs else resolved
        unit = by_key.setdefault((job.name, tuple(sorted(pinned.items()))), Unit(job.name, pinned, march, resolved))
        unit.jobs.append(job)
    ordered = list(by_key.values())
    for unit in ordered:
        names = {d for job in unit.jobs for d in job.deps}
        # A dependency unit agrees with this one on every key both pin (the gate pins none).
        unit.needs = [
            u for u in ordered if u.name in names and all(unit.pins.get(k, v) == v for k, v in u.pins.items())
        ]
    return ordered


def stale(units: list[Unit], up_to_date: Callable[[Job], bool], force: bool = False) -> list[Unit]:
    """Units to run: out of date, resolved only where they run (native), or needing a unit that runs."""
    run: list[Unit] = []
    for unit in units:  # dependencies first
        if (
            force
            or unit.native
            or any(u.key in {r.key for r in run} for u in unit.needs)
            or not all(up_to_date(job) for job in unit.jobs)
        ):
            run.append(unit)
    return run


@dataclass(frozen=True)
class Invocation:
    """What every unit's `pmpm build` repeats of the submitting command: its targets and options,
    each option spelled by its declaration (`pmpm.options.to_argv`), so none is dropped on the way."""

    targets: tuple[Path, ...]
    recipes: RecipeOptions = RecipeOptions()
    options: BuildOptions = BuildOptions()
    absolute: bool = True  # Slurm jobs run elsewhere; a CI workflow keeps the paths as given

    def argv(self, unit: Unit, render_dir: Path | None = None, program: list[str] | None = None) -> list[str]:
        """The command that builds exactly `unit`."""
        pinned = set(unit.pins)
        kept = tuple(o for o in self.recipes.variants if o.partition("=")[0] not in pinned)
        recipes = dataclasses.replace(self.recipes, variants=(*kept, *(f"{k}={v}" for k, v in unit.pins.items())))
        targets = [str(Path(t).absolute()) if self.absolute else str(t) for t in self.targets]
        argv = [*(program or [sys.executable, "-m", "pmpm"]), "build", *targets, "--only-package", unit.name]
        for group in (recipes, self.options.channels, self.options.settings, self.options.engine):
            argv += to_argv(group, absolute=self.absolute)
        argv += [f"--render-dir={render_dir}"] if render_dir else []
        return argv

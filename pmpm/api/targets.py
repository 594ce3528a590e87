"""`pmpm build TARGETS` as a whole invocation: answered from the last run's record when nothing
changed, else found, built and remembered; or handed to Slurm. This module stays light (no
engine, no stack model): the no-op answer must cost next to nothing."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from ..builder.replay import build_record
from ..builder.report import BuildReport, Replayed, Reporter, Silent
from ..options import DEFAULT_RECIPES, BuildOptions, RecipeOptions, is_s3
from ..state import StateDir

if TYPE_CHECKING:
    from ..executors import slurm
    from ..executors import units as distribute

Progress = Callable[[], AbstractContextManager[Reporter]]


def build_targets(
    targets: Sequence[Path],
    recipes: RecipeOptions = RecipeOptions(),
    options: BuildOptions = BuildOptions(),
    *,
    render_dir: Path = DEFAULT_RECIPES,
    only: Sequence[str] = (),
    progress: Progress | None = None,
) -> BuildReport | Replayed:
    """What `pmpm build TARGETS` does: the previous report when every input it read is unchanged
    (see `builder.replay`), else `recipe_set` + `build`, recorded for the next identical run.
    `progress` opens the reporter the builds report to (not opened for a replay)."""
    settings, record = options.settings, None
    if not (settings.force or settings.dirty or only):
        record = build_record(targets, recipes, options, render_dir)
        previous = record.replay()
        if previous is not None:
            return Replayed(previous)
    if options.engine.engine == "rattler-build" and (settings.dirty or settings.force):
        from ..engines.spawn import prestart

        prestart(settings.jobs)  # builds will run: the engine's workers start while pmpm loads and plans
    from .building import build, remember_build  # the engine and the planner: past the replay only
    from .recipe_sets import recipe_set

    found = recipe_set(
        list(targets), recipes, offline=options.channels.offline, output=render_dir, channels=options.channels
    )
    with (progress or (lambda: nullcontext(Silent())))() as reporter:
        report = build(found, options, reporter, only=only)
    if record is not None:
        remember_build(record, found, options, report, list(recipes.variant_configs))
    return report


def submit_targets(
    targets: Sequence[Path],
    recipes: RecipeOptions = RecipeOptions(),
    options: BuildOptions = BuildOptions(),
    *,
    sbatch_args: Sequence[str] = (),
) -> tuple[list[distribute.Unit], list[slurm.Submitted]]:
    """`pmpm build --executor slurm TARGETS`: found as each job will find them, then submitted."""
    from .recipe_sets import recipe_set
    from .remote import submit_slurm

    # Rendered as deep as each job's private render dir, so relative source paths, and with
    # them the fingerprints that decide what is up to date, agree with the jobs' own.
    render_dir = StateDir.at(options.state_dir).slurm / "recipes" / "_submit"
    found = recipe_set(
        list(targets), recipes, offline=options.channels.offline, output=render_dir, channels=options.channels
    )
    return submit_slurm(list(targets), found, recipes, options, sbatch_args=sbatch_args)


def index_channel(path: Path | str) -> int:
    """`pmpm index`: (re-)index a channel directory, or an s3:// channel, after files were copied
    in; its package count."""
    from ..channel.local import LocalChannel
    from ..channel.s3 import S3Channel

    if is_s3(path):
        remote = S3Channel(str(path))
        remote.check()
        remote.index()
        return len(remote.packages())
    channel = LocalChannel(path)
    channel.ensure()
    return len(channel.packages())


def clean(packages: Sequence[str] = (), *, logs: bool = False, cache: bool = False) -> list[tuple[Path, int]]:
    """`pmpm clean`: --dirty build trees and leftover build outputs (of `packages`, or all), with
    `logs` the build logs, with `cache` the package cache environments install from; never the
    channel. Returns each path removed with its size."""
    from ..envs.environment import default_cache_dir

    return StateDir.at().clean(list(packages), logs=logs, cache=default_cache_dir() if cache else None)

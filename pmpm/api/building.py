"""The API's build stage: build a recipe set, remember it for the no-op replay, install a stack."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..builder import scheduler
from ..builder.cache import through_s3
from ..builder.report import BuildReport, Reporter
from ..channel.layout import SUBDIRS, search_order, url_to_path
from ..channel.local import LocalChannel
from ..errors import PmpmError
from ..options import BuildOptions, RecipeOptions
from ..recipes.render import RecipeSet

if TYPE_CHECKING:
    from ..builder import replay

# Imported on first use: `pmpm build` of rendered recipes needs no stack model (pydantic), no
# environment code and no Slurm, and every CLI start-up would pay for them.
from .recipe_sets import _render_inputs, recipe_set


def build(
    recipe_set: RecipeSet,
    options: BuildOptions = BuildOptions(),
    reporter: Reporter | None = None,
    *,
    only: Sequence[str] = (),
) -> BuildReport:
    """`pmpm build`: every recipe × variant of `recipe_set` (or those of the `only` packages),
    dependencies first, into the local channel. A stack built whole leaves its summary in the
    channel, so `pmpm create` of it from anywhere need not validate it again."""
    options = through_s3(options)
    report = scheduler.build(recipe_set, options, reporter, only=list(only))
    if report.ok and recipe_set.stack is not None and not only:
        from ..envs.summary import share_summary

        try:
            share_summary(Path(recipe_set.stack), Path(options.channels.channel))
        except PmpmError:  # a stack edited (or broken) since it was rendered: the next create validates it
            pass
    return report


def remember_build(
    record: "replay.Record",
    recipe_set: RecipeSet,
    options: BuildOptions,
    report: BuildReport,
    config_files: Sequence[Path] = (),
) -> None:
    """Record what decided a successful build so an identical next invocation is a replay
    (see `replay`); an upstream channel that is not a local directory can change unseen, so
    such builds are not recorded."""
    options = through_s3(options)
    local = LocalChannel(options.channels.channel)
    channels = search_order(
        local,
        recipe_set.channels,
        options.channels.upstream,
        override=options.channels.override_channels,
        offline=options.channels.offline,
    )
    if not report.ok or any(not url.startswith("file://") for url in channels):
        record.forget()
        return
    channel_dirs = [Path(url_to_path(url)) for url in channels]
    repodata = [d / sub / "repodata.json" for d in channel_dirs for sub in SUBDIRS] + [local.meta / "fingerprints.json"]
    jobs = [result.job for result in report.results]
    patches = [p for job in jobs for p in job.planned.patch_files]
    files = [
        *_render_inputs(recipe_set.stack),
        *([recipe_set.config] if recipe_set.config else []),
        *recipe_set.recipes,
        *map(Path, config_files),
        *repodata,
        *patches,
    ]
    record.save(
        report.to_json(),
        files=[Path(f).absolute() for f in files],
        trees={p: report.tree_digests.get(p) for job in jobs for p in job.planned.source_paths},
        packages=[local.path / job.channel_key for job in jobs],
    )


def install(
    stack_path: Path,
    prefix: Path,
    options: BuildOptions,
    recipes: RecipeOptions = RecipeOptions(),
    *,
    reporter: "Reporter | None" = None,
    command: str = "pmpm install",
    compiler: str | None = None,
) -> Path:
    """`pmpm install` (and python-pmpm's conda_install/system_install): render + build + create.

    `compiler` overrides the stack's (system_install forces system); the environment comes
    from the same channels the build used."""
    from ..envs.environment import create, request_for
    from ..envs.summary import summarize

    found = recipe_set([stack_path], recipes, offline=options.channels.offline, compiler=compiler)
    options = through_s3(options)
    build(found, options, reporter).raise_for_failures()
    summary = summarize(stack_path)
    channels = options.channels
    request = request_for(
        summary,
        LocalChannel(channels.channel),
        extra_channels=list(channels.upstream),
        override_channels=channels.override_channels,
        offline=channels.offline,
    )
    return create(summary, prefix, request, command=command)

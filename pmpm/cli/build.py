"""Commands that make packages: render, build, ci, index, status, clean."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import human_size
from ..options import (
    DEFAULT_CHANNEL,
    DEFAULT_RECIPES,
    BuildOptions,
    BuildSettings,
    ChannelOptions,
    EngineOptions,
    RecipeOptions,
)
from .main import cli
from .params import declared, take


@cli.command()
@click.argument("stack", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(path_type=Path),
    default=DEFAULT_RECIPES,
    show_default=True,
    help="Directory for <package>/recipe.yaml and conda_build_config.yaml.",
)
@declared(RecipeOptions)
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(["recipe.yaml", "meta.yaml"]),
    help="recipe.yaml (v1, rattler-build and recent conda-build) is always written; "
    "meta.yaml adds classic conda-build recipes.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def render(stack: Path, output: Path, formats: tuple[str, ...], as_json: bool, **params) -> None:
    """Render STACK into conda recipes and a merged conda_build_config.yaml.

    \b
    Variant keys: march (any gcc -march name such as znver3, x86-64-v3 or
    icelake-server, any archspec name such as zen3, or native), mtune, opt,
    cflags, cxxflags, fflags, ldflags, conda-build's keys (python, numpy,
    c_compiler_version ...), any key the stack's packages use, and keys declared
    in _pmpm.variant_keys. Any other key is reported as a typo.
    Sources, later winning: the repo's conda_build_config.yaml, one beside STACK,
    the stack's _pmpm.variants, each -m FILE, then --variant.

    \b
    Example:
      pmpm render stacks/demo.yml --variant march=x86-64,x86-64-v3
    """
    from ..api import render_file

    result = render_file(
        stack, output, take(RecipeOptions, params), formats=("recipe.yaml", *[f for f in formats if f != "recipe.yaml"])
    )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "output": str(result.output_dir),
                    "order": result.order,
                    "recipes": {k: str(v) for k, v in result.recipes.items()},
                    "variants": result.variants.combinations(),
                },
                indent=2,
            )
        )
        return
    marches = ", ".join(result.variants.values["march"])
    click.echo(f"rendered {len(result.recipes)} recipe(s) for march {marches} into {result.output_dir}/")
    for name in result.order:
        click.echo(f"  {result.recipes[name]}")


@cli.command()
@click.argument("targets", nargs=-1, type=click.Path(path_type=Path))
@declared(RecipeOptions, ChannelOptions, BuildSettings, EngineOptions)
@click.option("-v", "--verbose", is_flag=True, help="Stream every build log line to stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print the build report as JSON on stdout.")
@click.option(
    "--executor",
    type=click.Choice(["local", "slurm"]),
    default="local",
    show_default=True,
    help="local: build here. slurm: one sbatch job per package × variant, chained by afterok, each "
    "running pmpm on a compute node into the shared --channel; prints the job ids and returns.",
)
@click.option(
    "--sbatch-arg",
    "sbatch_args",
    multiple=True,
    metavar="ARG",
    help="Pass ARG to every sbatch (e.g. --sbatch-arg=--time=1:00:00). Repeatable.",
)
@click.option("--wait", is_flag=True, help="--executor slurm: block until every job ends, showing progress.")
@click.option(
    "--only-package",
    "only",
    multiple=True,
    hidden=True,
    help="Build only this package's variants (what each Slurm or CI job runs).",
)
@click.option(
    "--render-dir",
    type=click.Path(path_type=Path),
    default=DEFAULT_RECIPES,
    hidden=True,
    help="Where a stack TARGET is rendered (a private directory per Slurm job).",
)
def build(
    targets: tuple[Path, ...],
    verbose: bool,
    as_json: bool,
    executor: str,
    sbatch_args: tuple[str, ...],
    wait: bool,
    only: tuple[str, ...],
    render_dir: Path,
    **params,
) -> None:
    """Build recipes × variants, in dependency order, into a local conda channel.

    \b
    TARGETS are a stack file (rendered into ./recipes first), a directory written by
    `pmpm render` (rendered again from its stack when --variant or -m is given), or
    hand-written recipe directories. With none, builds ./recipes.

    A package whose recipe, variant, sources and resolved dependencies are unchanged
    since it was published is reported "up to date" and skipped (--force rebuilds);
    a rebuilt local dependency rebuilds its dependents.

    \b
    Examples:
      pmpm render stacks/demo.yml && pmpm build --variant march=x86-64,x86-64-v3
      pmpm build stacks/demo.yml --variant march=znver3 -j 2
      pmpm build recipes/libkern --override-channels -c ./mirror --offline
      pmpm build --dirty          # after editing a source file: recompile just that
      pmpm build --engine conda-build --solver libmamba

    Logs: .pmpm/logs/<package>-<version>-<build>.log. Nothing is published for a
    build whose script or tests fail.
    """
    recipes = take(RecipeOptions, params)
    options = BuildOptions(
        channels=take(ChannelOptions, params), settings=take(BuildSettings, params), engine=take(EngineOptions, params)
    )
    settings, record = options.settings, None
    if executor == "local" and not (settings.force or settings.dirty or only):
        from ..builder.replay import build_record

        record = build_record(targets, recipes, options, render_dir)
        previous = record.replay()
        if previous is not None:
            return _print_replayed(previous, as_json)
    if executor == "local" and options.engine.engine == "rattler-build" and (settings.dirty or settings.force):
        from ..engines.worker import prestart

        prestart(settings.jobs)  # builds will run: the engine's workers start while pmpm loads and plans
    if executor == "slurm":
        return _submit(list(targets), recipes, options, list(sbatch_args), wait, verbose, as_json)
    from .. import api
    from .progress import reporter_for

    found = api.recipe_set(list(targets), recipes, offline=options.channels.offline, output=render_dir)
    with reporter_for(quiet=as_json, verbose=verbose) as reporter:
        report = api.build(found, options, reporter, only=list(only))
    if record is not None:
        api.remember_build(record, found, options, report, list(recipes.variant_configs))
    _print_report(report, as_json)


def _submit(
    targets: list[Path],
    recipes: RecipeOptions,
    options: BuildOptions,
    sbatch_args: list[str],
    wait: bool,
    verbose: bool,
    as_json: bool,
) -> None:
    """`--executor slurm`: submit, list the jobs, and with --wait follow them."""
    from .. import api
    from ..state import StateDir
    from .progress import reporter_for

    # Rendered as deep as each job's private render dir, so relative source paths, and with
    # them the fingerprints that decide what is up to date, agree with the jobs' own.
    render_dir = StateDir.at(options.state_dir).slurm / "recipes" / "_submit"
    found = api.recipe_set(targets, recipes, offline=options.channels.offline, output=render_dir)
    units, submitted = api.submit_slurm(targets, found, recipes, options, sbatch_args=sbatch_args)
    click.echo(
        f"submitted {len(submitted)} Slurm job(s); {len(units) - len(submitted)} of {len(units)} "
        "package × variant(s) up to date"
    )
    for sub in submitted:
        after = f" after {','.join(sub.after)}" if sub.after else ""
        click.echo(f"  {sub.id}  {sub.key}{after}  log: {sub.log}")
    if wait and submitted:
        with reporter_for(quiet=as_json, verbose=verbose) as reporter:
            _print_report(api.wait_slurm(units, submitted, reporter), as_json)


def _print_report(report, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    report.raise_for_failures()


def _print_replayed(report: dict, as_json: bool) -> None:
    """A replayed no-op: the same report, every package up to date."""
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    count = len(report["packages"])
    click.echo(
        f"pmpm build: all {count} package × variant builds up to date (nothing changed since the last "
        f"build; --force rebuilds)",
        err=True,
    )


@cli.command()
@click.argument("stack", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--github", "provider", flag_value="github", help="Write a GitHub Actions workflow.")
@click.option("--gitlab", "provider", flag_value="gitlab", help="Write a GitLab CI pipeline.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Where to write it (default .github/workflows/pmpm.yml or .gitlab-ci.yml; - for stdout).",
)
@declared(RecipeOptions)
@click.option(
    "--install",
    default="python -m pip install pmpm",
    show_default=True,
    help="The shell command that installs pmpm in each CI job.",
)
def ci(stack: Path, provider: str | None, output: Path | None, install: str, **params) -> None:
    """Write a CI workflow that builds STACK as one job per package × variant.

    
    Dependencies become `needs:` (and, on GitLab, one stage per dependency level); the
    channel passes between jobs as artifacts, is cached per job across runs (unchanged
    packages are up to date) and is published by a final `channel` job. Paths in the
    workflow are as given here: run pmpm ci from the repository root.

    
    Examples:
      pmpm ci stacks/demo.yml --github --variant march=x86-64,x86-64-v3
      pmpm ci stack.yml --gitlab -o .gitlab-ci.yml
    """
    from ..api import ci_workflow
    from ..executors.ci import DEFAULT_OUTPUT

    if provider is None:
        raise click.UsageError("choose --github or --gitlab")
    text = ci_workflow(stack, provider, take(RecipeOptions, params), install=install)
    target = output or DEFAULT_OUTPUT[provider]
    if str(target) == "-":
        click.echo(text, nl=False)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    click.echo(f"wrote {target}")


@cli.command()
@click.argument("channel", type=click.Path(path_type=Path), default=DEFAULT_CHANNEL)
def index(channel: Path) -> None:
    """Re-index CHANNEL after package files were copied in (e.g. CI artifacts merged)."""
    from ..channel.local import LocalChannel

    local = LocalChannel(channel)
    local.ensure()
    click.echo(f"indexed {local.path}: {len(local.packages())} packages")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the jobs as JSON.")
def status(as_json: bool) -> None:
    """Show the Slurm jobs of the last `pmpm build --executor slurm` from here: id, state, log.

    States come from squeue while the controller remembers a job, then from sacct.
    """
    from ..api import slurm_status

    rows = slurm_status()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "id": s.id,
                        "unit": s.key,
                        "package": s.name,
                        "variant": s.pins,
                        "after": s.after,
                        "state": st.state if st else "UNKNOWN",
                        "reason": st.reason if st else "",
                        "log": s.log,
                    }
                    for s, st in rows
                ],
                indent=2,
            )
        )
        return
    for sub, state in rows:
        text = f"{state.state}{f' ({state.reason})' if state and state.reason else ''}" if state else "UNKNOWN"
        after = f"after {','.join(sub.after)}" if sub.after else "-"
        click.echo(f"{sub.id:>8}  {text:<36} {sub.key:<28} {after:<16} {sub.log}")


@cli.command()
@click.argument("packages", nargs=-1)
@click.option("--logs", is_flag=True, help="Also remove build logs.")
@click.option("--cache", is_flag=True, help="Also remove the package cache that environments install from.")
def clean(packages: tuple[str, ...], logs: bool, cache: bool) -> None:
    """Remove --dirty build trees and leftover build outputs (of PACKAGES, or all).

    The local channel is never touched. Reports the space freed.
    """
    from ..envs.environment import default_cache_dir
    from ..state import StateDir

    freed = StateDir.at().clean(list(packages), logs=logs, cache=default_cache_dir() if cache else None)
    for path, size in freed:
        click.echo(f"removed {path} ({human_size(size)})")
    click.echo(f"freed {human_size(sum(size for _, size in freed))}")

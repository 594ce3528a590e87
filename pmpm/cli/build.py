"""Commands that make packages: render, build, ci, index, status, clean."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .. import api
from ..commands.build import Cleaning, Printing, PypiAddition, RenderOutput, Reporting, Submission, Workflow
from ..errors import human_size
from ..manual import MANUAL
from ..options import (
    DEFAULT_CHANNEL,
    BuildOptions,
    BuildSettings,
    ChannelOptions,
    EngineOptions,
    RecipeOptions,
    path_or_s3,
)
from .main import cli
from .params import declared, take


@cli.command(help=MANUAL["render"])
@click.argument("stack", type=click.Path(path_type=Path))
@declared(RenderOutput, RecipeOptions, Printing)
def render(stack: Path, **params) -> None:
    out, recipes, printing = take(RenderOutput, params), take(RecipeOptions, params), take(Printing, params)
    formats = ("recipe.yaml", *[f for f in out.formats if f != "recipe.yaml"])
    result = api.render_file(stack, out.output, recipes, formats=formats)
    if printing.as_json:
        return click.echo(json.dumps(result.to_json(), indent=2))
    click.echo(f"rendered {len(result.recipes)} recipe(s) for {result.variants.summary()} into {result.output_dir}/")
    for name in result.order:
        click.echo(f"  {result.recipes[name]}")


@cli.command(help=MANUAL["build"])
@click.argument("targets", nargs=-1, type=click.Path(path_type=Path))
@declared(RecipeOptions, ChannelOptions, BuildSettings, EngineOptions, Reporting, Submission)
def build(targets: tuple[Path, ...], **params) -> None:
    recipes, reporting, submission = take(RecipeOptions, params), take(Reporting, params), take(Submission, params)
    options = BuildOptions(
        channels=take(ChannelOptions, params), settings=take(BuildSettings, params), engine=take(EngineOptions, params)
    )

    def progress():  # the live view (and what it imports) only once something builds
        return api.reporter_for(quiet=reporting.as_json, verbose=reporting.verbose)

    if submission.executor == "slurm":
        return _submit(targets, recipes, options, submission, reporting, progress)
    report = api.build_targets(
        targets, recipes, options, render_dir=submission.render_dir, only=submission.only, progress=progress
    )
    _print_report(report, reporting.as_json)


def _submit(targets, recipes, options, submission: Submission, reporting: Reporting, progress) -> None:
    """`--executor slurm`: submit, list the jobs, and with --wait follow them."""
    units, submitted = api.submit_targets(targets, recipes, options, sbatch_args=submission.sbatch_args)
    click.echo(
        f"submitted {len(submitted)} Slurm job(s); {len(units) - len(submitted)} of {len(units)} "
        "package × variant(s) up to date"
    )
    for sub in submitted:
        after = f" after {','.join(sub.after)}" if sub.after else ""
        click.echo(f"  {sub.id}  {sub.key}{after}  log: {sub.log}")
    if submission.wait and submitted:
        with progress() as reporter:
            _print_report(api.wait_slurm(units, submitted, reporter), reporting.as_json)


def _print_report(report, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    elif isinstance(report, api.Replayed):
        count = len(report.to_json()["packages"])
        message = "nothing changed since the last build; --force rebuilds"
        click.echo(f"pmpm build: all {count} package × variant builds up to date ({message})", err=True)
    report.raise_for_failures()


@cli.command(help=MANUAL["ci"])
@click.argument("stack", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--github", "provider", flag_value="github", help="Write a GitHub Actions workflow.")
@click.option("--gitlab", "provider", flag_value="gitlab", help="Write a GitLab CI pipeline.")
@declared(Workflow, RecipeOptions)
def ci(stack: Path, provider: str | None, **params) -> None:
    if provider is None:
        raise click.UsageError("choose --github or --gitlab")
    workflow, recipes = take(Workflow, params), take(RecipeOptions, params)
    how = {"install": workflow.install, "channel": workflow.channel}
    if str(workflow.output) == "-":
        return click.echo(api.ci_workflow(stack, provider, recipes, **how), nl=False)
    written = api.write_ci_workflow(stack, provider, recipes, output=workflow.output, **how)
    click.echo(f"wrote {written}")


@cli.command(help=MANUAL["init"])
@click.argument("directory", type=click.Path(path_type=Path), default=Path("."))
def init(directory: Path) -> None:
    for path in api.write_starter(directory):
        click.echo(f"wrote {path}")
    click.echo(f"next: cd {directory} && pmpm build stack.yml --variant march=native")


@cli.command("add-pypi", help=MANUAL["add-pypi"])
@click.argument("requirements", nargs=-1, required=True)
@declared(PypiAddition)
def add_pypi(requirements: tuple[str, ...], **params) -> None:
    addition = take(PypiAddition, params)
    for entry in api.add_pypi(addition.stack, list(requirements), wheel=addition.wheel):
        click.echo(f"added {entry} to {addition.stack} (_pmpm.pypi)")


@cli.command(help=MANUAL["index"])
@click.argument("channel", type=path_or_s3, default=DEFAULT_CHANNEL)
def index(channel: Path | str) -> None:
    where = channel if isinstance(channel, str) else channel.absolute()
    click.echo(f"indexed {where}: {api.index_channel(channel)} packages")


@cli.command(help=MANUAL["status"])
@declared(Printing)
def status(as_json: bool) -> None:
    rows = api.slurm_status()
    if as_json:
        return click.echo(json.dumps([sub.to_json(state) for sub, state in rows], indent=2))
    for sub, state in rows:
        text = f"{state.state}{f' ({state.reason})' if state and state.reason else ''}" if state else "UNKNOWN"
        after = f"after {','.join(sub.after)}" if sub.after else "-"
        click.echo(f"{sub.id:>8}  {text:<36} {sub.key:<28} {after:<16} {sub.log}")


@cli.command(help=MANUAL["clean"])
@click.argument("packages", nargs=-1)
@declared(Cleaning)
def clean(packages: tuple[str, ...], logs: bool, cache: bool) -> None:
    freed = api.clean(packages, logs=logs, cache=cache)
    for path, size in freed:
        click.echo(f"removed {path} ({human_size(size)})")
    click.echo(f"freed {human_size(sum(size for _, size in freed))}")

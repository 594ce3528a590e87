"""python-pmpm's commands (conda_install, system_install), spelled as it spelled them, and
`fetch`, which fills the source mirrors builds without the internet use."""

from __future__ import annotations

from pathlib import Path

import click

from .. import api
from ..commands.legacy import Fetching, Original
from ..manual import MANUAL
from ..options import BuildOptions, BuildSettings, ChannelOptions, RecipeOptions
from .envs import install_stack
from .main import cli
from .params import declared, take


def _install_original(prefix: Path, compiler: str | None, command: str, params: dict) -> None:
    """render + build + create into PREFIX: what both original commands did, in pmpm's stages."""
    original = take(Original, params)
    settings = BuildSettings(jobs=original.jobs, test=not original.skip_test, dirty=original.fast_update)
    options = BuildOptions(channels=take(ChannelOptions, params), settings=settings)
    variants = (
        *([f"march={original.arch}"] if original.arch else []),
        *([f"mtune={original.tune}"] if original.tune else []),
    )
    recipes = RecipeOptions(variants=variants, source_mirror=original.source_mirror)
    where = f"pmpm {command} {prefix} --file {original.stack}"
    install_stack(original.stack, prefix, options, recipes, compiler=compiler, command=where)


@cli.command("conda_install", help=MANUAL["conda_install"])
@click.argument("prefix", type=click.Path(path_type=Path))
@declared(Original, ChannelOptions)
def conda_install(prefix: Path, **params) -> None:
    _install_original(prefix, None, "conda_install", params)


@cli.command("system_install", help=MANUAL["system_install"])
@click.argument("prefix", type=click.Path(path_type=Path))
@declared(Original, ChannelOptions)
def system_install(prefix: Path, **params) -> None:
    _install_original(prefix, "system", "system_install", params)


@cli.command(help=MANUAL["fetch"])
@click.argument("stack", type=click.Path(path_type=Path), required=False)
@declared(Fetching)
def fetch(stack: Path | None, to: Path, add: tuple[str, str] | None) -> None:
    if add and stack is not None:
        raise click.UsageError("--add takes no STACK")
    if add:
        return click.echo(f"added {api.import_source(to, *add)} to {to}/")
    if stack is None:
        raise click.UsageError("missing STACK (or --add URL@REV FILE)")
    for name, source, new in api.fetch_sources(stack, to):
        click.echo(f"{'fetched' if new else 'present'}  {name}: {source}")
    click.echo(f"source mirror: {to.absolute()}/")

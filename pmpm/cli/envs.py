"""Commands that make and check environments: create, lock, bundle, pack, verify, run, install."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import api
from ..commands.envs import Bundling, Creation, Locking, Packing, Parallel, Target, Verifying
from ..errors import InputError, human_size
from ..manual import MANUAL
from ..options import BuildOptions, BuildSettings, ChannelOptions, RecipeOptions
from .main import cli
from .params import declared, take


def _prefix(target: Target) -> Path:
    """-p/-n, a mistake said as click says usage mistakes (naming the command's --help)."""
    try:
        return api.target_prefix(target.prefix, target.name)
    except InputError as exc:
        raise click.UsageError(exc.what + (f"; {exc.fix}" if exc.fix else "")) from None


@cli.command(help=MANUAL["create"])
@click.argument("stack", type=click.Path(path_type=Path), required=False)
@declared(Target, ChannelOptions, Creation)
def create(stack: Path | None, **params) -> None:
    target, channels, how = _prefix(take(Target, params)), take(ChannelOptions, params), take(Creation, params)
    if how.bundle is not None and stack is not None:
        raise click.UsageError("--from-bundle takes no STACK: the bundle holds its stack and lock")
    if how.bundle is not None:
        return _report_environment(api.create_from_bundle(how.bundle, target))
    if stack is None:
        raise click.UsageError("missing STACK (or --from-bundle DIR)")
    done, records = api.create_stack_env(
        stack, target, channels, locked=how.locked, lock_file=how.lock_file, force=how.force
    )
    _report_environment(done, [r.channel for r in records])


def _report_environment(prefix: Path, channels: list[str] | None = None) -> None:
    counts = api.channel_counts(prefix, channels)
    click.echo(f"created {prefix}: {sum(counts.values())} packages")
    for channel, count in counts.items():
        click.echo(f"  {count:4d} from {channel}")


@cli.command(help=MANUAL["lock"])
@click.argument("stack", type=click.Path(path_type=Path))
@declared(ChannelOptions, Locking)
def lock(stack: Path, output: Path | None, platforms: tuple[str, ...], **params) -> None:
    lock_path, solved = api.lock_stack(stack, take(ChannelOptions, params), output=output, platforms=platforms)
    for platform, (records, wheels, explicit) in solved.items():
        click.echo(
            f"locked {len(records)} conda and {len(wheels)} pip packages for {platform}: {lock_path} and {explicit}"
        )


@cli.command(help=MANUAL["bundle"])
@click.argument("stack", type=click.Path(path_type=Path))
@declared(Bundling)
def bundle(stack: Path, output: Path, lock_file: Path | None, prune: bool) -> None:
    frozen, report = api.bundle_stack(stack, output, lock_file=lock_file, prune=prune)
    click.echo(
        f"bundled {len(frozen.records)} conda and {len(frozen.wheels)} pip packages into {report.output}: "
        f"{len(report.fetched)} fetched, {len(report.kept)} kept, {len(report.pruned)} pruned, "
        f"{human_size(report.size())}"
    )


@cli.command(help=MANUAL["pack"])
@declared(Packing)
def pack(prefix: Path, output: Path, force: bool) -> None:
    done = api.pack(prefix, output, force=force)
    click.echo(f"packed {prefix} into {done} ({human_size(done.stat().st_size)})")


@cli.command(help=MANUAL["verify"])
@declared(Verifying)
def verify(prefix: Path, lock_file: Path, strict: bool) -> None:
    report = api.verify(prefix, lock_file, strict=strict)
    for line in report.lines():
        click.echo(line)
    if report.ok:
        stray = f" ({len(report.unowned)} unowned file(s); --strict makes them an error)" if report.unowned else ""
        return click.echo(f"{prefix} matches {lock_file}{stray}")
    click.echo(f"{prefix} does not match {lock_file}", err=True)
    sys.exit(1)


@cli.command(help=MANUAL["run"], context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@declared(Target)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(command: tuple[str, ...], **params) -> None:
    target = _prefix(take(Target, params))
    sys.stdout.flush()
    sys.exit(api.run(target, command))


@cli.command(help=MANUAL["install"])
@click.argument("stack", type=click.Path(path_type=Path))
@declared(Target, ChannelOptions, RecipeOptions, Parallel)
def install(stack: Path, jobs: int, **params) -> None:
    target = _prefix(take(Target, params))
    options = BuildOptions(channels=take(ChannelOptions, params), settings=BuildSettings(jobs=jobs))
    install_stack(stack, target, options, take(RecipeOptions, params), command=f"pmpm install {stack}")


def install_stack(stack: Path, prefix: Path, options, recipes, *, command: str, compiler: str | None = None) -> None:
    """render + build + create, with the usual progress and report."""
    with api.reporter_for() as reporter:
        done = api.install(stack, prefix, options, recipes, reporter=reporter, command=command, compiler=compiler)
    _report_environment(done)

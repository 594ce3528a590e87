"""Commands that make and check environments: create, lock, bundle, pack, verify, run, install."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import human_size
from ..options import BuildOptions, BuildSettings, ChannelOptions, RecipeOptions
from .main import cli
from .params import declared, take


def _prefix(prefix: Path | None, name: str | None) -> Path:
    """-p/-n, a mistake said as click says usage mistakes (naming the command's --help)."""
    from ..envs.stack_env import target_prefix
    from ..errors import InputError

    try:
        return target_prefix(prefix, name)
    except InputError as exc:
        raise click.UsageError(exc.what + (f"; {exc.fix}" if exc.fix else "")) from None


def target_options(function):
    function = click.option("-n", "--name", help="Environment name, under $PMPM_ENVS_DIR (default ~/.pmpm/envs).")(
        function
    )
    return click.option("-p", "--prefix", type=click.Path(path_type=Path), help="Environment path.")(function)


@cli.command()
@click.argument("stack", type=click.Path(path_type=Path), required=False)
@target_options
@declared(ChannelOptions)
@click.option(
    "--locked",
    is_flag=True,
    help="Install exactly the packages of the stack's lock file (see `pmpm lock`), "
    "pip packages in pip's hash-checking mode; a lock older than the stack's inputs is refused as stale.",
)
@click.option("--lock-file", type=click.Path(path_type=Path), help="Lock file for --locked (default: STACK.lock).")
@click.option(
    "--from-bundle",
    "bundle",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Install the locked environment of a directory written by `pmpm bundle`, with no network (no STACK).",
)
@click.option(
    "--force", is_flag=True, help="Install into an existing non-empty directory that is not a conda environment."
)
def create(
    stack: Path | None,
    prefix: Path | None,
    name: str | None,
    locked: bool,
    lock_file: Path | None,
    bundle: Path | None,
    force: bool,
    **params,
) -> None:
    """Create the stack's environment: its conda dependencies plus its locally built packages.

    \b
    The local channel comes first with strict priority, so a local build always wins
    over a package of the same name upstream; builds for a CPU this host lacks are
    never chosen (set CONDA_OVERRIDE_ARCHSPEC=x86_64_v3 to solve for another host).
    The stack's pip: list is then installed with the environment's own pip.

    \b
    Examples:
      pmpm create stacks/demo.yml -p ./env
      pmpm create stack.yml -n hpc -c ./mirror --override-channels
      pmpm lock stack.yml && pmpm create stack.yml -p ./env --locked
      pmpm create --from-bundle ./bundle -p ./env      # offline, from `pmpm bundle`
    """
    from ..envs.stack_env import create_stack_env

    target = _prefix(prefix, name)
    if bundle is not None:
        from ..envs.bundle import create_from_bundle

        if stack is not None:
            raise click.UsageError("--from-bundle takes no STACK: the bundle holds its stack and lock")
        return _report_environment(create_from_bundle(bundle, target))
    if stack is None:
        raise click.UsageError("missing STACK (or --from-bundle DIR)")
    done, records = create_stack_env(
        stack, target, take(ChannelOptions, params), locked=locked, lock_file=lock_file, force=force
    )
    _report_environment(done, [r.channel for r in records])


def _report_environment(prefix: Path, channels: list[str] | None = None) -> None:
    """How many packages from which channel: those just installed (the prefix holds exactly these
    records), else as conda-meta lists them (reading every record costs ~1 ms per 10 packages)."""
    import json
    from collections import Counter

    if channels is None:
        channels = [json.loads(p.read_text()).get("channel", "?") for p in (prefix / "conda-meta").glob("*.json")]
    click.echo(f"created {prefix}: {len(channels)} packages")
    for channel, count in sorted(Counter((c or "?").rstrip("/") for c in channels).items()):
        click.echo(f"  {count:4d} from {channel}")


@cli.command()
@click.argument("stack", type=click.Path(path_type=Path))
@declared(ChannelOptions)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Lock file (default: STACK.lock; the @EXPLICIT list goes beside it).",
)
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    default=("linux-64",),
    show_default=True,
    metavar="PLATFORM",
    help="Lock for this conda platform (repeatable), e.g. --platform linux-64 --platform osx-arm64; "
    "local packages must be noarch for any platform but linux-64.",
)
def lock(stack: Path, output: Path | None, platforms: tuple[str, ...], **params) -> None:
    """Solve the stack and write a lock file plus @EXPLICIT package lists.

    \b
    STACK.lock uses rattler's lock format (as pixi.lock does): the conda packages and the
    pip: list resolved by pip to exact wheels with their sha256 (for the locked python's
    version), plus a hash of the stack's inputs so a stale lock is reported.
    STACK-linux-64.txt is an @EXPLICIT list with md5s for `conda create --file` (any conda);
    STACK-linux-64.sha256.txt the same with sha256 (conda >= 24.9). Install exactly these
    packages later with `pmpm create STACK --locked`, or carry them with `pmpm bundle`.
    Each --platform is solved with that platform's virtual packages (CONDA_OVERRIDE_GLIBC,
    _OSX, _LINUX, _ARCHSPEC, _CUDA override them) into the same lock, with its own lists.
    """
    from ..envs.stack_env import lock_stack

    lock_path, solved = lock_stack(stack, take(ChannelOptions, params), output=output, platforms=platforms)
    for platform, (records, wheels, explicit) in solved.items():
        click.echo(
            f"locked {len(records)} conda and {len(wheels)} pip packages for {platform}: {lock_path} and {explicit}"
        )


@cli.command()
@click.argument("stack", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The bundle directory.")
@click.option("--lock-file", type=click.Path(path_type=Path), help="Lock file (default: STACK.lock, see `pmpm lock`).")
@click.option("--prune", is_flag=True, help="Remove packages and wheels the lock no longer needs.")
def bundle(stack: Path, output: Path, lock_file: Path | None, prune: bool) -> None:
    """Write everything STACK's lock needs into a directory that installs with no network.

    \b
    OUTPUT/channel is an indexed conda channel with every locked package (local builds
    and upstream), OUTPUT/wheels every locked pip wheel, beside the lock files and STACK.
    Re-running copies or downloads only what is missing.

    \b
    Examples:
      pmpm lock stack.yml && pmpm bundle stack.yml -o ./bundle
      pmpm create --from-bundle ./bundle -p ./env                 # on the offline machine
      conda create --offline -p ./env -c ./bundle/channel --override-channels kern-cli
    """
    from ..envs.stack_env import bundle_stack

    frozen, report = bundle_stack(stack, output, lock_file=lock_file, prune=prune)
    click.echo(
        f"bundled {len(frozen.records)} conda and {len(frozen.wheels)} pip packages into {report.output}: "
        f"{len(report.fetched)} fetched, {len(report.kept)} kept, {len(report.pruned)} pruned, "
        f"{human_size(report.size())}"
    )


@cli.command()
@click.option("-p", "--prefix", type=click.Path(path_type=Path), required=True, help="Environment path.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Archive (FILE.tar.gz).")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT.")
def pack(prefix: Path, output: Path, force: bool) -> None:
    """A relocatable archive of an environment, made by conda-pack.

    \b
    Unpack it anywhere and run bin/conda-unpack (a python script) to rewrite the prefix:
      mkdir env && tar xzf env.tar.gz -C env && (cd env && python bin/conda-unpack)
    """
    from ..envs.pack import pack as run_pack

    done = run_pack(prefix, output, force=force)
    click.echo(f"packed {prefix} into {done} ({human_size(done.stat().st_size)})")


@cli.command()
@click.option("-p", "--prefix", type=click.Path(path_type=Path), required=True, help="Environment path.")
@click.option("--lock", "lock_file", type=click.Path(path_type=Path), required=True, help="The lock file.")
def verify(prefix: Path, lock_file: Path) -> None:
    """Check that an environment is exactly what a lock froze: records and file hashes.

    Conda packages must match the lock by name, version, build and sha256, pip packages
    by name and version; every installed file must have the hash its package recorded.
    Exit 1 with one line per difference otherwise.
    """
    from ..envs.verify import verify as run_verify

    report = run_verify(prefix, lock_file)
    if report.ok:
        click.echo(f"{prefix} matches {lock_file}")
        return
    for line in report.lines():
        click.echo(line)
    click.echo(f"{prefix} does not match {lock_file}", err=True)
    sys.exit(1)


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@target_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(prefix: Path | None, name: str | None, command: tuple[str, ...]) -> None:
    """Run COMMAND inside an environment, activated (PATH, CONDA_PREFIX, activate.d scripts).

    \b
    Example:
      pmpm run -p ./env kern 1000000 100
    """
    from ..envs.environment import run as run_in

    target = _prefix(prefix, name)
    sys.stdout.flush()
    sys.exit(run_in(target, command))


@cli.command()
@click.argument("stack", type=click.Path(path_type=Path))
@target_options
@declared(ChannelOptions, RecipeOptions)
@click.option("-j", "--jobs", type=click.IntRange(1), default=1, show_default=True, help="Parallel builds.")
def install(stack: Path, prefix: Path | None, name: str | None, jobs: int, **params) -> None:
    """Render, build and create in one go: `pmpm install stack.yml -p ./env`."""
    options = BuildOptions(channels=take(ChannelOptions, params), settings=BuildSettings(jobs=jobs))
    install_stack(stack, _prefix(prefix, name), options, take(RecipeOptions, params), command=f"pmpm install {stack}")


def install_stack(
    stack: Path,
    prefix: Path,
    options: BuildOptions,
    recipes: RecipeOptions,
    *,
    command: str,
    compiler: str | None = None,
) -> None:
    """render + build + create, with the usual progress and report."""
    from .. import api
    from .progress import reporter_for

    with reporter_for() as reporter:
        done = api.install(stack, prefix, options, recipes, reporter=reporter, command=command, compiler=compiler)
    _report_environment(done)

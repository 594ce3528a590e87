"""python-pmpm's commands (conda_install, system_install), spelled as it spelled them, and
`fetch`, which fills the source mirrors builds without the internet use."""

from __future__ import annotations

from pathlib import Path

import click

from ..options import MIRROR_HELP, BuildOptions, BuildSettings, ChannelOptions, RecipeOptions
from .envs import install_stack
from .main import cli
from .params import declared, take


def _original_options(function):
    """python-pmpm's options, mapped onto pmpm's."""
    for option in reversed(
        [
            click.option("--file", "stack", required=True, type=click.Path(path_type=Path), help="The stack file."),
            click.option("--arch", help="The march variant (e.g. x86-64-v3, znver3, native)."),
            click.option("--tune", help="The mtune variant (default: the march's own)."),
            click.option("--skip-test", is_flag=True, help="Skip the recipes' tests (pmpm build --no-test)."),
            click.option("--fast-update", is_flag=True, help="Reuse previous build trees (pmpm build --dirty)."),
            click.option("--source-mirror", envvar="PMPM_SOURCE_MIRROR", metavar="DIR|URL", help=MIRROR_HELP),
            click.option("-j", "--jobs", type=click.IntRange(1), default=1, show_default=True, help="Parallel builds."),
        ]
    ):
        function = option(function)
    return declared(ChannelOptions)(function)


def _install_original(
    prefix: Path,
    stack: Path,
    arch: str | None,
    tune: str | None,
    skip_test: bool,
    fast_update: bool,
    source_mirror: str | None,
    jobs: int,
    compiler: str | None,
    command: str,
    **params,
) -> None:
    """render + build + create into PREFIX: what both original commands did, in pmpm's stages."""
    settings = BuildSettings(jobs=jobs, test=not skip_test, dirty=fast_update)
    options = BuildOptions(channels=take(ChannelOptions, params), settings=settings)
    variants = (*([f"march={arch}"] if arch else []), *([f"mtune={tune}"] if tune else []))
    install_stack(
        stack,
        prefix,
        options,
        RecipeOptions(variants=variants, source_mirror=source_mirror),
        compiler=compiler,
        command=f"pmpm {command} {prefix} --file {stack}",
    )


@cli.command("conda_install")
@click.argument("prefix", type=click.Path(path_type=Path))
@_original_options
def conda_install(prefix: Path, **kwargs) -> None:
    """python-pmpm's conda_install: render, build and create STACK's environment in PREFIX.

    \b
    The stack's own _pmpm.compiler applies (conda: conda-forge's compilers, as the original
    used; system: the host's). Same as `pmpm install STACK -p PREFIX`.
    Example:
      pmpm conda_install ~/pmpm-test --file examples/linux.yml --arch x86-64-v3
    """
    _install_original(prefix, compiler=None, command="conda_install", **kwargs)


@cli.command("system_install")
@click.argument("prefix", type=click.Path(path_type=Path))
@_original_options
def system_install(prefix: Path, **kwargs) -> None:
    """python-pmpm's system_install: build with the host's compilers and the MPI on PATH.

    \b
    Forces `_pmpm.compiler: system`: gcc/g++/gfortran from PATH, and MPICC, MPICXX, MPIFC,
    MPIF90 set to the mpicc/mpicxx/mpifort/mpif90 found on PATH (a vendor MPI: load its
    module first). The packages still land in PREFIX as conda packages.
    Example:
      module load cray-mpich && pmpm system_install ~/stack --file examples/linux.yml
    """
    _install_original(prefix, compiler="system", command="system_install", **kwargs)


@cli.command()
@click.argument("stack", type=click.Path(path_type=Path), required=False)
@click.option(
    "--to",
    "to",
    type=click.Path(path_type=Path),
    envvar="PMPM_SOURCE_MIRROR",
    default=Path("source-mirror"),
    show_default=True,
    help="The mirror directory (env PMPM_SOURCE_MIRROR).",
)
@click.option(
    "--add",
    "add",
    nargs=2,
    metavar="URL[@REV] FILE",
    help="Import FILE, a tarball of git repository URL at REV (or, for an archive URL without @REV, "
    "the file of that `url:` source), instead of fetching a stack.",
)
def fetch(stack: Path | None, to: Path, add: tuple[str, str] | None) -> None:
    """Download every remote source of STACK into a source mirror, for builds without the internet.

    \b
    git sources at their rev (as a `git archive` tarball), url sources (checked against
    their sha256) and pypi sdists land in DIR/files/<sha256>/, recorded in DIR/sources.json.
    Build elsewhere with `--source-mirror DIR` (or serve DIR over HTTP and pass its URL):
    catalogue entries resolve through the mirror by repository and rev, unchanged.
    Examples:
      pmpm fetch examples/linux.yml --to /shared/sources
      pmpm fetch --add https://github.com/hpc4cmb/libmadam@v1.0.2 libmadam.tar.gz --to /shared/sources
      pmpm fetch --add https://www.fftw.org/fftw-3.3.10.tar.gz fftw3_3.3.10.orig.tar.gz --to /shared/sources
      pmpm build examples/linux.yml --source-mirror /shared/sources
    """
    from ..recipes.mirror import MirrorDir, describe

    mirror = MirrorDir(to)
    if add:
        if stack is not None:
            raise click.UsageError("--add takes no STACK")
        click.echo(f"added {describe(mirror.import_archive(add[0], Path(add[1])))} to {to}/")
        return
    if stack is None:
        raise click.UsageError("missing STACK (or --add URL@REV FILE)")
    from ..stack.load import load_stack

    for package in load_stack(stack).packages:
        key, new = mirror.fetch(package.source, package.name)
        if key:
            click.echo(f"{'fetched' if new else 'present'}  {package.name}: {describe(key)}")
    click.echo(f"source mirror: {mirror.root}/")

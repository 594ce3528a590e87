"""The commands' own options and their help, declared as data beside the build options of
`pmpm.options`: `pmpm.cli` derives its click commands from them, and the API's functions take
the same names as keywords. Like `options`, this module imports nothing heavy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .options import DEFAULT_RECIPES, MIRROR_HELP, option

JSON_HELP = "Print the result as JSON on stdout (progress and messages go to stderr)."
PREFIX_HELP = "Environment path."


@dataclass(frozen=True, kw_only=True)
class RenderOutput:
    output: Path = option(
        DEFAULT_RECIPES,
        "-o",
        "--output",
        path=True,
        help="Directory for <package>/recipe.yaml and conda_build_config.yaml.",
    )
    formats: tuple[str, ...] = option(
        (),
        "--format",
        choices=("recipe.yaml", "meta.yaml"),
        help="recipe.yaml (v1, rattler-build and recent conda-build) is always written; "
        "meta.yaml adds classic conda-build recipes.",
    )


@dataclass(frozen=True, kw_only=True)
class Printing:
    as_json: bool = option(False, "--json", help=JSON_HELP)


@dataclass(frozen=True, kw_only=True)
class Reporting:
    verbose: bool = option(False, "-v", "--verbose", help="Stream every build log line to stderr.")
    as_json: bool = option(False, "--json", help=JSON_HELP)


@dataclass(frozen=True, kw_only=True)
class Submission:
    """Where `pmpm build` runs its jobs."""

    executor: str = option(
        "local",
        "--executor",
        choices=("local", "slurm"),
        help="local: build here. slurm: one sbatch job per package × variant, chained by afterok, each "
        "running pmpm on a compute node into the shared --channel; prints the job ids and returns.",
    )
    sbatch_args: tuple[str, ...] = option(
        (),
        "--sbatch-arg",
        metavar="ARG",
        help="Pass ARG to every sbatch (e.g. --sbatch-arg=--time=1:00:00). Repeatable.",
    )
    wait: bool = option(False, "--wait", help="--executor slurm: block until every job ends, showing progress.")
    only: tuple[str, ...] = option(
        (), "--only-package", hidden=True, help="Build only this package's variants (what each Slurm or CI job runs)."
    )
    render_dir: Path = option(
        DEFAULT_RECIPES,
        "--render-dir",
        path=True,
        hidden=True,
        help="Where a stack TARGET is rendered (a private directory per Slurm job).",
    )


@dataclass(frozen=True, kw_only=True)
class Workflow:
    output: Path | None = option(
        None,
        "-o",
        "--output",
        path=True,
        help="Where to write it (default .github/workflows/pmpm.yml or .gitlab-ci.yml; - for stdout).",
    )
    install: str = option(
        "python -m pip install pmpm", "--install", help="The shell command that installs pmpm in each CI job."
    )


@dataclass(frozen=True, kw_only=True)
class PypiAddition:
    stack: Path = option(Path("stack.yml"), "-s", "--stack", path=True, help="The stack file to edit.")
    wheel: bool = option(
        False, "--wheel", help="Take the distribution's wheel as is instead of building it from its sdist."
    )


@dataclass(frozen=True, kw_only=True)
class Cleaning:
    logs: bool = option(False, "--logs", help="Also remove build logs.")
    cache: bool = option(False, "--cache", help="Also remove the package cache that environments install from.")


@dataclass(frozen=True, kw_only=True)
class Target:
    """Which environment: a path, or a name under the environments directory."""

    prefix: Path | None = option(None, "-p", "--prefix", path=True, help=PREFIX_HELP)
    name: str | None = option(
        None, "-n", "--name", help="Environment name, under $PMPM_ENVS_DIR (default ~/.pmpm/envs)."
    )


@dataclass(frozen=True, kw_only=True)
class Creation:
    locked: bool = option(
        False,
        "--locked",
        help="Install exactly the packages of the stack's lock file (see `pmpm lock`), pip packages in pip's "
        "hash-checking mode; a lock older than the stack's inputs is refused as stale.",
    )
    lock_file: Path | None = option(
        None, "--lock-file", path=True, help="Lock file for --locked (default: STACK.lock)."
    )
    bundle: Path | None = option(
        None,
        "--from-bundle",
        path=True,
        exists=True,
        help="Install the locked environment of a directory written by `pmpm bundle`, with no network (no STACK).",
    )
    force: bool = option(
        False, "--force", help="Install into an existing non-empty directory that is not a conda environment."
    )


@dataclass(frozen=True, kw_only=True)
class Locking:
    output: Path | None = option(
        None, "-o", "--output", path=True, help="Lock file (default: STACK.lock; the @EXPLICIT list goes beside it)."
    )
    platforms: tuple[str, ...] = option(
        ("linux-64",),
        "--platform",
        metavar="PLATFORM",
        help="Lock for this conda platform (repeatable), e.g. --platform linux-64 --platform osx-arm64; "
        "local packages must be noarch for any platform but linux-64.",
    )


@dataclass(frozen=True, kw_only=True)
class Bundling:
    output: Path = option(None, "-o", "--output", path=True, required=True, help="The bundle directory.")
    lock_file: Path | None = option(
        None, "--lock-file", path=True, help="Lock file (default: STACK.lock, see `pmpm lock`)."
    )
    prune: bool = option(False, "--prune", help="Remove packages and wheels the lock no longer needs.")


@dataclass(frozen=True, kw_only=True)
class Packing:
    prefix: Path = option(None, "-p", "--prefix", path=True, required=True, help=PREFIX_HELP)
    output: Path = option(None, "-o", "--output", path=True, required=True, help="Archive (FILE.tar.gz).")
    force: bool = option(False, "--force", help="Overwrite OUTPUT.")


@dataclass(frozen=True, kw_only=True)
class Verifying:
    prefix: Path = option(None, "-p", "--prefix", path=True, required=True, help=PREFIX_HELP)
    lock_file: Path = option(None, "--lock", path=True, required=True, help="The lock file.")
    strict: bool = option(
        False, "--strict", help="Files in bin/, lib/ or include/ that no package installed make it differ too."
    )


@dataclass(frozen=True, kw_only=True)
class Parallel:
    jobs: int = option(1, "-j", "--jobs", minimum=1, help="Parallel builds.")


@dataclass(frozen=True, kw_only=True)
class Original:
    """python-pmpm's options, mapped onto pmpm's."""

    stack: Path = option(None, "--file", path=True, required=True, help="The stack file.")
    arch: str | None = option(None, "--arch", help="The march variant (e.g. x86-64-v3, znver3, native).")
    tune: str | None = option(None, "--tune", help="The mtune variant (default: the march's own).")
    skip_test: bool = option(False, "--skip-test", help="Skip the recipes' tests (pmpm build --no-test).")
    fast_update: bool = option(False, "--fast-update", help="Reuse previous build trees (pmpm build --dirty).")
    source_mirror: str | None = option(
        None, "--source-mirror", envvar="PMPM_SOURCE_MIRROR", metavar="DIR|URL", help=MIRROR_HELP
    )
    jobs: int = option(1, "-j", "--jobs", minimum=1, help="Parallel builds.")


@dataclass(frozen=True, kw_only=True)
class Fetching:
    to: Path = option(
        Path("source-mirror"),
        "--to",
        path=True,
        envvar="PMPM_SOURCE_MIRROR",
        help="The mirror directory (env PMPM_SOURCE_MIRROR).",
    )
    add: tuple[str, str] | None = option(
        None,
        "--add",
        nargs=2,
        metavar="URL[@REV] FILE",
        help="Import FILE, a tarball of git repository URL at REV (or, for an archive URL without @REV, "
        "the file of that `url:` source), instead of fetching a stack.",
    )

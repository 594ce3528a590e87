"""The options of the commands that render, build and publish (`pmpm.cli.build`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..options import DEFAULT_RECIPES, option
from . import JSON_HELP


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
    channel: str | None = option(
        None,
        "--channel",
        metavar="s3://BUCKET/PREFIX",
        help="Jobs build into this S3 channel and take what they stand on from it, instead of passing the "
        "channel between jobs as artifacts; AWS credentials from the CI's secrets (install pmpm[s3]).",
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

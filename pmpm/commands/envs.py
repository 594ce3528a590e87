"""The options of the commands that make and check environments (`pmpm.cli.envs`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..options import option
from . import PREFIX_HELP


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

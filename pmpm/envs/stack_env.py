"""A stack's environment, end to end: create it (solved, or exactly as locked), lock it, bundle it.

What the `create`, `lock` and `bundle` commands do, over the pieces in this package: the stack's
summary, its channels in priority order, the solver, the lock files and the installer.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..channel import channel_at
from ..errors import InputError
from ..options import ChannelOptions, is_s3
from .environment import EnvironmentRequest, create, request_for, solve_request
from .summary import StackSummary, summarize
from .verified import verified

ENV_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")


def envs_dir() -> Path:
    """Where `-n NAME` environments live: $PMPM_ENVS_DIR, else ~/.pmpm/envs."""
    return Path(os.environ.get("PMPM_ENVS_DIR") or Path.home() / ".pmpm" / "envs")


def target_prefix(prefix: Path | None, name: str | None) -> Path:
    """The environment `-p PREFIX` or `-n NAME` names (exactly one of them)."""
    from ..errors import shorten

    if (prefix is None) == (name is None):
        raise InputError("give exactly one of -p/--prefix PATH or -n/--name NAME")
    if name is not None and not ENV_NAME.fullmatch(name):
        raise InputError(
            f"-n {shorten(repr(name), 60)}: an environment name is one word of letters, digits, "
            "'.', '_' and '-', not a path",
            fix="use -p PATH for a directory",
        )
    return prefix if prefix is not None else envs_dir() / name


def request(stack: StackSummary, channels: ChannelOptions, platform: str | None = None) -> EnvironmentRequest:
    """What to solve for `stack` through `channels` (for `platform`, else this host's)."""
    extra = {"platform": platform} if platform else {}
    return request_for(
        stack,
        channel_at(channels.channel),
        extra_channels=list(channels.upstream),
        override_channels=channels.override_channels,
        offline=channels.offline,
        **extra,
    )


def create_stack_env(
    stack_path: Path,
    prefix: Path,
    channels: ChannelOptions = ChannelOptions(),
    *,
    locked: bool = False,
    lock_file: Path | None = None,
    force: bool = False,
) -> tuple[Path, list]:
    """`pmpm create STACK`: the environment solved from the channels, or exactly the lock's
    (`locked`, refused when stale). Returns the prefix and the conda records installed."""
    summary = summarize(stack_path, None if is_s3(channels.channel) else channels.channel)
    if locked:
        from .lock import check_fresh, lock_paths, read_lock  # only --locked reads a lock

        frozen = read_lock(lock_file or lock_paths(summary.path)[0])
        check_fresh(frozen, summary)
        done = create(
            summary,
            prefix,
            records=verified(frozen.records),  # the lock's hashes are the authority, checked before linking
            wheels=frozen.wheels,
            command=f"pmpm create {stack_path} --locked",
            force=force,
        )
        return done, frozen.records
    wanted = request(summary, channels)
    records = solve_request(wanted)
    done = create(summary, prefix, wanted, records=records, command=f"pmpm create {stack_path}", force=force)
    return done, records


def lock_stack(
    stack_path: Path,
    channels: ChannelOptions = ChannelOptions(),
    *,
    output: Path | None = None,
    platforms: tuple[str, ...] = ("linux-64",),
) -> tuple[Path, dict]:
    """`pmpm lock STACK`: solve for each platform, resolve the pip: list, write the lock and the
    @EXPLICIT lists. Returns the lock's path and, per platform, (records, wheels, explicit list)."""
    from .lock import inputs_hash, lock_paths, resolve_pip, write_locks

    summary = summarize(stack_path)
    requests = {p: request(summary, channels, p) for p in dict.fromkeys(platforms)}
    solved = {}
    for platform, wanted in requests.items():
        records = solve_request(wanted)
        python = next((r for r in records if r.name.normalized == "python"), None)
        version = ".".join(str(python.version).split(".")[:2]) if python else None
        wheels = resolve_pip(summary.pip_requirements, version, [r.name.normalized for r in records], platform=platform)
        solved[platform] = (records, wheels)
    lock_path = output if output is not None else lock_paths(summary.path)[0]
    written = write_locks(solved, next(iter(requests.values())).channels, lock_path, inputs=inputs_hash(summary))
    return lock_path, {p: (*solved[p], written[p]) for p in solved}


def bundle_stack(stack_path: Path, output: Path, *, lock_file: Path | None = None, prune: bool = False):
    """`pmpm bundle STACK`: every locked package and wheel into OUTPUT, with the lock and stack."""
    from .bundle import write_bundle
    from .lock import check_fresh, lock_paths, read_lock

    summary = summarize(stack_path)
    default_lock, explicit = lock_paths(summary.path)
    frozen = read_lock(lock_file or default_lock)
    check_fresh(frozen, summary)
    if lock_file is not None:
        explicit = lock_file.with_name(f"{lock_file.stem}-linux-64.txt")
    return frozen, write_bundle(frozen, summary.path, explicit, output, prune=prune)

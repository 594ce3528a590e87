"""A stack's summary: what creating its environment needs of it (channels, conda specs, the pip:
list, its local packages' names), without validating the stack again (see `summarize`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__, resources, user_cache
from ..channel.layout import META
from ..files import atomic_write

if TYPE_CHECKING:
    from ..stack.model import Stack


@dataclass
class StackSummary:
    """What an environment needs from a stack file: the conda part and the local package names."""

    path: Path
    channels: list[str]
    conda_specs: list[str]
    pip_requirements: list[str]
    package_names: list[str]


def summarize(stack_path: str | Path, channel: str | Path | None = None) -> StackSummary:
    """The summary of a validated stack, cached by the file's content.

    Validation (pydantic, ruamel, the catalogue) costs more than solving a small
    environment (a second for a stack of 300 packages); an unchanged stack was validated
    already. The key covers the stack's bytes, the catalogue's entries and pmpm's version;
    any change validates afresh. The summary is kept in pmpm's user cache; `pmpm build`
    also leaves it in the local `channel` it built the stack into (`share_summary`), so a
    create with a fresh user cache (a new XDG_CACHE_HOME, a CI job, another user of a
    shared channel) does not validate again. Reading never writes into a channel.
    """
    import json

    path = Path(stack_path)
    try:
        content = path.read_bytes()
    except OSError:
        content = b""
    key = _summary_key(content)
    cache = user_cache("stacks", f"{key}.json")
    shared = _shared_summary(channel, key) if channel is not None else None
    if content:
        for place in (cache, shared):
            if place is not None and place.is_file():
                try:
                    summary = StackSummary(path=path, **json.loads(place.read_text()))
                except (OSError, ValueError, TypeError):  # half-written or from another layout: validate afresh
                    continue
                if place is shared:
                    _store_quietly(cache, summary)
                return summary
    from ..stack.load import load_stack

    summary = _summary_of(load_stack(path))
    _store_quietly(cache, summary)
    return summary


def share_summary(stack_path: Path, channel: Path) -> None:
    """Leave the stack's summary in the channel it was just built into (see `summarize`)."""
    summary = summarize(stack_path)
    if Path(channel, META).is_dir():  # an existing channel's bookkeeping, never a new directory
        _store_quietly(_shared_summary(channel, _summary_key(Path(stack_path).read_bytes())), summary)


def _shared_summary(channel: str | Path, key: str) -> Path:
    return Path(channel, META, "stacks", f"{key}.json")


def _store_quietly(place: Path, summary: StackSummary) -> None:
    try:
        _store(place, summary)
    except OSError:  # a read-only cache or channel only costs the next create a validation
        pass


def remember_summary(stack: "Stack") -> None:
    """Keep the summary of a stack validated elsewhere (render): the next create reads it."""
    try:
        _store(user_cache("stacks", f"{_summary_key(stack.path.read_bytes())}.json"), _summary_of(stack))
    except OSError:  # a read-only cache only costs the next create a validation
        pass


def _summary_of(stack: "Stack") -> StackSummary:
    return StackSummary(
        stack.path, stack.channels, stack.conda_specs, stack.pip_requirements, [p.name for p in stack.packages]
    )


def _summary_key(content: bytes) -> str:
    """The stack's bytes, the catalogue's entries (names and times) and pmpm's version."""
    import hashlib

    # resources, not pmpm.catalogue: that module loads pydantic.
    catalogue = sorted((p.name, p.stat().st_mtime_ns) for p in resources.catalogue_dir().glob("*.yml"))
    return hashlib.sha256(content + repr(catalogue).encode() + __version__.encode()).hexdigest()


def _store(cache: Path, summary: StackSummary) -> None:
    """Write a summary under a temporary name and rename it into place: readers never see half a file."""
    import json

    atomic_write(cache, json.dumps({k: v for k, v in vars(summary).items() if k != "path"}))

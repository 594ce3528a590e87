"""A conda channel on disk: its layout, the names pmpm gives its parts, and channel URLs."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

from ..errors import first_line
from ..variants.cbc import PLATFORM

__all__ = [
    "PLATFORM",
    "SUBDIRS",
    "SOLVE_PLATFORMS",
    "PART",
    "META",
    "QUARANTINE",
    "PACKAGE_PATTERNS",
    "Readable",
    "is_local_channel",
    "channel_url",
    "url_to_path",
    "search_order",
    "package_problem",
]


class HasUrl(Protocol):
    @property
    def url(self) -> str: ...


class Readable(HasUrl, Protocol):
    """What an environment needs of the channel pmpm builds into: a directory or an S3 channel."""

    @property
    def path(self) -> Path | str: ...

    def exists(self) -> bool: ...

    def packages(self) -> dict[str, dict]: ...


SUBDIRS = ("noarch", PLATFORM)
SOLVE_PLATFORMS = (PLATFORM, "noarch")
PART = ".part"
META = ".pmpm"  # <channel>/.pmpm/: pmpm's bookkeeping (fingerprints, lock, quarantine)
QUARANTINE = "quarantine"  # <channel>/.pmpm/quarantine/<subdir>/: files the indexer cannot read
PACKAGE_PATTERNS = ("*.conda", "*.tar.bz2")


def package_problem(path: Path) -> str | None:
    """Why `path` is not a conda package the indexer can read (or not the package its name says), or None."""
    from rattler.package import IndexJson

    try:
        info = IndexJson.from_package_archive(path)
    except Exception as exc:  # rattler's own error types: all mean "unreadable"
        return f"not a readable conda package: {first_line(exc)}"
    stem = path.name.removesuffix(".conda").removesuffix(".tar.bz2")
    named = f"{info.name.normalized}-{info.version}-{info.build}"
    if stem != named:
        return f"holds package {named}, not what its file name says"
    return None


def is_local_channel(path: Path) -> bool:
    """Whether `path` is a channel pmpm publishes into (its bookkeeping in `.pmpm/`): build output
    that changes with every publish, so never part of a package's source tree."""
    return (path / META).is_dir() and (path / "noarch" / "repodata.json").is_file()


def channel_url(channel: str | Path) -> str:
    """Directories become file:// URLs; names (conda-forge) and URLs pass through."""
    text = str(channel)
    if "://" not in text and (Path(text).is_dir() or text.startswith((".", "/"))):
        return Path(text).absolute().as_uri()
    return text


def url_to_path(url: str) -> Path:
    """The path a file:// URL names (url2pathname is unquote on POSIX, without urllib.request's ~9 ms)."""
    import urllib.parse

    return Path(urllib.parse.unquote(urllib.parse.urlparse(url).path))


def search_order(
    local: HasUrl,
    stack_channels: Sequence[str],
    extra: Sequence[str] = (),
    *,
    override: bool = False,
    offline: bool = False,
) -> list[str]:
    """The local channel first, then -c channels, then the stack's (unless overridden).

    Offline keeps only file:// channels. Shared by `build` and `create` so both see the same world.
    `nodefaults` means to pmpm what it means to conda: no `defaults` channel (pmpm never adds
    one), so it is dropped rather than looked up as a channel named nodefaults.
    """
    chosen = [c for c in [*extra, *([] if override else stack_channels)] if str(c) != "nodefaults"]
    urls = [channel_url(c) for c in chosen]
    if offline:
        urls = [u for u in urls if u.startswith("file:")]
    return list(dict.fromkeys([local.url, *urls]))

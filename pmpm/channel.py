"""The local channel: a real conda channel that is never half-written.

Packages are built elsewhere (a private output directory per build) and published here
under a file lock: copied to a hidden temporary name, renamed into place, then the
channel is re-indexed with `rattler.index.index_fs` (which itself writes each repodata file
to a temporary name and renames it). A reader therefore sees either the old or the new
package, and concurrent publishers never lose each other's packages.
pmpm's own bookkeeping (fingerprints) lives in `.pmpm/` inside the channel.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import rattler
from filelock import FileLock, Timeout

from .errors import ChannelError

PLATFORM = "linux-64"  # the only platform pmpm builds for
SUBDIRS = ("noarch", PLATFORM)
SOLVE_PLATFORMS = (PLATFORM, "noarch")
PART = ".part"


def channel_url(channel: str | Path) -> str:
    """Directories become file:// URLs; names (conda-forge) and URLs pass through."""
    text = str(channel)
    if "://" not in text and (Path(text).is_dir() or text.startswith((".", "/"))):
        return Path(text).absolute().as_uri()
    return text


def url_to_path(url: str) -> Path:
    """The directory of a file:// channel URL."""
    import urllib.parse
    import urllib.request

    return Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))


def search_order(local: "LocalChannel", stack_channels: list[str], extra: list[str] = (), *,
                 override: bool = False, offline: bool = False) -> list[str]:
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


class LocalChannel:
    """A directory laid out as a conda channel."""

    def __init__(self, path: str | Path):
        self.path = Path(path).absolute()
        self.meta = self.path / ".pmpm"

    @property
    def url(self) -> str:
        return self.path.as_uri()

    @contextmanager
    def locked(self, timeout: float = 600) -> Iterator[None]:
        self.meta.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(self.meta / "lock"), timeout=timeout):
                yield
        except Timeout:
            raise ChannelError(f"{self.path}: another pmpm process holds the channel lock for over {timeout:.0f}s "
                               f"(wait, or remove {self.meta / 'lock'} if no pmpm is running)") from None

    def ensure(self) -> None:
        """Create the channel if needed and heal what an interrupted run could leave behind."""
        if self.path.exists() and not self.path.is_dir():
            raise ChannelError(f"{self.path}: exists and is not a directory (choose another --channel)")
        with self.locked():
            for subdir in SUBDIRS:
                (self.path / subdir).mkdir(parents=True, exist_ok=True)
                for stale in (self.path / subdir).glob(f".*{PART}"):
                    stale.unlink(missing_ok=True)
            if not self._repodata_valid():
                self._index(force=True)

    def publish(self, files: list[Path], fingerprints: dict[str, str] | None = None) -> list[Path]:
        """Move built package files into the channel atomically, then re-index."""
        published: list[Path] = []
        with self.locked():
            for source in files:
                subdir = source.parent.name
                target_dir = self.path / subdir
                target_dir.mkdir(parents=True, exist_ok=True)
                tmp = target_dir / f".{source.name}.{os.getpid()}{PART}"
                shutil.copyfile(source, tmp)
                os.replace(tmp, target_dir / source.name)
                published.append(target_dir / source.name)
            if fingerprints:
                self._update_fingerprints(fingerprints)
            self._index(force=True)
        return published

    def packages(self) -> dict[str, dict]:
        """Repodata records by file name, across subdirs."""
        records: dict[str, dict] = {}
        for subdir in SUBDIRS:
            repodata = self.path / subdir / "repodata.json"
            if repodata.is_file():
                data = json.loads(repodata.read_text())
                for key in ("packages", "packages.conda"):
                    for name, record in data.get(key, {}).items():
                        records[f"{subdir}/{name}"] = record
        return records

    def fingerprints(self) -> dict[str, str]:
        path = self.meta / "fingerprints.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return {}

    def _update_fingerprints(self, new: dict[str, str]) -> None:
        merged = {**self.fingerprints(), **new}
        tmp = self.meta / f"fingerprints.json.{os.getpid()}{PART}"
        tmp.write_text(json.dumps(merged, indent=1, sort_keys=True))
        os.replace(tmp, self.meta / "fingerprints.json")

    def is_consistent(self) -> bool:
        """What a reader needs: repodata parses and every listed package is present at its listed size.

        A package renamed into place just before an interrupted re-index is complete but not
        yet listed: invisible to readers until the next `ensure()` indexes it.
        """
        return self._consistent_listing() is not None

    def _consistent_listing(self) -> dict[str, dict] | None:
        try:
            listed = self.packages()
        except (OSError, ValueError):
            return None
        complete = all((self.path / d / "repodata.json").is_file() for d in SUBDIRS) and all(
            (self.path / key).is_file() and (self.path / key).stat().st_size == record.get("size")
            for key, record in listed.items())
        return listed if complete else None

    def _repodata_valid(self) -> bool:
        """Consistent, and listing exactly the package files present."""
        listed = self._consistent_listing()
        if listed is None:
            return False
        on_disk = {f"{d}/{p.name}" for d in SUBDIRS for pattern in ("*.conda", "*.tar.bz2")
                   for p in (self.path / d).glob(pattern)}
        return set(listed) == on_disk

    def _index(self, force: bool = False) -> None:
        """Plain repodata.json only: every client reads it, and writing the zst and sharded
        forms costs ~15x more per publish. Any such files left by another indexer would go
        stale, and clients prefer them, so they are removed."""
        for subdir in SUBDIRS:
            for stale in ("repodata.json.zst", "repodata_shards.msgpack.zst"):
                (self.path / subdir / stale).unlink(missing_ok=True)
            shutil.rmtree(self.path / subdir / "shards", ignore_errors=True)
        try:
            asyncio.run(rattler.index.index_fs(self.path, force=force, write_zst=False, write_shards=False))
        except Exception as exc:  # the indexer's own error types
            raise ChannelError(f"{self.path}: indexing failed: {exc}") from None

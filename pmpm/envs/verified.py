"""Package files checked against what a lock promises, before anything is linked.

rattler installs whatever file a record's URL serves, whatever sha256 the record names
(checked with py-rattler 0.2x: a channel file replaced after locking is installed as is).
A lock is the authority, as in pixi and conda-lock: every locked package is read here first,
its sha256 and size compared with the lock's, and the install then reads the checked copy.
Local files are checked in place; remote ones are downloaded into pmpm's store of checked
files (keyed by sha256, so a second environment of the same lock downloads nothing).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from rattler.package_streaming import download_to_path

from .. import network, user_cache
from ..channel.layout import url_to_path
from ..errors import ChannelError, first_line
from ..files import replacing, sha256_file


def store_dir() -> Path:
    return user_cache("verified")


def record_path(record) -> Path | None:
    """The local file a record's URL names, or None for a remote one."""
    return url_to_path(record.url) if record.url.startswith("file:") else None


def check(record, path: Path) -> None:
    """Raise unless `path` is the file the record (the lock) promises: its sha256 and size."""
    expected = record.sha256.hex() if record.sha256 else None
    if expected is None:
        raise ChannelError(f"{_label(record)}: the lock gives no sha256 (lock it again with `pmpm lock`)")
    if not path.is_file():
        raise ChannelError(f"{_label(record)}: {record.url} is missing (the channel changed since locking)")
    actual = sha256_file(path)
    size = path.stat().st_size
    if actual != expected or (record.size and size != record.size):
        raise ChannelError(
            f"{_label(record)}: the lock says sha256 {expected} but {record.url} has {actual} "
            "(the channel changed since locking: restore the file, or lock again with `pmpm lock`)"
        )


def fetch(record, target: Path) -> bool:
    """The record's file at `target`, checked; False when `target` already held it."""
    if target.is_file() and sha256_file(target) == record.sha256.hex():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    local = record_path(record)
    with replacing(target) as part:  # a failed or refused fetch leaves nothing at `target`
        try:
            if local is not None:
                shutil.copyfile(local, part)
            else:
                asyncio.run(download_to_path(network.rattler_client(record.size or 0), record.url, part))
        except Exception as exc:  # OSError, rattler's network errors
            why = network.waited(record.url) if network.timed_out(str(exc)) else f"{record.url}: {first_line(exc)}"
            raise ChannelError(f"cannot fetch {_label(record)}: {why}") from None
        check(record, part)
    return True


def verified(records: list, store: Path | None = None) -> list:
    """The records, each pointing at a checked file: local ones in place, remote ones in the store."""
    store = store or store_dir()
    for record in records:
        local = record_path(record)
        if local is not None:
            check(record, local)
            continue
        target = store / record.sha256.hex() / record.file_name
        fetch(record, target)
        record.url = target.as_uri()
    return records


def _label(record) -> str:
    return f"{record.name.normalized}-{record.version}-{record.build}"

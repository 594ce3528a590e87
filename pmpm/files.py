"""One helper for each low-level act on files: writing one atomically, and its sha256.

Every file pmpm writes that another process may read at the same moment (records, locks,
indexes, caches) is written here: under a temporary name unique to this process in the same
directory, then renamed into place, so a reader sees the old file or the new one, never half of
one, and two writers never share a temporary file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` to write, renamed onto `path` when the block succeeds and
    removed when it fails (for writers that need a path: a library's `to_path`, a copy)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: Path, data: str | bytes, *, parents: bool = True) -> Path:
    """Write `data` to `path` atomically (see the module); its directory is made when `parents`."""
    path = Path(path)
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def atomic_copy(source: Path, target: Path) -> Path:
    """Copy `source` to `target` atomically (see the module)."""
    with replacing(target) as tmp:
        shutil.copyfile(source, tmp)
    return target


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's content, read in chunks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()

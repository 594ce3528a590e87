"""The local conda channel: its layout, publishing under a lock, and re-indexing with py-rattler;
an S3 bucket standing for it (`s3`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..options import is_s3


def channel_at(where: str | Path) -> Any:
    """The channel `--channel` names: an S3Channel for s3://, else the LocalChannel directory.
    Each module only when named: a local `pmpm create` never loads the S3 one."""
    if is_s3(where):
        from .s3 import S3Channel

        return S3Channel(str(where))
    from .local import LocalChannel

    return LocalChannel(where)

"""Indexing a channel on disk with py-rattler (imported on first use: an up-to-date build never
loads it)."""

from __future__ import annotations

from pathlib import Path


def index_fs(channel: Path, force: bool = False) -> None:
    """py-rattler's indexer, writing plain repodata.json only: every client reads it, and the zst
    and sharded forms cost ~15x more per publish. Imported here: a build that publishes nothing
    (up to date) never loads py-rattler."""
    import asyncio

    import rattler.index

    asyncio.run(rattler.index.index_fs(channel, force=force, write_zst=False, write_shards=False))


def warm_indexer() -> None:
    """Load py-rattler's indexer and run it once on an empty throwaway channel: the first index
    in a process costs ~25 ms more than the next (its runtime and configuration are set up)."""
    import tempfile

    try:
        with tempfile.TemporaryDirectory(prefix="pmpm-warm-") as tmp:
            (Path(tmp) / "noarch").mkdir()
            index_fs(Path(tmp))
    except Exception:  # only a head start: a real publish reports its own errors
        pass

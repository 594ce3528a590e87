"""The binary cache: S3 channels (`--cache`, `--cache-from`, `_pmpm.cache`) holding packages by
the fingerprint of the inputs they were built from. Before a job builds, the caches are asked
for its fingerprint, in order; a hit is downloaded, checked against its record's sha256 and
published into the local channel as if built here. What is built is pushed to the writable
caches and indexed there, so the next machine with the same stack builds nothing."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..channel.s3 import S3Channel
from ..files import sha256_file
from ..options import BuildOptions, is_s3
from .report import JobResult, Status

SHARED = (Status.BUILT, Status.CACHED, Status.UP_TO_DATE)


@dataclass(frozen=True)
class Hit:
    path: Path  # the package, downloaded and checked
    url: str  # the cache it came from


class BinaryCache:
    def __init__(self, writable: Sequence[str] = (), read_only: Sequence[str] = ()):
        self.writable = [S3Channel(url) for url in dict.fromkeys(writable)]
        self.readable = [*self.writable, *(S3Channel(url) for url in dict.fromkeys(read_only) if url not in writable)]
        self._connecting = threading.Lock()  # boto3 sessions are not thread-safe to create

    def __bool__(self) -> bool:
        return bool(self.readable)

    def check(self) -> None:
        """Each cache answers with these credentials: a wrong bucket or key fails before any build.
        A writable one is indexed if new: builds may read it as a channel (`through_s3`)."""
        with self._connecting:
            for channel in self.readable:
                channel.ensure() if channel in self.writable else channel.check()

    def fetch(self, digest: str, into: Path) -> Hit | None:
        """The package built from the inputs `digest` names, downloaded into `into/<subdir>/`."""
        for channel in self.readable:
            entry = channel.lookup(digest)
            if entry is not None and (path := channel.fetch(entry, into)) is not None:
                return Hit(path, channel.url)
        return None

    def push(self, results: Sequence[JobResult]) -> None:
        """Upload what was built here, and the packages a writable cache lacks (taken from a
        read-only cache, or built before the cache was named), then index each cache once."""
        shared = [(path, r) for r in results if r.status in SHARED and r.digest for path in r.files]
        for channel in self.writable:
            fresh = [
                (path, r.digest) for path, r in shared if r.status is Status.BUILT or channel.lookup(r.digest) is None
            ]
            for path, digest in fresh:
                channel.upload(path, path.parent.name, digest, sha256_file(path))
            if fresh:
                channel.index()


def through_s3(options: BuildOptions) -> BuildOptions:
    """`--channel s3://…` as the builds see it: they publish into the channel's local mirror
    (`S3Channel.mirror`) and use the S3 channel as a writable cache, which also hands a Slurm or
    CI job the dependencies other machines built (`Builder.run`'s `needed`). Other options pass
    unchanged."""
    url = options.channels.channel
    if not is_s3(url):
        return options
    return options.replace(channel=S3Channel(str(url)).mirror, cache=(str(url), *options.settings.cache))

"""Publishing finished builds into the channel, and stopping publishing when a run is interrupted."""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..channel.local import LocalChannel
from .log import BuildLogFile
from .plan import Job
from .report import JobResult, Status


@dataclass
class Built:
    """A build whose script and tests passed, not yet published."""

    job: Job
    files: list[Path]
    scratch: Path | None  # its private output, removed once published
    digest: str
    replace: bool  # --force: publish over the channel's file of the same name
    log: BuildLogFile | None  # None: downloaded from a binary cache, not built
    seconds: float
    origin: str = ""  # the stack (or recipe) it was built from, recorded in the channel
    cached_from: str = ""  # the binary cache it came from


class Publisher:
    """Publishes builds into `channel`; their private outputs are removed in the background
    (`start`/`finish` bracket a run); after `stop` nothing more is published."""

    def __init__(self, channel: LocalChannel):
        self.channel = channel
        self._lock = threading.Lock()
        self._stopped = False
        self._remover: ThreadPoolExecutor | None = None

    @property
    def stopped(self) -> bool:
        return self._stopped

    def start(self) -> None:
        self._remover = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pmpm-discard")

    def finish(self, wait: bool = True) -> None:
        if self._remover is not None:
            self._remover.shutdown(wait=wait, cancel_futures=not wait)

    def stop(self, timeout: float = 30) -> None:
        """No publish starts after this. A publish is a copy, a rename and a re-index under the
        channel lock: one under way finishes first (a fraction of a second), so the process does
        not end between a rename and its re-index."""
        self.finish(wait=False)
        if self._lock.acquire(timeout=timeout):
            self._stopped = True
            self._lock.release()

    def publish(self, built: list[Built], background: bool = True) -> list[JobResult]:
        """Publish these builds' files into the channel at once, each with its fingerprint; their
        private outputs are removed then (see `discard`), or meanwhile in the `background`."""
        start = time.perf_counter()
        try:
            with self._lock:  # `stop` waits for a publish under way
                if self._stopped:
                    raise KeyboardInterrupt
                published, identical = self.channel.publish_new(
                    [file for b in built for file in b.files],
                    fingerprints={b.job.channel_key: b.digest for b in built},
                    replace=any(b.replace for b in built),
                    origins={b.job.channel_key: b.origin for b in built if b.origin},
                )
        finally:
            for b in built:
                if b.scratch is not None:
                    self.discard(b.scratch, background)
        share = (time.perf_counter() - start) / len(built)
        results, files = [], iter(published)
        for b in built:
            # Another pmpm published the same inputs while this one built: its package stands.
            status = Status.UP_TO_DATE if identical else Status.CACHED if b.cached_from else Status.BUILT
            message = "published meanwhile by another pmpm process" if identical else b.cached_from
            results.append(
                JobResult(
                    b.job,
                    status,
                    files=[next(files) for _ in b.files],
                    seconds=b.seconds + share,
                    script_seconds=b.log.script_seconds if b.log else 0.0,
                    log=b.log.path if b.log else None,
                    message=message,
                    warnings=b.log.warnings if b.log else [],
                    digest=b.digest,
                )
            )
        return results

    def discard(self, scratch: Path, background: bool = True) -> None:
        """Remove a published build's private output (its build, host and test prefixes) while the
        next builds run: thousands of unlinks need not wait on the critical path. `run` waits for
        them before returning; a killed process's leftovers go with `StateDir.remove_stale`."""
        if self._remover is None or not background:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            self._remover.submit(shutil.rmtree, scratch, ignore_errors=True)

"""What a build run reports: a typed status per job, and what the CLI is shown meanwhile."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..errors import BuildFailed

if TYPE_CHECKING:  # a report is read without the planner (and its engine) loaded: the no-op replay
    from ..engines.base import EngineFailure
    from .plan import Job


class Status(str, enum.Enum):
    """A job's outcome. A str enum: its value is the word reports and JSON show."""

    BUILT = "built"
    CACHED = "from cache"  # downloaded from a binary cache (`--cache`), its message the cache's URL
    UP_TO_DATE = "up to date"
    FAILED = "failed"
    SKIPPED = "skipped"

    def __str__(self) -> str:
        return self.value


@dataclass
class JobResult:
    job: Job
    status: Status
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    script_seconds: float = 0.0
    log: Path | None = None
    message: str = ""
    warnings: list[str] = field(default_factory=list)  # the engine's, e.g. overlinking
    digest: str = ""  # the fingerprint of its inputs (see `fingerprint`), when it has a package


@dataclass
class BuildReport:
    results: list[JobResult]
    channel: Path
    tree_digests: dict[Path, str] = field(default_factory=dict)  # the source trees the fingerprints read

    @property
    def ok(self) -> bool:
        return all(r.status in (Status.BUILT, Status.CACHED, Status.UP_TO_DATE) for r in self.results)

    def to_json(self) -> dict:
        return {
            "channel": str(self.channel),
            "ok": self.ok,
            "packages": [
                {
                    "name": r.job.name,
                    "version": r.job.version,
                    "build": r.job.build_string,
                    "status": r.status.value,
                    "variant": r.job.variant,
                    "files": [str(f) for f in r.files],
                    "seconds": round(r.seconds, 3),
                    "script_seconds": round(r.script_seconds, 3),
                    "log": str(r.log) if r.log else None,
                    "message": r.message,
                    "warnings": r.warnings,
                }
                for r in self.results
            ],
        }

    def raise_for_failures(self) -> None:
        failed = [r for r in self.results if r.status is Status.FAILED]
        if failed:
            names = ", ".join(r.job.label for r in failed)
            logs = next((r.log.parent for r in failed if r.log), None)
            where = f"logs: {logs}" if logs else failed[0].message.splitlines()[0]
            raise BuildFailed(f"{len(failed)} build(s) failed: {names} ({where})")


@dataclass
class Replayed:
    """A no-op `pmpm build`: the previous run's report (its JSON), every package up to date."""

    report: dict
    ok: bool = True

    def to_json(self) -> dict:
        return self.report

    def raise_for_failures(self) -> None:
        pass


class Reporter(Protocol):
    """What the CLI shows while building."""

    def planned(self, jobs: list[Job]) -> None: ...
    def started(self, job: Job, log: Path | None) -> None: ...
    def phase(self, job: Job, text: str) -> None: ...
    def output(self, job: Job, line: str) -> None: ...
    def finished(self, result: JobResult) -> None: ...


class Silent:
    """A reporter that shows nothing (the API's default)."""

    def planned(self, jobs):
        pass

    def started(self, job, log):
        pass

    def phase(self, job, text):
        pass

    def output(self, job, line):
        pass

    def finished(self, result):
        pass


def explain(failure: EngineFailure, job: Job, channels: list[str]) -> str:
    """The engine's one-line error, made specific when the network is to blame."""
    from .. import reachability  # only after a failure: a healthy build never loads urllib
    from ..engines.base import Cause

    if failure.cause is Cause.RESOLVE:
        down = [f"{url} ({why})" for url in channels if (why := reachability.channel_problem(url))]
        if down:
            return (
                f"cannot reach channel {'; '.join(down)} (check the URL or path, the network or proxy; "
                "or use --override-channels / --offline)"
            )
        return (
            f"{failure.message}: cannot resolve the build or host requirements; "
            f"channels searched: {', '.join(channels)} (add one with -c, or drop --offline)"
        )
    if failure.cause is Cause.DOWNLOAD:
        failed = [f"{url}: {why}" for url in job.planned.source_urls if (why := reachability.problem(url))]
        if failed:
            return f"cannot download the source {'; '.join(failed)}"
    return failure.message

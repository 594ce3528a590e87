"""What a build run reports: a typed status per job, and what the CLI is shown meanwhile."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..errors import BuildFailed

if TYPE_CHECKING:  # a report is read without the planner (and its engine) loaded: the no-op replay
    from .plan import Job


class Status(str, enum.Enum):
    """A job's outcome. A str enum: its value is the word reports and JSON show."""

    BUILT = "built"
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


@dataclass
class BuildReport:
    results: list[JobResult]
    channel: Path
    tree_digests: dict[Path, str] = field(default_factory=dict)  # the source trees the fingerprints read

    @property
    def ok(self) -> bool:
        return all(r.status in (Status.BUILT, Status.UP_TO_DATE) for r in self.results)

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

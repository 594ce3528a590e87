"""The Slurm executor: units (see `units`) as sbatch jobs chained by `afterok`, and their states.

Only shells out to `sbatch`, `squeue` and `sacct`; Slurm does the scheduling. Every job runs
`pmpm build … --only-package NAME --variant …` in the submitting directory (a shared
filesystem), publishing into the shared channel under its file lock. A job that fails makes
Slurm cancel its dependents (`--kill-on-invalid-dep=yes`) instead of leaving them pending
forever. What was submitted is recorded in `.pmpm/slurm/jobs.json` for `pmpm status`.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import ExecutorError
from ..files import atomic_write
from .units import Invocation, Unit

# Final states (squeue/sacct spelling); only COMPLETED counts as built.
FINAL = {
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "OUT_OF_MEMORY",
    "NODE_FAIL",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
    "REVOKED",
}


@dataclass
class Submitted:
    """One sbatch job as submitted."""

    id: str
    key: str
    name: str
    pins: dict[str, str]
    after: list[str]  # job ids of the units it needs (afterok)
    log: str  # the job's stdout/stderr: pmpm's progress and, on failure, the build log's tail
    script: str

    def to_json(self, state: "JobState | None") -> dict:
        """What `pmpm status --json` shows of this job, with its current state."""
        return {
            "id": self.id,
            "unit": self.key,
            "package": self.name,
            "variant": self.pins,
            "after": self.after,
            "state": state.state if state else "UNKNOWN",
            "reason": state.reason if state else "",
            "log": self.log,
        }


@dataclass
class JobState:
    id: str
    state: str  # PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, …
    reason: str = ""  # e.g. Dependency, DependencyNeverSatisfied

    @property
    def final(self) -> bool:
        return self.state.split()[0] in FINAL


def available() -> str | None:
    """Why Slurm cannot be used from here, or None."""
    missing = [tool for tool in ("sbatch", "squeue") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not on PATH (run on a Slurm login node)" if missing else None


def submit(
    units: list[Unit],
    invocation: Invocation,
    state: Path,
    *,
    sbatch_args: list[str] = (),
    targets: dict[str, list[str]] | None = None,
) -> list[Submitted]:
    """sbatch every unit, dependencies first; `targets` maps a march (or `default`) to sbatch options."""
    if (why := available()) is not None:
        raise ExecutorError(f"--executor slurm: {why}")
    state.mkdir(parents=True, exist_ok=True)
    ids: dict[str, str] = {}
    submitted = []
    for unit in units:
        after = [ids[u.key] for u in unit.needs if u.key in ids]
        script = _script(unit, invocation, state)
        log = state / f"{unit.key}-%j.out"
        args = [f"--job-name=pmpm:{unit.key}", f"--output={log}", f"--chdir={Path.cwd()}", "--kill-on-invalid-dep=yes"]
        args += [f"--dependency=afterok:{':'.join(after)}"] if after else []
        args += _target_args(unit, targets or {}) + list(sbatch_args)
        job_id = _sbatch(args, script)
        ids[unit.key] = job_id
        submitted.append(
            Submitted(job_id, unit.key, unit.name, unit.pins, after, str(log).replace("%j", job_id), str(script))
        )
    return submitted


def _script(unit: Unit, invocation: Invocation, state: Path) -> Path:
    """A batch script: shell-readable, so the user can see and re-run exactly what a job does."""
    argv = invocation.argv(unit, render_dir=state / "recipes" / unit.key)
    script = state / f"{unit.key}.sh"
    script.write_text(
        f"#!/bin/sh\n# pmpm: {unit.label}\ncd {shlex.quote(str(Path.cwd()))} || exit 1\nexec {shlex.join(argv)}\n"
    )
    return script


def _target_args(unit: Unit, targets: dict[str, list[str]]) -> list[str]:
    for key in (unit.march, unit.resolved_march, "default"):
        if key is not None and key in targets:
            return list(targets[key])
    return []


def _sbatch(args: list[str], script: Path) -> str:
    proc = _run(["sbatch", "--parsable", *args, str(script)])
    return proc.stdout.strip().split(";")[0]


def _run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise ExecutorError(f"{argv[0]} failed: {detail[-1] if detail else f'exit {proc.returncode}'}")
    return proc


def states(ids: list[str]) -> dict[str, JobState]:
    """Each job's state: squeue while the controller remembers it (MinJobAge), then sacct
    (accounting storage), then sacct --completion (a jobcomp plugin, e.g. jobcomp/filetxt)."""
    if not ids:
        return {}
    found: dict[str, JobState] = {}
    proc = _run(["squeue", "-h", "-t", "all", "-j", ",".join(ids), "-o", "%i|%T|%r"], check=False)
    for line in proc.stdout.splitlines():
        job_id, state, reason = (line.split("|") + ["", ""])[:3]
        found[job_id] = JobState(job_id, state, "" if reason in ("None", "(null)") else reason)
    for extra in ([], ["--completion"]):
        missing = [i for i in ids if i not in found]
        if not missing or shutil.which("sacct") is None:
            break
        proc = _run(["sacct", *extra, "-X", "-n", "-P", "-j", ",".join(missing), "-o", "JobID,State"], check=False)
        for line in proc.stdout.splitlines() if proc.returncode == 0 else []:
            job_id, _, state = line.partition("|")
            if job_id in missing:
                found[job_id] = JobState(job_id, state)
    return found


def save(state: Path, submitted: list[Submitted]) -> Path:
    return atomic_write(state / "jobs.json", json.dumps([asdict(s) for s in submitted], indent=1))


def load(state: Path) -> list[Submitted]:
    path = state / "jobs.json"
    if not path.is_file():
        raise ExecutorError(
            f"nothing submitted from here yet ({path} is missing)", fix="pmpm build STACK --executor slurm"
        )
    return [Submitted(**item) for item in json.loads(path.read_text())]


@dataclass
class Watch:
    """What `wait` reports as jobs change state."""

    started: Callable[[Submitted], None] = lambda s: None
    finished: Callable[[Submitted, JobState], None] = lambda s, st: None
    seen: dict[str, str] = field(default_factory=dict)


def wait(submitted: list[Submitted], watch: Watch, poll: float = 2.0) -> dict[str, JobState]:
    """Block until every job is in a final state, reporting starts and ends."""
    while True:
        now = states([s.id for s in submitted])
        for sub in submitted:
            current = now.get(sub.id)
            if current is None or watch.seen.get(sub.id) == current.state:
                continue
            if current.state == "RUNNING":
                watch.started(sub)
            elif current.final:
                watch.finished(sub, current)
            watch.seen[sub.id] = current.state
        if all(sub.id in now and now[sub.id].final for sub in submitted):
            return now
        time.sleep(poll)

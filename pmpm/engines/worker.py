"""py-rattler-build in long-lived child processes, and the child's side of it.

A child is `python -m pmpm.engines.worker --serve FD`: it reads job-file paths from a pipe and
builds each, marking phases, errors and the end of each job in-band on its stdout.
`python -m pmpm.engines.worker JOB.json` re-runs one job by hand, as a build log's first line
shows. The child is the engine's process: the job's environment (`BuildRequest.environ`) is
applied there, never in pmpm's.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

from .. import network
from ..errors import RecipeError
from ..runtime import RUNTIME
from .base import BuildLog, BuildRequest, Cause, EngineFailure, PlannedBuild, plan_recipe
from .external import DONE, PHASE, relay, report_failure, stop
from .rattler import RattlerBuild, packages_in
from .spawn import WorkerChild


class _WorkerProcess:
    """One `python -m pmpm.engines.worker --serve FD` child: reads job-file paths from a pipe, builds
    each, and marks the end of each job's output on its stdout."""

    def __init__(self, child: WorkerChild):
        self.proc, self.jobs = child.proc, child.jobs

    def run(self, job_file: Path, log: BuildLog, downloads: Path) -> None:
        try:
            os.write(self.jobs, f"{job_file}\n".encode())
        except OSError:  # it died between jobs: its output ends at once, reported below
            pass
        watch = _StallWatch(self.proc, downloads)
        watch.start()
        try:
            error, code = relay(self.proc.stdout, log, seen=watch.saw)
        finally:
            watch.done = True
        if code is None:
            code = self.proc.wait()
            if watch.stalled:
                raise EngineFailure(f"url source {network.waited(watch.stalled)}", Cause.TIMEOUT)
            raise error or EngineFailure(f"the build worker (python -m pmpm.engines.worker) exited with code {code}")
        if code:
            raise error or EngineFailure(
                f"the build worker (python -m pmpm.engines.worker) failed the job with code {code}"
            )

    def end_jobs(self) -> None:
        """No more jobs: it exits on its own (see `close`)."""
        fd, self.jobs = self.jobs, -1  # never close twice: the number may be another file's by then
        if fd >= 0:
            os.close(fd)

    def close(self) -> None:
        self.end_jobs()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            stop(self.proc)
        self.proc.stdout.close()


class _StallWatch(threading.Thread):
    """rattler-build's own client waits on a source URL without limit: a server that accepts and
    never answers would hold the build for ever. From the worker's "Downloading from: URL" to its
    next sign of life (a line, or the download growing in the engine's source cache: rattler-build
    reports no progress events for url sources), at most the network timeout may pass; then the worker and its download are stopped, and the job fails as a download that timed
    out. Build scripts are never watched: a compile may be silent for long."""

    MARK = "Downloading from: "

    def __init__(self, proc: subprocess.Popen, downloads: Path):
        super().__init__(daemon=True)
        self.proc, self.downloads, self.limit = proc, downloads, network.timeout()
        self.size = -1
        self.url: str | None = None
        self.since = time.monotonic()
        self.done = False
        self.stalled: str | None = None

    def saw(self, line: str) -> None:
        self.url = line[len(self.MARK) :].strip() if line.startswith(self.MARK) else None
        self.since = time.monotonic()

    def run(self) -> None:
        while not self.done:
            time.sleep(0.25)
            if self.url and (size := self._downloaded()) != self.size:
                self.size, self.since = size, time.monotonic()
            if self.url and time.monotonic() - self.since > self.limit:
                self.stalled = self.url
                stop(self.proc)
                return

    def _downloaded(self) -> int:
        try:
            return sum(entry.stat().st_size for entry in os.scandir(self.downloads) if entry.is_file())
        except OSError:
            return 0


class RattlerBuildWorker:
    """py-rattler-build in long-lived child processes, one per build slot.

    In process, py-rattler-build holds the interpreter for the whole build: threads do not
    overlap (measured: two 3-second builds on two threads took 6 s) and a SIGINT never reaches
    pmpm while a build script runs. In a child of its own session, pmpm stays responsive and
    can stop the child and its script together. A child serves build after build, so Python's
    start-up and py-rattler-build's import are paid once per slot, not once per package (see
    `warm`). The packages are the in-process engine's: same recipe, variant, channels, options.
    Its user calls `close` when the run ends, which ends the children.
    """

    name = "rattler-build"  # same packages and fingerprints as in process

    def __init__(self, slots: int = 1):
        self.slots = max(1, slots)
        self._idle: list[_WorkerProcess] = []
        self._all: list[_WorkerProcess] = []
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Start the slots' children now, so that their start-up overlaps pmpm's own work."""
        with self._lock:
            while len(self._all) < self.slots:
                self._idle.append(self._spawn())

    def _spawn(self) -> _WorkerProcess:
        worker = _WorkerProcess(RUNTIME.prestarted.pop() if RUNTIME.prestarted else WorkerChild())
        self._all.append(worker)
        return worker

    def _take(self) -> _WorkerProcess:
        """An idle child, or a new one: each serves one build at a time."""
        with self._lock:
            return self._idle.pop() if self._idle else self._spawn()

    def build(self, planned: PlannedBuild, request: BuildRequest, log: BuildLog) -> list[Path]:
        request.output_dir.mkdir(parents=True, exist_ok=True)
        job_file = self.prepare(planned, request)
        log.write("$ " + shlex.join([sys.executable, "-m", "pmpm.engines.worker", str(job_file)]))
        worker = self._take()
        try:
            worker.run(job_file, log, request.output_dir / "src_cache")  # where rattler-build downloads sources
        except EngineFailure:
            self._retire(worker)  # a failed job may leave anything behind: the next one gets a new child
            raise
        except BaseException:
            stop(worker.proc)
            raise
        with self._lock:
            self._idle.append(worker)
        job_file.unlink(missing_ok=True)
        return [f for f in packages_in(request.output_dir) if f.name.startswith(f"{planned.name}-")]

    def _retire(self, worker: _WorkerProcess) -> None:
        with self._lock:
            self._all.remove(worker)
        worker.close()

    def prepare(self, planned: PlannedBuild, request: BuildRequest) -> Path | None:
        path = _worker_job_path(request)
        path.write_text(
            json.dumps(
                {
                    "recipe": str(planned.recipe),
                    "values": request.variants,
                    "zip_keys": request.zip_keys,
                    "build_string": planned.build_string,
                    "output_dir": str(request.output_dir),
                    "channels": request.channels,
                    "test": request.test,
                    "dirty": request.dirty,
                    "environ": request.environ,
                }
            )
        )
        return path

    def dismiss(self) -> None:
        """The run has no more jobs for them: idle children start exiting now, while pmpm still
        publishes (`close` then only waits for them)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.end_jobs()

    def close(self) -> None:
        with self._lock:
            workers, self._all, self._idle = self._all, [], []
        for worker in workers:
            worker.close()


def _worker_job_path(request: BuildRequest) -> Path:
    return request.output_dir.with_name(request.output_dir.name + ".job.json")


class _PrintLog:
    """A worker's BuildLog: lines to stdout, phases marked for the parent."""

    def write(self, line: str) -> None:
        print(line, flush=True)

    def phase(self, text: str) -> None:
        print(PHASE + text, flush=True)


def _watch_parent() -> subprocess.Popen:
    """Die with pmpm: if pmpm is killed (even with SIGKILL), this build and its script go too.

    A shell, not a thread: py-rattler-build holds this interpreter while it builds. The worker
    leads its own process group (pmpm starts it in a new session), which the build script
    joins, so `kill 0` from the watcher ends worker, script and watcher together."""
    return subprocess.Popen(
        ["sh", "-c", f"while kill -0 {os.getppid()} 2>/dev/null; do sleep 0.5; done; kill -KILL 0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _run_job(job_file: str) -> int:
    """Build the job a file describes (what `RattlerBuildWorker.prepare` wrote); 0 on success."""
    job = json.loads(Path(job_file).read_text())
    for key, value in job.get("environ", {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        planned = next(
            (
                p
                for p in plan_recipe(Path(job["recipe"]), job["values"], job["zip_keys"])
                if p.build_string == job["build_string"]
            ),
            None,
        )
        if planned is None:
            raise EngineFailure(f"{job['recipe']} no longer renders build {job['build_string']}")
        request = BuildRequest(
            output_dir=Path(job["output_dir"]), channels=job["channels"], test=job["test"], dirty=job["dirty"]
        )
        RattlerBuild().build(planned, request, _PrintLog())
    except EngineFailure as failure:
        print(report_failure(failure), flush=True)
        return 1
    except RecipeError as exc:
        print(report_failure(EngineFailure(str(exc))), flush=True)
        return 1
    return 0


def _serve(fd: int) -> None:
    """The worker behind RattlerBuildWorker: one job-file path per line on `fd`, until it closes."""
    os.set_inheritable(fd, False)  # build scripts must not hold pmpm's job pipe open
    watcher = _watch_parent()
    try:
        with os.fdopen(fd) as jobs:
            for line in jobs:
                code = _run_job(line.strip())
                print(f"{DONE}{code}", flush=True)
    finally:
        watcher.kill()


if __name__ == "__main__":  # the worker behind RattlerBuildWorker
    sys.stdout.flush()
    if sys.argv[1] == "--serve":
        _serve(int(sys.argv[2]))
        code = 0
    else:  # one job, as a build log's first line shows it: re-run a build by hand
        watcher = _watch_parent()
        code = _run_job(sys.argv[1])
        watcher.kill()
    sys.stdout.flush()
    os._exit(code)  # py-rattler-build's runtime can crash at interpreter teardown

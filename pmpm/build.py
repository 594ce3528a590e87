"""Build a `RecipeSet` × its variants into the local channel.

This module plans (every recipe rendered for every variant by the engine's renderer,
ordered by local dependencies) and schedules: a job per package × variant, run by the
chosen engine (see `engine`) into a private output directory, with one log per build.
Successful packages are published into the channel (see `channel`). A failed build or
recipe test publishes nothing; with `keep_going` its dependents are skipped and the rest
goes on. It never renders a stack: recipes on disk are its input.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from . import microarch
from .channel import PLATFORM, LocalChannel, search_order, warm_indexer
from .engine import BuildRequest, Engine, PlannedBuild, RattlerBuild, out_of_process, plan_recipe, put_tools_on_path
from .errors import BuildFailed, EngineError, RecipeError
from .order import spec_name, topological_order
from .rebuild import DirtyWorkspace, fingerprint, resolved_environment, tree_digest
from .state import StateDir

if TYPE_CHECKING:
    from .render import RecipeSet

LOG_TAIL = 40


@dataclass
class Job:
    """One package × variant to build."""

    planned: PlannedBuild
    deps: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.planned.name

    @property
    def version(self) -> str:
        return self.planned.version

    @property
    def build_string(self) -> str:
        return self.planned.build_string

    @property
    def variant(self) -> dict[str, Any]:
        return self.planned.variant

    @property
    def recipe(self) -> Path:
        return self.planned.recipe

    @property
    def label(self) -> str:
        return self.planned.label

    @property
    def channel_key(self) -> str:
        """Where the package lands in the channel: `subdir/file`."""
        return f"{'noarch' if self.planned.noarch else PLATFORM}/{self.label}.conda"


@dataclass
class JobResult:
    job: Job
    status: str  # built | up to date | failed | skipped
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    script_seconds: float = 0.0
    log: Path | None = None
    message: str = ""


@dataclass
class BuildReport:
    results: list[JobResult]
    channel: Path
    tree_digests: dict[Path, str] = field(default_factory=dict)  # the source trees the fingerprints read

    @property
    def ok(self) -> bool:
        return all(r.status in ("built", "up to date") for r in self.results)

    def to_json(self) -> dict:
        return {"channel": str(self.channel), "ok": self.ok, "packages": [
            {"name": r.job.name, "version": r.job.version, "build": r.job.build_string, "status": r.status,
             "variant": r.job.variant, "files": [str(f) for f in r.files], "seconds": round(r.seconds, 3),
             "script_seconds": round(r.script_seconds, 3), "log": str(r.log) if r.log else None,
             "message": r.message} for r in self.results]}

    def raise_for_failures(self) -> None:
        failed = [r for r in self.results if r.status == "failed"]
        if failed:
            names = ", ".join(r.job.label for r in failed)
            logs = next((r.log.parent for r in failed if r.log), None)
            where = f"logs: {logs}" if logs else failed[0].message.splitlines()[0]
            raise BuildFailed(f"{len(failed)} build(s) failed: {names} ({where})")


@dataclass
class BuildOptions:
    channel: Path = Path("local-channel")
    channels: list[str] = field(default_factory=list)
    override_channels: bool = False
    offline: bool = False
    keep_going: bool = False
    jobs: int = 1
    test: bool = True
    force: bool = False
    dirty: bool = False
    ccache: bool = True  # compiler cache (see `use_compiler_cache`)
    state_dir: Path = Path(".pmpm")
    engine: Engine = field(default_factory=RattlerBuild)


class Reporter(Protocol):
    """What the CLI shows while building."""

    def planned(self, jobs: list[Job]) -> None: ...
    def started(self, job: Job, log: Path | None) -> None: ...
    def phase(self, job: Job, text: str) -> None: ...
    def output(self, job: Job, line: str) -> None: ...
    def finished(self, result: JobResult) -> None: ...


class _Silent:
    def planned(self, jobs): pass
    def started(self, job, log): pass
    def phase(self, job, text): pass
    def output(self, job, line): pass
    def finished(self, result): pass


def plan(recipe_set: RecipeSet) -> list[Job]:
    """Every recipe × variant as a job, dependencies first."""
    by_name: dict[str, list[Job]] = {}
    for path in recipe_set.recipes:
        for planned in plan_recipe(path, recipe_set.variants.values, recipe_set.variants.zip_keys):
            jobs = by_name.setdefault(planned.name, [])
            if all(j.build_string != planned.build_string for j in jobs):
                names = [spec_name(s) for section in planned.requirements.values() for s in section]
                jobs.append(Job(planned, list(dict.fromkeys(names))))
    for jobs in by_name.values():
        for job in jobs:
            job.deps = [d for d in job.deps if d in by_name and d != job.name]
    order = topological_order({name: jobs[0].deps for name, jobs in by_name.items()})
    return [job for name in order for job in by_name[name]]


_indexer_warming = threading.Lock()  # taken once, never released: one warm-up per process


def _warm_indexer_meanwhile() -> None:
    """Get py-rattler's indexer ready in the background while this process only waits for an
    engine worker: its import and first run (~30 + ~25 ms) are then off the critical path of
    the publish that follows a quick `--dirty` build. Called once the worker runs the job (see
    `_Log.phase`): started earlier, the import took the interpreter from the job's preparation."""
    if _indexer_warming.acquire(blocking=False):  # builds start from several pool threads at once
        threading.Thread(target=warm_indexer, daemon=True, name="pmpm-warm-indexer").start()


class _Log:
    """One build's log file; phases and lines go on to the reporter."""

    def __init__(self, path: Path, job: Job, reporter: Reporter, on_engine_start=None):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.job, self.reporter = path, job, reporter
        self.on_engine_start = on_engine_start  # called at the engine's first phase
        self.file = open(path, "w", buffering=1, errors="replace")
        self.script_start: float | None = None
        self.script_end: float | None = None
        self.in_script = False

    def phase(self, text: str) -> None:
        if self.on_engine_start is not None:
            self.on_engine_start, started = None, self.on_engine_start
            started()
        self.in_script = "build script" in text or "Running build script" in text
        self.reporter.phase(self.job, text)

    def write(self, line: str) -> None:
        if self.in_script:
            now = time.perf_counter()
            self.script_start = self.script_start or now
            self.script_end = now
        self.file.write(line + "\n")
        self.reporter.output(self.job, line)

    @property
    def script_seconds(self) -> float:
        return (self.script_end - self.script_start) if self.script_start else 0.0

    def tail(self, lines: int = LOG_TAIL) -> str:
        return "\n".join(self.path.read_text(errors="replace").splitlines()[-lines:])

    def close(self) -> None:
        if not self.file.closed:
            self.file.close()


@dataclass
class _Built:
    """A build whose script and tests passed, not yet published."""

    job: Job
    files: list[Path]
    scratch: Path | None  # its private output, removed once published
    digest: str
    replace: bool  # --force: publish over the channel's file of the same name
    log: _Log
    seconds: float


class Builder:
    """Runs a plan: the CPU gate first (published in one go), then engine per job, publish per
    success, skip dependents of failures."""

    def __init__(self, recipe_set: RecipeSet, options: BuildOptions, reporter: Reporter | None = None):
        self.recipe_set = recipe_set
        self.options = options
        self.engine = options.engine
        self.channel = LocalChannel(options.channel)
        self.reporter = reporter or _Silent()
        self.channels = search_order(self.channel, recipe_set.channels, options.channels,
                                     override=options.override_channels, offline=options.offline)
        self.state = StateDir.at(options.state_dir)
        self._tree_digests: dict[Path, str] = {}  # every variant of a package shares its source tree
        self._remover: ThreadPoolExecutor | None = None  # see `_discard`
        self._publishing = threading.Lock()
        self._interrupted = False
        self._worker = out_of_process(self.engine, options.jobs)  # see `_engine`
        self._worker_jobs = 0  # the plan's jobs for it not yet run (see `_warm`, `_engine_done`)
        self._counting = threading.Lock()

    def run(self, jobs: list[Job]) -> BuildReport:
        self.state.create()
        for path, pid in self.state.remove_stale():
            _say(f"removed {path} (left by pmpm process {pid}, which is gone)")
        self.channel.ensure()
        put_tools_on_path()
        _share_cores(self.options.jobs)
        self.reporter.planned(jobs)
        results: dict[str, JobResult] = {}
        failed_names: set[str] = set()
        pending = [job for job in jobs if job.name != microarch.GATE_PACKAGE]
        running: dict[Future, Job] = {}
        pool = ThreadPoolExecutor(max_workers=max(1, self.options.jobs))
        self._remover = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pmpm-discard")
        self._worker_jobs = sum(self._engine(job) is self._worker for job in jobs)
        if self.options.dirty or self.options.force:  # builds will run: start the engine's workers meanwhile
            self._warm()

        def record(result: JobResult) -> None:
            results[result.job.label] = result
            if result.status == "failed":
                failed_names.add(result.job.name)

        try:
            gate = [job for job in jobs if job.name == microarch.GATE_PACKAGE]
            if gate:  # in the pool, like every build: the main thread stays free to take Ctrl-C
                future = pool.submit(self._build_gate, gate)
                while not _settled([future]):
                    pass
                for result in future.result():
                    record(self._finish(result))
            while pending or running:
                for job in self._ready(pending, running.values(), self.options.jobs - len(running)):
                    pending.remove(job)
                    blocked = [d for d in job.deps if d in failed_names]
                    if blocked or (failed_names and not self.options.keep_going):
                        why = f"dependency {blocked[0]} failed" if blocked else "an earlier build failed"
                        record(self._finish(JobResult(job, "skipped", message=why)))
                        failed_names.add(job.name)
                        continue
                    running[pool.submit(self._build_one, job)] = job
                if not running:
                    continue
                for future in _settled(running):
                    running.pop(future)
                    record(self._finish(future.result()))
        except BaseException:
            # Ctrl-C (or a fatal error): start nothing new, stop the running engines and their build
            # scripts' processes, and leave without waiting for them. Publishing is atomic, so the
            # channel holds only complete packages; the next run clears what they leave behind.
            pool.shutdown(wait=False, cancel_futures=True)
            self._remover.shutdown(wait=False, cancel_futures=True)
            stop_children()
            # A publish is a copy, a rename and a re-index under the channel lock: let one that is
            # under way finish (a fraction of a second) and none start after, so the process does
            # not end between a rename and its re-index.
            if self._publishing.acquire(timeout=30):
                self._interrupted = True
                self._publishing.release()
            raise
        finally:
            if self._worker is not self.engine:
                self._worker.close()
        pool.shutdown(wait=True)
        self._remover.shutdown(wait=True)
        return BuildReport([results[j.label] for j in jobs], self.channel.path, dict(self._tree_digests))

    @staticmethod
    def _ready(pending: list[Job], running, slots: int) -> list[Job]:
        """Up to `slots` jobs whose local dependencies (every variant of them) are all finished.
        Variants of one package may run side by side: each job has its own output and work dir.
        Only free slots are filled, so an interrupt leaves nothing queued behind it."""
        unfinished = {j.name for j in running} | {j.name for j in pending}
        ready = []
        for job in pending:
            if len(ready) >= max(slots, 0):
                break
            if not any(d in unfinished for d in job.deps):
                ready.append(job)
        return ready

    def _finish(self, result: JobResult) -> JobResult:
        self.reporter.finished(result)
        return result

    def _build_gate(self, jobs: list[Job]) -> list[JobResult]:
        """The CPU gate's builds, before any other: a package's test environment installs its gate
        build from the channel. They are metadata only (~60 ms each, in process), so they are
        published together: one re-index instead of one per archspec name (33). Their private
        outputs (a few files each) go at once: removed in the background, they would change
        `.pmpm/` while the next build's engine copies a `path: .` source ("Could not walk dir")."""
        outcomes = []
        for job in jobs:
            if self._interrupted:
                raise KeyboardInterrupt
            outcomes.append(self._produce(job))
        built = [outcome for outcome in outcomes if isinstance(outcome, _Built)]
        published = iter(self._publish(built, background=False) if built else [])
        return [outcome if isinstance(outcome, JobResult) else next(published) for outcome in outcomes]

    def _build_one(self, job: Job) -> JobResult:
        outcome = self._produce(job)
        return outcome if isinstance(outcome, JobResult) else self._publish([outcome])[0]

    def _produce(self, job: Job) -> JobResult | _Built:
        """Build `job` unless it is up to date: its files, not yet published, or why there are none."""
        start = time.perf_counter()
        digest = self._fingerprint(job)
        # --force rebuilds the stack's packages; the CPU gate is pmpm's own archspec data, never stale.
        force = self.options.force and job.name != microarch.GATE_PACKAGE
        if not force and self._up_to_date(job, digest):
            return JobResult(job, "up to date", files=[self.channel.path / job.channel_key],
                             seconds=time.perf_counter() - start)
        remote = [url for url in job.planned.source_urls if not url.startswith("file:")]
        if self.options.offline and remote:
            return JobResult(job, "failed", seconds=time.perf_counter() - start,
                             message=f"--offline: the source {', '.join(remote)} needs the network and pmpm keeps "
                                     "no copy of it (build once online, or use a file:// or path: source)")
        self._warm()
        in_worker = self._engine(job) is self._worker
        log = _Log(self.state.log(job.label), job, self.reporter, _warm_indexer_meanwhile if in_worker else None)
        self.reporter.started(job, log.path)
        # A binary this host cannot run cannot be tested here (e.g. v4 built on a v3 login node).
        runnable = int(job.variant.get("microarch_level", 1)) <= microarch.host_level()
        try:
            # --dirty reuses a local source tree; a recipe without one (the CPU gate) has nothing to reuse.
            run = self._run_dirty if self.options.dirty and job.planned.source_paths else self._run_clean
            files, scratch = run(job, self.options.test and runnable, log)
        except EngineError as exc:  # the log is line-buffered: tail() sees it all
            return JobResult(job, "failed", seconds=time.perf_counter() - start, log=log.path,
                             script_seconds=log.script_seconds, message=f"{self._explain(job, exc)}\n{log.tail()}")
        finally:
            log.close()
            if in_worker:
                self._engine_done()
        return _Built(job, files, scratch, digest, force, log, time.perf_counter() - start)

    def _publish(self, built: list[_Built], background: bool = True) -> list[JobResult]:
        """Publish these builds' files into the channel at once, each with its fingerprint; their
        private outputs are removed then (see `_discard`), or meanwhile in the `background`."""
        start = time.perf_counter()
        try:
            with self._publishing:  # an interrupt waits for a publish under way (see `run`)
                if self._interrupted:
                    raise KeyboardInterrupt
                published, identical = self.channel.publish_new(
                    [file for b in built for file in b.files], fingerprints={b.job.channel_key: b.digest for b in built},
                    replace=any(b.replace for b in built))
        finally:
            for b in built:
                if b.scratch is not None:
                    self._discard(b.scratch, background)
        share = (time.perf_counter() - start) / len(built)
        results, files = [], iter(published)
        for b in built:
            # Another pmpm published the same inputs while this one built: its package stands.
            results.append(JobResult(b.job, "up to date" if identical else "built", files=[next(files) for _ in b.files],
                                     seconds=b.seconds + share, script_seconds=b.log.script_seconds, log=b.log.path,
                                     message="published meanwhile by another pmpm process" if identical else ""))
        return results

    def _discard(self, scratch: Path, background: bool = True) -> None:
        """Remove a published build's private output (its build, host and test prefixes) while the
        next builds run: thousands of unlinks need not wait on the critical path. `run` waits for
        them before returning; a killed process's leftovers go with `StateDir.remove_stale`."""
        if self._remover is None or not background:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            self._remover.submit(shutil.rmtree, scratch, ignore_errors=True)

    def _explain(self, job: Job, exc: BaseException) -> str:
        """The engine's one-line error, made specific when the network is to blame."""
        from . import network  # only after a failure: a healthy build never loads urllib

        text = str(exc)
        if "resolve dependencies" in text or "Cannot solve" in text:
            down = [f"{url} ({why})" for url in self.channels if (why := network.channel_problem(url))]
            if down:
                return f"cannot reach channel {'; '.join(down)} (check the URL, the network or proxy; or drop it)"
            return (f"{text}: cannot resolve the build or host requirements; "
                    f"channels searched: {', '.join(self.channels)} (add one with -c, or drop --offline)")
        if "download" in text.lower() or "fetch" in text.lower():
            failed = [f"{url}: {why}" for url in job.planned.source_urls if (why := network.problem(url))]
            if failed:
                return f"cannot download the source {'; '.join(failed)}"
        return text

    def _request(self, job: Job, output_dir: Path, test: bool, dirty: bool = False,
                 work_dir: Path | None = None) -> BuildRequest:
        variants = self.recipe_set.variants
        return BuildRequest(output_dir=output_dir, channels=self.channels, test=test, dirty=dirty,
                            variant_file=self.recipe_set.config, work_dir=work_dir, variants=variants.values,
                            zip_keys=variants.zip_keys, origin_recipe=job.recipe)

    def _run_clean(self, job: Job, test: bool, log: _Log) -> tuple[list[Path], Path | None]:
        """A fresh build in a private output directory (removed once published)."""
        private = self.state.output(job.label)
        shutil.rmtree(private, ignore_errors=True)
        return self._engine(job).build(job.planned, self._request(job, private, test), log), private

    def _run_dirty(self, job: Job, test: bool, log: _Log) -> tuple[list[Path], Path | None]:
        """Rebuild in the package × variant's persistent workspace (see `rebuild`)."""
        from filelock import FileLock  # only --dirty locks here: no import cost for other builds

        workspace = DirtyWorkspace(self.state.dirty(job.name, job.build_string))
        workspace.root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(workspace.root / "lock")):
            recipe = workspace.prepare(job.recipe, job.planned.source_paths, _recipe_kind(job.recipe))
            variants = self.recipe_set.variants
            rendered = next((p for p in plan_recipe(recipe, variants.values, variants.zip_keys)
                             if p.build_string == job.build_string), None)
            if rendered is None:
                raise RecipeError(f"--dirty could not reproduce build {job.build_string} from {recipe}")
            for old in workspace.output_dir.glob("*/*.conda"):
                old.unlink()
            request = self._request(job, workspace.output_dir, test, dirty=True, work_dir=workspace.root / "croot")
            return self._engine(job).build(rendered, request, log), None

    def _engine(self, job: Job) -> Engine:
        """py-rattler-build holds the interpreter for a whole build: a SIGINT could not reach pmpm
        while a build script runs, and threads would not overlap. So every build runs it in a
        worker process, except the CPU gate's (no script, a tenth of a second each)."""
        return self.engine if job.name == microarch.GATE_PACKAGE else self._worker

    def _warm(self) -> None:
        """Start the worker processes before the first build needs one (their start-up overlaps
        the CPU gate's builds and the fingerprints): only once some build is known to run."""
        warm = getattr(self._worker, "warm", None)
        if warm is not None and self._worker_jobs:
            warm()

    def _engine_done(self) -> None:
        """After the plan's last job for the workers, they leave while it is published (~8 ms)."""
        with self._counting:
            self._worker_jobs -= 1
            last = self._worker_jobs == 0
        dismiss = getattr(self._worker, "dismiss", None)
        if last and dismiss is not None:
            dismiss()

    def _fingerprint(self, job: Job) -> str:
        specs = [*job.planned.requirements["build"], *job.planned.requirements["host"]]
        digests = [self._tree_digest(path) for path in job.planned.source_paths]
        digests += [hashlib.sha256(p.read_bytes()).hexdigest() for p in job.planned.patch_files if p.is_file()]
        return fingerprint(recipe_text=job.recipe.read_text(), variant=job.variant, source_digests=digests,
                           environment=resolved_environment(specs, self.channels), engine=self.engine.name)

    def _tree_digest(self, path: Path) -> str:
        if path not in self._tree_digests:
            self._tree_digests[path] = tree_digest(path)
        return self._tree_digests[path]

    def up_to_date(self, job: Job) -> bool:
        """Whether the channel holds `job`'s package built from exactly these inputs."""
        return self._up_to_date(job, self._fingerprint(job))

    def _up_to_date(self, job: Job, digest: str) -> bool:
        return (self.channel.path / job.channel_key).is_file() and self.channel.fingerprints().get(job.channel_key) == digest


def _say(line: str) -> None:
    import sys

    print(f"pmpm: {line}", file=sys.stderr, flush=True)


def stop_children(grace: float = 0.5) -> None:
    """Stop every process this one started, and theirs: build scripts run by the engine in this
    process (py-rattler-build) or under an engine subprocess. SIGTERM, then SIGKILL after `grace`."""
    import signal

    def descendants() -> list[int]:
        parents: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
        found, todo = [], [os.getpid()]
        while todo:
            for child in parents.get(todo.pop(), []):
                found.append(child)
                todo.append(child)
        return found

    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = descendants()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") and not _zombie(p) for p in pids):
            time.sleep(0.02)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _settled(futures) -> set[Future]:
    """Those of `futures` done within a tenth of a second: the main thread wakes often enough to
    take Ctrl-C at once (builds run in worker processes or pool threads, see `Builder._engine`)."""
    done, _ = wait(list(futures), timeout=0.1, return_when=FIRST_COMPLETED)
    return done


def _share_cores(jobs: int) -> None:
    """Build scripts read CPU_COUNT (`make -j"$CPU_COUNT"`): with N builds at once each gets
    its share of the cores, so parallel builds do not oversubscribe the machine."""
    if jobs > 1 and "CPU_COUNT" not in os.environ:  # a CPU_COUNT of the user's own wins
        os.environ["CPU_COUNT"] = str(max(1, (os.cpu_count() or 1) // jobs))


def _recipe_kind(recipe: Path) -> str:
    """The pmpm build kind recorded in the recipe (hand-written recipes count as script)."""
    import re

    match = re.search(r"^\s+kind: (\w+)\s*$", recipe.read_text(), re.M)
    return match.group(1) if match else "script"


def select(jobs: list[Job], packages: list[str]) -> list[Job]:
    """Only the jobs of `packages` (their dependencies must already be in the channel)."""
    unknown = sorted(set(packages) - {job.name for job in jobs})
    if unknown:
        raise RecipeError(f"--only-package {unknown[0]}: no such package in the plan",
                          fix=f"choose one of {', '.join(sorted({j.name for j in jobs}))}")
    return [job for job in jobs if job.name in packages]


def build(recipe_set: RecipeSet, options: BuildOptions, reporter: Reporter | None = None,
          only: list[str] = ()) -> BuildReport:
    """`pmpm build`: every recipe × variant of `recipe_set` (or those of the `only` packages),
    dependencies first, into the local channel."""
    use_compiler_cache(options.ccache)  # before planning: the engine reads it when it renders
    jobs = plan(recipe_set)
    return Builder(recipe_set, options, reporter).run(select(jobs, list(only)) if only else jobs)


def use_compiler_cache(enabled: bool) -> Path | None:
    """Point compiled recipes at pmpm's ccache directory, or at none.

    Rendered recipes read PMPM_CCACHE_DIR through `env.get` when the engine renders them (so it
    changes neither build hashes nor fingerprints) and their scripts wrap the compilers in ccache
    when it names a directory and ccache is installed. `--no-ccache` or PMPM_NO_CCACHE=1 turn it
    off; a PMPM_CCACHE_DIR of the user's own is kept. Returns the directory in use."""
    from . import user_cache

    if not enabled or os.environ.get("PMPM_NO_CCACHE", "").strip().lower() not in ("", "0", "no", "false"):
        os.environ["PMPM_CCACHE_DIR"] = ""
        return None
    directory = os.environ.get("PMPM_CCACHE_DIR") or str(user_cache("ccache"))
    os.environ["PMPM_CCACHE_DIR"] = directory
    return Path(directory)

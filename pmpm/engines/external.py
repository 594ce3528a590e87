"""Engines that are executables: the user's `conda build` and a `rattler-build` on PATH.

They get the same recipe, the one variant pinned by a per-job config, the same channels, and
the environment the request carries; their output streams into the build's log.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import EngineError
from ..variants.cbc import job_config
from ..variants.cbc import write as write_cbc
from ..variants.microarch import GATE_NAME_KEY, GATE_PACKAGE
from .base import BuildLog, BuildRequest, Cause, EngineFailure, PlannedBuild
from .rattler import packages_in

PHASE, ERROR, DONE = "\x1epmpm-phase ", "\x1epmpm-error ", "\x1epmpm-done "


def relay(
    lines: Iterator[str], log: BuildLog, seen: Callable[[str], None] | None = None
) -> tuple[EngineFailure | None, int | None]:
    """Copy a child's output into the log until it ends or reports a job done; `seen` watches
    every line. Returns the error it reported (if any) and the job's exit code (None: the output ended)."""
    error = None
    for line in lines:
        line = line.rstrip("\n")
        if seen is not None:
            seen(line)
        if line.startswith(PHASE):  # pmpm's own worker reports phases and errors in-band
            log.phase(line[len(PHASE) :])
        elif line.startswith(ERROR):
            error = _failure(line[len(ERROR) :])
        elif line.startswith(DONE):
            return error, int(line[len(DONE) :])
        else:
            log.write(line)
    return error, None


def _failure(reported: str) -> EngineFailure:
    """A failure the worker reported in-band (`{"cause": ..., "message": ...}`)."""
    try:
        data = json.loads(reported)
        return EngineFailure(data["message"], Cause(data["cause"]))
    except (ValueError, KeyError, TypeError):
        return EngineFailure(reported)


def report_failure(failure: EngineFailure) -> str:
    """The in-band line a worker prints for a failed job (read back by `relay`)."""
    return ERROR + json.dumps({"cause": failure.cause.value, "message": failure.message})


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
        env = {**os.environ, **request.environ, **self.environment(request, planned)}
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=env,
            start_new_session=True,
        )
        try:
            error, _ = relay(proc.stdout, log)
            code = proc.wait()
        except BaseException:
            stop(proc)
            raise
        if code:  # the job config stays beside the output dir, for the log's command line
            raise error or EngineFailure.of(f"{argv[0]} exited with code {code}", None)
        if config is not None:
            config.unlink(missing_ok=True)
        return packages_in(request.output_dir)

    def command(self, planned: PlannedBuild, request: BuildRequest) -> list[str]:
        raise NotImplementedError

    def prepare(self, planned: PlannedBuild, request: BuildRequest) -> Path | None:
        """Write the per-job variant config the command names (see `job_config`)."""
        path = job_config_path(request)
        values, zips = job_config(request.variants, request.zip_keys, planned.variant)
        path.write_text(
            write_cbc(values, zips, f"pmpm: variant config of exactly one build, {planned.label}", exact=True)
        )
        return path

    def environment(self, request: BuildRequest, planned: PlannedBuild) -> dict[str, str]:
        """What this engine's process needs besides the request's environment."""
        return {}


def stop(proc: subprocess.Popen) -> None:
    """Stop an engine subprocess and its build script (its own session)."""
    import signal

    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(wait)
            return
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue


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
        argv = [
            self.executable,
            "build",
            target,
            "--output-folder",
            str(request.output_dir),
            "--package-format",
            ".conda",
        ]
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

    def environment(self, request: BuildRequest, planned: PlannedBuild) -> dict[str, str]:
        env = {"CONDA_SOLVER": self.solver} if self.solver else {}
        if planned.name == GATE_PACKAGE:
            # The gate's run requirement `__archspec 1.* NAME` is solved against this host's CPU
            # (conda-build 26: "Unsatisfiable dependencies ... unsupported request" for every other
            # name); conda's own override makes the host report the very CPU this build gates.
            env["CONDA_OVERRIDE_ARCHSPEC"] = str(planned.variant[GATE_NAME_KEY])
        return env


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
        argv = [
            self.executable,
            "build",
            "--recipe",
            str(planned.recipe),
            "--output-dir",
            str(request.output_dir),
            "-m",
            str(job_config_path(request)),
        ]
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


def find_conda() -> str:
    """`conda` from $CONDA_EXE (set by an activated conda) or PATH."""
    exe = os.environ.get("CONDA_EXE") or shutil.which("conda")
    if not exe:
        raise EngineError(
            "conda-build engine: no conda found (activate a conda base with conda-build, "
            "set CONDA_EXE, or use --engine rattler-build)"
        )
    return exe


def conda_python(conda: str) -> Path:
    """The python of the conda installation `conda` belongs to (bin/conda or condabin/conda)."""
    return Path(conda).resolve().parent.parent / "bin" / "python"


def check_solver(conda: str, solver: str | None) -> None:
    """`--solver libmamba` needs conda-libmamba-solver importable by that conda's own python."""
    if solver != "libmamba":
        return
    python = conda_python(conda)
    found = (
        python.exists()
        and subprocess.run([str(python), "-c", "import conda_libmamba_solver"], capture_output=True).returncode == 0
    )
    if not found:
        raise EngineError(
            f"conda-build engine: --solver libmamba needs conda-libmamba-solver in {python.parent.parent} "
            "(conda install -n base conda-libmamba-solver, or use --solver classic)"
        )

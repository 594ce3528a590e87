"""The engine a `--engine` name stands for, and where it runs."""

from __future__ import annotations

import shutil
import subprocess

from ..errors import EngineError
from ..options import ENGINES
from .base import Engine
from .external import CondaBuild, RattlerBuildExe, check_solver, find_conda
from .rattler import RattlerBuild
from .worker import RattlerBuildWorker


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
            raise EngineError(
                f"conda-build engine: `{conda} build` is not available "
                "(install conda-build into the base environment, or use --engine rattler-build)"
            )
        check_solver(conda, solver)
        return CondaBuild(conda, solver)
    if name == "rattler-build-exe":
        exe = shutil.which("rattler-build")
        if exe is None:
            raise EngineError(
                "rattler-build-exe engine: no rattler-build executable on PATH "
                "(install it, or use the default --engine rattler-build)"
            )
        return RattlerBuildExe(exe)
    raise EngineError(f"unknown engine {name!r} (use one of {', '.join(ENGINES)})")

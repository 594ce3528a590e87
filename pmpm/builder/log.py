"""One build's log file: every line the engine prints, its phases passed on to the reporter."""

from __future__ import annotations

import re
import time
from pathlib import Path

from ..channel.index import warm_indexer
from ..engines.base import WARN, Phase, phase_of
from ..runtime import RUNTIME
from .plan import Job
from .report import Reporter

LOG_TAIL = 40


def warm_indexer_meanwhile() -> None:
    """Get py-rattler's indexer ready in the background while this process only waits for an
    engine worker: its import and first run (~30 + ~25 ms) are then off the critical path of
    the publish that follows a quick `--dirty` build. Called once the worker runs the job (see
    `_Log.phase`): started earlier, the import took the interpreter from the job's preparation."""
    RUNTIME.once("warm-indexer", warm_indexer)


# Libraries every Linux host has, the C library's and the compilers' runtimes: linking them is how
# a system-mode build works (the engine warns because no sysroot package provides them).
EXPECTED = re.compile(
    r'Overlinking against "(libc|libm|libmvec|libpthread|libdl|librt|libutil|ld-linux[^"]*|libgcc_s|'
    r'libstdc\+\+|libgfortran|libgomp|libquadmath)\.so'
)


class BuildLogFile:
    """One build's log file; phases and lines go on to the reporter."""

    def __init__(self, path: Path, job: Job, reporter: Reporter, on_engine_start=None):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.job, self.reporter = path, job, reporter
        self.on_engine_start = on_engine_start  # called at the engine's first phase
        self.file = open(path, "w", buffering=1, errors="replace")
        self.script_start: float | None = None
        self.script_end: float | None = None
        self.in_script = False
        self.warnings: list[str] = []  # the engine's own (overlinking, missing DSOs, relocation), in order

    def phase(self, text: str) -> None:
        if self.on_engine_start is not None:
            self.on_engine_start, started = None, self.on_engine_start
            started()
        self.in_script = phase_of(text) is Phase.SCRIPT
        self.reporter.phase(self.job, text)

    def write(self, line: str) -> None:
        if self.in_script:
            now = time.perf_counter()
            self.script_start = self.script_start or now
            self.script_end = now
        self.file.write(line + "\n")
        self.reporter.output(self.job, line)
        warning = line.removeprefix(WARN).strip() if line.startswith(WARN) else ""
        if warning and warning != "Warnings:" and warning not in self.warnings and not EXPECTED.search(warning):
            self.warnings.append(warning)

    @property
    def script_seconds(self) -> float:
        return (self.script_end - self.script_start) if self.script_start else 0.0

    def tail(self, lines: int = LOG_TAIL) -> str:
        return "\n".join(self.path.read_text(errors="replace").splitlines()[-lines:])

    def close(self) -> None:
        if not self.file.closed:
            self.file.close()

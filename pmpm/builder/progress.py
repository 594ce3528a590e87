"""What a person sees while pmpm builds: a live view on a terminal, plain lines elsewhere.

On a terminal (rich): the overall N/M with elapsed time, then each running build with its
elapsed time, phase, latest log line and log path. Without one (CI, `| tee`, Slurm logs):
one line when each package × variant starts and one when it ends, with time and status, a
"still building" line at most once a minute while a long build writes to its log (a 6-minute
fftw is not silence), and a plain-text summary whose names are never cut to a terminal's
width. `verbose` streams every build log line, prefixed with its package. Everything goes to
stderr, so stdout stays clean for `--json`. rich is loaded for the terminal alone: off one it
cost every build's start-up ~25 ms, and each `-v` line ~0.1 ms more than a plain write.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

from ..errors import shorten
from ..variants.microarch import GATE_PACKAGE
from .plan import Job
from .report import JobResult, Status

STYLE = {
    Status.BUILT: "green",
    Status.CACHED: "green",
    Status.UP_TO_DATE: "cyan",
    Status.FAILED: "bold red",
    Status.SKIPPED: "yellow",
}
DONE = (Status.BUILT, Status.CACHED, Status.UP_TO_DATE)
HEARTBEAT = 60.0  # seconds between two "still building" lines of one build, off a terminal
COLUMNS = ("package", "build", "status", "time", "file")


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


@dataclass
class _Running:
    log: Path | None
    start: float = field(default_factory=time.monotonic)
    phase: str = "starting"
    last_line: str = ""
    said: float = field(default_factory=time.monotonic)  # when a line last told of this build


class _Base:
    """Bookkeeping, failures and the summary; prints plain text to `stream`."""

    def __init__(self, stream: IO[str], verbose: bool = False):
        self.stream = stream
        self.verbose = verbose
        self.results: list[JobResult] = []
        self.total = 0
        self.start = time.monotonic()
        self.running: dict[str, _Running] = {}
        self.lock = threading.Lock()  # builds report from worker threads

    def say(self, text: str, style: str | None = None) -> None:
        with self.lock:  # one line at a time, whichever thread reports
            self.stream.write(text + "\n")
            self.stream.flush()

    def planned(self, jobs: list[Job]) -> None:
        # The stack's own builds are counted; the CPU gate's (one tiny package per CPU name) are not.
        self.total = sum(job.name != GATE_PACKAGE for job in jobs)

    def done(self) -> int:
        return sum(r.job.name != GATE_PACKAGE for r in self.results)

    def started(self, job: Job, log: Path | None) -> None:
        with self.lock:
            self.running[job.label] = _Running(log)

    def phase(self, job: Job, text: str) -> None:
        with self.lock:
            if job.label in self.running:
                self.running[job.label].phase = text

    def output(self, job: Job, line: str) -> None:
        with self.lock:
            if job.label in self.running and line.strip():
                self.running[job.label].last_line = line.strip()
        if self.verbose:
            self.say(f"{job.name}| {line}")

    def finished(self, result: JobResult) -> None:
        with self.lock:
            self.running.pop(result.job.label, None)
            self.results.append(result)
        if result.status is Status.FAILED:
            tail = f"; last lines of {result.log}:" if result.log else ":"
            self.say(f"{result.job.label} failed{tail}", STYLE[Status.FAILED])
            self.say(result.message)

    def summary_rows(self) -> list[tuple[str, str, str, str, str]]:
        """(package, build, status, time, file) per row; the CPU gate's builds share one."""
        rows = []
        gates = [r for r in self.results if r.job.name == GATE_PACKAGE]
        if gates:  # one build per CPU name: a row each would bury the stack's own packages
            status = next((r.status for r in gates if r.status not in DONE), gates[-1].status)
            rows.append(
                (GATE_PACKAGE, f"{len(gates)} builds", status, f"{sum(r.seconds for r in gates):.1f}s", "CPU gate")
            )
        for r in self.results:
            if r.job.name != GATE_PACKAGE:
                file = r.files[0].name if r.files else (r.message.splitlines()[0] if r.message else "")
                rows.append((r.job.name, r.job.build_string, r.status, f"{r.seconds:.1f}s", file))
        return rows

    def title(self) -> str:
        return f"pmpm build ({_clock(time.monotonic() - self.start)})"

    def warning_lines(self) -> list[str]:
        """The engine's warnings per package (an overlinked library works here and breaks elsewhere)."""
        found = [f"  {r.job.label}: {w}" for r in self.results for w in r.warnings]
        return ["warnings from the engine (each build's log has the context):", *found] if found else []

    def print_summary(self) -> None:
        rows = [COLUMNS, *self.summary_rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
        self.say("\n".join([self.title(), *lines, *self.warning_lines()]))


class _Plain(_Base):
    """A line when a build starts, one now and then while it runs, one when it ends: logs and CI
    output stay readable."""

    def __init__(self, stream: IO[str], verbose: bool = False, every: float = HEARTBEAT):
        super().__init__(stream, verbose)
        self.every = every

    def output(self, job: Job, line: str) -> None:
        super().output(job, line)
        now = time.monotonic()
        with self.lock:
            running = self.running.get(job.label)
            if running is None or self.verbose or now - running.said < self.every:
                return
            running.said = now
        if job.name != GATE_PACKAGE:
            self.say(
                f"{self._counter(job)} {job.label}: still building, {_clock(now - running.start)} "
                f"({running.phase}; {shorten(running.last_line[:120], 60)})"
            )

    def started(self, job: Job, log: Path | None) -> None:
        super().started(job, log)
        if job.name == GATE_PACKAGE and not self.verbose:
            return
        self.say(f"{self._counter(job)} {job.label}: building (log: {log})")

    def finished(self, result: JobResult) -> None:
        if result.job.name == GATE_PACKAGE and result.status in DONE and not self.verbose:
            super().finished(result)
            return
        warned = f", {len(result.warnings)} warning(s)" if result.warnings else ""
        self.say(
            f"{self._counter(result.job)} {result.job.label}: {result.status} "
            f"({result.seconds:.1f}s{warned}, {_clock(time.monotonic() - self.start)} elapsed)"
        )
        super().finished(result)

    def _counter(self, job: Job) -> str:
        """This build's place among the stack's own (before it is counted as done)."""
        return "[CPU gate]" if job.name == GATE_PACKAGE else f"[{self.done() + 1}/{self.total}]"


class _Live(_Base):
    """A live view of every running build, refreshed by rich."""

    def __init__(self, terminal: IO[str]):
        from rich.console import Console
        from rich.live import Live

        super().__init__(terminal)
        self.console = Console(file=terminal)
        self.live = Live(console=self.console, refresh_per_second=4, transient=True, get_renderable=self._view)

    def say(self, text: str, style: str | None = None) -> None:
        from rich.text import Text

        # soft_wrap: a log path must survive copy-paste, whatever the terminal width.
        self.console.print(Text(text, style=style or ""), highlight=False, soft_wrap=True)

    def _view(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        now = time.monotonic()
        head = Text.assemble(
            ("pmpm build", "bold"), f" {self.done()}/{self.total} done, {_clock(now - self.start)} elapsed"
        )
        rows = Table.grid(padding=(0, 2))
        with self.lock:
            running = list(self.running.items())
        width = max(self.console.width - 20, 20)
        for label, state in running:
            rows.add_row(Text(label, style="cyan"), _clock(now - state.start), Text(state.phase[:40]))
            rows.add_row("", "", Text(state.last_line[:width], style="dim"))
            rows.add_row("", "", Text(f"log: {state.log}", style="dim"))
        return Group(head, rows)

    def finished(self, result: JobResult) -> None:
        super().finished(result)
        if result.status in DONE and result.job.name != GATE_PACKAGE:
            self.say(f"{result.status} {result.job.label} ({result.seconds:.1f}s)", STYLE[result.status])

    def print_summary(self) -> None:
        from rich.table import Table
        from rich.text import Text

        table = Table(title=self.title(), title_justify="left")
        for column in COLUMNS:
            table.add_column(column)
        for package, build, status, seconds, file in self.summary_rows():
            table.add_row(package, build, Text(status, style=STYLE[status]), seconds, Text(file))
        self.console.print(table)
        for line in self.warning_lines():
            self.say(line, "yellow")


@contextmanager
def _engine_off_the_terminal() -> Iterator[IO[str]]:
    """The terminal for pmpm's live view alone.

    The engine draws its own spinners on file descriptor 2 whenever that is a terminal, which
    would tear the live view; while the view runs, descriptor 2 points at /dev/null (the full
    build output is in each build's log) and the view writes to a copy of the terminal.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    terminal = os.fdopen(os.dup(saved), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield terminal
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        terminal.flush()


@contextmanager
def reporter_for(quiet: bool = False, verbose: bool = False) -> Iterator[_Base]:
    """Progress on stderr; the final table too."""
    if sys.stderr.isatty() and not quiet and not verbose:
        with _engine_off_the_terminal() as terminal:
            reporter: _Base = _Live(terminal)
            with reporter.live:
                yield reporter
    else:
        reporter = _Plain(sys.stderr, verbose) if not quiet else _Base(sys.stderr)
        yield reporter
    if reporter.results and not quiet:
        reporter.print_summary()

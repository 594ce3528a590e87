"""What a person sees while pmpm builds: a live view on a terminal, plain lines elsewhere.

On a terminal (rich): the overall N/M with elapsed time, then each running build with its
elapsed time, phase, latest log line and log path. Without one (CI, `| tee`, Slurm logs):
one line when each package × variant starts and one when it ends, with time and status.
`verbose` streams every build log line, prefixed with its package. Everything goes to
stderr, so stdout stays clean for `--json`.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .build import Job, JobResult
from .microarch import GATE_PACKAGE

STYLE = {"built": "green", "up to date": "cyan", "failed": "bold red", "skipped": "yellow"}


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


@dataclass
class _Running:
    log: Path | None
    start: float = field(default_factory=time.monotonic)
    phase: str = "starting"
    last_line: str = ""


class _Base:
    def __init__(self, console: Console, verbose: bool = False):
        self.console = console
        self.verbose = verbose
        self.results: list[JobResult] = []
        self.total = 0
        self.start = time.monotonic()
        self.running: dict[str, _Running] = {}
        self.lock = threading.Lock()  # builds report from worker threads

    def planned(self, jobs: list[Job]) -> None:
        self.total = len(jobs)

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
            self.console.print(Text(f"{job.name}| {line}"), soft_wrap=True, highlight=False)

    def finished(self, result: JobResult) -> None:
        with self.lock:
            self.running.pop(result.job.label, None)
            self.results.append(result)
        if result.status == "failed":
            # soft_wrap: a log path must survive copy-paste, whatever the terminal width.
            tail = f"; last lines of {result.log}:" if result.log else ":"
            self.console.print(f"[bold red]{escape(result.job.label)} failed[/]{tail}", soft_wrap=True)
            self.console.print(result.message, markup=False, highlight=False, soft_wrap=True)

    def summary(self) -> Table:
        table = Table(title=f"pmpm build ({_clock(time.monotonic() - self.start)})", title_justify="left")
        for column in ("package", "build", "status", "time", "file"):
            table.add_column(column)
        gates = [r for r in self.results if r.job.name == GATE_PACKAGE]
        if gates:  # one build per CPU name: a row each would bury the stack's own packages
            status = next((r.status for r in gates if r.status not in ("built", "up to date")), gates[-1].status)
            table.add_row(GATE_PACKAGE, f"{len(gates)} builds", f"[{STYLE[status]}]{status}[/]",
                          f"{sum(r.seconds for r in gates):.1f}s", "CPU gate")
        for r in self.results:
            if r.job.name == GATE_PACKAGE:
                continue
            file = r.files[0].name if r.files else (r.message.splitlines()[0] if r.message else "")
            table.add_row(r.job.name, r.job.build_string, f"[{STYLE[r.status]}]{r.status}[/]",
                          f"{r.seconds:.1f}s", escape(file))
        return table


class _Plain(_Base):
    """A line when a build starts and one when it ends: logs and CI output stay readable."""

    def started(self, job: Job, log: Path | None) -> None:
        super().started(job, log)
        if job.name == GATE_PACKAGE and not self.verbose:
            return
        self.console.print(f"[{len(self.results) + 1}/{self.total}] {escape(job.label)}: building "
                           f"(log: {log})", highlight=False, soft_wrap=True)

    def finished(self, result: JobResult) -> None:
        n = len(self.results) + 1
        if result.job.name == GATE_PACKAGE and result.status in ("built", "up to date") and not self.verbose:
            super().finished(result)
            return
        self.console.print(f"[{n}/{self.total}] {escape(result.job.label)}: {result.status} "
                           f"({result.seconds:.1f}s, {_clock(time.monotonic() - self.start)} elapsed)",
                           highlight=False, soft_wrap=True)
        super().finished(result)


class _Live(_Base):
    """A live view of every running build, refreshed by rich."""

    def __init__(self, console: Console, verbose: bool = False):
        super().__init__(console, verbose)
        self.live = Live(console=console, refresh_per_second=4, transient=True, get_renderable=self._view)

    def _view(self) -> Group:
        now = time.monotonic()
        head = Text.from_markup(f"[bold]pmpm build[/] {len(self.results)}/{self.total} done, "
                                f"{_clock(now - self.start)} elapsed")
        rows = Table.grid(padding=(0, 2))
        with self.lock:
            running = list(self.running.items())
        width = max(self.console.width - 20, 20)
        for label, state in running:
            rows.add_row(f"[cyan]{escape(label)}[/]", _clock(now - state.start), escape(state.phase[:40]))
            rows.add_row("", "", Text(state.last_line[:width], style="dim"))
            rows.add_row("", "", Text(f"log: {state.log}", style="dim"))
        return Group(head, rows)

    def finished(self, result: JobResult) -> None:
        super().finished(result)
        if result.status in ("built", "up to date") and result.job.name != GATE_PACKAGE:
            self.console.print(f"[{STYLE[result.status]}]{result.status}[/] {escape(result.job.label)} "
                               f"({result.seconds:.1f}s)", highlight=False, soft_wrap=True)


@contextmanager
def _engine_off_the_terminal() -> Iterator:
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
    console = Console(stderr=True)
    if console.is_terminal and not quiet and not verbose:
        with _engine_off_the_terminal() as terminal:
            reporter: _Base = _Live(Console(file=terminal))
            with reporter.live:
                yield reporter
        console = reporter.console
    else:
        reporter = _Plain(console, verbose) if not quiet else _Base(console)
        yield reporter
    if reporter.results and not quiet:
        console.print(reporter.summary())

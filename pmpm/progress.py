"""What a person sees while pmpm works: a live table on a terminal, plain lines elsewhere."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.live import Live
from rich.table import Table

from .build import Job, JobResult

STYLE = {"built": "green", "up to date": "cyan", "failed": "bold red", "skipped": "yellow"}


class _Base:
    def __init__(self, console: Console):
        self.console = console
        self.results: list[JobResult] = []
        self.total = 0

    def planned(self, jobs: list[Job]) -> None:
        self.total = len(jobs)

    def started(self, job: Job) -> None:
        pass

    def phase(self, job: Job, text: str) -> None:
        pass

    def finished(self, result: JobResult) -> None:
        self.results.append(result)
        if result.status == "failed":
            # soft_wrap: a log path must survive copy-paste, whatever the terminal width.
            self.console.print(f"[bold red]{result.job.label} failed[/]; last lines of {result.log}:", soft_wrap=True)
            self.console.print(result.message, markup=False, highlight=False, soft_wrap=True)

    def summary(self) -> Table:
        table = Table(title="pmpm build", title_justify="left")
        for column in ("package", "build", "status", "time", "file"):
            table.add_column(column)
        for r in self.results:
            file = r.files[0].name if r.files else (r.message.splitlines()[0] if r.message else "")
            table.add_row(r.job.name, r.job.build_string, f"[{STYLE[r.status]}]{r.status}[/]",
                          f"{r.seconds:.1f}s", file)
        return table


class _Plain(_Base):
    """One line per finished build: logs and CI output stay readable."""

    def finished(self, result: JobResult) -> None:
        n = len(self.results) + 1
        self.console.print(f"[{n}/{self.total}] {result.job.label}: {result.status} ({result.seconds:.1f}s)",
                           highlight=False, soft_wrap=True)
        super().finished(result)


class _Live(_Base):
    """A live line per running build with its current phase."""

    def __init__(self, console: Console):
        super().__init__(console)
        self.current: dict[str, str] = {}
        self.live = Live(self._table(), console=console, refresh_per_second=8, transient=True)

    def _table(self) -> Table:
        table = Table.grid(padding=(0, 2))
        done = len(self.results)
        table.add_row(f"[bold]building[/] {done}/{self.total} done")
        for label, phase in self.current.items():
            table.add_row(f"  [cyan]{label}[/]", phase)
        return table

    def started(self, job: Job) -> None:
        self.current[job.label] = "starting"
        self.live.update(self._table())

    def phase(self, job: Job, text: str) -> None:
        self.current[job.label] = text
        self.live.update(self._table())

    def finished(self, result: JobResult) -> None:
        self.current.pop(result.job.label, None)
        super().finished(result)
        self.live.update(self._table())


@contextmanager
def reporter_for(quiet: bool = False) -> Iterator[_Base]:
    """Progress on stderr; the final table too, so stdout stays clean for --json."""
    console = Console(stderr=True)
    reporter = _Live(console) if console.is_terminal and not quiet else _Plain(console)
    if isinstance(reporter, _Live):
        with reporter.live:
            yield reporter
    else:
        yield reporter
    if reporter.results and not quiet:
        console.print(reporter.summary())

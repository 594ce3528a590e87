"""Every error pmpm reports to a user, in one place.

Each exception renders as one line and carries the exit code the CLI uses, so that
callers of the Python API and of the command line see the same message.
"""

from __future__ import annotations

import re


def first_line(exc: BaseException) -> str:
    """An engine's or library's exception, reduced to the line a user reads first."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def shorten(text: str, limit: int = 200) -> str:
    """A message stays one readable line: a run of over `limit` characters without a space
    (a 200 kB value pasted into a stack) is cut to its start and its length."""
    return re.sub(r"\S{%d,}" % (limit + 1), lambda m: f"{m.group(0)[:60]}...[{len(m.group(0))} characters]", text)


class PmpmError(Exception):
    """Base class: a failure the user can act on (no traceback unless --debug)."""

    exit_code = 1


class InputError(PmpmError):
    """Bad input in a file or on the command line: `FILE:LINE: key: what (fix)`."""

    exit_code = 2

    def __init__(
        self,
        what: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
        fix: str | None = None,
    ):
        self.file, self.line, self.key, self.what, self.fix = file, line, key, what, fix
        super().__init__(self.render())

    def render(self) -> str:
        where = self.file or ""
        if self.file and self.line:
            where = f"{self.file}:{self.line}"
        parts = [p for p in (where, self.key and shorten(self.key, 80)) if p]
        message = shorten(self.what) + (f" ({shorten(self.fix)})" if self.fix else "")
        return ": ".join([*parts, message])


class StackError(InputError):
    """The stack file is invalid."""


class VariantError(InputError):
    """A conda_build_config.yaml or --variant value is invalid."""


class RecipeError(InputError):
    """A recipe directory cannot be used."""


class UsageError(InputError):
    """A command asked for something that cannot be done as given, with the fix: a stale lock, a
    directory that is not a bundle or an environment, a channel without the stack's builds."""


class BuildFailed(PmpmError):
    """One or more packages failed to build."""


class EngineError(PmpmError):
    """The build engine failed or is not available."""


class ChannelError(PmpmError):
    """The local channel cannot be read, locked or written."""


class SolveError(PmpmError):
    """An environment cannot be solved or installed."""


class NetworkTimeout(SolveError):
    """A channel or index gave no answer within the network timeout (see `pmpm.network`)."""


class ExecutorError(PmpmError):
    """An outside scheduler (Slurm) refused or cannot be reached; its own one-line message."""

    def __init__(self, what: str, fix: str | None = None):
        super().__init__(what + (f" ({fix})" if fix else ""))


class SourceError(PmpmError):
    """A source cannot be fetched, or is missing from the source mirror."""


class NotInMirror(SourceError):
    """A remote source the source mirror lacks: its package cannot build, the others still can."""


class NotOnIndex(StackError):
    """pip found no file of the asked form (sdist, wheel, pure wheel) for a PyPI requirement."""


def say(line: str) -> None:
    """A notice pmpm gives while it works (something it cleaned up, a file it set aside): one
    `pmpm: ...` line on stderr, never on stdout, which `--json` keeps for its report."""
    import sys

    print(f"pmpm: {line}", file=sys.stderr, flush=True)


def human_size(size: float) -> str:
    """A byte count as people read it, for messages: 512 B, 3.2 MiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


def type_word(value: object) -> str:
    """What a YAML value is, in the words messages use: "a string", "a mapping", "nothing"."""
    # isinstance, not type(): ruamel hands back subclasses (ScalarInt, ScalarFloat, CommentedMap).
    for kind, word in (
        (bool, "a boolean"),
        (int, "an integer"),
        (float, "a number"),
        (str, "a string"),
        (list, "a list"),
        (dict, "a mapping"),
        (type(None), "nothing"),
    ):
        if isinstance(value, kind):
            return word
    return type(value).__name__

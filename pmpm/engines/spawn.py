"""Starting py-rattler-build's worker processes (see `worker`) with nothing of the engine imported.

`pmpm build --dirty` and `--force` start them first thing (`prestart`): a child's start-up
(Python and py-rattler-build, ~0.1 s) then overlaps pmpm's own imports and planning
instead of following them. Importing `worker` first would put ~40 ms before the start.
"""

from __future__ import annotations

import os
import subprocess
import sys

from ..runtime import RUNTIME


class WorkerChild:
    """A `python -m pmpm.engines.worker --serve FD` child, just started: its process, and the
    write end of the pipe its jobs come on."""

    def __init__(self) -> None:
        read, self.jobs = os.pipe()
        try:
            # Its own session: stopping it stops the build script it runs (see `external.stop`).
            # Jobs come on a pipe of their own, so a build script that reads stdin reads nothing of pmpm's.
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pmpm.engines.worker", "--serve", str(read)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                start_new_session=True,
                pass_fds=(read,),
            )
        finally:
            os.close(read)


def prestart(slots: int) -> None:
    """Start `slots` workers at once, before pmpm's own imports and planning, for a run that
    will surely build (--dirty, --force): the part of an edit-compile loop that is not the
    compiler. The next `RattlerBuildWorker` takes them; unused ones exit with pmpm (their job
    pipe closes)."""
    RUNTIME.prestarted.extend(WorkerChild() for _ in range(max(1, slots) - len(RUNTIME.prestarted)))

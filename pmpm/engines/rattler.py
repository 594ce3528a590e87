"""py-rattler-build in this process: the default engine, and the one its workers run."""

from __future__ import annotations

from pathlib import Path

import rattler_build

from ..errors import first_line
from .base import WARN, BuildLog, BuildRequest, EngineFailure, Phase, PlannedBuild, phase_of

# --dirty is the edit-compile loop: zstd level 1 instead of the engine's default compresses a
# 3.6 MB library in 0.1 s instead of 0.5 s, for a package 10% larger (measured here).
DIRTY_PACKAGE_FORMAT = "conda:1"


class RattlerBuild:
    """py-rattler-build in this process. It builds in this process's environment: `pmpm build`
    runs here only the CPU gate's builds, which have no script; every other build runs in a
    worker (see `worker`), which applies the request's `environ` first."""

    name = "rattler-build"

    def build(self, planned: PlannedBuild, request: BuildRequest, log: BuildLog) -> list[Path]:
        tool = rattler_build.ToolConfiguration(test_strategy="native" if request.test else "skip")
        callback = _Callback(log)
        try:
            result = planned.handle.run_build(
                tool_config=tool,
                output_dir=request.output_dir,
                channels=request.channels,
                progress_callback=callback,
                no_build_id=request.dirty,
                package_format=DIRTY_PACKAGE_FORMAT if request.dirty else None,
            )
        except rattler_build.RattlerBuildError as exc:
            raise EngineFailure.of(first_line(exc).removeprefix("PyRattlerBuildError: "), callback.phase) from None
        return [Path(p) for p in result.packages]


class _Callback:
    """py-rattler-build's progress callback, forwarded to a BuildLog."""

    def __init__(self, log: BuildLog):
        self.log = log
        self.span: str | None = None
        self.phase: Phase | None = None  # the last step's, for a failure's cause

    def on_log(self, event) -> None:
        span = event.span or ""
        if span != self.span:
            self.span = span
            if span:
                self._step(span)
        level = WARN if event.level == "warn" else "" if event.level == "info" else f"[{event.level}] "
        self.log.write(level + event.message)

    def on_build_step(self, event) -> None:
        self._step(event.step_name)

    def _step(self, name: str) -> None:
        phase = phase_of(name)
        if phase is not Phase.OTHER:  # bookkeeping spans (index_subdir, ...) keep the step's phase
            self.phase = phase
        self.log.phase(name)

    def on_download_start(self, event) -> None:
        pass

    def on_download_progress(self, event) -> None:
        pass

    def on_download_complete(self, event) -> None:
        pass


def packages_in(directory: Path) -> list[Path]:
    """Packages an engine left in its output folder: `<subdir>/*.conda` or `*.tar.bz2`
    (conda-build's --package-format picks one; `broken/` holds packages whose tests failed)."""
    return sorted(
        p
        for pattern in ("*/*.conda", "*/*.tar.bz2")
        for p in directory.glob(pattern)
        if p.parent.name not in ("src_cache", "broken")
    )

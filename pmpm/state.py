"""pmpm's working state: the layout of `.pmpm/` in the working directory, and `pmpm clean`.

    .pmpm/logs/<label>.log            one log per package × variant build
    .pmpm/out/<label>@<host>.<pid>/   a build's private output dir (removed once published, or by the
                                      next run once that process is gone)
    .pmpm/dirty/<name>/<build>/       persistent --dirty workspaces (see `builder.rebuild`)
    .pmpm/slurm/                      Slurm jobs: jobs.json, <unit>.sh, <unit>-<id>.out, recipes/<unit>/
    .pmpm/noop/, .pmpm/render/        records of the last build and render per invocation (see `replay`)
    .pmpm/locks/<name>.lock           locks between pmpm processes of this directory (e.g. who renders ./recipes)

Nothing here is needed to use the channel: it can all be removed (`pmpm clean`).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .options import STATE_DIR as DEFAULT

# rattler-build walks the whole tree of a `path:` source before its `filter:` drops what the
# recipe excludes, and a directory vanishing meanwhile fails the build ("Could not walk dir"):
# another build's private output being removed, say. A directory holding this file (gitignore
# syntax), as the engine's own output dirs do, is never walked.
ENGINE_IGNORE = ".condapackageignore"


def keep_out_of_path_sources(directory: Path) -> None:
    """Have the engine skip `directory` whenever a `path:` source contains it (see ENGINE_IGNORE)."""
    marker = directory / ENGINE_IGNORE
    if not marker.is_file():
        directory.mkdir(parents=True, exist_ok=True)
        marker.write_text("# pmpm: never part of a package's source (pmpm build output and bookkeeping)\n*\n")


def host() -> str:
    """This machine's name, as `socket.gethostname()` gives it, without importing socket (~3 ms of
    every build's start-up): private outputs and create markers are keyed by host and pid."""
    return os.uname().nodename


@dataclass(frozen=True)
class StateDir:
    root: Path

    @classmethod
    def at(cls, path: str | Path = DEFAULT) -> "StateDir":
        return cls(Path(path).absolute())

    def create(self) -> None:
        keep_out_of_path_sources(self.root)

    def log(self, label: str) -> Path:
        return self.root / "logs" / f"{label}.log"

    def output(self, label: str) -> Path:
        """Private per process: the engine indexes its output dir, so builds must not share one."""
        return self.root / "out" / f"{label}@{host()}.{os.getpid()}"

    @property
    def slurm(self) -> Path:
        """What `pmpm build --executor slurm` submitted (see `slurm`)."""
        return self.root / "slurm"

    def remove_stale(self) -> list[tuple[Path, int]]:
        """Remove private build outputs of pmpm processes that are gone (killed with -9, say);
        return each with its dead pid. A living process's, or one whose pid cannot be read, stays."""
        removed, here = [], host()
        for path in sorted((self.root / "out").glob(f"*@{here}.*")):
            # Only this host's: another node's pids mean nothing here. `<dir>.job.json` beside a dir counts too.
            pid = path.name.rsplit("@", 1)[-1][len(here) + 1 :].split(".", 1)[0]
            if pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
                removed.append((path, int(pid)))
        return removed

    def lock(self, name: str) -> Path:
        """A lock file between pmpm processes working here (its directory created)."""
        path = self.root / "locks" / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def dirty(self, name: str, build_string: str) -> Path:
        return self.root / "dirty" / name / build_string

    def clean(
        self, packages: list[str] = (), *, logs: bool = False, cache: Path | None = None
    ) -> list[tuple[Path, int]]:
        """Remove --dirty workspaces and private build outputs (all, or per package); return what was freed."""
        targets: list[Path] = []
        if packages:
            for name in packages:
                targets.append(self.root / "dirty" / name)
                targets += list((self.root / "out").glob(f"{name}-*"))
                if logs:
                    targets += list((self.root / "logs").glob(f"{name}-*.log"))
        else:
            targets += [self.root / "dirty", self.root / "out", self.root / "gates"]
            if logs:
                targets.append(self.root / "logs")
        if cache is not None:
            targets.append(cache)
        freed = []
        for target in targets:
            if target.exists():
                size = du(target)
                shutil.rmtree(target) if target.is_dir() else target.unlink()
                freed.append((target, size))
        return freed


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def du(path: Path) -> int:
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())

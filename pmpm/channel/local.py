"""The local channel: a real conda channel that is never half-written.

Packages are built elsewhere (a private output directory per build) and published here
under a file lock: copied to a hidden temporary name, renamed into place, then the
channel is re-indexed with `rattler.index.index_fs` (which itself writes each repodata file
to a temporary name and renames it). A reader therefore sees either the old or the new
package, and concurrent publishers never lose each other's packages.
pmpm's own bookkeeping (fingerprints) lives in `.pmpm/` inside the channel.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ..errors import ChannelError, first_line, human_size, say
from ..state import keep_out_of_path_sources
from .index import index_fs
from .layout import META, PACKAGE_PATTERNS, PART, QUARANTINE, SUBDIRS, package_problem


class LocalChannel:
    """A directory laid out as a conda channel."""

    def __init__(self, path: str | Path, say: Callable[[str], None] = say):
        self.path = Path(path).absolute()
        self.meta = self.path / META
        self.say = say  # one line per file moved to quarantine or leftover removed
        self.quarantined: list[Path] = []

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def exists(self) -> bool:
        return self.path.is_dir()

    @contextmanager
    def locked(self, timeout: float = 600) -> Iterator[None]:
        # Imported here: filelock takes ~20 ms to import, and `pmpm create` reads the channel without locking it.
        from filelock import FileLock, Timeout

        self._check_layout()
        try:
            self.meta.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._os_error(exc, "cannot create the channel") from None
        try:
            with FileLock(str(self.meta / "lock"), timeout=timeout):
                yield
        except Timeout:
            raise ChannelError(
                f"{self.path}: another pmpm process holds the channel lock for over {timeout:.0f}s "
                f"(wait, or remove {self.meta / 'lock'} if no pmpm is running)"
            ) from None

    def ensure(self) -> None:
        """Create the channel if needed and heal what an interrupted run could leave behind."""
        with self.locked():
            try:
                for subdir in SUBDIRS:
                    self._new_subdir(subdir)
                    for stale in [*(self.path / subdir).glob(f".*{PART}"), *self.meta.glob(f"*{PART}")]:
                        # Under the lock no publish is under way: a .part is a killed publisher's.
                        stale.unlink(missing_ok=True)
                        self.say(f"removed {stale} (left by an interrupted publish)")
                keep_out_of_path_sources(self.path)  # publishes rename files here while other builds copy sources
            except OSError as exc:
                raise self._os_error(exc, "cannot prepare the channel") from None
            if not self._repodata_valid():
                self._quarantine(self._unlisted())
                self._index(force=True)

    def _new_subdir(self, subdir: str) -> None:
        """A missing subdir appears complete, with an empty repodata.json, or not at all: it is
        made under a temporary name and renamed into place, so an interrupt never leaves a
        channel that readers cannot use."""
        if (self.path / subdir).is_dir():
            return
        tmp = self.path / f".{subdir}.{os.getpid()}.new"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        empty = {"info": {"subdir": subdir}, "packages": {}, "packages.conda": {}, "removed": [], "repodata_version": 1}
        (tmp / "repodata.json").write_text(json.dumps(empty, indent=2))
        try:
            os.rename(tmp, self.path / subdir)
        except OSError:  # another pmpm made it first
            shutil.rmtree(tmp, ignore_errors=True)

    def _check_layout(self) -> None:
        """The channel and its noarch/, linux-64/ and .pmpm/ must be directories, or not exist yet."""
        for path in (self.path, *(self.path / d for d in SUBDIRS), self.meta):
            if path.exists() and not path.is_dir():
                raise ChannelError(
                    f"{path}: exists and is not a directory (a channel holds the directories "
                    f"{', '.join(SUBDIRS)} and .pmpm; move the file away or choose another --channel)"
                )

    def _os_error(self, exc: OSError, doing: str) -> ChannelError:
        where = exc.filename or self.path
        if exc.errno == errno.ENOSPC:
            return ChannelError(
                f"{where}: no space left on the device ({doing}; free space or choose another --channel)"
            )
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return ChannelError(
                f"{where}: {exc.strerror} ({doing}; pmpm needs write access to the channel, "
                "or choose another --channel)"
            )
        return ChannelError(f"{where}: {exc.strerror} ({doing})")

    def _unlisted(self) -> list[Path]:
        """Package files on disk that repodata does not list (all of them if repodata is unreadable)."""
        try:
            listed = set(self.packages())
        except ChannelError:
            listed = set()
        paths = [p for d in SUBDIRS for pattern in PACKAGE_PATTERNS for p in sorted((self.path / d).glob(pattern))]
        return [p for p in paths if f"{p.parent.name}/{p.name}" not in listed]

    def _quarantine(self, candidates: list[Path]) -> list[Path]:
        """Move aside every candidate the indexer could not read, saying so; the rest gets indexed."""
        moved = []
        for path in candidates:
            problem = package_problem(path)
            if problem is None:
                continue
            target = self.meta / QUARANTINE / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            moved.append(target)
            self.quarantined.append(target)
            self.say(f"{path}: {problem}; moved to {target}")
        if moved:
            keys = {f"{p.parent.name}/{p.name}" for p in moved}
            prints = self.fingerprints()
            if keys & set(prints):
                kept = {k: v for k, v in prints.items() if k not in keys}
                os.replace(self._stage("fingerprints.json", kept), self.meta / "fingerprints.json")
        return moved

    def publish(self, files: list[Path], fingerprints: dict[str, str] | None = None) -> list[Path]:
        """Move built package files into the channel atomically, then re-index."""
        return self.publish_new(files, fingerprints)[0]

    def publish_new(
        self,
        files: list[Path],
        fingerprints: dict[str, str] | None = None,
        *,
        replace: bool = False,
        origins: dict[str, str] | None = None,
    ) -> tuple[list[Path], bool]:
        """Publish like `publish`, and say whether the channel already held exactly these packages.

        Under the lock: when every file is already in place with the same fingerprint (another
        process just built the same inputs), nothing is written and the result is (paths, True).
        Every file is first copied to a hidden .part name; only when all copies and the new
        fingerprint record are complete are they renamed into place. A failure before that
        (a full disk) removes the .part files and leaves the channel as it was; a failure while
        indexing takes the new files out again. `replace` (pmpm build --force) always writes.
        `origins` records where each file was built from (see `clash`).
        """
        targets = [self.path / source.parent.name / source.name for source in files]
        with self.locked():
            known = self.fingerprints()
            if (
                not replace
                and fingerprints
                and all(t.is_file() for t in targets)
                and all(known.get(key) == digest for key, digest in fingerprints.items())
            ):
                return targets, True
            staged: list[tuple[Path, Path]] = []
            try:
                for source, target in zip(files, targets):
                    target.parent.mkdir(parents=True, exist_ok=True)
                    tmp = target.parent / f".{source.name}.{os.getpid()}{PART}"
                    staged.append((tmp, target))
                    shutil.copyfile(source, tmp)
                record = self._stage("fingerprints.json", {**known, **fingerprints}) if fingerprints else None
                where = self._stage("origins.json", {**self.origins(), **origins}) if origins else None
            except OSError as exc:
                for tmp, _ in staged:
                    tmp.unlink(missing_ok=True)
                if exc.errno == errno.ENOSPC:
                    need = sum(source.stat().st_size for source in files)
                    free = shutil.disk_usage(self.path).free
                    raise ChannelError(
                        f"{self.path}: no space left on the device: publishing "
                        f"{', '.join(f.name for f in files)} needs {human_size(need)}, "
                        f"{human_size(free)} free (the channel is unchanged; free space and re-run)"
                    ) from None
                raise self._os_error(exc, "publishing") from None
            new = [target for _, target in staged if not target.exists()]
            # A file replaced in place (--force) is first taken out of repodata, so a reader (or a
            # kill at any moment) never sees a listed file whose sha256 is not the listing's.
            unlisted = self._unlist([target for _, target in staged if target.exists()])
            for tmp, target in staged:
                os.replace(tmp, target)
            if record is not None:
                os.replace(record, self.meta / "fingerprints.json")
            if where is not None:
                os.replace(where, self.meta / "origins.json")
            try:
                # The indexer trusts what repodata lists by name and reads only unlisted files: a
                # replaced file, once unlisted, is read again like a new one, without re-reading
                # every package (a full re-index only if the listing could not be edited).
                self._index(force=not unlisted)
            except ChannelError:
                for target in new:  # back to the channel as it was: unlisted files are not published
                    target.unlink(missing_ok=True)
                if record is not None:
                    os.replace(self._stage("fingerprints.json", known), self.meta / "fingerprints.json")
                raise
        return targets, False

    def packages(self) -> dict[str, dict]:
        """Repodata records by file name, across subdirs."""
        records: dict[str, dict] = {}
        for subdir in SUBDIRS:
            repodata = self.path / subdir / "repodata.json"
            if repodata.is_file():
                try:
                    data = json.loads(repodata.read_bytes())
                    if not isinstance(data, dict):
                        raise ValueError("not a JSON object")
                except (OSError, ValueError) as exc:
                    raise ChannelError(
                        f"{repodata}: unreadable repodata ({first_line(exc)}) (`pmpm index "
                        f"{self.path}` or any `pmpm build` into the channel re-indexes it)"
                    ) from None
                for key in ("packages", "packages.conda"):
                    for name, record in data.get(key, {}).items():
                        records[f"{subdir}/{name}"] = record
        return records

    def fingerprints(self) -> dict[str, str]:
        """The digest of the inputs each package file was built from (see `builder.fingerprint`)."""
        return self._read_meta("fingerprints.json")

    def origins(self) -> dict[str, str]:
        """Where each package file was built from: a stack file, or a hand-written recipe."""
        return self._read_meta("origins.json")

    def clash(self, key: str, digest: str, origin: str) -> str | None:
        """The origin of another build, from other inputs, already published under `key`: two stacks
        defining one package differently would otherwise replace each other's file unseen."""
        known = self.origins().get(key)
        if known and known != origin and (self.path / key).is_file() and self.fingerprints().get(key) != digest:
            return known
        return None

    def _read_meta(self, name: str) -> dict[str, str]:
        try:
            return json.loads((self.meta / name).read_text())
        except (OSError, ValueError):
            return {}

    def _unlist(self, paths: list[Path]) -> bool:
        """Drop these package files from their subdir's repodata.json (written atomically);
        False if a repodata.json could not be read."""
        done = True
        for subdir in {p.parent.name for p in paths}:
            repodata = self.path / subdir / "repodata.json"
            names = {p.name for p in paths if p.parent.name == subdir}
            try:
                data = json.loads(repodata.read_bytes())
                if not isinstance(data, dict):
                    raise ValueError("not a JSON object")
            except (OSError, ValueError):
                done = False
                continue
            if not any(name in data.get(key, {}) for key in ("packages", "packages.conda") for name in names):
                continue
            for key in ("packages", "packages.conda"):
                for name in names:
                    data.get(key, {}).pop(name, None)
            tmp = repodata.with_name(f".repodata.json.{os.getpid()}{PART}")
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
            os.replace(tmp, repodata)
        return done

    def _stage(self, name: str, data: dict[str, str]) -> Path:
        """`data` written beside `.pmpm/NAME` under a private name, for the caller to rename into place."""
        tmp = self.meta / f"{name}.{os.getpid()}{PART}"
        try:
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    def is_consistent(self) -> bool:
        """What a reader needs: repodata parses and every listed package is present at its listed size.

        A package renamed into place just before an interrupted re-index is complete but not
        yet listed: invisible to readers until the next `ensure()` indexes it. A channel that was
        never created is consistent too: nothing was half-written.
        """
        return not self.path.exists() or self._consistent_listing() is not None

    def _consistent_listing(self) -> dict[str, dict] | None:
        try:
            listed = self.packages()
        except ChannelError:
            return None
        complete = all((self.path / d / "repodata.json").is_file() for d in SUBDIRS) and all(
            (self.path / key).is_file() and (self.path / key).stat().st_size == record.get("size")
            for key, record in listed.items()
        )
        return listed if complete else None

    def _repodata_valid(self) -> bool:
        """Consistent, and listing exactly the package files present."""
        listed = self._consistent_listing()
        if listed is None:
            return False
        on_disk = {
            f"{d}/{p.name}" for d in SUBDIRS for pattern in PACKAGE_PATTERNS for p in (self.path / d).glob(pattern)
        }
        return set(listed) == on_disk

    def _index(self, force: bool = False) -> None:
        """Re-index with `index_fs` (plain repodata.json only). zst or sharded forms left by another
        indexer would go stale, and clients prefer them, so they are removed."""
        for subdir in SUBDIRS:
            for stale in ("repodata.json.zst", "repodata_shards.msgpack.zst"):
                (self.path / subdir / stale).unlink(missing_ok=True)
            shutil.rmtree(self.path / subdir / "shards", ignore_errors=True)
        try:
            index_fs(self.path, force=force)
        except Exception as exc:  # the indexer's own error types
            # A file it cannot read must not block every build: move it aside and index the rest.
            if self._quarantine(
                [p for d in SUBDIRS for pattern in PACKAGE_PATTERNS for p in sorted((self.path / d).glob(pattern))]
            ):
                return self._index(force=force)
            if isinstance(exc, OSError) or "No space left" in str(exc):
                error = exc if isinstance(exc, OSError) else OSError(errno.ENOSPC, "No space left on device")
                raise self._os_error(error, "writing repodata.json") from None
            raise ChannelError(f"{self.path}: indexing failed: {first_line(exc)}") from None

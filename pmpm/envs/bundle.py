"""Bundles: everything a locked environment needs, in one directory that installs with no network.

    DIR/channel/{linux-64,noarch}/   every locked conda package (local builds and upstream),
                                     indexed with rattler.index.index_fs: a real conda channel
    DIR/wheels/                      every locked pip wheel
    DIR/STACK.yml, DIR/STACK.lock, DIR/STACK-linux-64.txt, DIR/STACK-linux-64.sha256.txt

A bundle is incremental: a file already present with the locked sha256 is kept, so after a
stack change only what changed is copied or downloaded; `prune` drops files nothing locked
needs. `create_from_bundle` installs the lock's exact records from DIR/channel and its wheels
from DIR/wheels (`pip --no-index`), touching no channel and no index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .. import network
from ..channel.index import index_fs
from ..channel.layout import SUBDIRS
from ..errors import ChannelError, SolveError, UsageError
from ..files import sha256_file
from . import verified
from .lock import Locked, read_lock, sha256_explicit_path

CHANNEL, WHEELS = "channel", "wheels"


@dataclass
class BundleReport:
    output: Path
    fetched: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.output.rglob("*") if p.is_file())


def _present(path: Path, sha256: str) -> bool:
    return path.is_file() and sha256_file(path) == sha256


def write_bundle(
    locked: Locked, stack_path: Path, explicit_path: Path, output: Path, *, prune: bool = False
) -> BundleReport:
    """Copy or download what `locked` names into `output`, index it, add the lock files and the stack."""
    output = Path(output).absolute()
    report = BundleReport(output)
    wanted: set[Path] = set()
    for record in locked.records:
        target = output / CHANNEL / record.subdir / record.file_name
        wanted.add(target)
        _fetch_package(record, target, report)
    wheels = locked.wheels
    for wheel in wheels:
        wanted.add(output / WHEELS / wheel.filename)
    missing = [w for w in wheels if not _present(output / WHEELS / w.filename, w.sha256)]
    report.kept += [w.filename for w in wheels if w not in missing]
    _download_wheels(missing, output / WHEELS, locked.python_version())
    report.fetched += [w.filename for w in missing]
    if prune:
        report.pruned = _prune(output, wanted)
    _index(output / CHANNEL)
    for source in (stack_path, locked.path, explicit_path, sha256_explicit_path(explicit_path)):
        if source.is_file():
            shutil.copyfile(source, output / source.name)
    return report


def _fetch_package(record, target: Path, report: BundleReport) -> None:
    """A package archive into the bundle, from its channel (a file:// path or a URL), sha256-checked."""
    (report.fetched if verified.fetch(record, target) else report.kept).append(target.name)


def _download_wheels(wheels: list, wheelhouse: Path, python_version: str | None) -> None:
    """pip download, through the user's index configuration, in hash-checking mode."""
    if not wheels:
        return
    wheelhouse.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pmpm-wheels-") as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text("".join(f"{w.requirement()}\n" for w in wheels))
        version = ["--python-version", python_version] if python_version else []
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                *network.pip_args(),
                "--no-input",
                "--quiet",
                "--no-deps",
                "--require-hashes",
                "--only-binary",
                ":all:",
                *version,
                "-d",
                tmp,
                "-r",
                str(requirements),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode:
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise ChannelError(f"pip download of the locked wheels failed:\n{tail}")
        for wheel in wheels:
            downloaded = Path(tmp) / wheel.filename
            if not _present(downloaded, wheel.sha256):
                raise ChannelError(f"{wheel.filename}: pip did not download the locked file")
            os.replace(downloaded, wheelhouse / wheel.filename)


def _prune(output: Path, wanted: set[Path]) -> list[str]:
    pruned = []
    for folder in [output / CHANNEL / s for s in SUBDIRS] + [output / WHEELS]:
        for path in sorted(folder.glob("*")):
            if path.is_file() and path.suffix in (".conda", ".bz2", ".whl") and path not in wanted:
                path.unlink()
                pruned.append(path.name)
    return pruned


def _index(channel: Path) -> None:
    for subdir in SUBDIRS:  # conda wants noarch/repodata.json even when nothing is noarch
        (channel / subdir).mkdir(parents=True, exist_ok=True)
    try:
        index_fs(channel, force=True)
    except Exception as exc:  # the indexer's own error types
        raise ChannelError(f"{channel}: indexing failed: {exc}") from None


def bundle_lock(bundle: Path) -> Path:
    """The one lock file of a bundle directory."""
    locks = sorted(Path(bundle).glob("*.lock"))
    if len(locks) != 1 or not (Path(bundle) / CHANNEL).is_dir():
        raise UsageError(
            f"not a pmpm bundle (expected one *.lock and {CHANNEL}/)",
            file=str(bundle),
            fix="make one with `pmpm bundle`",
        )
    return locks[0]


def bundled_records(bundle: Path, locked: Locked) -> list:
    """The locked records, pointing at the bundle's copies (each checked against the lock's sha256)."""
    channel = Path(bundle).absolute() / CHANNEL
    records = []
    for record in locked.records:
        path = channel / record.subdir / record.file_name
        if not _present(path, record.sha256.hex()):
            raise SolveError(f"{path}: missing or not the locked file (re-run `pmpm bundle`)")
        record.url = path.as_uri()
        record.channel = channel.as_uri() + "/"
        records.append(record)
    return records


def create_from_bundle(bundle: Path, prefix: Path, *, cache_dir: Path | None = None) -> Path:
    """The locked environment from the bundle alone: no channel, no index, no network."""
    from .environment import create

    bundle = Path(bundle).absolute()
    locked = read_lock(bundle_lock(bundle))
    return create(
        None,
        prefix,
        records=bundled_records(bundle, locked),
        wheels=locked.wheels,
        wheelhouse=bundle / WHEELS,
        cache_dir=cache_dir,
        command=f"pmpm create --from-bundle {bundle}",
    )

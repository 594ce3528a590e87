"""Reproduction check: does an environment hold exactly what a lock file froze?

Conda packages are compared by (name, version, build, sha256) of their conda-meta records
against the lock's; every file a record lists in `paths_data` is hashed and compared with
`sha256_in_prefix` (the file after prefix replacement) or else `sha256` (the file as
packaged). pip packages are compared by name and version, and their files against the
dist-info RECORD hashes pip wrote. Files in the environment's top directories that no package
owns (dropped into `bin/`, say) are reported as unowned; `strict` makes them an error.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from ..files import sha256_file
from ..order import canonical
from .lock import read_lock


@dataclass
class VerifyReport:
    missing: list[str] = field(default_factory=list)  # locked, not installed
    extra: list[str] = field(default_factory=list)  # installed, not locked
    different: list[str] = field(default_factory=list)  # same name, other version/build/sha256
    modified: list[str] = field(default_factory=list)  # files whose content changed
    deleted: list[str] = field(default_factory=list)  # files a package installed, gone
    unowned: list[str] = field(default_factory=list)  # files in bin/, lib/, include/ no package installed
    strict: bool = False  # unowned files make the environment differ

    @property
    def ok(self) -> bool:
        failed = self.missing or self.extra or self.different or self.modified or self.deleted
        return not (failed or (self.strict and self.unowned))

    def lines(self) -> list[str]:
        return [
            f"{what}: {item}"
            for what in ("missing", "extra", "different", "modified", "deleted", "unowned")
            for item in getattr(self, what)
        ]


def _identity(name, version, build, sha256) -> str:
    return f"{name} {version} {build} sha256:{sha256}"


# Where a stray file could change what the environment runs; what conda and pip write for
# themselves besides the packages' files (bytecode caches) is not a stray file.
WATCHED = ("bin", "lib", "include")


def verify(prefix: Path, lock_path: Path, *, strict: bool = False) -> VerifyReport:
    prefix = Path(prefix).absolute()
    if not (prefix / "conda-meta").is_dir():
        raise UsageError("not a conda environment (no conda-meta/)", file=str(prefix))
    locked = read_lock(lock_path)
    report = VerifyReport(strict=strict)
    installed, owned = {}, set()
    for meta in sorted((prefix / "conda-meta").glob("*.json")):
        record = json.loads(meta.read_text())
        installed[record["name"]] = record
        owned.update(entry["_path"] for entry in record.get("paths_data", {}).get("paths", []))
        _check_files(prefix, record, report)
    expected = {
        r.name.normalized: _identity(r.name.normalized, r.version, r.build, r.sha256.hex()) for r in locked.records
    }
    got = {n: _identity(n, r["version"], r["build"], r.get("sha256")) for n, r in installed.items()}
    _compare(expected, got, report)
    pip_expected = {w.name: f"{w.name} {w.version} (pip)" for w in locked.wheels}
    pip_got = _pip_packages(prefix, {canonical(n) for n in installed}, report, owned)
    _compare(pip_expected, pip_got, report)
    report.unowned = _unowned(prefix, owned)
    return report


def _unowned(prefix: Path, owned: set[str]) -> list[str]:
    """Files (and links) under the watched top directories that no conda record or pip RECORD
    lists; bytecode caches aside. Linked directories are not entered (a package lists the link)."""
    found = []
    for top in WATCHED:
        for root, dirs, files in os.walk(prefix / top):
            links = [d for d in dirs if os.path.islink(os.path.join(root, d))]
            dirs[:] = [d for d in dirs if d != "__pycache__" and d not in links]
            for name in [*files, *links]:
                relative = os.path.relpath(os.path.join(root, name), prefix)
                if relative not in owned and not name.endswith(".pyc"):
                    found.append(relative)
    return sorted(found)


def _compare(expected: dict[str, str], got: dict[str, str], report: VerifyReport) -> None:
    report.missing += [expected[n] for n in sorted(expected.keys() - got.keys())]
    report.extra += [got[n] for n in sorted(got.keys() - expected.keys())]
    report.different += [
        f"{got[n]} (locked: {expected[n]})" for n in sorted(expected.keys() & got.keys()) if expected[n] != got[n]
    ]


def _check_files(prefix: Path, record: dict, report: VerifyReport) -> None:
    for entry in record.get("paths_data", {}).get("paths", []):
        path = prefix / entry["_path"]
        if not path.exists() and not path.is_symlink():
            report.deleted.append(f"{entry['_path']} ({record['name']})")
        elif entry.get("path_type") != "softlink" and not path.is_symlink():
            wanted = entry.get("sha256_in_prefix") or entry.get("sha256")
            if wanted and sha256_file(path) != wanted:
                report.modified.append(f"{entry['_path']} ({record['name']})")


def _pip_packages(prefix: Path, conda_names: set[str], report: VerifyReport, owned: set[str]) -> dict[str, str]:
    """Packages pip installed (INSTALLER says pip), their RECORD hashes checked and their files
    added to `owned`."""
    found = {}
    for installer in prefix.glob("lib/python*/site-packages/*.dist-info/INSTALLER"):
        if installer.read_text().strip() != "pip":
            continue
        dist = installer.parent
        name, version = dist.name[: -len(".dist-info")].rsplit("-", 1)
        name = canonical(name)
        if name in conda_names:
            continue
        found[name] = f"{name} {version} (pip)"
        _check_record(dist, name, report, owned)
    return found


def _check_record(dist: Path, name: str, report: VerifyReport, owned: set[str]) -> None:
    site = dist.parent
    for line in (dist / "RECORD").read_text().splitlines():
        path, _, rest = line.partition(",")
        owned.add(os.path.relpath(os.path.normpath(site / path), site.parents[2]))
        digest = rest.split(",", 1)[0]
        if not digest.startswith("sha256="):
            continue  # RECORD itself, INSTALLER, .pyc files pip compiled
        file = (site / path).resolve()
        if not file.is_file():
            report.deleted.append(f"{path} ({name})")
            continue
        actual = base64.urlsafe_b64encode(hashlib.sha256(file.read_bytes()).digest()).rstrip(b"=").decode()
        if actual != digest[len("sha256=") :]:
            report.modified.append(f"{path} ({name})")

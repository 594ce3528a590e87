"""The source mirror: every remote source of a stack, fetched once, for builds without the internet.

A mirror is a directory, usable as is or served over HTTP (any static file server):

    sources.json                      {"git URL@REV" | "url URL" | "pypi NAME==VERSION"
                                       | "wheel NAME==VERSION" | "pure NAME==VERSION": record}
    files/<sha256>/<filename>         the bytes, content-addressed

A record is `{"path": "files/<sha256>/<filename>", "sha256": ..., ...origin}`; git records
also keep the commit the rev named when it was fetched. `pmpm fetch` fills a mirror
(git sources as `git archive` of the rev, url sources checked against the stack's sha256,
pypi sdists, or wheels for `wheel: true`, through pip); `--add URL@REV FILE` imports a
tarball received some other way (`--add URL FILE` for a `url:` source's archive).
With `--source-mirror`, rendering replaces each remote source by `url: <mirror>/files/...`
plus its sha256, so catalogue entries stay unchanged and the engine never reaches upstream.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from filelock import FileLock

from .. import network
from ..errors import NotInMirror, SourceError
from ..files import atomic_copy, atomic_write, sha256_file
from .sources import pypi_form, resolve_sdist

INDEX = "sources.json"
ENV_VAR = "PMPM_SOURCE_MIRROR"


def source_key(source, noarch: str | None = None) -> str | None:
    """The mirror's name for a `Source`: None for local `path:` sources, which never need one.

    A `pypi:` source taken as its wheel (`wheel: true`) is another file than its sdist: `wheel
    NAME==VERSION` (the wheel pip picks for this platform) or `pure NAME==VERSION` (py3-none-any).
    """
    if source.git:
        return f"git {source.git}@{source.rev or 'HEAD'}"
    if source.url:
        return f"url {source.url}"
    if source.pypi:
        name, _, version = source.pypi.partition("==")
        form = pypi_form(source, noarch)
        return f"{'pypi' if form == 'sdist' else form} {name.lower().replace('_', '-')}=={version}"
    return None


def describe(key: str) -> str:
    kind, _, what = key.partition(" ")
    return f"{kind} source {what}"


def _is_url(location: str) -> bool:
    return "://" in location


@dataclass
class Mirror:
    """A mirror at a directory or a URL (http://, https://, file://)."""

    location: str

    @property
    def base_url(self) -> str:
        if _is_url(self.location):
            return self.location.rstrip("/")
        return Path(self.location).absolute().as_uri()

    def index(self) -> dict[str, dict]:
        url = f"{self.base_url}/{INDEX}"
        try:
            with urllib.request.urlopen(url, timeout=network.timeout()) as response:
                return json.loads(response.read())
        except (OSError, ValueError) as exc:
            reason = (
                "it has no sources.json, run `pmpm fetch STACK --to DIR` first"
                if "404" in str(exc) or isinstance(exc, FileNotFoundError) or "No such file" in str(exc)
                else str(exc)
            )
            raise SourceError(f"source mirror {self.location}: cannot read {INDEX}: {reason}") from None

    def recipe_source(
        self, source, index: dict[str, dict] | None = None, noarch: str | None = None
    ) -> list[tuple[str, str]]:
        """`url:` + `sha256:` lines for a remote source, or a one-line error naming source and mirror."""
        key = source_key(source, noarch)
        record = (index if index is not None else self.index()).get(key)
        if record is None:
            raise NotInMirror(
                f"{describe(key)} is not in the source mirror {self.location} "
                "(run `pmpm fetch STACK --to MIRROR` where the network is reachable, "
                "or `pmpm fetch --add URL@REV FILE --to MIRROR`)"
            )
        if source.sha256 and source.sha256.lower() != record["sha256"]:
            raise SourceError(
                f"{describe(key)}: the stack gives sha256 {source.sha256.lower()} but the source mirror "
                f"{self.location} holds {record['sha256']} (fetch it again or correct the stack)"
            )
        kept = [("file_name", record["path"].rpartition("/")[2])] if source.wheel else []  # pip installs the file
        return [("url", f"{self.base_url}/{urllib.parse.quote(record['path'])}"), ("sha256", record["sha256"]), *kept]


class MirrorDir:
    """A local mirror directory being filled; safe for concurrent `pmpm fetch` runs."""

    def __init__(self, root: str | Path):
        self.root = Path(root).absolute()

    def records(self) -> dict[str, dict]:
        try:
            return json.loads((self.root / INDEX).read_text())
        except FileNotFoundError:
            return {}

    def has(self, key: str) -> bool:
        record = self.records().get(key)
        return bool(record) and (self.root / record["path"]).is_file()

    def add_file(self, key: str, file: Path, **origin: str) -> dict:
        """Copy `file` in by its sha256 and record it under `key`."""
        digest = sha256_file(file)
        relative = f"files/{digest}/{file.name}"
        target = self.root / relative
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_copy(file, target)  # a reader never sees half a file
        record = {"path": relative, "sha256": digest, **origin}
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.root / f".{INDEX}.lock")):
            records = self.records()
            records[key] = record
            atomic_write(self.root / INDEX, json.dumps(records, indent=2, sort_keys=True) + "\n")
        return record

    def fetch(self, source, name: str, noarch: str | None = None, python: str | None = None) -> tuple[str, bool]:
        """Put one remote source in the mirror; returns its key and whether it was new."""
        key = source_key(source, noarch)
        if key is None or self.has(key):
            return key, False
        with tempfile.TemporaryDirectory(prefix="pmpm-fetch-") as tmp:
            if source.git:
                file, commit = _git_archive(source.git, source.rev or "HEAD", name, Path(tmp))
                self.add_file(key, file, git=source.git, rev=source.rev or "HEAD", commit=commit)
            elif source.url:
                file = _download(source.url, Path(tmp))
                if sha256_file(file) != source.sha256.lower():
                    raise SourceError(
                        f"url source {source.url}: sha256 is {sha256_file(file)}, the stack says "
                        f"{source.sha256.lower()} (check the URL or correct sha256)"
                    )
                self.add_file(key, file, url=source.url)
            else:
                sdist = resolve_sdist(source.pypi, source.sha256, form=pypi_form(source, noarch), python=python)
                self.add_file(key, sdist.path, pypi=source.pypi)
        return key, True

    def import_archive(self, url_at_rev: str, file: Path) -> str:
        """`pmpm fetch --add URL@REV FILE`: a tarball of a git repository at a rev, received on a disk.

        `--add URL FILE`, URL naming an archive (…/fftw-3.3.10.tar.gz, no @REV), imports FILE as
        that `url:` source instead, e.g. a distribution's byte-identical orig tarball; the stack's
        sha256 is checked against it when a build takes the source from the mirror.
        """
        if _is_archive_url(url_at_rev):
            if not file.is_file():
                raise SourceError(f"--add {url_at_rev} {file}: no such file")
            key = f"url {url_at_rev}"
            self.add_file(key, file, url=url_at_rev, imported=file.name)
            return key
        url, at, rev = url_at_rev.rpartition("@")
        if not at or not url or not rev:
            raise SourceError(
                f"--add {url_at_rev}: write the repository and rev as URL@REV "
                "(e.g. https://github.com/hpc4cmb/libmadam@v1.0.2)"
            )
        if not file.is_file():
            raise SourceError(f"--add {url_at_rev} {file}: no such file")
        key = f"git {url}@{rev}"
        self.add_file(key, file, git=url, rev=rev, imported=file.name)
        return key


def fetch_packages(packages: Iterable, to: Path, python: str | None = None) -> Iterator[tuple[str, str, bool]]:
    """Every remote source of `packages` into the mirror `to`, one at a time (binary wheels for
    `python`); yields (package, source described, whether it was new). A source that cannot be
    fetched does not stop the others: the SourceError naming it comes once they are all tried."""
    mirror = MirrorDir(to)
    failed: list[tuple[str, SourceError]] = []
    for package in packages:
        try:
            key, new = mirror.fetch(package.source, package.name, package.noarch, python)
        except SourceError as exc:
            failed.append((package.name, exc))
            continue
        if key:
            yield package.name, describe(key), new
    if failed:
        (name, first), others = failed[0], [name for name, _ in failed[1:]]
        more = f" (and {len(others)} more: {', '.join(others)})" if others else ""
        raise SourceError(f"{name}: {first}{more}; every other source is in {to}/")


def import_source(to: Path, url_at_rev: str, file: Path) -> str:
    """`pmpm fetch --add URL[@REV] FILE` into the mirror `to`; the source described."""
    return describe(MirrorDir(to).import_archive(url_at_rev, Path(file)))


ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".tar.zst", ".tar", ".zip")


def _is_archive_url(spec: str) -> bool:
    """A `url:` source's URL rather than a git URL@REV: its last path part is an archive, with no @."""
    last = urllib.parse.urlparse(spec).path.rpartition("/")[2]
    return "@" not in last and last.lower().endswith(ARCHIVE_SUFFIXES)


def _git_archive(url: str, rev: str, name: str, tmp: Path) -> tuple[Path, str]:
    """The tree at `rev` as NAME-REV.tar.gz with one top directory, as a release tarball has."""
    repo = tmp / "repo.git"
    # A bare clone keeps every branch under its own name, so a branch rev resolves like a tag or commit.
    _git(["clone", "--quiet", "--bare", url, str(repo)], f"git source {url}")
    commit = _git(["-C", str(repo), "rev-parse", "--verify", f"{rev}^{{commit}}"], f"git source {url}@{rev}").strip()
    slug = "".join(c if c.isalnum() or c in "._-" else "_" for c in rev)
    out = tmp / f"{name}-{slug}.tar.gz"
    _git(
        ["-C", str(repo), "archive", "--format=tar.gz", f"--prefix={name}-{slug}/", "-o", str(out), commit],
        f"git source {url}@{rev}",
    )
    return out, commit


def _git(args: list[str], what: str) -> str:
    proc = subprocess.run(["git", *args], capture_output=True, text=True)
    if proc.returncode:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        # git's first "fatal:" says what went wrong; its last line is often advice ("and the repository exists.")
        reason = next((line for line in lines if line.startswith("fatal:")), lines[-1] if lines else "git failed")
        raise SourceError(f"{what}: {reason}")
    return proc.stdout


def _download(url: str, tmp: Path) -> Path:
    name = Path(urllib.parse.urlparse(url).path).name or "source"
    target = tmp / name
    try:
        with urllib.request.urlopen(url, timeout=network.timeout()) as response, open(target, "wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as exc:
        raise SourceError(f"url source {url}: cannot download: {exc}") from None
    return target

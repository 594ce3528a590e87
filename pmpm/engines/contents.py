"""A built package checked against its own metadata before it is published.

The engine packages the files a build *added* to its host prefix: a file the build overwrote
there (a package built while an older copy of itself is installed in its host environment,
setuptools over setuptools) is left out without a word. A Python package says which files
make it whole, in the RECORD of its `.dist-info`: every file RECORD lists under site-packages
must be in the package, or it is not published.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from .base import Cause, EngineFailure

RECORD = ".dist-info/RECORD"


def check_contents(files: list[Path]) -> None:
    """Raise an EngineFailure naming the first package that lacks files its RECORD lists."""
    # Imported here: the engines' modules load this one, and py-rattler with asyncio (~30 ms)
    # would delay the first job of every build. pmpm's process has loaded them by the time a
    # build ends (the indexer warms up meanwhile), and engine workers never check packages.
    import asyncio

    for file in files:
        missing, listed = asyncio.run(missing_from_record(file))
        if missing:
            example = min(missing, key=lambda path: (not path.endswith("/__init__.py"), len(path)))
            raise EngineFailure(
                f"{file.name} lacks {len(missing)} of the {listed} files its wheel's RECORD lists (e.g. "
                f"{example}): the build overwrote them in its host environment, where an installed copy of "
                "the package already had them, and the engine packages only new files (take the package out "
                "of its own host requirements, directly or through another one)",
                Cause.PACKAGE,
            )


async def missing_from_record(file: Path) -> tuple[list[str], int]:
    """The files a package's RECORDs list under site-packages that it does not hold, and how
    many they list (`.pyc` files aside: installers compile them, engines drop them)."""
    from rattler.package_streaming import PackageArchive  # see `check_contents`

    archive = await PackageArchive.from_path(file)
    paths = {str(entry.relative_path) for entry in (await archive.paths_json()).paths}
    # installed distributions only: a vendored copy's dist-info (setuptools/_vendor/...) is not one
    records = sorted(p for p in paths if p.endswith(RECORD) and _site(p).endswith("site-packages"))
    if not records:
        return [], 0
    missing, listed = [], 0
    for record, content in (await archive.read_files(records)).items():
        site = _site(record)  # lib/pythonX.Y/site-packages, or site-packages
        for line in (content or b"").decode("utf-8", "replace").splitlines():
            path = posixpath.normpath(posixpath.join(site, line.split(",", 1)[0]))
            if not path.startswith(site + "/") or path.endswith(".pyc"):
                continue  # scripts (bin/, which noarch packages regenerate) and bytecode
            listed += 1
            if path not in paths:
                missing.append(path)
    return missing, listed


def _site(record: str) -> str:
    """The directory a `NAME.dist-info/RECORD` is in."""
    return posixpath.dirname(posixpath.dirname(record))

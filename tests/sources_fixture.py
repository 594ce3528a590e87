"""Upstream source tarballs for the tests, from Debian's archive (the network the tests may use).

`debian_orig_tarball` generalises python_fixture.cpython_tarball: `apt-get source
--download-only` through a deb-src list of our own, in a private apt state directory under the
test cache, so the host's apt configuration is neither needed nor touched.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

SOURCES_LIST = "deb-src http://deb.debian.org/debian bookworm main\n"


def _apt_options(apt: Path) -> list[str]:
    options = [
        f"-o Dir::Etc::SourceList={apt / 'sources.list'}",
        "-o Dir::Etc::SourceParts=/nonexistent",
        f"-o Dir::State::Lists={apt / 'lists'}",
        f"-o Dir::Cache={apt / 'cache'}",
        "-o APT::Sandbox::User=root",
    ]
    return [part for option in options for part in option.split(" ", 1)]


def debian_orig_tarball(root: Path, package: str, version: str) -> Path:
    """Debian bookworm's upstream tarball of source PACKAGE at upstream VERSION, cached in ROOT/apt.

    The package lists are refreshed only when the cached ones cannot find the package (or are
    missing), so a warm cache needs no network at all.
    """
    apt = root / "apt"
    found = sorted(apt.glob(f"{package}_{version}.orig.tar.*"))
    if found:
        return found[0]
    for sub in ("lists/partial", "cache/archives/partial"):
        (apt / sub).mkdir(parents=True, exist_ok=True)
    if not (apt / "sources.list").is_file():
        (apt / "sources.list").write_text(SOURCES_LIST)
    options = _apt_options(apt)
    source = ["apt-get", *options, "source", "--download-only", package]
    if subprocess.run(source, cwd=apt, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", *options, "update"], check=True, capture_output=True)
        subprocess.run(source, cwd=apt, check=True, capture_output=True)
    found = sorted(apt.glob(f"{package}_{version}.orig.tar.*"))
    if not found:
        have = sorted(p.name for p in apt.glob(f"{package}_*.orig.tar.*"))
        raise AssertionError(f"Debian's {package} source has no {version} orig tarball (found {have})")
    return found[0]

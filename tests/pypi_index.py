"""An on-disk PyPI index (PEP 503 "simple" pages over local files) for the `_pmpm.pypi` tests.

It holds exactly the files resolving and building aiohttp needs: the wheels pip resolves with,
the sdists of the distributions with compiled code, and the build tools' wheels. Filled once
through the machine's own pip configuration, then kept under the test cache; a test points pip
at it alone with `index_env()` (PIP_CONFIG_FILE=/dev/null drops the machine's configuration).
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import subprocess
import sys
from pathlib import Path

from filelock import FileLock
from python_fixture import cache_root

COMPILED = ["aiohttp==3.14.5", "multidict==7.2.1", "yarl==1.25.1", "propcache==0.5.4", "frozenlist==1.8.0"]
PURE = ["aiohappyeyeballs==2.7.1", "aiosignal==1.4.0", "attrs==26.1.0", "idna==3.20", "typing_extensions==4.16.0"]
TOOLS = ["setuptools==80.9.0", "expandvars==1.1.2", "pkgconfig==1.6.0", "pyflakes==3.4.0"]
PURE_ONLY = ["cython==3.3.1"]  # its py3-none-any wheel only: a build tool pmpm takes as its pure wheel


def _download(target: Path, requirements: list[str], *flags: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(target), *flags, *requirements],
        check=True,
        capture_output=True,
    )


def index_root() -> Path:
    """The index's directory: files/ and simple/<project>/index.html."""
    root = cache_root() / "pypi-index"
    with FileLock(str(root) + ".lock"):
        if not (root / "simple" / "index.html").is_file():
            files = root / "files"
            files.mkdir(parents=True, exist_ok=True)
            _download(files, COMPILED, "--no-binary", ":all:")
            _download(files, COMPILED + PURE + TOOLS, "--only-binary", ":all:")
            _download(files, PURE_ONLY, "--only-binary", ":all:", "--platform", "any", "--abi", "none")
            _write_pages(root)
    return root


def _write_pages(root: Path) -> None:
    projects: dict[str, list[Path]] = {}
    for file in sorted((root / "files").iterdir()):
        project = re.sub(r"[-_.]+", "-", re.split(r"-\d", file.name, maxsplit=1)[0]).lower()
        projects.setdefault(project, []).append(file)
    for project, files in projects.items():
        links = "".join(
            f'<a href="../../files/{html.escape(f.name)}#sha256={hashlib.sha256(f.read_bytes()).hexdigest()}">'
            f"{html.escape(f.name)}</a>\n"
            for f in files
        )
        (root / "simple" / project).mkdir(parents=True, exist_ok=True)
        (root / "simple" / project / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
    page = "".join(f'<a href="{p}/">{p}</a>\n' for p in sorted(projects))
    (root / "simple" / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{page}</body></html>\n")


def index_env(root: Path, cache: Path) -> dict[str, str]:
    """pip (pmpm's, and the build backends' isolated environments') sees this index alone; pmpm's
    user cache (sdists, build requirements, ccache) is `cache`."""
    return {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": (root / "simple").as_uri(),
        "PIP_NO_CACHE_DIR": "1",
        "XDG_CACHE_HOME": str(cache),
    }

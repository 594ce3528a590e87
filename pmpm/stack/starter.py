"""`pmpm init`: a starter stack to try pmpm with, nothing but the host's compilers needed.

It is the repository's demo (stacks/demo.yml, shipped inside the wheel): a C library with a
vectorizable kernel, built with CMake, and a program linking it, built with make.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import UsageError
from ..files import atomic_write
from ..resources import starter

HEADER = """\
# Written by `pmpm init`: a C library with a vectorizable kernel (demo/libkern, CMake) and a
# program linking it (demo/kern-cli, make), compiled by the host's compilers for this CPU:
#   pmpm build stack.yml --variant march=native
#   pmpm create stack.yml -p ./env && ./env/bin/kern 1000000
# Add your own packages under _pmpm.packages; `pmpm render --help` lists the variant keys.
"""


def write_starter(directory: Path) -> list[Path]:
    """The starter stack and its sources in `directory`; never over an existing file."""
    stack, sources = starter()
    directory = Path(directory)
    targets = {directory / "stack.yml": stack, **{directory / "demo" / source.name: source for source in sources}}
    for target in targets:
        if target.exists():
            raise UsageError(
                f"{target} exists; pmpm init writes only new files", fix="pass an empty directory: pmpm init DIR"
            )
    body = "".join(line for line in stack.read_text().splitlines(keepends=True) if not line.startswith("#"))
    atomic_write(directory / "stack.yml", HEADER + body)
    for target, source in targets.items():
        if source.is_dir():
            shutil.copytree(source, target)
    return list(targets)

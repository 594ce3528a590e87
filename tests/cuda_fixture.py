"""The CUDA toolkit the tests build with: nvcc, the CUDA runtime and cuobjdump from PyPI.

NVIDIA's wheels (`nvidia-cuda-nvcc`, `-runtime`, `-crt`, `-cuobjdump`) give a working nvcc on a
machine without a GPU. They are installed once, through the machine's pip configuration, under
the test cache ($PMPM_TEST_CACHE, default ~/.cache/pmpm-tests), so every test uses the same
toolkit whatever else is on PATH (an HPC `module load cuda`, /usr/local/cuda).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from filelock import FileLock
from python_fixture import cache_root

WHEELS = ("nvidia-cuda-nvcc", "nvidia-cuda-runtime", "nvidia-cuda-crt", "nvidia-cuda-cuobjdump")
MAJOR = "13"


def cuda_home() -> Path:
    """CUDA_HOME of the cached toolkit: bin/nvcc, bin/cuobjdump, include/, lib/."""
    target = cache_root() / f"cuda-{MAJOR}"
    home = target / "nvidia" / f"cu{MAJOR}"
    with FileLock(str(target) + ".lock"):
        if not (home / "bin" / "nvcc").is_file() or not (home / "bin" / "cuobjdump").is_file():
            shutil.rmtree(target, ignore_errors=True)
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target)]
                + [f"{wheel}=={MAJOR}.*" for wheel in WHEELS],
                check=True,
            )
    return home


def nvcc_release(home: Path) -> str:
    """`13.5`: the release the toolkit's nvcc reports."""
    out = subprocess.run([home / "bin" / "nvcc", "--version"], capture_output=True, text=True, check=True).stdout
    return re.search(r"release (\d+\.\d+)", out).group(1)


def cuobjdump(home: Path, binary: Path, what: str) -> str:
    """`cuobjdump --list-elf` (SASS) or `--list-ptx` of a binary: its output, or its info line."""
    proc = subprocess.run([home / "bin" / "cuobjdump", what, binary], capture_output=True, text=True)
    return proc.stdout + proc.stderr

"""TOAST 3 built by pmpm as python-pmpm's users would (issue 30), shared by tests/test_toast.py and
benchmarks/toast_e2e.py.

The stack names the catalogue's `fftw` and `toast` (system compiler mode: the host's gcc, cmake,
ninja and OpenBLAS), on a python channel (the test fixture's python and numpy channels);
what TOAST needs that those channels lack (its build tools, scipy, astropy, healpy, h5py, ...)
comes from `_pmpm.pypi`: compiled distributions as their wheels, pure ones as noarch repacks.
fftw's upstream URL is unreachable here, so its byte-identical Debian orig tarball goes into a
source mirror (`pmpm fetch --add`), with every other source (`pmpm fetch`).

TOAST's own suite is run by its own runner (`toast.tests.run`), which stops at the first failure;
KEEP_GOING runs it to the end so the summary counts every test.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from python_fixture import cache_root
from sources_fixture import debian_orig_tarball

FFTW = ("fftw3", "3.3.10")  # Debian bookworm's orig tarball, byte-identical to catalogue/fftw.yml's
FFTW_URL = "https://www.fftw.org/fftw-3.3.10.tar.gz"
# TOAST's pyproject build-system and run dependencies that a bare python channel lacks.
PYPI = [
    "scikit-build-core>=0.11",
    "pybind11>=3",
    "setuptools>=80",
    "setuptools-scm>=8",
    *(
        f"{{name: {name}, wheel: true}}"
        for name in (
            "scipy",
            "matplotlib",
            "contourpy",
            "kiwisolver",
            "fonttools",
            "pillow",
            "h5py",
            "astropy",
            "pyerfa",
            "pyyaml",
            "healpy",
            "flacarray",
        )
    ),
    "psutil",  # compiled from their sdists, like TOAST, for each march
    "ephem",
    "pshmem>=1.3.3",
    "ruamel.yaml",
    "tomlkit",
    "traitlets",
    "wurlitzer",
]
STACK = """\
name: toast
channels: [{channels}]
dependencies: [python 3.11.*, numpy, toast]
_pmpm:
  variants: {{march: [{marches}]}}
  dependencies: [fftw, toast]
  pypi:
{pypi}
"""
# Upstream's runner with failfast off (it stops at the first failure), then its own selection.
KEEP_GOING = """\
import sys
import toast.tests
import toast.tests.mpi as mpi

_init = mpi.MPITestResult.__init__


def _keep_going(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.failfast = False


mpi.MPITestResult.__init__ = _keep_going
status = 0
for name in sys.argv[1:] or [None]:  # each module, even after one that failed (run() exits 6 then)
    try:
        toast.tests.run(name)
    except SystemExit as exc:
        status = exc.code or status
sys.exit(status)
"""
# Fast modules of TOAST's suite (seconds each) covering the compiled kernels: quaternions, RNG,
# FFT (fftw), healpix, noise simulation, pointing, map binning (BLAS/LAPACK).
FAST_MODULES = [
    "qarray",
    "rng",
    "math_misc",
    "fft",
    "healpix",
    "noise",
    "ops_sim_satellite",
    "ops_sim_tod_noise",
    "ops_pointing_detector",
    "ops_mapmaker_binning",
]


def write_stack(work: Path, channels: list[Path], marches: list[str]) -> Path:
    stack = work / "stack.yml"
    stack.write_text(
        STACK.format(
            channels=", ".join(str(c) for c in channels),
            marches=", ".join(marches),
            pypi="".join(f"    - {entry}\n" for entry in PYPI),
        )
    )
    return stack


def fill_mirror(work: Path, pmpm: Callable[..., object]) -> Path:
    """fftw's Debian tarball under its upstream URL, then every other source of the stack."""
    mirror = work / "mirror"
    pmpm("fetch", "--add", FFTW_URL, debian_orig_tarball(cache_root(), *FFTW), "--to", mirror)
    pmpm("fetch", work / "stack.yml", "--to", mirror)
    return mirror


@dataclass
class Outcome:
    """The summary line of TOAST's runner (one per module run), summed."""

    ran: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failed: tuple[str, ...] = ()
    output: str = ""

    @property
    def passed(self) -> int:
        return self.ran - self.failures - self.errors - self.skipped

    def __str__(self) -> str:
        return (
            f"{self.ran} tests: {self.passed} passed, {self.failures + self.errors} failed, {self.skipped} skipped "
            f"in {self.seconds:.0f} s"
        )


def run_toast_tests(pmpm_run: list[str], work: Path, modules: list[str] | None = None) -> Outcome:
    """TOAST's own tests in the environment `pmpm_run` (e.g. [pmpm, run, -p, PREFIX]) enters."""
    (work / "keep_going.py").write_text(KEEP_GOING)
    start = time.perf_counter()
    proc = subprocess.run(
        [*pmpm_run, "--", "python", work / "keep_going.py", *(modules or [])],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=7200,
    )
    output = proc.stdout + proc.stderr
    outcome = Outcome(seconds=time.perf_counter() - start, output=output)
    outcome.ran = sum(int(n) for n in re.findall(r"^Ran (\d+) tests? in", output, re.M))
    for kind in ("failures", "errors", "skipped"):
        setattr(outcome, kind, sum(int(n) for n in re.findall(rf"\b{kind}=(\d+)", output)))
    outcome.failed = tuple(re.findall(r"^(?:FAIL|ERROR): (\S+ \(\S+\))", output, re.M))
    if outcome.ran == 0:
        raise AssertionError(f"TOAST's tests did not run ({proc.returncode}):\n{output[-3000:]}")
    return outcome


def libtoast(prefix: Path) -> Path:
    return next((prefix / "lib").glob("python3.*/site-packages/toast/_libtoast*.so"))

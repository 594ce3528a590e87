"""Benchmark (issue 12): build TOAST 3 (PyPI sdist toast==3.0.6) with pmpm, timed, on top of a python channel.

Takes the python channel(s) to build against (`--channel DIR`, repeatable: e.g. the test
fixture's python channel and its numpy channel). TOAST's build needs numpy, pybind11 >=3 and
scikit-build-core >=0.11 (plus setuptools >=80 and setuptools-scm >=8, its pyproject's
build-system): whatever of these the given channels lack is built first, as noarch python
packages from their PyPI sdists (like tests/python_fixture.py's `_python_package`), with the
build backends they need, into WORK/tools-channel, layered on top of the given channels.
numpy is compiled, so it must already be there (tests/test_python.py's numpy channel has it).

TOAST itself is then built like catalogue/toast.yml (same sdist, same scikit-build-core
CMake definitions), with the catalogue's `fftw` built first, in system compiler mode: BLAS/
LAPACK are the host's (Debian: libopenblas-dev or libblas-dev + liblapack-dev), cmake and
ninja the host's (the fixture channels have no conda cmake), SuiteSparse (optional upstream)
left out, and the run requirements cut to numpy since the fixture channels have no scipy,
astropy, healpy...: the test is the catalogue's (the compiled `_libtoast` is there).

Prints the wall time of each phase (tools, fftw, toast) and the total.

Usage:
  python benchmarks/toast_build.py --channel ~/.cache/pmpm-tests/channel \\
      --channel ~/.cache/pmpm-tests/numpy-channel [--work DIR] [--render-only]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOAST = "toast==3.0.6"
# name: (PyPI requirement, host requirements its build needs). Versions chosen to build with the
# fixture's packaging 24.1 / flit-core 3.9 / setuptools; order = build order.
TOOLS = {
    "setuptools": ("setuptools==80.9.0", []),
    "setuptools-scm": ("setuptools-scm==8.1.0", ["setuptools", "packaging"]),
    "calver": ("calver==2022.6.26", ["setuptools"]),
    "trove-classifiers": ("trove-classifiers==2024.10.16", ["setuptools", "calver"]),
    "pluggy": ("pluggy==1.5.0", ["setuptools", "setuptools-scm"]),
    "pathspec": ("pathspec==0.12.1", ["flit-core"]),
    "hatchling": ("hatchling==1.25.0", ["packaging", "pathspec", "pluggy", "trove-classifiers"]),
    "hatch-vcs": ("hatch-vcs==0.4.0", ["hatchling", "setuptools-scm"]),
    "scikit-build-core": ("scikit-build-core==0.11.5", ["hatchling", "hatch-vcs", "packaging", "pathspec"]),
    "pybind11": ("pybind11==3.0.1", ["scikit-build-core", "packaging", "pathspec"]),
}
RUN = {  # runtime requirements of the noarch packages (pip installs with --no-deps)
    "setuptools-scm": ["setuptools", "packaging"],
    "hatchling": ["packaging", "pathspec", "pluggy", "trove-classifiers"],
    "hatch-vcs": ["hatchling", "setuptools-scm"],
    "scikit-build-core": ["packaging", "pathspec"],
}
# What TOAST's pyproject needs (with the version floors that decide whether a channel's copy will do).
NEEDED = {"scikit-build-core": "0.11", "pybind11": "3.0", "setuptools": "80", "setuptools-scm": "8"}


def versions_in(channels: list[Path]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for channel in channels:
        for subdir in ("noarch", "linux-64"):
            path = channel / subdir / "repodata.json"
            if not path.is_file():
                continue
            data = json.loads(path.read_text())
            for record in {**data.get("packages", {}), **data.get("packages.conda", {})}.values():
                found.setdefault(record["name"], []).append(record["version"])
    return found


def _at_least(version: str, floor: str) -> bool:
    def key(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split(".")[:3] if p.isdigit())

    return key(version) >= key(floor)


def missing_tools(channels: list[Path]) -> list[str]:
    """The TOOLS to build: each NEEDED package without a good enough version, and what its build needs."""
    have = versions_in(channels)
    wanted: set[str] = set()

    def want(name: str) -> None:
        if name in wanted or name not in TOOLS:
            return
        floor = NEEDED.get(name)
        if any(floor is None or _at_least(v, floor) for v in have.get(name, [])):
            return
        wanted.add(name)
        for dep in TOOLS[name][1] + RUN.get(name, []):
            want(dep)

    for name in NEEDED:
        want(name)
    return [name for name in TOOLS if name in wanted]


def tools_stack(names: list[str]) -> str:
    lines = ["name: toast-tools", "channels: []", "dependencies: []", "_pmpm:", "  compiler: system", "  packages:"]
    for name in names:
        requirement, host = TOOLS[name]
        lines += [
            f"    - name: {name}",
            f'      version: "{requirement.split("==")[1]}"',
            f"      source: {{pypi: {requirement}}}",
            "      kind: python",
            "      noarch: python",
        ]
        reqs = [f"host: [{', '.join(host)}]"] if host else []
        if name in RUN:
            reqs.append(f"run: [{', '.join(RUN[name])}]")
        if reqs:
            lines.append(f"      requirements: {{{', '.join(reqs)}}}")
        lines.append(f"      tests: {{imports: [{name.replace('-', '_')}]}}")
    return "\n".join(lines) + "\n"


def host_blas() -> tuple[str, str]:
    for lib in ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"):
        blas, lapack = Path(lib) / "libblas.so", Path(lib) / "liblapack.so"
        if blas.exists() and lapack.exists():
            return str(blas), str(lapack)
    raise SystemExit("no host BLAS/LAPACK (libblas.so, liblapack.so): apt-get install libopenblas-dev liblapack-dev")


TOAST_STACK = """\
name: toast-bench
channels: []
dependencies: []
_pmpm:
  compiler: system
  dependencies: [fftw]
  packages:
    - name: toast
      version: "{version}"
      source: {{pypi: {toast}}}
      kind: python
      pip_args:
        # catalogue/toast.yml's CMake definitions; BLAS/LAPACK are the host's (system mode).
        - --config-settings=cmake.define.FFTW_ROOT="${{PREFIX}}"
        - --config-settings=cmake.define.BLAS_LIBRARIES="{blas}"
        - --config-settings=cmake.define.LAPACK_LIBRARIES="{lapack}"
      requirements:
        host: [scikit-build-core >=0.11, pybind11 >=3.0, setuptools >=80, setuptools-scm >=8, numpy, fftw]
        run: [numpy]
      tests:
        commands: ['ls "$SP_DIR"/toast/_libtoast*.so']
"""


def pmpm(*args, cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pmpm", *map(str, args)], cwd=cwd, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"pmpm {' '.join(map(str, args))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--channel",
        type=Path,
        action="append",
        required=True,
        help="A python channel to build on (python, pip, numpy...); repeatable.",
    )
    parser.add_argument("--work", type=Path, help="Working directory (default: a new temporary one).")
    parser.add_argument("--render-only", action="store_true", help="Write and render the stacks, build nothing.")
    args = parser.parse_args()
    channels = [c.expanduser().absolute() for c in args.channel]
    for channel in channels:
        if (
            not (channel / "noarch" / "repodata.json").is_file()
            and not (channel / "linux-64" / "repodata.json").is_file()
        ):
            sys.exit(f"{channel}: not a channel (no repodata.json)")
    if "numpy" not in versions_in(channels) and not args.render_only:
        sys.exit(
            "no numpy in the given channels: build it first (tests/test_python.py's numpy_channel) and pass "
            "its channel with another --channel"
        )
    work = (args.work or Path(tempfile.mkdtemp(prefix="pmpm-toast-"))).absolute()
    work.mkdir(parents=True, exist_ok=True)
    upstream = [part for channel in channels for part in ("-c", channel)]
    times: dict[str, float] = {}

    tools = missing_tools(channels)
    print(f"tools to build: {', '.join(tools) or 'none'}", flush=True)
    tools_channel = work / "tools-channel"
    if tools:
        (work / "tools").mkdir(exist_ok=True)
        (work / "tools" / "stack.yml").write_text(tools_stack(tools))
        if args.render_only:
            pmpm("render", "stack.yml", "-o", "recipes", cwd=work / "tools")
        else:
            times["tools"] = pmpm(
                "build", "stack.yml", "--channel", tools_channel, "--override-channels", *upstream, cwd=work / "tools"
            )
            upstream = ["-c", tools_channel, *upstream]
    blas, lapack = host_blas()
    (work / "toast").mkdir(exist_ok=True)
    (work / "toast" / "stack.yml").write_text(
        TOAST_STACK.format(version=TOAST.split("==")[1], toast=TOAST, blas=blas, lapack=lapack)
    )
    pmpm("render", "stack.yml", "-o", "recipes", cwd=work / "toast")
    if args.render_only:
        print(f"rendered into {work}/tools/recipes and {work}/toast/recipes")
        return
    common = ["--channel", work / "toast-channel", "--override-channels", *upstream]
    times["fftw"] = pmpm("build", "recipes/fftw", *common, cwd=work / "toast")
    times["toast"] = pmpm("build", "recipes", *common, cwd=work / "toast")  # fftw is up to date by now
    for phase, seconds in times.items():
        print(f"{phase:>6}: {seconds:8.1f} s")
    print(f" total: {sum(times.values()):8.1f} s   (work: {work})")


if __name__ == "__main__":
    main()

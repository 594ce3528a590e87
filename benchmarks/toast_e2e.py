"""Benchmark (issue 30): TOAST 3 built by pmpm for x86-64 and x86-64-v3, TOAST's own tests, and the payoff.

From a clean cache (pip's downloads, pmpm's sdists, ccache: a fresh XDG_CACHE_HOME under WORK):
1. sources: `pmpm fetch --add` of Debian's fftw tarball, then `pmpm fetch` of the stack (TOAST's
   sdist, the `_pmpm.pypi` wheels and sdists) into a mirror;
2. build: `pmpm build --source-mirror MIRROR -j 2` of tests/toast_fixture.py's stack (catalogue
   fftw and toast, TOAST's PyPI-only dependencies from `_pmpm.pypi`) for both marches;
3. create: one environment per march (the CPU chosen with CONDA_OVERRIDE_ARCHSPEC), with the AVX2
   instructions counted in each `_libtoast`;
4. tests: TOAST's whole suite (`toast.tests.run()`, run to the end) in each environment, under
   `pmpm run`;
5. payoff: `toast_benchmark_satellite --case CASE` in both environments, interleaved rounds, each
   march's best; the ratio x86-64 / x86-64-v3.

Takes the python channels to build on: by default the test fixture's (~/.cache/pmpm-tests/channel
and numpy-channel, built by `pytest tests/test_python.py -k numpy_built`).

Usage: python benchmarks/toast_e2e.py [--channel DIR ...] [--work DIR] [--rounds 3] [--case tiny]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from python_fixture import cache_root, objdump_ymm  # noqa: E402
from toast_fixture import fill_mirror, libtoast, run_toast_tests, write_stack  # noqa: E402

MARCHES = {"x86-64": "x86_64", "x86-64-v3": "x86_64_v3"}  # march: its archspec name (CONDA_OVERRIDE_ARCHSPEC)


class Pmpm:
    """pmpm as a user runs it, in WORK, with this run's own caches."""

    def __init__(self, work: Path):
        self.work = work
        self.env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache"), "PYTHONUNBUFFERED": "1"}

    def __call__(self, *args, env: dict | None = None) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "pmpm", *map(str, args)],
            cwd=self.work,
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
        )
        if proc.returncode:
            sys.exit(f"pmpm {' '.join(map(str, args))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc.stdout


def timed(what: str, times: dict[str, float], action):
    start = time.perf_counter()
    result = action()
    times[what] = time.perf_counter() - start
    print(f"{what}: {times[what]:.1f} s", flush=True)
    return result


def satellite(prefix: Path, out: Path, case: str) -> float:
    """One whole run of TOAST's satellite benchmark, as its user starts it (Python start-up included)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pmpm", "run", "-p", prefix, "--", "toast_benchmark_satellite", "--case", case]
        + ["--out_dir", out],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"toast_benchmark_satellite failed in {prefix}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = cache_root()
    parser.add_argument("--channel", type=Path, action="append", help="python channel to build on (repeatable)")
    parser.add_argument("--work", type=Path, help="working directory (default: a new temporary one)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the payoff benchmark")
    parser.add_argument("--case", default="tiny", help="toast_benchmark_satellite's --case")
    args = parser.parse_args()
    channels = [c.expanduser().absolute() for c in args.channel or [root / "channel", root / "numpy-channel"]]
    for channel in channels:
        if not (channel / "noarch" / "repodata.json").is_file():
            sys.exit(f"{channel}: not a channel; build the fixture's: pytest tests/test_python.py -k numpy_built")
    work = (args.work or Path(tempfile.mkdtemp(prefix="pmpm-toast-"))).absolute()
    work.mkdir(parents=True, exist_ok=True)
    pmpm, times = Pmpm(work), {}

    write_stack(work, channels, list(MARCHES))
    mirror = timed("sources (pmpm fetch)", times, lambda: fill_mirror(work, pmpm))
    report = json.loads(
        timed("build -j 2", times, lambda: pmpm("build", "stack.yml", "--source-mirror", mirror, "-j", "2", "--json"))
    )
    built = [p for p in report["packages"] if p["status"] == "built"]
    print(
        f"  {len(built)} builds; "
        + ", ".join(f"{p['name']} {p['build']} {p['seconds']:.0f} s" for p in built if p["name"] in ("toast", "fftw"))
    )
    prefixes = {march: work / f"env-{march}" for march in MARCHES}
    for march, archspec in MARCHES.items():
        timed(
            f"create {march}",
            times,
            lambda: pmpm("create", "stack.yml", "-p", prefixes[march], env={"CONDA_OVERRIDE_ARCHSPEC": archspec}),
        )
        toast = json.loads(next((prefixes[march] / "conda-meta").glob("toast-3*.json")).read_text())["build"]
        print(f"  toast {toast}: {objdump_ymm(libtoast(prefixes[march]))} AVX (ymm) instructions in _libtoast")

    outcomes = {}
    for march in MARCHES:
        scratch = work / f"tests-{march}"
        scratch.mkdir(exist_ok=True)
        outcomes[march] = run_toast_tests([sys.executable, "-m", "pmpm", "run", "-p", str(prefixes[march])], scratch)
        times[f"tests {march}"] = outcomes[march].seconds
        print(f"TOAST's test suite, {march}: {outcomes[march]}", flush=True)
        for name in outcomes[march].failed:
            print(f"  failed: {name}")

    best = {march: float("inf") for march in MARCHES}
    for round_ in range(args.rounds):
        for march in list(MARCHES) if round_ % 2 == 0 else list(MARCHES)[::-1]:
            seconds = satellite(prefixes[march], work / f"bench-{march}-{round_}", args.case)
            best[march] = min(best[march], seconds)
            print(f"  round {round_ + 1} {march}: {seconds:.1f} s", flush=True)
    print(f"toast_benchmark_satellite --case {args.case}, best of {args.rounds} interleaved rounds:")
    for march in MARCHES:
        print(f"  {march:10} {best[march]:7.1f} s  x {best['x86-64'] / best[march]:.2f}")
    print("phases: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
    same = len({o.failed for o in outcomes.values()}) == 1
    print(f"the same tests fail on both marches: {'yes' if same else 'NO'}; work: {work}")


if __name__ == "__main__":
    main()

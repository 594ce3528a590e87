"""Benchmark (issue 5): the demo kernel from Python, baseline vs x86-64-v3 vs native, in one run.

Builds stacks/demo-python.yml (libkern + the pykern extension) for march=x86-64,x86-64-v3,native
against the pmpm-built python fixture channel (tests/python_fixture.py; built on first use,
then cached in $PMPM_TEST_CACHE), creates one environment per variant (the CPU chosen with
CONDA_OVERRIDE_ARCHSPEC), and times pykern.saxpy in each. The payoff that justifies pmpm.

The default size (4096 floats, 32 KB) stays in cache, where SIMD width decides speed; at
millions of elements saxpy is bound by memory bandwidth and every march runs alike
(try --n 4000000 --reps 100 to see it).

Usage: python benchmarks/python_speedup.py [--n 4096] [--reps 100000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
import archspec.cpu  # noqa: E402
from python_fixture import cache_root, write_stack  # noqa: E402

TIMER = """
import sys, time, pykern
n, reps = int(sys.argv[1]), int(sys.argv[2])
pykern.saxpy(n, 1)
best = min((lambda t: (pykern.saxpy(n, reps), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(5))
print(best, *pykern.isa())
"""


def pmpm(*args, cwd: Path, env: dict | None = None) -> None:
    subprocess.run(
        [sys.executable, "-m", "pmpm", *map(str, args)],
        cwd=cwd,
        check=True,
        capture_output=True,
        env={**os.environ, **(env or {})},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--reps", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    root = cache_root()
    fixture = write_stack(root)
    pmpm("build", fixture, "--channel", root / "channel", cwd=fixture.parent)
    upstream = ["--override-channels", "-c", root / "channel"]
    host = archspec.cpu.host()
    variants = [("x86-64", "x86_64"), ("x86-64-v3", "x86_64_v3"), ("native", host.name)]
    stack = HERE.parent / "stacks" / "demo-python.yml"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pmpm("build", stack, "--variant", "march=" + ",".join(m for m, _ in variants), *upstream, cwd=work)
        prefixes = []
        for march, cpu in variants:
            prefix = work / f"env-{cpu}"
            pmpm(
                "create",
                stack,
                "-p",
                prefix,
                "--channel",
                work / "local-channel",
                *upstream,
                cwd=work,
                env={"CONDA_OVERRIDE_ARCHSPEC": cpu},
            )
            prefixes.append((march, prefix))
        # This machine's CPU time is noisy: interleave the variants over rounds and keep each one's best.
        best: dict[str, tuple[float, str]] = {}
        for _ in range(args.rounds):
            for march, prefix in prefixes:
                out = subprocess.run(
                    [prefix / "bin" / "python", "-c", TIMER, str(args.n), str(args.reps)],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.split()
                seconds = float(out[0])
                if march not in best or seconds < best[march][0]:
                    best[march] = (seconds, out[1])
        results = [(march, *best[march]) for march, _ in prefixes]
    base = results[0][1]
    print(
        f"pykern.saxpy(n={args.n}, reps={args.reps}) on {host.name} ({host.generic.name}), "
        f"best of {args.rounds} interleaved rounds x 5:"
    )
    for march, seconds, isa in results:
        print(f"  march={march:10s} isa={isa:7s} {seconds * 1000:8.1f} ms   speed-up x{base / seconds:.2f}")


if __name__ == "__main__":
    main()

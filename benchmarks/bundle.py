"""Benchmark (issue 13): bundle creation, and creating from the bundle vs from the original channels.

The stack is the demo's two compiled packages plus python, pip and a pip: list (six), with
the tests' python fixture channel (tests/python_fixture.py, built on first use into
~/.cache/pmpm-tests) standing in for conda-forge. Measured, each as a fresh process:
  bundle        `pmpm bundle` into an empty directory (time, size), then again (incremental no-op)
  from-bundle   `pmpm create --from-bundle DIR`  (cold package cache)
  channels      `pmpm create STACK`              (solve + install from the original channels, pip from
                                                 the index, cold cache)
The two creates run interleaved, one round each by default; the ratio is from-bundle / channels.

Usage: python benchmarks/bundle.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def pmpm(*args, cwd: Path, env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pmpm", *map(str, args)],
        cwd=cwd,
        check=True,
        capture_output=True,
        env={**os.environ, **(env or {})},
    )
    return time.perf_counter() - start


def python_channel() -> Path:
    from python_fixture import cache_root, write_stack

    root = cache_root()
    stack = write_stack(root)
    pmpm("build", stack, "--channel", root / "channel", cwd=stack.parent)
    return root / "channel"


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    from test_bundle import write_stack

    channel = python_channel()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        stack = write_stack(root, channel, ["six==1.16.0"])
        pmpm("build", stack, "--variant", "march=x86-64", cwd=root)
        pmpm("lock", stack, cwd=root)
        first = pmpm("bundle", stack, "-o", root / "bundle", cwd=root)
        again = pmpm("bundle", stack, "-o", root / "bundle", cwd=root)
        times: dict[str, list[float]] = {"from-bundle": [], "channels": []}
        for n in range(args.rounds):
            for way in times:  # interleaved
                cache = {"XDG_CACHE_HOME": str(root / f"cache-{way}-{n}")}
                prefix = root / f"env-{way}-{n}"
                if way == "from-bundle":
                    times[way].append(
                        pmpm("create", "--from-bundle", root / "bundle", "-p", prefix, cwd=root, env=cache)
                    )
                else:
                    times[way].append(pmpm("create", stack, "-p", prefix, cwd=root, env=cache))
        bundled = size(root / "bundle")
        packages = len(list((root / "bundle" / "channel").glob("*/*.conda")))
    best = {way: min(values) for way, values in times.items()}
    print(f"demo + python stack ({packages} conda packages, 1 wheel), {args.rounds} interleaved round(s), cold caches")
    print(f"  bundle (empty dir)      {first:6.2f} s   {bundled / 2**20:.1f} MiB")
    print(f"  bundle (again, no-op)   {again:6.2f} s")
    print(f"  create --from-bundle    {best['from-bundle']:6.2f} s")
    print(f"  create (channels)       {best['channels']:6.2f} s")
    print(f"  ratio from-bundle / channels: {best['from-bundle'] / best['channels']:.2f}")


if __name__ == "__main__":
    main()

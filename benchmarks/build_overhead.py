"""Benchmark: pmpm's own overhead per package when building a 10-package stack.

Overhead = wall time of `pmpm build` (a fresh process, as a user runs it) minus the time
the build scripts themselves ran, divided by the number of packages. The stack is ten
small CMake C libraries, each depending on the previous one, built with the host gcc
into a fresh channel. Target (issue 3): at most 1.0 s per package.

Usage: python benchmarks/build_overhead.py [--packages N] [--jobs J]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def generate(root: Path, count: int) -> Path:
    lines = ["name: overhead", "channels: []", "dependencies: []", "_pmpm:", "  packages:"]
    for i in range(count):
        src = root / f"lib{i}"
        src.mkdir()
        (src / "CMakeLists.txt").write_text(
            f"cmake_minimum_required(VERSION 3.16)\nproject(lib{i} C)\nadd_library(lib{i} lib{i}.c)\n"
            f"install(TARGETS lib{i})\n")
        (src / f"lib{i}.c").write_text(
            f"double lib{i}_scale(double *x, int n) {{ double s = 0; for (int j = 0; j < n; j++) s += {i + 1} * x[j]; return s; }}\n")
        lines += [f"    - name: lib{i}", "      version: \"1.0\"", f"      source: {{path: lib{i}}}", "      kind: cmake"]
        if i:
            lines.append(f"      depends: [lib{i - 1}]")
        lines.append(f"      tests: {{commands: [test -f $PREFIX/lib/liblib{i}.so]}}")
    stack = root / "stack.yml"
    stack.write_text("\n".join(lines) + "\n")
    return stack


def run(root: Path, stack: Path, jobs: int, *extra: str) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pmpm", "build", str(stack), "--json", "-j", str(jobs), *extra],
                          cwd=root, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(proc.stderr)
    return wall, json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        stack = generate(root, args.packages)
        runs = [("cold (new channel, CPU-gate packages published too)", ()),
                ("warm (--force: rebuild into the same channel)", ("--force",))]
        for label, extra in runs:
            wall, report = run(root, stack, args.jobs, *extra)
            built = [p for p in report["packages"] if p["status"] == "built"]
            script = sum(p["script_seconds"] for p in built)
            per = (wall - script) / len(built)
            print(f"{label}: {len(built)} packages, wall {wall:.2f}s, build scripts {script:.2f}s, "
                  f"pmpm overhead {per:.2f}s/package (target <= 1.0 s)")


if __name__ == "__main__":
    main()

"""Benchmark (issue 15, item 1): a no-op `pmpm build` of an unchanged stack.

Builds a 10-package and a 100-package stack of small CMake libraries (a chain: each
depends on the previous one; the 100-package one is ten such chains), then times
`pmpm build` again with nothing changed, each a fresh process as a user runs it (min of
--repeat runs, the two stacks interleaved). Checks the run really was a replay
(`"replayed": true` in --json). Targets: 10 packages <= 0.25 s, 100 packages <= 1.0 s.

Usage: python benchmarks/noop.py [--repeat R]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_overhead import compile_pmpm, pmpm_build  # noqa: E402

TARGETS = {10: 0.1, 100: 1.0}  # s (issue 23: 10 packages <= 0.1 s; it was 0.25 s)


def generate(root: Path, count: int, chain: int = 10) -> Path:
    lines = ["name: noop", "channels: []", "dependencies: []", "_pmpm:", "  packages:"]
    for i in range(count):
        src = root / f"lib{i}"
        src.mkdir()
        (src / "CMakeLists.txt").write_text(
            f"cmake_minimum_required(VERSION 3.16)\nproject(lib{i} C)\nadd_library(lib{i} lib{i}.c)\ninstall(TARGETS lib{i})\n"
        )
        (src / f"lib{i}.c").write_text(f"int lib{i}_f(int x) {{ return x + {i}; }}\n")
        lines += [
            f"    - name: lib{i}",
            "      version: \"1.0\"",
            f"      source: {{path: lib{i}}}",
            "      kind: cmake",
        ]
        if i % chain:
            lines.append(f"      depends: [lib{i - 1}]")
    stack = root / "stack.yml"
    stack.write_text("\n".join(lines) + "\n")
    return stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    compile_pmpm()
    with tempfile.TemporaryDirectory() as tmp:
        stacks = {}
        for count in TARGETS:
            root = Path(tmp) / f"s{count}"
            root.mkdir()
            stacks[count] = (root, generate(root, count))
            pmpm_build(root, stacks[count][1], "-j", "2", "--no-test")  # the real build
            pmpm_build(root, stacks[count][1])  # same invocation as below: records the replayable run
        times: dict[int, list[float]] = {count: [] for count in TARGETS}
        for _ in range(args.repeat):
            for count, (root, stack) in stacks.items():
                wall, report = pmpm_build(root, stack)
                if not report.get("replayed") or any(p["status"] != "up to date" for p in report["packages"]):
                    sys.exit(f"{count} packages: the unchanged build was not a replay")
                times[count].append(wall)
    ok = True
    for count, target in TARGETS.items():
        best = min(times[count])
        passed = best <= target
        ok &= passed
        print(
            f"no-op pmpm build, {count:3d} packages: {best:.3f} s (min of {args.repeat}), target <= {target} s: "
            f"{'PASS' if passed else 'FAIL'}"
        )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

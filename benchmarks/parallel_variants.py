"""Benchmark (issue 15, item 6): `-j 2` vs `-j 1` for 2 packages x 2 marches.

Each package is one big C translation unit (a single-threaded compile of a few seconds,
kind cmake), built for march x86-64 and x86-64-v3: four independent builds. Rounds
alternate `pmpm build --force -j 1` and `-j 2` into the same channel (fresh processes,
interleaved so both see the same machine load); the figure is the ratio of the median
walls. Target: -j 2 at least 1.6x faster than -j 1 (on a 2-core machine).

Usage: python benchmarks/parallel_variants.py [--rounds R] [--groups G]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_overhead import compile_pmpm, pmpm_build  # noqa: E402
from dirty_rebuild import UNIT  # noqa: E402

TARGET = 1.6


def generate(root: Path, groups: int) -> Path:
    lines = [
        "name: par",
        "channels: []",
        "dependencies: []",
        "_pmpm:",
        "  variants: {march: [x86-64, x86-64-v3]}",
        "  packages:",
    ]
    for name in ("alpha", "beta"):
        src = root / name
        src.mkdir()
        body = "#include <math.h>\n#include <stddef.h>\n" + "".join(
            UNIT.format(name=f"{name}_{g}", i=g, a=1 + g / 1000) for g in range(groups)
        )
        (src / f"{name}.c").write_text(body)
        (src / "CMakeLists.txt").write_text(
            f"cmake_minimum_required(VERSION 3.16)\nproject({name} C)\nadd_library({name} {name}.c)\n"
            f"target_link_libraries({name} m)\ninstall(TARGETS {name})\n"
        )
        lines += [
            f"    - name: {name}",
            "      version: \"1.0\"",
            f"      source: {{path: {name}}}",
            "      kind: cmake",
            f"      tests: {{commands: [test -f $PREFIX/lib/lib{name}.so]}}",
        ]
    (root / "stack.yml").write_text("\n".join(lines) + "\n")
    return root / "stack.yml"


def build(root: Path, jobs: int) -> tuple[float, dict]:
    return pmpm_build(root, "stack.yml", "--force", "--no-ccache", "-j", jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--groups", type=int, default=60, help="kernel groups per translation unit (compile time)")
    args = parser.parse_args()
    compile_pmpm()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(root, args.groups)
        subprocess.run(
            [sys.executable, "-m", "pmpm", "build", "stack.yml", "-j", "2"], cwd=root, check=True, capture_output=True
        )  # the CPU gate packages once, outside the timing
        walls: dict[int, list[float]] = {1: [], 2: []}
        scripts: dict[int, list[float]] = {1: [], 2: []}
        for n in range(args.rounds):
            for jobs in (1, 2) if n % 2 == 0 else (2, 1):
                wall, report = build(root, jobs)
                built = [p for p in report["packages"] if p["name"] in ("alpha", "beta")]
                assert [p["status"] for p in built] == ["built"] * 4, built
                walls[jobs].append(wall)
                scripts[jobs].append(sum(p["script_seconds"] for p in built))
    one, two = statistics.median(walls[1]), statistics.median(walls[2])
    speedup = one / two
    print(f"2 packages x 2 marches, one single-threaded TU each, {args.rounds} interleaved rounds (medians)")
    print(f"  -j 1: {one:.2f} s (build scripts {statistics.median(scripts[1]):.2f} s)")
    print(f"  -j 2: {two:.2f} s (build scripts {statistics.median(scripts[2]):.2f} s, summed over jobs)")
    print(f"  speedup {speedup:.2f}x, target >= {TARGET}x: {'PASS' if speedup >= TARGET else 'FAIL'}")
    sys.exit(0 if speedup >= TARGET else 1)


if __name__ == "__main__":
    main()

"""Benchmark: `pmpm render` of a generated 200-package stack (target: under 1 s).

Usage: python benchmarks/render_200.py [--packages N] [--repeat R]
Runs the real CLI in a fresh process (what a user waits for) R times and reports
min / median wall time, plus the in-process API time for the same stack.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KINDS = ["cmake", "meson", "autotools", "make", "python", "script"]


def generate(path: Path, count: int) -> None:
    lines = [
        "name: bench",
        "channels: [conda-forge]",
        "dependencies: [python 3.11.*, numpy]",
        "_pmpm:",
        "  variants:",
        "    march: [x86-64, x86-64-v3, znver3]",
        "  packages:",
    ]
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        lines += [
            f"    - name: pkg{i:03d}",
            f"      version: \"1.{i}\"",
            f"      source: {{git: https://example.org/pkg{i}.git, rev: v1.{i}}}",
            f"      kind: {kind}",
            "      requirements: {host: [zlib >=1.2], run: [zlib]}",
        ]
        if kind == "script":
            lines.append("      script: [make install PREFIX=$PREFIX]")
        if i >= 10:
            lines.append(
                f"      depends: [pkg{i - 10:03d}, pkg{i // 2:03d}]"
                if i // 2 != i - 10
                else f"      depends: [pkg{i - 10:03d}]"
            )
        lines.append("      tests: {commands: [test -d $PREFIX]}")
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stack = Path(tmp) / "stack.yml"
        generate(stack, args.packages)
        cli = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "pmpm", "render", str(stack), "-o", f"{tmp}/out"],
                check=True,
                capture_output=True,
            )
            cli.append(time.perf_counter() - start)
        from pmpm.api import render_file

        api = []
        for i in range(args.repeat):
            start = time.perf_counter()
            result = render_file(stack, f"{tmp}/api{i}")
            api.append(time.perf_counter() - start)
        assert len(result.recipes) == args.packages
    print(
        f"render {args.packages} packages x 3 marches: CLI wall min {min(cli):.3f}s median {statistics.median(cli):.3f}s; "
        f"API min {min(api):.3f}s median {statistics.median(api):.3f}s (target < 1.0 s)"
    )


if __name__ == "__main__":
    main()

"""Benchmark (issue 15, item 5): a metadata-only recipe change republishes from the compiler cache.

The 64-translation-unit CMake package of dirty_rebuild.py is built once (filling pmpm's ccache,
here a private XDG_CACHE_HOME). Then rounds alternate:
  metadata   edit the package's about.summary in the stack, `pmpm build` (a real rebuild:
             the recipe changed; nothing it compiles did, so every object comes from ccache)
  clean      `pmpm build --force --no-ccache` (everything compiled)
Target: metadata <= 15% of clean (median of the rounds).

Usage: python benchmarks/metadata_change.py [--units N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_overhead import compile_pmpm  # noqa: E402
from dirty_rebuild import generate  # noqa: E402

TARGET = 0.15


def build(root: Path, env: dict, *extra: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pmpm", "build", "big.yml", "--json", *extra],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
    )
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(proc.stderr)
    statuses = [p["status"] for p in json.loads(proc.stdout)["packages"] if p["name"] == "biglib"]
    assert statuses == ["built"], statuses
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    compile_pmpm()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {**os.environ, "XDG_CACHE_HOME": str(root / "xdg")}
        stack = generate(root, args.units, "cmake")
        build(root, env)  # fills the cache
        times: dict[str, list[float]] = {"metadata": [], "clean": []}
        for n in range(args.rounds):
            for what in ("metadata", "clean") if n % 2 == 0 else ("clean", "metadata"):
                if what == "metadata":
                    text = stack.read_text()
                    stack.write_text(
                        text.replace("      tests:", f"      about: {{summary: revision {n}}}\n      tests:")
                        if "about:" not in text
                        else text.replace(f"revision {n - 1}", f"revision {n}")
                    )
                    times[what].append(build(root, env))
                else:
                    times[what].append(build(root, env, "--force", "--no-ccache"))
    meta, clean = statistics.median(times["metadata"]), statistics.median(times["clean"])
    ratio = meta / clean
    print(
        f"{args.units}-unit CMake package, {args.rounds} interleaved rounds (medians): clean build {clean:.2f}s, "
        f"about.summary changed {meta:.2f}s = {ratio:.1%} of clean (target <= {TARGET:.0%}): "
        f"{'PASS' if ratio <= TARGET else 'FAIL'}"
    )
    sys.exit(0 if ratio <= TARGET else 1)


if __name__ == "__main__":
    main()

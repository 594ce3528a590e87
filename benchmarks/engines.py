"""Benchmark: the same rendered recipes built by each engine pmpm has, and by plain `conda build`.

Stacks: the demo (2 packages) and a generated 10-package chain (see build_overhead.py). Each is
rendered once; every available engine then rebuilds it (`pmpm build --engine E --force`, a fresh
process as a user runs it) into its own channel, rounds interleaved (A B C, A B C, …) so machine
noise hits all engines alike. One untimed warm-up per engine publishes the CPU-gate packages.
Where conda-build is installed, plain `conda build` builds the same recipe directories too
(`-m` the rendered conda_build_config.yaml, dependency order, the output folder indexed between
recipes so later ones find earlier packages). Missing engines are reported as "not installed".

Usage: python benchmarks/engines.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from build_overhead import generate  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ENGINES = ["rattler-build", "conda-build", "rattler-build-exe"]
PLAIN = "plain conda build"


def conda() -> str | None:
    exe = os.environ.get("CONDA_EXE") or shutil.which("conda")
    if exe and subprocess.run([exe, "build", "--version"], capture_output=True).returncode == 0:
        return exe
    return None


def available(engine: str) -> bool:
    if engine == "conda-build" or engine == PLAIN:
        return conda() is not None
    if engine == "rattler-build-exe":
        return shutil.which("rattler-build") is not None
    return True


def pmpm(*args: str, cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pmpm", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"pmpm {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def build_with_pmpm(root: Path, recipes: Path, engine: str) -> float:
    return pmpm("build", str(recipes), "--engine", engine, "--force", "--channel", str(root / f"ch-{engine}"), cwd=root)


def build_with_conda(root: Path, recipes: Path) -> float:
    """`conda build` per recipe directory, in pmpm's dependency order (gates first)."""
    from rattler.index import index_fs

    out = root / "ch-plain"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    manifest = json.loads((recipes / "pmpm.json").read_text())
    start = time.perf_counter()
    asyncio.run(index_fs(out, write_zst=False, write_shards=False))
    for name in [*manifest.get("gates", []), *manifest["packages"]]:
        argv = [
            conda(),
            "build",
            str(recipes / name),
            "-m",
            str(recipes / "conda_build_config.yaml"),
            "--output-folder",
            str(out),
            "--override-channels",
            "-c",
            out.as_uri(),
        ]
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"{' '.join(argv)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        asyncio.run(index_fs(out, force=True, write_zst=False, write_shards=False))
    return time.perf_counter() - start


def bench(label: str, root: Path, stack: Path, rounds: int) -> list[tuple[str, str, str, str]]:
    recipes = root / "recipes"
    pmpm("render", str(stack), "-o", str(recipes), cwd=root)
    runners = {e: (lambda e=e: build_with_pmpm(root, recipes, e)) for e in ENGINES if available(e)}
    if available(PLAIN):
        runners[PLAIN] = lambda: build_with_conda(root, recipes)
    for engine in ENGINES:
        if engine in runners:
            build_with_pmpm(root, recipes, engine)  # warm-up: publishes the gate packages once
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            times[name].append(run())
    base = statistics.median(times["rattler-build"])
    rows = []
    for name in [*ENGINES, PLAIN]:
        if name not in times:
            rows.append((label, name, "not installed", ""))
            continue
        median = statistics.median(times[name])
        rows.append((label, name, f"{median:.2f}", f"{median / base:.2f}x"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo"
        demo.mkdir()
        rows += bench("demo (2 packages)", demo, REPO / "stacks" / "demo.yml", args.rounds)
        chain = Path(tmp) / "chain"
        chain.mkdir()
        rows += bench("chain (10 packages)", chain, generate(chain, 10), args.rounds)
    header = ("stack", "engine", f"median of {args.rounds} (s)", "vs rattler-build")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())


if __name__ == "__main__":
    main()

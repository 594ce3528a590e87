"""Wall time of one stack built locally (`pmpm build -j 2`) and through a real one-node Slurm
cluster (`--executor slurm --wait`, 2 CPUs) in the same run, with the Slurm jobs' sacct lines.

    python benchmarks/slurm_vs_local.py [STACK] [--variant march=x86-64,x86-64-v3]

Starts its own munged/slurmctld/slurmd (tests/slurm_cluster.py; needs root and slurm-wlm).
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
import slurm_cluster  # noqa: E402


def pmpm(*args: str, cwd: Path, env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pmpm", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("stack", nargs="?", default=str(REPO / "stacks" / "demo.yml"))
    parser.add_argument("--variant", default="march=x86-64,x86-64-v3")
    args = parser.parse_args()
    stack = Path(args.stack).resolve()
    if (why := slurm_cluster.unavailable()) is not None:
        sys.exit(f"cannot start a test cluster: {why}")
    with tempfile.TemporaryDirectory(prefix="pmpm-bench-") as tmp:
        root = Path(tmp)
        cluster = slurm_cluster.start(root / "cluster", "avx2")
        try:
            for mode in ("local", "slurm"):
                (root / mode).mkdir()
            local = pmpm("build", str(stack), "--variant", args.variant, "-j", "2", cwd=root / "local")
            slurm = pmpm(
                "build",
                str(stack),
                "--variant",
                args.variant,
                "--executor",
                "slurm",
                "--wait",
                cwd=root / "slurm",
                env=cluster.env,
            )
            status = subprocess.run(
                [sys.executable, "-m", "pmpm", "status"],
                cwd=root / "slurm",
                env={**os.environ, **cluster.env},
                capture_output=True,
                text=True,
            ).stdout
            sacct = cluster.run("sacct", "--completion", "-o", "JobID,JobName%28,State,ExitCode,Start,End")
            print(f"stack {stack.name} --variant {args.variant}")
            print(f"local  pmpm build -j 2:                  {local:6.1f}s")
            print(f"slurm  pmpm build --executor slurm --wait: {slurm:6.1f}s  (ratio {slurm / local:.2f})")
            print("\npmpm status:\n" + status + "\nsacct --completion:\n" + sacct)
        finally:
            slurm_cluster.stop(cluster)


if __name__ == "__main__":
    main()

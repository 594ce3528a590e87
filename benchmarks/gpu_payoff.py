"""Benchmark (issue 27): the CUDA demo's kernel on the CPU (baseline, x86-64-v3) and on the GPU.

Builds stacks/demo-cuda.yml for march=x86-64,x86-64-v3 with CUDA builds for this host's GPUs
(`cuda_arch=native`; sm_90 where nvidia-smi sees none), creates one environment per target
(the CPU chosen with CONDA_OVERRIDE_ARCHSPEC, the driver hidden with an empty
CONDA_OVERRIDE_CUDA for the CPU ones), and times `gpukern N REPS` in each: whole runs, CUDA's
start-up and the copies to and from the GPU included, as a user of the program would see them.
Rounds are interleaved and each target keeps its best. Without a GPU the third environment is
the CUDA build on this host: it runs its CPU path and says why, which is timed too.

nvcc: CUDA_HOME, PATH, or NVIDIA's PyPI wheels (the tests' cached toolkit, installed on first use).

Usage: python benchmarks/gpu_payoff.py [--n 4000000] [--reps 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from cuda_fixture import cuda_home  # noqa: E402

from pmpm.variants import cuda  # noqa: E402

STACK = HERE.parent / "stacks" / "demo-cuda.yml"


def pmpm(*args, cwd: Path, env: dict) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pmpm", *map(str, args)], cwd=cwd, capture_output=True, text=True, env=env
    )
    if proc.returncode:
        sys.exit(f"pmpm {' '.join(map(str, args))} failed:\n{proc.stdout}{proc.stderr}")


def has_gpu() -> bool:
    smi = shutil.which("nvidia-smi")
    return bool(smi) and subprocess.run([smi, "-L"], capture_output=True).returncode == 0


def run(prefix: Path, n: int, reps: int) -> tuple[float, dict[str, str]]:
    start = time.perf_counter()
    out = subprocess.run([prefix / "bin" / "gpukern", str(n), str(reps)], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    return seconds, dict(line.split("=", 1) for line in out.stdout.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4_000_000)
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    gpu = has_gpu()
    env = dict(os.environ)
    if cuda.find_nvcc(env) is None:
        env["CUDA_HOME"] = str(cuda_home())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        arch = "native" if gpu else "sm_90"
        start = time.perf_counter()
        pmpm("build", STACK, "--variant", "march=x86-64,x86-64-v3", "--variant", f"cuda_arch={arch}", cwd=work, env=env)
        print(f"built {STACK.name} (2 marches x CPU/CUDA) in {time.perf_counter() - start:.1f} s")
        targets = {
            "cpu x86-64": {"CONDA_OVERRIDE_ARCHSPEC": "x86_64", "CONDA_OVERRIDE_CUDA": ""},
            "cpu x86-64-v3": {"CONDA_OVERRIDE_ARCHSPEC": "x86_64_v3", "CONDA_OVERRIDE_CUDA": ""},
            # with a GPU: the real driver's __cuda; without one, as a driver host would install it
            "cuda build": {"CONDA_OVERRIDE_ARCHSPEC": "x86_64_v3", **({} if gpu else {"CONDA_OVERRIDE_CUDA": "13.0"})},
        }
        prefixes = {}
        for name, override in targets.items():
            prefixes[name] = work / name.replace(" ", "-")
            pmpm("create", STACK, "-p", prefixes[name], cwd=work, env={**env, **override})
        best: dict[str, tuple[float, dict[str, str]]] = {}
        for _ in range(args.rounds):
            for name, prefix in prefixes.items():
                seconds, out = run(prefix, args.n, args.reps)
                if name not in best or seconds < best[name][0]:
                    best[name] = (seconds, out)
    print(f"gpukern n={args.n} reps={args.reps}, whole runs, best of {args.rounds} interleaved rounds:")
    base = best["cpu x86-64"][0]
    sums = {out["sum"] for _, out in best.values()}
    for name, (seconds, out) in best.items():
        print(f"  {name:14s} {seconds:8.3f} s  x{base / seconds:6.2f}  ran={out['ran']}")
    print(f"same result everywhere: {'PASS' if len(sums) == 1 else 'FAIL'} (sum={', '.join(sorted(sums))})")
    if not gpu:
        print("GPU: skipped (nvidia-smi sees no GPU on this host); the CUDA build ran its CPU path")
    else:
        ran_on_gpu = best["cuda build"][1]["ran"].startswith("cuda ")
        print(f"GPU ran the kernel: {'PASS' if ran_on_gpu else 'FAIL'}")


if __name__ == "__main__":
    main()

"""Benchmark (issue 28): a stack rebuilt on a "second machine" from an S3 binary cache vs from source.

A real S3-compatible server on 127.0.0.1 (moto's) holds the cache. The stack is the starter
(`pmpm init`: libkern + kern-cli) plus N packages of C that take a real compile each (a chain:
each depends on the previous one). Machine A builds it with `--cache s3://…` (filling the
cache); then, in interleaved rounds, a fresh directory with a fresh user cache (cold ccache, as
on another machine) builds it from source, and another fresh one with `--cache`, which must
report every package "from cache". Targets: from cache >= 10x faster than from source, and
pmpm's time per cached package <= 0.1 s (here the download is local, so the whole run counts).

Usage: python benchmarks/cache_hit.py [--packages N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_overhead import compile_pmpm  # noqa: E402

FUNCTIONS = 600  # per package: ~2-3 s of gcc -O3 (a small real library takes longer)


def generate(root: Path, count: int) -> Path:
    subprocess.run([sys.executable, "-m", "pmpm", "init", "."], cwd=root, check=True, capture_output=True)
    lines = (root / "stack.yml").read_text().rstrip("\n").splitlines()
    for i in range(count):
        src = root / f"heavy{i}"
        src.mkdir()
        body = "\n".join(
            f"double h{i}_{f}(const double *x, int n) {{ double s = 0; for (int j = 0; j < n; j++) "
            f"s += x[j] * {f + 1}.0 / (1.0 + x[(j * {f + 3}) % n]); return s; }}"
            for f in range(FUNCTIONS)
        )
        (src / f"heavy{i}.c").write_text(body + "\n")
        (src / "CMakeLists.txt").write_text(
            f"cmake_minimum_required(VERSION 3.16)\nproject(heavy{i} C)\nadd_library(heavy{i} SHARED heavy{i}.c)\n"
            f"install(TARGETS heavy{i})\n"
        )
        lines += [
            f"    - name: heavy{i}",
            '      version: "1.0"',
            f"      source: {{path: heavy{i}}}",
            "      kind: cmake",
        ]
        if i:
            lines.append(f"      depends: [heavy{i - 1}]")
    (root / "stack.yml").write_text("\n".join(lines) + "\n")
    return root / "stack.yml"


def machine(base: Path, name: str, packages: int) -> Path:
    root = base / name
    root.mkdir()
    generate(root, packages)
    return root


def build(root: Path, env: dict, *extra: str) -> tuple[float, dict]:
    env = {**env, "XDG_CACHE_HOME": str(root / "user-cache")}  # another machine: cold ccache and caches
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pmpm", "build", "stack.yml", "--json", "-j", "2", *extra],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"pmpm build failed:\n{proc.stderr}")
    report = json.loads(proc.stdout)
    return seconds, {p["status"] for p in report["packages"]} | {f"count={len(report['packages'])}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    compile_pmpm()
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
    }
    import boto3

    boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    ).create_bucket(Bucket="team")
    cache = ["--cache", "s3://team/channel"]
    times: dict[str, list[float]] = {"source": [], "cache": []}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        filled, statuses = build(machine(base, "a", args.packages), env, *cache)
        print(f"machine A filled the cache in {filled:.1f} s ({sorted(statuses)})")
        for n in range(args.rounds):
            order = ("source", "cache") if n % 2 == 0 else ("cache", "source")
            for kind in order:
                seconds, statuses = build(
                    machine(base, f"{kind}{n}", args.packages), env, *(cache if kind == "cache" else ())
                )
                expected = "from cache" if kind == "cache" else "built"
                assert {s for s in statuses if not s.startswith("count=")} == {expected}, statuses
                count = int(next(s for s in statuses if s.startswith("count=")).split("=")[1])
                times[kind].append(seconds)
    server.stop()
    source, cached = min(times["source"]), min(times["cache"])
    per_package = cached / count
    print(
        f"starter stack + {args.packages} CMake packages ({count} jobs with the CPU gate's), -j 2, "
        f"min of {args.rounds} interleaved rounds on fresh machines"
    )
    speedup_ok, per_ok = source / cached >= 10, per_package <= 0.1
    print(
        f"  from source {source:.1f} s, from the S3 cache {cached:.2f} s: {source / cached:.1f}x "
        f"(target >= 10x): {'PASS' if speedup_ok else 'FAIL'}"
    )
    print(
        f"  pmpm per cached package {per_package * 1000:.0f} ms, download included (target <= 100 ms): "
        f"{'PASS' if per_ok else 'FAIL'}"
    )
    sys.exit(0 if speedup_ok and per_ok else 1)


if __name__ == "__main__":
    main()

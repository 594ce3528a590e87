"""`pmpm build --executor slurm` against a real one-node Slurm cluster (tests/slurm_cluster.py)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import slurm_cluster
from conftest import STACKS, install_env, pmpm, repodata
from s3_server import s3_server  # noqa: F401  (the session's server)
from test_build import BROKEN, _stack, objdump_registers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    why = slurm_cluster.unavailable()
    if why:
        pytest.skip(why)
    from pmpm.variants import microarch

    features = "avx2" if microarch.host_level() >= 3 else "sse2"
    started = slurm_cluster.start(tmp_path_factory.mktemp("slurm"), features)
    yield started
    slurm_cluster.stop(started)


def _demo(root: Path) -> Path:
    """The demo stack, with a Slurm constraint for its v3 builds."""
    shutil.copytree(STACKS / "demo", root / "demo")
    text = (
        (STACKS / "demo.yml")
        .read_text()
        .replace("_pmpm:\n", "_pmpm:\n  slurm:\n    x86-64-v3: {constraint: avx2}\n", 1)
    )
    (root / "demo.yml").write_text(text)
    return root / "demo.yml"


def _jobs(stdout: str) -> dict[str, str]:
    """unit key -> job id, from the submission lines."""
    return {m.group(2): m.group(1) for m in re.finditer(r"^  (\d+)  (\S+)", stdout, re.M)}


@pytest.fixture(scope="module")
def demo(cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("slurm-demo")
    stack = _demo(root)
    proc = pmpm(
        "build",
        stack,
        "--variant",
        "march=x86-64,x86-64-v3",
        "--executor",
        "slurm",
        "--wait",
        cwd=root,
        env=cluster.env,
    )
    return root, proc


def test_one_job_per_package_and_variant_chained_by_afterok(demo, cluster):
    root, proc = demo
    jobs = _jobs(proc.stdout)
    assert set(jobs) == {
        "x86_64-microarch-level",
        "libkern-x86-64",
        "libkern-x86-64-v3",
        "kern-cli-x86-64",
        "kern-cli-x86-64-v3",
    }, proc.stdout
    status = json.loads(pmpm("status", "--json", cwd=root, env=cluster.env).stdout)
    by_unit = {row["unit"]: row for row in status}
    assert {row["state"] for row in status} == {"COMPLETED"}, status
    assert by_unit["kern-cli-x86-64-v3"]["after"] == [jobs["x86_64-microarch-level"], jobs["libkern-x86-64-v3"]]
    assert by_unit["kern-cli-x86-64"]["after"] == [jobs["libkern-x86-64"]]
    assert Path(by_unit["libkern-x86-64"]["log"]).is_file()
    # The stack's _pmpm.slurm mapping reached sbatch for the v3 jobs only.
    assert "Features=avx2" in cluster.run("scontrol", "show", "job", jobs["libkern-x86-64-v3"])
    assert "Features=(null)" in cluster.run("scontrol", "show", "job", jobs["libkern-x86-64"])


def test_slurm_built_channel_holds_both_marches_and_the_v3_kernel_uses_avx(demo, tmp_path):
    root, _ = demo
    names = {fn for fn, r in repodata(root / "local-channel").items() if r["name"] in ("libkern", "kern-cli")}
    assert len(names) == 4 and sum("_x86_64_v3_" in n for n in names) == 2, names
    v3 = install_env(root / "local-channel", tmp_path / "v3", ["kern-cli"], archspec="x86_64_v3")
    base = install_env(root / "local-channel", tmp_path / "base", ["kern-cli"], archspec="x86_64")
    assert objdump_registers(v3 / "lib" / "libkern.so.0.1.0")["ymm"] > 0
    assert objdump_registers(base / "lib" / "libkern.so.0.1.0")["ymm"] == 0
    out = subprocess.run([v3 / "bin" / "kern", "1000", "3"], capture_output=True, text=True, check=True).stdout
    assert "isa=avx2" in out


def test_resubmitting_submits_nothing_up_to_date(demo, cluster):
    root, _ = demo
    proc = pmpm(
        "build",
        root / "demo.yml",
        "--variant",
        "march=x86-64,x86-64-v3",
        "--executor",
        "slurm",
        cwd=root,
        env=cluster.env,
    )
    assert "submitted 0 Slurm job(s); 5 of 5 package × variant(s) up to date" in proc.stdout, proc.stdout


def test_force_no_ccache_keep_going_and_no_test_reach_every_job(demo, cluster):
    """Issue 23: the jobs' command lines were written by hand and dropped these four, so a
    `--force` submission rebuilt nothing (every job reported its unit up to date)."""
    root, _ = demo
    channel = root / "local-channel"
    before = {p.name: p.stat().st_mtime_ns for p in channel.glob("linux-64/*.conda")}
    proc = pmpm(
        "build",
        root / "demo.yml",
        "--variant",
        "march=x86-64,x86-64-v3",
        "--executor",
        "slurm",
        "--wait",
        "--force",
        "--no-ccache",
        "-k",
        "--no-test",
        cwd=root,
        env=cluster.env,
    )
    jobs = _jobs(proc.stdout)
    assert "libkern-x86-64" in jobs and "kern-cli-x86-64-v3" in jobs, proc.stdout
    for unit in jobs:
        script = (root / ".pmpm" / "slurm" / f"{unit}.sh").read_text()
        for flag in ("--force", "--no-ccache", "--keep-going", "--no-test"):
            assert flag in script, (unit, flag, script)
    after = {p.name: p.stat().st_mtime_ns for p in channel.glob("linux-64/*.conda")}
    assert set(after) == set(before) and all(after[name] > before[name] for name in before), (before, after)


def test_native_resolves_on_the_compute_node_and_sbatch_args_pass_through(cluster, tmp_path):
    stack = _demo(tmp_path)
    proc = pmpm(
        "build",
        stack,
        "--variant",
        "march=native",
        "--executor",
        "slurm",
        "--sbatch-arg=--hold",
        cwd=tmp_path,
        env=cluster.env,
    )
    jobs = _jobs(proc.stdout)
    try:
        assert set(jobs) == {"x86_64-microarch-level", "libkern", "kern-cli"}, proc.stdout
        script = (tmp_path / ".pmpm" / "slurm" / "libkern.sh").read_text()
        # The job re-renders with `native`, not with what this (login) node resolved it to.
        assert "--variant=march=native" in script and "--only-package libkern" in script, script
        held = cluster.run("scontrol", "show", "job", jobs["libkern"])
        assert "Reason=JobHeldUser" in held and f"Command={tmp_path}/.pmpm/slurm/libkern.sh" in held
    finally:
        cluster.run("scancel", *jobs.values())


def test_a_failed_job_cancels_only_its_dependents(cluster, tmp_path):
    _stack(tmp_path / "stack.yml", BROKEN)
    proc = pmpm("build", "stack.yml", "--executor", "slurm", "--wait", cwd=tmp_path, env=cluster.env, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    states = {
        row["unit"]: (row["state"], row["reason"])
        for row in json.loads(pmpm("status", "--json", cwd=tmp_path, env=cluster.env).stdout)
    }
    assert states["broken"][0] == "FAILED"
    assert states["needs-broken"] == ("CANCELLED", "DependencyNeverSatisfied")
    assert states["fine"][0] == "COMPLETED"
    names = {r["name"] for r in repodata(tmp_path / "local-channel").values()}
    assert "fine" in names and "broken" not in names and "needs-broken" not in names
    assert (
        "oops"
        in (tmp_path / ".pmpm" / "slurm")
        .joinpath(next(p.name for p in (tmp_path / ".pmpm" / "slurm").glob("broken-*.out")))
        .read_text()
    )


def test_status_before_any_submission_is_one_line(tmp_path):
    proc = pmpm("status", cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "nothing submitted from here yet" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_jobs_exchange_packages_through_an_s3_channel(cluster, s3_server, tmp_path):  # noqa: F811
    """`--channel s3://…`: each job publishes into its node's mirror and pushes to the bucket; a
    dependent job takes its dependency from there; nothing is written to a local channel here."""
    url = f"s3://{s3_server.bucket()}/slurm"
    stack = _demo(tmp_path)
    env = {**cluster.env, **s3_server.env, "XDG_CACHE_HOME": str(tmp_path / "node-cache")}
    args = ["build", stack, "--variant", "march=x86-64", "--executor", "slurm", "--channel", url, "--wait"]
    proc = pmpm(*args, cwd=tmp_path, env=env)
    assert set(_jobs(proc.stdout)) == {"x86_64-microarch-level", "libkern", "kern-cli"}, proc.stdout
    assert f"--channel={url}" in (tmp_path / ".pmpm" / "slurm" / "kern-cli.sh").read_text()
    assert not (tmp_path / "local-channel").exists()
    laptop = tmp_path / "laptop"
    laptop.mkdir()
    _demo(laptop)
    created = pmpm(
        "create",
        "demo.yml",
        "-p",
        "env",
        "--channel",
        url,
        cwd=laptop,
        env={**s3_server.env, "XDG_CACHE_HOME": str(laptop / "c")},
    )
    assert f"from {url}" in created.stdout
    out = subprocess.run([laptop / "env" / "bin" / "kern", "1000", "3"], capture_output=True, text=True, check=True)
    assert "isa=" in out.stdout

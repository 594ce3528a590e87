"""`pmpm build`: real compilers, real packages, real environments, real binaries."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import install_env, pmpm, repodata

from pmpm.channel.local import LocalChannel

pytestmark = pytest.mark.slow


def objdump_registers(library: Path) -> dict[str, int]:
    text = subprocess.run(["objdump", "-d", str(library)], capture_output=True, text=True, check=True).stdout
    return {reg: text.count(f"%{reg}") for reg in ("xmm", "ymm", "zmm")}


def test_two_variants_give_two_packages_of_each(demo_build):
    built = [p for p in demo_build.report["packages"] if p["status"] == "built"]
    names = sorted(Path(f).name for p in built for f in p["files"] if not p["name"].startswith("_x86_64"))
    assert len(names) == 4
    for package in ("libkern", "kern-cli"):
        assert any(n.startswith(f"{package}-0.1.0-h") and n.endswith("_x86_64_0.conda") for n in names)
        assert any(n.startswith(f"{package}-0.1.0-h") and n.endswith("_x86_64_v3_0.conda") for n in names)
    records = repodata(demo_build.channel)
    assert {f"linux-64/{n}" for n in names} <= set(records)


@pytest.fixture(scope="module")
def envs(demo_build, tmp_path_factory):
    """One fresh prefix per variant, the CPU chosen through the archspec override."""
    root = tmp_path_factory.mktemp("envs")
    return {
        level: install_env(demo_build.channel, root / f"env-{level}", ["kern-cli"], archspec=level)
        for level in ("x86_64", "x86_64_v3")
    }


def test_v3_kernel_has_avx2_and_baseline_has_none(envs):
    v3 = objdump_registers(envs["x86_64_v3"] / "lib" / "libkern.so.0.1.0")
    base = objdump_registers(envs["x86_64"] / "lib" / "libkern.so.0.1.0")
    assert v3["ymm"] > 0, v3
    assert base["ymm"] == 0 and base["zmm"] == 0 and base["xmm"] > 0, base


def test_installed_program_runs_relocated(envs):
    for level, prefix in envs.items():
        out = subprocess.run([prefix / "bin" / "kern", "1000", "3"], capture_output=True, text=True, check=True).stdout
        assert f"prefix={prefix}\n" in out  # binary relocation of a compiled-in string
        assert f"installed-in {prefix}\n" in out  # text relocation of an installed file
        assert ("isa=avx2" if level == "x86_64_v3" else "isa=sse2") in out
        assert "sum=" in out


def test_ldd_resolves_the_library_from_the_env(envs, demo_build):
    for prefix in envs.values():
        ldd = subprocess.run(["ldd", prefix / "bin" / "kern"], capture_output=True, text=True, check=True).stdout
        line = next(l for l in ldd.splitlines() if "libkern" in l)
        assert str(prefix) in line and str(demo_build.root) not in line.replace(str(prefix), ""), line


def test_repodata_depends_carry_run_exports_and_cpu_gate(demo_build):
    records = repodata(demo_build.channel)
    cli = {fn: r for fn, r in records.items() if r["name"] == "kern-cli"}
    assert len(cli) == 2
    for fn, record in cli.items():
        assert "libkern >=0.1.0,<0.2.0a0" in record["depends"], record["depends"]
        gates = [d for d in record["depends"] if d.startswith("_x86_64-microarch-level")]
        # The baseline needs no gate, so it installs even where archspec does not know the CPU's name.
        assert gates == (["_x86_64-microarch-level >=3"] if "_x86_64_v3_" in fn else []), record["depends"]


def test_every_dependency_in_the_channel_is_a_spec_every_solver_accepts(demo_build):
    """conda's MatchSpec, libsolv (mamba 2, conda-libmamba-solver) and rattler all match exact
    build strings; libsolv cannot parse a regex alternation or a bracket spec (src/conda.c)."""
    records = repodata(demo_build.channel)
    gate = {fn: r for fn, r in records.items() if r["name"] == "_x86_64-microarch-level"}
    assert {r["depends"][0] for r in gate.values()} >= {
        "__archspec 1.* x86_64_v3",
        "__archspec 1.* icelake",
        "__archspec 1.* zen3",
        "__archspec 1.* x86_64",
    }
    for fn, record in records.items():
        for dep in record["depends"]:
            parts = dep.split()
            assert 1 <= len(parts) <= 3 and not any(c in dep for c in "[]|^$()'\""), (fn, dep)
            if len(parts) == 3:  # name version build: an exact build string
                assert "*" not in parts[2], (fn, dep)
    levels = {r["build"].split("_", 1)[1]: int(r["version"]) for r in gate.values()}
    assert levels["x86_64_v3"] == levels["haswell"] == levels["zen3"] == 3
    assert levels["x86_64_v4"] == levels["icelake"] == levels["zen4"] == 4 and levels["nocona"] == 1


def test_build_records_compiler_in_package_metadata(demo_build, tmp_path):
    from rattler.package_streaming import extract

    conda = next(demo_build.channel.glob("linux-64/libkern-*_x86_64_v3_0.conda"))
    extract(conda, tmp_path)
    compiler = json.loads((tmp_path / "info" / "about.json").read_text())["extra"]["pmpm"]["compiler"]
    assert compiler.startswith("system gcc 12"), compiler


def _stack(path: Path, packages: str) -> Path:
    path.write_text(
        "name: t\nchannels: []\ndependencies: []\n_pmpm:\n  packages:\n"
        + textwrap.indent(textwrap.dedent(packages), "    ")
    )
    return path


BROKEN = """\
- name: broken
  version: "1.0"
  source: {path: .}
  kind: script
  script: ["echo compiling broken", "echo 'fatal: kern.c:3: oops' >&2", "exit 3"]
- name: needs-broken
  version: "1.0"
  source: {path: .}
  kind: script
  depends: [broken]
  script: ["mkdir -p $PREFIX/share && echo ok > $PREFIX/share/needs-broken"]
- name: fine
  version: "1.0"
  source: {path: .}
  kind: script
  script: ["mkdir -p $PREFIX/share && echo ok > $PREFIX/share/fine"]
"""


def test_failure_shows_log_tail_and_publishes_nothing(tmp_path):
    _stack(tmp_path / "stack.yml", BROKEN)
    proc = pmpm("build", "stack.yml", cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert "fatal: kern.c:3: oops" in proc.stderr  # the tail of the log
    log = next((tmp_path / ".pmpm" / "logs").glob("broken-1.0-*.log"))
    assert str(log) in proc.stderr and "compiling broken" in log.read_text()
    assert "Traceback" not in proc.stderr
    names = {r["name"] for r in repodata(tmp_path / "local-channel").values()}
    assert "broken" not in names and "needs-broken" not in names
    assert not list((tmp_path / "local-channel").glob("*/broken-*"))


def test_keep_going_builds_independent_packages_and_skips_dependents(tmp_path):
    _stack(tmp_path / "stack.yml", BROKEN)
    proc = pmpm("build", "stack.yml", "--keep-going", "--json", cwd=tmp_path, check=False)
    assert proc.returncode == 1
    status = {p["name"]: p["status"] for p in json.loads(proc.stdout)["packages"] if not p["name"].startswith("_x86")}
    assert status == {"broken": "failed", "needs-broken": "skipped", "fine": "built"}
    names = {r["name"] for r in repodata(tmp_path / "local-channel").values()}
    assert "fine" in names and "needs-broken" not in names


def test_failing_recipe_test_publishes_nothing(tmp_path):
    _stack(
        tmp_path / "stack.yml",
        """\
    - name: untested
      version: "1.0"
      source: {path: .}
      kind: script
      script: ["mkdir -p $PREFIX/bin && printf '#!/bin/sh\\nexit 7\\n' > $PREFIX/bin/untested && chmod +x $PREFIX/bin/untested"]
      tests: {commands: [untested]}
    """,
    )
    proc = pmpm("build", "stack.yml", cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "untested" in proc.stderr
    assert not list((tmp_path / "local-channel").glob("*/untested-*"))
    assert "untested" not in {r["name"] for r in repodata(tmp_path / "local-channel").values()}


def _unwalkable(directory: Path) -> None:
    """A directory the engine's source copy fails on if it walks into it ("Could not walk dir"):
    nested past PATH_MAX, as a tree being removed by another build fails it midway."""
    here = os.getcwd()
    directory.mkdir(parents=True)
    try:
        os.chdir(directory)
        for _ in range(25):
            os.mkdir("d" * 200)
            os.chdir("d" * 200)
    finally:
        os.chdir(here)


def test_a_path_source_holding_pmpm_state_and_channels_never_walks_or_copies_them(tmp_path):
    """`source: {path: .}` beside .pmpm/ and the channels: the recipe's `filter:` alone neither
    stops the engine walking them while other builds remove and publish files there, nor keeps
    a channel of another name out of the copy."""
    _stack(
        tmp_path / "stack.yml",
        """\
    - name: walker
      version: "1.0"
      source: {path: .}
      kind: script
      script: ["test ! -e mine", "mkdir -p $PREFIX/share && ls -A > $PREFIX/share/walker"]
    """,
    )
    pmpm("build", "stack.yml", "--no-test", cwd=tmp_path)
    _unwalkable(tmp_path / ".pmpm" / "out" / "vanishing")
    _unwalkable(tmp_path / "local-channel" / "noarch" / "vanishing")
    built = json.loads(pmpm("build", "stack.yml", "--no-test", "--force", "--json", cwd=tmp_path).stdout)
    assert [p["status"] for p in built["packages"] if p["name"] == "walker"] == ["built"]
    pmpm("build", "stack.yml", "--no-test", "--channel", "mine", cwd=tmp_path)  # its script fails on a copy of mine/
    for state in (".pmpm", "local-channel", "mine"):
        assert (tmp_path / state / ".condapackageignore").read_text().splitlines()[-1] == "*"


def _script_packages(prefix: str, count: int, delay: float = 0) -> str:
    """`count` tiny script packages named prefix0.., each sleeping `delay` seconds."""
    return "".join(
        f"""\
- name: {prefix}{i}
  version: "1.0"
  source: {{path: .}}
  kind: script
  script: ["sleep {delay}", "mkdir -p $PREFIX/share && echo {i} > $PREFIX/share/{prefix}{i}"]
"""
        for i in range(count)
    )


SLOW_PACKAGES = _script_packages("slow", 6, delay=0.8)  # ~5 s of work: every kill below lands mid-build


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_build_leaves_channel_valid_and_rerun_completes(tmp_path, sig):
    _stack(tmp_path / "stack.yml", SLOW_PACKAGES)
    pmpm("render", "stack.yml", cwd=tmp_path)
    for delay in (0.9, 1.6, 2.4, 3.1):
        # --force: packages published before an earlier kill would otherwise be skipped as up to date.
        proc = subprocess.Popen(
            [sys.executable, "-m", "pmpm", "build", "--no-test", "--force"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(delay)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode != 0
        if sig == signal.SIGINT:
            assert "Traceback" not in err and "interrupted" in err
        assert LocalChannel(tmp_path / "local-channel").is_consistent(), f"inconsistent after {sig.name} at {delay}s"
    pmpm("build", "--no-test", cwd=tmp_path)
    names = {r["name"] for r in repodata(tmp_path / "local-channel").values()}
    assert {f"slow{i}" for i in range(6)} <= names


def test_two_concurrent_builds_into_one_channel_both_land(tmp_path):
    channel = tmp_path / "channel"
    procs = []
    for side in ("a", "b"):
        work = tmp_path / side
        work.mkdir()
        _stack(work / "stack.yml", _script_packages(side, 4))
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "pmpm", "build", "stack.yml", "--channel", channel, "--no-test"],
                cwd=work,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    names = {r["name"] for r in repodata(channel).values()}
    assert {f"{s}{i}" for s in "ab" for i in range(4)} <= names
    assert LocalChannel(channel).is_consistent()

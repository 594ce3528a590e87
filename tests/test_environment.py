"""`pmpm create`, `lock`, `run`: final environments from the local channel plus upstream."""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
from collections import Counter
from functools import partial
from pathlib import Path

import pytest
from conftest import STACKS, pmpm

pytestmark = pytest.mark.slow


def installed(prefix: Path) -> dict[str, dict]:
    return {r["name"]: r for r in (json.loads(p.read_text()) for p in (prefix / "conda-meta").glob("*.json"))}


@pytest.fixture(scope="module")
def three_levels(tmp_path_factory) -> Path:
    """The demo built for x86-64 levels 1, 3 and 4 into one channel."""
    root = tmp_path_factory.mktemp("levels")
    pmpm("build", STACKS / "demo.yml", "--variant", "march=x86-64,x86-64-v3,x86-64-v4", cwd=root)
    return root


@pytest.fixture()
def served(three_levels):
    """The same channel over HTTP on 127.0.0.1 (a thread: stops with the test)."""
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(three_levels / "local-channel"))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_create_from_file_channel_runs_the_program_and_writes_history(three_levels, tmp_path):
    prefix = tmp_path / "env"
    pmpm("create", STACKS / "demo.yml", "-p", prefix, cwd=three_levels)
    out = pmpm("run", "-p", prefix, "kern", "1000", cwd=tmp_path).stdout
    assert f"prefix={prefix}" in out and "sum=" in out
    history = (prefix / "conda-meta" / "history").read_text()
    assert history.startswith("==> ") and "# cmd: pmpm create" in history
    assert f"+{(three_levels / 'local-channel').as_uri()}::kern-cli-0.1.0-" in history
    assert pmpm("run", "-p", prefix, "sh", "-c", "exit 7", cwd=tmp_path, check=False).returncode == 7


@pytest.mark.parametrize(
    "host, expected",
    [
        ("x86_64_v2", "_x86_64_0"),
        ("x86_64_v3", "_x86_64_v3_0"),
        ("x86_64_v4", "_x86_64_v4_0"),
        ("haswell", "_x86_64_v3_0"),
        ("skylake_avx512", "_x86_64_v4_0"),
        ("nehalem", "_x86_64_0"),
    ],
)
def test_each_host_gets_the_most_optimized_build_it_can_run(three_levels, tmp_path, host, expected):
    prefix = tmp_path / "env"
    pmpm("create", STACKS / "demo.yml", "-p", prefix, cwd=three_levels, env={"CONDA_OVERRIDE_ARCHSPEC": host})
    packages = installed(prefix)
    assert packages["libkern"]["build"].endswith(expected) and packages["kern-cli"]["build"].endswith(expected)


def test_a_host_below_every_build_cannot_install(three_levels, tmp_path):
    only_v4 = tmp_path / "v4-only"
    shutil.copytree(three_levels / "local-channel", only_v4)
    for f in only_v4.glob("linux-64/*.conda"):
        if "_x86_64_v4_" not in f.name:
            f.unlink()
    pmpm("build", STACKS / "demo.yml", "--channel", only_v4, "--variant", "march=x86-64-v4", cwd=tmp_path)  # re-index
    proc = pmpm(
        "create",
        STACKS / "demo.yml",
        "-p",
        tmp_path / "env",
        "--channel",
        only_v4,
        cwd=tmp_path,
        check=False,
        env={"CONDA_OVERRIDE_ARCHSPEC": "x86_64_v3"},
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "cannot be solved" in proc.stderr and "_x86_64-microarch-level" in proc.stderr
    assert not (tmp_path / "env" / "bin" / "kern").exists()


def test_local_build_wins_over_a_newer_upstream_package_of_the_same_name(three_levels, tmp_path):
    upstream = tmp_path / "upstream"
    (tmp_path / "up.yml").write_text("""\
name: upstream
_pmpm:
  packages:
    - {name: libkern, version: "9.9.9", source: {path: .}, kind: script, noarch: generic,
       script: ["mkdir -p $PREFIX/share && echo upstream > $PREFIX/share/libkern-upstream"]}
""")
    pmpm("build", "up.yml", "--channel", upstream, cwd=tmp_path)
    stack = tmp_path / "demo.yml"
    stack.write_text((STACKS / "demo.yml").read_text().replace("channels: []", f"channels: [{upstream.as_uri()}]"))
    shutil.copytree(STACKS / "demo", tmp_path / "demo")
    prefix = tmp_path / "env"
    pmpm("create", stack, "-p", prefix, "--channel", three_levels / "local-channel", cwd=tmp_path)
    assert installed(prefix)["libkern"]["version"] == "0.1.0"
    assert not (prefix / "share" / "libkern-upstream").exists()


def test_lock_round_trip_reproduces_identical_records(three_levels, tmp_path):
    stack = tmp_path / "demo.yml"
    shutil.copy(STACKS / "demo.yml", stack)
    shutil.copytree(STACKS / "demo", tmp_path / "demo")
    channel = ["--channel", three_levels / "local-channel"]
    pmpm("lock", stack, *channel, cwd=tmp_path, env={"CONDA_OVERRIDE_ARCHSPEC": "x86_64_v3"})
    lock, explicit = tmp_path / "demo.lock", tmp_path / "demo-linux-64.txt"
    assert "version: 7" in lock.read_text().splitlines()[:2]  # after the line with the stack inputs hash
    lines = explicit.read_text().splitlines()
    assert "@EXPLICIT" in lines and all("#" in l for l in lines[lines.index("@EXPLICIT") + 1 :])
    from rattler import LockFile
    from rattler.explicit_environment import ExplicitEnvironmentSpec

    assert len(ExplicitEnvironmentSpec.from_path(explicit).packages) == 3
    locked = LockFile.from_path(lock)
    platform = next(p for p in locked.platforms() if p.name == "linux-64")
    expected = {
        (r.name.normalized, str(r.version), str(r.build), r.sha256.hex())
        for r in locked.default_environment().conda_repodata_records_for_platform(platform)
    }
    prefix = tmp_path / "env"
    pmpm("create", stack, "-p", prefix, "--locked", cwd=tmp_path)  # the host (v4) would pick v4 builds if it solved
    got = {(r["name"], r["version"], r["build"], r["sha256"]) for r in installed(prefix).values()}
    assert got == expected and any("_x86_64_v3_" in b for _, _, b, _ in got)


def test_http_channel_works_like_file_for_create_and_lock(served, tmp_path):
    (tmp_path / "consumer.yml").write_text(f"name: consumer\nchannels: [{served}]\ndependencies: [kern-cli]\n")
    pmpm("lock", "consumer.yml", cwd=tmp_path, env={"CONDA_OVERRIDE_ARCHSPEC": "x86_64_v3"})
    assert f"{served}linux-64/kern-cli-0.1.0-" in (tmp_path / "consumer-linux-64.txt").read_text()
    prefix = tmp_path / "env"
    pmpm("create", "consumer.yml", "-p", prefix, cwd=tmp_path, env={"CONDA_OVERRIDE_ARCHSPEC": "x86_64_v3"})
    out = subprocess.run([prefix / "bin" / "kern", "10"], capture_output=True, text=True, check=True).stdout
    assert "isa=avx2" in out and f"prefix={prefix}" in out
    assert installed(prefix)["kern-cli"]["channel"].startswith("http://127.0.0.1:")


def test_unreachable_channel_fails_with_one_clear_line(tmp_path):
    (tmp_path / "s.yml").write_text("name: s\nchannels: ['http://127.0.0.1:1/']\ndependencies: [zlib]\n")
    proc = pmpm("create", "s.yml", "-p", tmp_path / "env", cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "cannot reach channel" in proc.stderr and "127.0.0.1:1" in proc.stderr
    assert "--override-channels / --offline" in proc.stderr  # the wording `pmpm build` uses too


def test_unsolvable_stack_names_the_conflicting_spec(three_levels, tmp_path):
    (tmp_path / "s.yml").write_text("name: s\nchannels: []\ndependencies: [kern-cli >=5]\n")
    proc = pmpm(
        "create",
        "s.yml",
        "-p",
        tmp_path / "env",
        "--channel",
        three_levels / "local-channel",
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "cannot be solved" in proc.stderr and "kern-cli >=5" in proc.stderr


def test_a_fresh_user_cache_reads_the_stack_summary_the_channel_keeps(three_levels, tmp_path, monkeypatch):
    """A stack is validated once: `pmpm build STACK` leaves its summary in the channel's
    .pmpm/stacks/ (and the user cache), so a create with an empty user cache (a new XDG_CACHE_HOME,
    a CI job) reads it from the channel, and never writes there itself. The report counts the
    installed records, as conda-meta lists them."""
    channel = tmp_path / "channel"
    shutil.copytree(three_levels / "local-channel", channel)
    [kept] = (channel / ".pmpm" / "stacks").glob("*.json")  # left by the build of the stack
    create = ("create", STACKS / "demo.yml", "--channel", channel)
    prefix = tmp_path / "env"
    out = pmpm(*create, "-p", prefix, cwd=tmp_path, env={"XDG_CACHE_HOME": str(tmp_path / "a")}).stdout
    channels = Counter(r["channel"].rstrip("/") for r in installed(prefix).values())
    assert out.splitlines() == [
        f"created {prefix}: {sum(channels.values())} packages",
        *(f"  {n:4d} from {c}" for c, n in sorted(channels.items())),
    ]
    assert list((channel / ".pmpm" / "stacks").glob("*.json")) == [kept]
    summary = json.loads(kept.read_text())
    assert summary["package_names"] == ["libkern", "kern-cli"]
    kept.write_text(json.dumps({**summary, "conda_specs": ["only-in-the-channel-summary"]}))
    proc = pmpm(
        *create, "-p", tmp_path / "env2", cwd=tmp_path, env={"XDG_CACHE_HOME": str(tmp_path / "b")}, check=False
    )
    assert proc.returncode == 1 and "only-in-the-channel-summary" in proc.stderr  # read, not validated again

    from pmpm.envs.summary import summarize

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    assert summarize(STACKS / "demo.yml", tmp_path / "no-channel").package_names == ["libkern", "kern-cli"]
    assert not (tmp_path / "no-channel").exists()  # a summary never creates a channel


def test_render_leaves_the_summary_create_reads(tmp_path, monkeypatch):
    """render validated the stack: the next create reads that summary instead of validating again."""
    from pmpm.envs.summary import summarize

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    pmpm(
        "render",
        STACKS / "demo.yml",
        "-o",
        tmp_path / "recipes",
        cwd=tmp_path,
        env={"XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    [kept] = (tmp_path / "cache" / "pmpm" / "stacks").glob("*.json")
    assert json.loads(kept.read_text())["package_names"] == ["libkern", "kern-cli"]
    kept.write_text(json.dumps({**json.loads(kept.read_text()), "package_names": ["written-by-render"]}))
    assert summarize(STACKS / "demo.yml").package_names == ["written-by-render"]


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_build_leaves_nothing_outside_its_outputs_and_create_never_writes_into_the_channel(tmp_path):
    shutil.copytree(STACKS / "demo", tmp_path / "demo")
    shutil.copy(STACKS / "demo.yml", tmp_path / "demo.yml")
    pmpm("build", "demo.yml", "--no-test", cwd=tmp_path)
    # Before issue 23 a `.recipes.lock` was left in the working directory.
    assert sorted(p.name for p in tmp_path.iterdir()) == [".pmpm", "demo", "demo.yml", "local-channel", "recipes"]
    channel = _tree(tmp_path / "local-channel")
    fresh = {"XDG_CACHE_HOME": str(tmp_path / "cache")}  # nothing of the stack remembered: create validates it
    pmpm("create", "demo.yml", "-p", tmp_path / "env", cwd=tmp_path, env=fresh)
    assert (tmp_path / "env" / "bin" / "kern").is_file()
    (tmp_path / "not-a-dir").write_text("")
    failed = pmpm(
        "create",
        "demo.yml",
        "-p",
        tmp_path / "not-a-dir",
        cwd=tmp_path,
        check=False,
        env={"XDG_CACHE_HOME": str(tmp_path / "cache2")},
    )
    assert failed.returncode != 0
    assert _tree(tmp_path / "local-channel") == channel  # both creates only read the channel


def _lock_consumer(tmp_path: Path, channel: str) -> tuple[Path, str]:
    """A stack of kern-cli from `channel`, locked; returns the lock and kern-cli's locked sha256."""
    from rattler import LockFile

    (tmp_path / "consumer.yml").write_text(f"name: consumer\nchannels: [{channel}]\ndependencies: [kern-cli]\n")
    pmpm("lock", "consumer.yml", cwd=tmp_path, env={"CONDA_OVERRIDE_ARCHSPEC": "x86_64_v3"})
    lock = tmp_path / "consumer.lock"
    env = LockFile.from_path(lock).default_environment()
    records = env.conda_repodata_records_for_platform(next(p for p in env.platforms() if p.name == "linux-64"))
    return lock, next(r.sha256.hex() for r in records if r.name.normalized == "kern-cli")


@pytest.mark.parametrize("where", ["file", "http"])
def test_create_locked_refuses_a_package_whose_sha256_is_not_the_locks(three_levels, served, tmp_path, where):
    channel = (three_levels / "local-channel").as_uri() if where == "file" else served
    lock, sha = _lock_consumer(tmp_path, channel)
    forged = "0" * 64
    lock.write_text(lock.read_text().replace(sha, forged))
    prefix = tmp_path / "env"
    proc = pmpm("create", "consumer.yml", "-p", prefix, "--locked", cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "kern-cli-0.1.0-" in proc.stderr and f"the lock says sha256 {forged}" in proc.stderr, proc.stderr
    assert f"has {sha}" in proc.stderr, proc.stderr
    assert not prefix.exists()  # refused before anything was linked


def test_create_locked_refuses_a_channel_file_replaced_after_locking(three_levels, tmp_path):
    """The channel's file and its repodata replaced consistently: the channel agrees with itself,
    not with the lock."""
    import zipfile

    channel = tmp_path / "channel"
    shutil.copytree(three_levels / "local-channel", channel)
    lock, sha = _lock_consumer(tmp_path, channel.as_uri())
    original = next(channel.glob("linux-64/kern-cli-*_x86_64_v3_*.conda"))
    replaced = tmp_path / original.name
    with zipfile.ZipFile(original) as old, zipfile.ZipFile(replaced, "w") as new:
        for item in old.infolist():
            new.writestr(item, old.read(item))
        new.writestr("metadata-extra.txt", "not what was locked\n")
    shutil.copyfile(replaced, original)
    pmpm("index", channel, cwd=tmp_path)
    proc = pmpm("create", "consumer.yml", "-p", tmp_path / "env", "--locked", cwd=tmp_path, check=False)
    assert proc.returncode == 1 and f"the lock says sha256 {sha}" in proc.stderr, proc.stderr
    assert not (tmp_path / "env").exists()
    proc = pmpm("create", "consumer.yml", "-p", tmp_path / "solved", cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr  # solved afresh, the channel's own file is what it says it is

"""Air-gapped and reproducible: lock everything, bundle, create offline, pack, verify (issue 13).

The "online" side builds the demo into a stack that also has python and a pip: list (the
python fixture channel stands in for conda-forge), locks and bundles it; the "offline" side
has a fresh HOME and cache, no pip configuration, only the bundle (moved elsewhere) and,
where `unshare -n` works, a network namespace with no network at all.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import STACKS, pmpm
from test_python import python_channel  # noqa: F401, F811  (the session fixture: cached by content)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


def installed(prefix: Path) -> set[tuple]:
    return {
        (r["name"], r["version"], r["build"], r["sha256"])
        for r in (json.loads(p.read_text()) for p in (prefix / "conda-meta").glob("*.json"))
    }


def locked(lock: Path) -> tuple[set[tuple], dict[str, str]]:
    from rattler import LockFile

    lock_file = LockFile.from_path(lock)
    platform = next(p for p in lock_file.platforms() if p.name == "linux-64")
    environment = lock_file.default_environment()
    records = {
        (r.name.normalized, str(r.version), str(r.build), r.sha256.hex())
        for r in environment.conda_repodata_records_for_platform(platform)
    }
    wheels = {p.name: p.hashes.sha256.hex() for p in environment.pypi_packages_for_platform(platform) or []}
    return records, wheels


def can_unshare_network() -> bool:
    return (
        shutil.which("unshare") is not None
        and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0
    )


def offline_env(home: Path) -> dict:
    """A fresh HOME and cache, and no pip configuration (no index, no find-links)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "CONDA_", "XDG_"))}
    return {
        **env,
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "PIP_CONFIG_FILE": os.devnull,
        "PYTHONUNBUFFERED": "1",
    }


def offline_pmpm(*args, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    prefix = ["unshare", "-n"] if can_unshare_network() else []
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "pmpm", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=offline_env(home),
        timeout=600,
    )
    assert proc.returncode == 0, f"offline pmpm {args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def write_stack(root: Path, channel: Path, pip: list[str]) -> Path:
    """The demo's two compiled packages plus python and a pip: list."""
    shutil.copytree(STACKS / "demo", root / "demo", dirs_exist_ok=True)
    text = (
        (STACKS / "demo.yml")
        .read_text()
        .replace(
            "channels: []\ndependencies: []\n",
            f"channels: [{channel.as_uri()}]\ndependencies:\n  - python 3.11.*\n  - pip\n  - pip:\n"
            + "".join(f"      - {p}\n" for p in pip),
        )
    )
    stack = root / "offline.yml"
    stack.write_text(text)
    return stack


def test_lock_bundle_and_create_offline(python_channel, tmp_path):
    online = tmp_path / "online"
    online.mkdir()
    stack = write_stack(online, python_channel, ["six==1.16.0"])
    pmpm("build", stack, "--variant", "march=x86-64", cwd=online)
    pmpm("lock", stack, cwd=online)
    records, wheels = locked(online / "offline.lock")
    assert {r[0] for r in records} >= {"python", "pip", "libkern", "kern-cli"} and set(wheels) == {"six"}
    assert len(wheels["six"]) == 64
    sha_list = (online / "offline-linux-64.sha256.txt").read_text().splitlines()
    assert {line.rsplit("#", 1)[1] for line in sha_list[sha_list.index("@EXPLICIT") + 1 :]} == {r[3] for r in records}
    md5_list = (online / "offline-linux-64.txt").read_text().splitlines()
    assert all(len(line.rsplit("#", 1)[1]) == 32 for line in md5_list[md5_list.index("@EXPLICIT") + 1 :])

    first = pmpm("bundle", stack, "-o", online / "bundle", cwd=online).stdout
    again = pmpm("bundle", stack, "-o", online / "bundle", cwd=online).stdout
    assert f"{len(records) + 1} fetched, 0 kept" in first and f"0 fetched, {len(records) + 1} kept" in again

    # the offline machine: the bundle carried elsewhere, nothing else
    carried = tmp_path / "usb" / "bundle"
    shutil.copytree(online / "bundle", carried)
    offline = tmp_path / "offline"
    offline.mkdir()
    prefix = offline / "env"
    offline_pmpm("create", "--from-bundle", carried, "-p", prefix, cwd=offline, home=offline / "home")
    out = subprocess.run([prefix / "bin" / "kern", "100"], capture_output=True, text=True, check=True).stdout
    assert f"prefix={prefix}" in out
    six = subprocess.run(
        [prefix / "bin" / "python", "-c", "import six, sys; print(six.__version__, six.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert six[0] == "1.16.0" and six[1].startswith(str(prefix))
    assert installed(prefix) == records
    assert (
        "matches"
        in offline_pmpm(
            "verify", "-p", prefix, "--lock", carried / "offline.lock", cwd=offline, home=offline / "home"
        ).stdout
    )

    # packed and unpacked elsewhere, with python and a pip package, by the env's own python
    offline_pmpm("pack", "-p", prefix, "-o", offline / "env.tar.gz", cwd=offline, home=offline / "home")
    moved = tmp_path / "moved" / "env"
    moved.mkdir(parents=True)
    with tarfile.open(offline / "env.tar.gz") as tar:
        tar.extractall(moved)
    subprocess.run([moved / "bin" / "python", moved / "bin" / "conda-unpack"], cwd=moved, check=True)
    out = subprocess.run(
        [moved / "bin" / "python", "-c", "import six, sys; print(sys.prefix, six.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[0] == str(moved) and out[1].startswith(str(moved))
    assert (
        f"prefix={moved}"
        in subprocess.run([moved / "bin" / "kern", "10"], capture_output=True, text=True, check=True).stdout
    )

    # a changed pip: list makes the lock stale; relocking and re-bundling fetch only the new wheel
    write_stack(online, python_channel, ["iniconfig==2.0.0"])
    stale = pmpm("create", stack, "-p", tmp_path / "stale", "--locked", cwd=online, check=False)
    assert stale.returncode == 2 and "stale lock" in stale.stderr and "Traceback" not in stale.stderr
    pmpm("lock", stack, cwd=online)
    rebundled = pmpm("bundle", stack, "-o", online / "bundle", "--prune", cwd=online).stdout
    assert f"1 fetched, {len(records)} kept, 1 pruned" in rebundled
    assert [p.name for p in (online / "bundle" / "wheels").iterdir()] == ["iniconfig-2.0.0-py3-none-any.whl"]


def test_create_locked_installs_locked_wheels_with_hash_checking(python_channel, tmp_path):
    stack = write_stack(tmp_path, python_channel, ["six==1.16.0"])
    pmpm("build", stack, "--variant", "march=x86-64", cwd=tmp_path)
    pmpm("lock", stack, cwd=tmp_path)
    prefix = tmp_path / "env"
    pmpm("create", stack, "-p", prefix, "--locked", cwd=tmp_path)
    lock = ["--lock", tmp_path / "offline.lock"]
    clean = pmpm("verify", "-p", prefix, *lock, "--strict", cwd=tmp_path).stdout  # python, pip and six: all owned
    assert "matches" in clean and "unowned" not in clean, clean
    (prefix / "bin" / "python3-helper").write_text("#!/bin/sh\necho planted\n")
    stray = pmpm("verify", "-p", prefix, *lock, cwd=tmp_path).stdout
    assert "unowned: bin/python3-helper" in stray and "matches" in stray and "1 unowned" in stray, stray
    proc = pmpm("verify", "-p", prefix, *lock, "--strict", cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "unowned: bin/python3-helper" in proc.stdout, proc.stdout
    (prefix / "bin" / "python3-helper").unlink()
    six_file = Path(
        subprocess.run(
            [prefix / "bin" / "python", "-c", "import six; print(six.__file__)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    six_file.write_text(six_file.read_text() + "\n# tampered\n")
    (prefix / "include" / "kern.h").unlink()
    proc = pmpm("verify", "-p", prefix, "--lock", tmp_path / "offline.lock", cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert "modified: six.py (six)" in proc.stdout and "deleted: include/kern.h (libkern)" in proc.stdout


def test_pack_unpacked_elsewhere_runs_kern_with_the_new_prefix(demo_build, tmp_path):
    prefix = tmp_path / "env"
    pmpm("create", STACKS / "demo.yml", "-p", prefix, cwd=demo_build.root)
    archive = tmp_path / "env.tar.gz"
    pmpm("pack", "-p", prefix, "-o", archive, cwd=tmp_path)
    moved = tmp_path / "elsewhere" / "kern-env"
    moved.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(moved)
    shutil.rmtree(prefix)  # nothing may still point at the original
    # conda-unpack is a python script; the demo env has no python, so any python runs it
    subprocess.run([sys.executable, moved / "bin" / "conda-unpack"], cwd=moved, check=True)
    out = subprocess.run([moved / "bin" / "kern", "100"], capture_output=True, text=True, check=True).stdout
    assert f"prefix={moved}" in out and "sum=" in out


@pytest.mark.skipif(not (shutil.which("conda") or shutil.which("mamba")), reason="no conda or mamba on PATH")
def test_conda_and_mamba_create_offline_from_the_bundle_channel(demo_build, tmp_path):
    stack = tmp_path / "demo.yml"
    shutil.copy(STACKS / "demo.yml", stack)
    shutil.copytree(STACKS / "demo", tmp_path / "demo")
    pmpm("lock", stack, "--channel", demo_build.channel, cwd=tmp_path, env={"CONDA_OVERRIDE_ARCHSPEC": "x86_64"})
    pmpm("bundle", stack, "-o", tmp_path / "bundle", cwd=tmp_path)
    for tool in filter(shutil.which, ("conda", "mamba")):
        prefix = tmp_path / f"env-{tool}"
        subprocess.run(
            [
                tool,
                "create",
                "--offline",
                "--yes",
                "-p",
                prefix,
                "-c",
                tmp_path / "bundle" / "channel",
                "--override-channels",
                "kern-cli",
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "CONDA_OVERRIDE_ARCHSPEC": "x86_64"},
        )
        out = subprocess.run([prefix / "bin" / "kern", "10"], capture_output=True, text=True, check=True).stdout
        assert f"prefix={prefix}" in out

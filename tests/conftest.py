"""Shared fixtures: run pmpm as a user would, build the demo once per session."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# A shell starts a background job (`.ci/run &`, nohup) with SIGINT ignored, and an ignored signal
# stays ignored in every child: the Ctrl-C tests would then interrupt nothing. A handler of our
# own is reset to the default at exec, so pmpm's subprocesses get Python's usual KeyboardInterrupt.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parent.parent
STACKS = REPO / "stacks"


def pmpm(
    *args, cwd: Path, check: bool = True, env: dict | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run the pmpm CLI in a subprocess, as a user would."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "pmpm", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"pmpm {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def repodata(channel: Path) -> dict[str, dict]:
    records = {}
    for subdir in ("linux-64", "noarch"):
        data = json.loads((channel / subdir / "repodata.json").read_text())
        for fn, rec in {**data.get("packages", {}), **data.get("packages.conda", {})}.items():
            records[f"{subdir}/{fn}"] = rec
    return records


def install_env(channel: Path, prefix: Path, specs: list[str], archspec: str | None = None) -> Path:
    """Solve and install with py-rattler (pmpm's environment module) into a fresh prefix."""
    from pmpm.envs import environment

    records = environment.solve(specs, [channel], archspec=archspec)
    return environment.install(records, prefix, specs=specs, cache_dir=prefix.parent / "pkgs")


@dataclass
class DemoBuild:
    root: Path
    channel: Path
    report: dict


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory) -> DemoBuild:
    """stacks/demo.yml rendered, then built for the baseline and x86-64-v3, as the README shows."""
    root = tmp_path_factory.mktemp("demo")
    pmpm("render", STACKS / "demo.yml", cwd=root)
    proc = pmpm("build", "--variant", "march=x86-64,x86-64-v3", "--json", cwd=root)
    return DemoBuild(root, root / "local-channel", json.loads(proc.stdout))


_exit_status = {"code": None}


def pytest_sessionfinish(session, exitstatus):
    _exit_status["code"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """py-rattler's runtime can crash the interpreter during teardown, after every test has
    passed and the summary is printed; leave with pytest's own status instead."""
    if _exit_status["code"] is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status["code"])

"""README.md works when copied: every fenced block is exercised, as a reader would use it.

Blocks are found when the tests are collected, so a new README block is tested without
touching this file:
- ```yaml: a stack (has `_pmpm` or `dependencies`) is rendered from a copy of `stacks/`, so
  `path: demo/...` sources resolve; any other mapping is a conda_build_config.yaml and is
  rendered with the demo as `-m FILE`.
- ```bash / ```sh / ```shell: one test per command, all in one shared working directory (a
  copy of `stacks/` under it) in README order, so a command can use what earlier ones made;
  selecting one command (`-k`) runs the earlier ones first. pmpm's own set-up commands
  (`pip ...`, `python -m pytest ...`) are not run: `.ci/run` must contain them verbatim.
  Other tools (`mamba`, `conda`, ...) are skipped when they are not on PATH.
- ```python: the Python API, run with this interpreter in a directory holding a copy of `stacks/`.
- ```text or a bare ```: output, not run. Any other language fails until it gets a rule here.
A line ending in `\\` continues on the next one; heredocs are not supported.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, STACKS, pmpm
from ruamel.yaml import YAML

pytestmark = pytest.mark.slow

README = REPO / "README.md"
CI_RUN = REPO / ".ci" / "run"
SHELLS = {"bash", "sh", "shell"}
NOT_RUN = {"", "text"}
SET_UP = ("pip ", "ruff ", "python -m pytest")  # pmpm's own installation, lint and test suite
OTHER_TOOLS = {"mamba", "micromamba", "conda", "pixi", "rattler-build"}
_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)


ENGINE_TOOLS = {"conda-build": "conda", "rattler-build-exe": "rattler-build"}


@dataclass(frozen=True)
class Block:
    lang: str
    line: int  # of the opening fence
    text: str


@dataclass(frozen=True)
class Command:
    line: int
    text: str

    @property
    def tool(self) -> str:
        words = shlex.split(self.text, comments=True)
        return words[0] if words else ""

    def __str__(self) -> str:
        return f"README.md:{self.line}: {self.text}"


def blocks() -> list[Block]:
    source = README.read_text()
    return [Block(m[1].lower(), source.count("\n", 0, m.start()) + 1, m[2]) for m in _FENCE.finditer(source)]


def commands() -> list[Command]:
    found = []
    for block in blocks():
        if block.lang not in SHELLS:
            continue
        pending, start = "", 0
        for offset, raw in enumerate(block.text.splitlines(), start=block.line + 1):
            if not pending and (not raw.strip() or raw.lstrip().startswith("#")):
                continue
            start = start if pending else offset
            if raw.endswith("\\"):
                pending += raw[:-1] + " "
                continue
            found.append(Command(start, (pending + raw).strip()))
            pending = ""
    return found


def _id(item: Block | Command) -> str:
    words = item.text if isinstance(item, Command) else item.lang
    return f"L{item.line}-" + re.sub(r"[^\w.=-]+", "_", words.split("#")[0].strip())[:50]


class Reader:
    """One working directory in which README's commands run in order, each at most once."""

    def __init__(self, root: Path):
        self.root = root
        shutil.copytree(STACKS, root / "stacks")
        self.done: dict[Command, str] = {}  # command -> "ok" | "failed" | why not run
        # The pmpm of this interpreter, as `pip install -e` put it on the reader's PATH.
        bindir = str(Path(sys.executable).parent)
        self.env = {**os.environ, "PATH": os.pathsep.join([bindir, os.environ.get("PATH", "")])}
        if any("demo-cuda" in command.text for command in commands()):  # as after `module load cuda`
            from cuda_fixture import cuda_home

            self.env["CUDA_HOME"] = str(cuda_home())

    def not_run(self, command: Command) -> str | None:
        """Why a command is not run here, or None."""
        if command.text.startswith(SET_UP):
            return "pmpm's own set-up: checked against .ci/run"
        if command.tool in OTHER_TOOLS and not shutil.which(command.tool, path=self.env["PATH"]):
            return f"{command.tool} is not on PATH"
        for engine, tool in ENGINE_TOOLS.items():  # pmpm driving another tool needs that tool
            if f"--engine {engine}" in command.text and not shutil.which(tool, path=self.env["PATH"]):
                return f"--engine {engine} needs {tool}, which is not on PATH"
        return None

    def run(self, command: Command) -> None:
        """Run the commands before this one that have not run yet, then this one."""
        everything = commands()
        for earlier in everything[: everything.index(command)]:
            if earlier not in self.done:
                self.done[earlier] = self.not_run(earlier) or self._execute(earlier)
            if self.done[earlier] == "failed":
                pytest.skip(f"an earlier command failed: {earlier}")
        if reason := self.not_run(command):
            self.done[command] = reason
            pytest.skip(f"{command}: {reason}")
        self.done[command] = "failed"
        result = self._execute(command)
        if result != "ok":
            pytest.fail(result, pytrace=False)
        self.done[command] = result

    def _execute(self, command: Command) -> str:
        proc = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", command.text],
            cwd=self.root,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if proc.returncode:
            return f"{command} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        return "ok"


@pytest.fixture(scope="module")
def reader(tmp_path_factory) -> Reader:
    return Reader(tmp_path_factory.mktemp("readme"))


@pytest.mark.parametrize("command", commands(), ids=_id)
def test_command(command: Command, reader: Reader):
    if command.text.startswith(SET_UP):
        ci = {line.strip() for line in CI_RUN.read_text().splitlines()}
        assert command.text.split("#")[0].strip() in ci, f"{command}: .ci/run must run exactly this line"
        return
    reader.run(command)


@pytest.mark.parametrize("block", [b for b in blocks() if b.lang not in SHELLS], ids=_id)
def test_block(block: Block, tmp_path):
    if block.lang in NOT_RUN:
        return
    if block.lang == "python":  # the Python API: run as written, beside a copy of stacks/
        shutil.copytree(STACKS, tmp_path / "stacks")
        proc = subprocess.run(
            [sys.executable, "-c", block.text],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=1800,
            env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")},
        )
        assert proc.returncode == 0, f"README.md:{block.line}: the python block failed:\n{proc.stderr[-3000:]}"
        assert (tmp_path / "env" / "bin" / "kern").is_file() or "create_stack_env" not in block.text
        return
    assert block.lang == "yaml", f"README.md:{block.line}: no rule for ```{block.lang} blocks (add one to {__file__})"
    data = YAML(typ="safe").load(block.text)
    shutil.copytree(STACKS, tmp_path / "stacks")
    written = tmp_path / "stacks" / f"readme-{block.line}.yml"
    written.write_text(block.text)
    if isinstance(data, dict) and ({"_pmpm", "dependencies"} & data.keys()):
        args = ["render", written]
    else:  # variants for the demo, as `-m FILE`
        args = ["render", tmp_path / "stacks" / "demo.yml", "-m", written]
    proc = pmpm(*args, "-o", tmp_path / "recipes", cwd=tmp_path, check=False)
    assert proc.returncode == 0, f"README.md:{block.line}: ```yaml block does not render:\n{proc.stdout}{proc.stderr}"
    assert list((tmp_path / "recipes").glob("*/recipe.yaml"))


def test_readme_has_blocks_of_each_kind():
    """A parser that silently finds nothing would pass everything above."""
    langs = {b.lang for b in blocks()}
    assert {"bash", "yaml"} <= langs
    assert any(c.tool == "pmpm" for c in commands())

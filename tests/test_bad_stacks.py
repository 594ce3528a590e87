"""The bad-input corpus: every file in tests/bad_stacks/ has exactly one mistake.

Its first line is `# expect: <message>`, the exact one-line stderr pmpm must print
(`{file}` stands for the path given on the command line). pmpm must exit 2, print
nothing on stdout, show no traceback and write nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CORPUS = sorted((HERE / "bad_stacks").glob("*.yml"))
DEMO = HERE.parent / "stacks" / "demo.yml"
PREFIX = "# expect: "


def expected_message(path: Path) -> str:
    first = path.read_bytes().splitlines()[0].decode()  # the rest may be deliberately not UTF-8
    assert first.startswith(PREFIX), f"{path.name}: first line must be '{PREFIX}<message>'"
    return first[len(PREFIX) :].strip()


def pmpm(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pmpm", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_corpus_is_big_enough():
    assert len(CORPUS) >= 20
    assert len({expected_message(p) for p in CORPUS}) == len(CORPUS), "two files expect the same message"


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_bad_stack(path: Path, tmp_path: Path):
    out = tmp_path / "out"
    result = pmpm("render", path, "-o", out)
    expected = expected_message(path).replace("{file}", str(path))
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == expected
    assert result.returncode == 2
    assert result.stdout == ""
    assert not out.exists()


@pytest.mark.parametrize("path", CORPUS[:1], ids=[p.stem for p in CORPUS[:1]])
def test_relative_path_is_reported_as_given(path: Path, tmp_path: Path):
    relative = path.relative_to(HERE.parent)
    result = pmpm("render", relative, "-o", tmp_path / "out", cwd=HERE.parent)
    assert result.stderr.strip() == expected_message(path).replace("{file}", str(relative))
    assert result.returncode == 2


def test_debug_shows_traceback(tmp_path: Path):
    path = CORPUS[0]
    result = pmpm("--debug", "render", path, "-o", tmp_path / "out")
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert expected_message(path).replace("{file}", str(path)) in result.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_march_on_command_line(tmp_path: Path):
    out = tmp_path / "out"
    result = pmpm("render", DEMO, "--variant", "march=foo", "-o", out)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "unknown microarchitecture 'foo'" in lines[0]
    assert "march=foo" in lines[0]
    assert result.stdout == ""
    assert not out.exists()


def test_several_mistakes_of_one_file_are_reported_at_once(tmp_path: Path):
    stack = tmp_path / "s.yml"
    stack.write_text(
        "name: s\nchannels: []\ndependencies: []\n_pmpm:\n  packages:\n"
        '    - {name: a, version: "1.0", source: {path: .}, kind: make, make_arg: [X=1]}\n'
        "    - {name: b, version: latest, source: {path: .}, kind: cmake}\n"
        + "".join(f'    - {{name: c{i}, version: "1.0", source: {{path: .}}, kind: cmak}}\n' for i in range(5))
    )
    result = pmpm("render", stack, "-o", tmp_path / "out")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert lines[0].startswith(
        f"{stack}:6: _pmpm.packages[a].make_arg: unknown key 'make_arg'; did you mean 'make_args'?"
    )
    assert lines[1] == (
        f"{stack}:7: _pmpm.packages[b].version: version 'latest' is a word, not a release "
        "(write the release it names, e.g. 1.2.3)"
    )
    assert len(lines) == 6 and lines[-1] == "... and 2 more", lines

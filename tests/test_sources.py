"""Sources as users have them: paths with spaces, patches, git revs, PyPI behind a mirror.

Every test builds real packages with the host's gcc through pmpm and runs the result.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from conftest import STACKS, pmpm


def _copy_demo(directory: Path) -> Path:
    directory.mkdir(parents=True)
    shutil.copy(STACKS / "demo.yml", directory / "demo.yml")
    shutil.copytree(STACKS / "demo", directory / "demo")
    return directory / "demo.yml"


def test_spaces_and_non_ascii_in_stack_and_env_paths(tmp_path):
    work = tmp_path / "my stack é"
    stack = _copy_demo(work)
    pmpm("render", stack, cwd=work)
    pmpm("build", cwd=work)
    pmpm("create", stack, "-p", "env dir ü", cwd=work)
    prefix = work / "env dir ü"
    out = subprocess.run([prefix / "bin" / "kern", "1000"], capture_output=True, text=True, check=True).stdout
    assert f"prefix={prefix}\n" in out
    assert f"installed-in {prefix}\n" in out
    assert "sum=2498.5" in pmpm("run", "-p", prefix, "kern", "1000", cwd=work).stdout


def _one_package_stack(directory: Path, source: str, kind: str = "make") -> Path:
    stack = directory / "stack.yml"
    stack.write_text(f"name: s\n_pmpm:\n  packages:\n    - name: p\n      version: '1.0'\n"
                     f"      source: {source}\n      kind: {kind}\n")
    return stack


def test_path_that_loops_or_dangles_is_a_load_time_error(tmp_path):
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "gone").symlink_to("nowhere")
    for name, what in (("loop", "is a symlink loop"), ("gone", "is a broken symlink to 'nowhere'")):
        stack = _one_package_stack(tmp_path, f"{{path: {name}}}")
        proc = pmpm("render", stack, "-o", "out", cwd=tmp_path, check=False)
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.strip() == (f"{stack}:6: _pmpm.packages[p].source.path: path {name!r} {what} "
                                       "(paths are relative to the stack file's directory)")
    assert not (tmp_path / "out").exists()

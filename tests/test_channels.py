"""Channel overrides and conda compiler mode, against a local mirror instead of conda-forge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import pmpm, repodata

pytestmark = pytest.mark.slow

SHIM = """\
package: {{name: {name}, version: "12.2.0"}}
build:
  string: system_0
  script:
    content: |
      mkdir -p $PREFIX/etc/conda/activate.d
      echo 'export {var}=/usr/bin/{exe}' > $PREFIX/etc/conda/activate.d/{name}.sh
"""


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
    """A stand-in for conda-forge: compiler packages whose activation points at the host's gcc."""
    root = tmp_path_factory.mktemp("mirror")
    for name, var, exe in (("gcc_linux-64", "CC", "gcc"), ("gxx_linux-64", "CXX", "g++")):
        (root / "recipes" / name).mkdir(parents=True)
        (root / "recipes" / name / "recipe.yaml").write_text(SHIM.format(name=name, var=var, exe=exe))
    (root / "recipes" / "make").mkdir()
    (root / "recipes" / "make" / "recipe.yaml").write_text(
        'package: {name: make, version: "4.3"}\nbuild: {script: {content: "mkdir -p $PREFIX/share"}}\n'
    )
    pmpm("build", root / "recipes", "--channel", root / "channel", "--no-test", cwd=root)
    return root / "channel"


STACK = """\
name: conda-mode
channels: [conda-forge]
dependencies: []
_pmpm:
  compiler: conda
  packages:
    - name: hello-cc
      version: "1.0"
      source: {path: .}
      kind: script
      script:
        - mkdir -p $PREFIX/bin $PREFIX/share
        - echo "$CC" > $PREFIX/share/cc.txt
        - printf 'int main(void){return 0;}' > t.c && $CC $CFLAGS t.c -o $PREFIX/bin/hello-cc
"""


def test_conda_mode_builds_against_a_mirror_with_override_channels(tmp_path, mirror):
    (tmp_path / "stack.yml").write_text(STACK)
    proc = pmpm("build", "stack.yml", "--override-channels", "-c", mirror, "--json", cwd=tmp_path)
    report = json.loads(proc.stdout)
    assert [p["status"] for p in report["packages"] if p["name"] == "hello-cc"] == ["built"]
    recipe = (tmp_path / "recipes" / "hello-cc" / "recipe.yaml").read_text()
    assert "${{ compiler('c') }}" in recipe and "${{ compiler('cxx') }}" in recipe
    from rattler.package_streaming import extract

    extract(Path(next(p for p in report["packages"] if p["name"] == "hello-cc")["files"][0]), tmp_path / "pkg")
    # The mirror's activation ran (CC is its /usr/bin/gcc), under pmpm's compiler cache.
    assert (tmp_path / "pkg" / "share" / "cc.txt").read_text().split() == ["ccache", "/usr/bin/gcc"]


def test_offline_drops_named_channels_and_says_what_was_missing(tmp_path):
    (tmp_path / "stack.yml").write_text(STACK)
    proc = pmpm("build", "stack.yml", "--offline", cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "cannot resolve the build or host requirements" in proc.stderr
    assert (
        "channels searched: file://" in proc.stderr
        and "conda-forge" not in proc.stderr.split("channels searched:")[1].splitlines()[0]
    )
    assert not [r for r in repodata(tmp_path / "local-channel").values() if r["name"] == "hello-cc"]


def _tool_stack(path: Path, says: str) -> Path:
    path.write_text(f"""name: {path.stem}
channels: []
dependencies: []
_pmpm:
  packages:
    - name: tool
      version: "1.0"
      source: {{path: .}}
      kind: script
      noarch: generic
      script: ["mkdir -p $PREFIX/share && echo {says} > $PREFIX/share/tool.txt"]
""")
    return path


def test_two_stacks_never_replace_each_others_package_unseen(tmp_path):
    """Two stacks defining one package differently build the same file name: the second is
    refused, naming both stacks, until --force says to replace it."""
    first, second = _tool_stack(tmp_path / "first.yml", "one"), _tool_stack(tmp_path / "second.yml", "two")
    pmpm("build", first, cwd=tmp_path)
    channel = tmp_path / "local-channel"
    before = (next((channel / "noarch").glob("tool-1.0-*.conda"))).read_bytes()
    proc = pmpm("build", second, "--json", cwd=tmp_path, check=False)
    assert proc.returncode == 1, proc.stderr
    (tool,) = [p for p in json.loads(proc.stdout)["packages"] if p["name"] == "tool"]
    assert tool["status"] == "failed" and str(first.resolve()) in tool["message"], tool
    assert str(second.resolve()) in tool["message"], tool
    assert "--force" in tool["message"]
    assert next((channel / "noarch").glob("tool-1.0-*.conda")).read_bytes() == before  # untouched
    pmpm("build", second, "--force", cwd=tmp_path)
    assert next((channel / "noarch").glob("tool-1.0-*.conda")).read_bytes() != before
    again = pmpm("build", first, "--json", cwd=tmp_path, check=False)
    (tool,) = [p for p in json.loads(again.stdout)["packages"] if p["name"] == "tool"]
    assert again.returncode == 1 and f"was built from {second.resolve()}" in tool["message"], tool
    assert pmpm("build", second, cwd=tmp_path).returncode == 0  # its own stack: up to date, or rebuilt in place

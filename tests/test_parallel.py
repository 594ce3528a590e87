"""-j N: independent package × variant builds overlap, and each build script gets its share of the cores."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import install_env, pmpm

STACK = """name: parallel
channels: []
dependencies: []
_pmpm:
  variants: {march: [x86-64, x86-64-v3]}
  packages:
    - name: stamp
      version: "1.0"
      source: {path: .}
      kind: script
      script:
        - mkdir -p "$PREFIX/share"
        - date +%s.%N > "$PREFIX/share/start"
        - echo "$CPU_COUNT" > "$PREFIX/share/cpu_count"
        - sleep 3
        - date +%s.%N > "$PREFIX/share/end"
"""


def _interval(channel: Path, prefix: Path, archspec: str) -> tuple[float, float, str]:
    env = install_env(channel, prefix, ["stamp"], archspec=archspec)
    share = env / "share"
    return float((share / "start").read_text()), float((share / "end").read_text()), (share / "cpu_count").read_text().strip()


def test_two_variants_of_one_package_build_side_by_side_with_a_core_each(tmp_path):
    (tmp_path / "stack.yml").write_text(STACK)
    report = json.loads(pmpm("build", "stack.yml", "-j", "2", "--json", cwd=tmp_path).stdout)
    assert [p["status"] for p in report["packages"] if p["name"] == "stamp"] == ["built", "built"]
    base = _interval(tmp_path / "local-channel", tmp_path / "env1", "x86_64")
    v3 = _interval(tmp_path / "local-channel", tmp_path / "env3", "x86_64_v3")
    assert base[2] == v3[2] == "1"                      # 2 cores, 2 builds at once: one core each
    assert max(base[0], v3[0]) < min(base[1], v3[1]), (base, v3)  # the two sleeps overlapped

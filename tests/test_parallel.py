"""-j N: independent package × variant builds overlap, and each build script gets its share of the cores."""

from __future__ import annotations

import json
import os
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
      source: {path: src}
      kind: script
      script:
        - mkdir -p "$PREFIX/share"
        - date +%s.%N > "$PREFIX/share/start"
        - echo "$CPU_COUNT" > "$PREFIX/share/cpu_count"
        - sleep 3
        - date +%s.%N > "$PREFIX/share/end"
"""


def _source_dir(root: Path) -> None:
    """A source of its own: `path: .` would hold .pmpm/, whose build dirs change while the engine copies it."""
    (root / "src").mkdir(exist_ok=True)
    (root / "src" / "README").write_text("stamp\n")


def _interval(channel: Path, prefix: Path, archspec: str) -> tuple[float, float, str]:
    env = install_env(channel, prefix, ["stamp"], archspec=archspec)
    share = env / "share"
    return (
        float((share / "start").read_text()),
        float((share / "end").read_text()),
        (share / "cpu_count").read_text().strip(),
    )


def test_two_variants_of_one_package_build_side_by_side_with_a_core_each(tmp_path):
    _source_dir(tmp_path)
    (tmp_path / "stack.yml").write_text(STACK)
    report = json.loads(pmpm("build", "stack.yml", "-j", "2", "--json", cwd=tmp_path).stdout)
    assert [p["status"] for p in report["packages"] if p["name"] == "stamp"] == ["built", "built"]
    base = _interval(tmp_path / "local-channel", tmp_path / "env1", "x86_64")
    v3 = _interval(tmp_path / "local-channel", tmp_path / "env3", "x86_64_v3")
    assert base[2] == v3[2] == "1"  # 2 cores, 2 builds at once: one core each
    assert max(base[0], v3[0]) < min(base[1], v3[1]), (base, v3)  # the two sleeps overlapped


NAMES = ("one", "two", "three", "four")


def _worker_stack(root: Path, fail: str = "") -> None:
    lines = ["name: reuse", "channels: []", "dependencies: []", "_pmpm:", "  packages:"]
    for name in NAMES:
        script = 'echo "worker-pgid $(cut -d" " -f5 /proc/$$/stat)" && echo "cpu-count=$CPU_COUNT"' + (
            " && exit 3" if name == fail else ""
        )
        lines += [
            f"    - name: {name}",
            '      version: "1.0"',
            "      source: {path: src}",
            "      kind: script",
            f"      script: ['{script}']",
        ]
    _source_dir(root)
    (root / "stack.yml").write_text("\n".join(lines) + "\n")


def _worker_groups(root: Path) -> dict[str, int]:
    """The process group each package's build script ran in: that of the engine worker serving it."""
    groups = {}
    for log in (root / ".pmpm" / "logs").glob("*.log"):
        found = [line.split()[-1] for line in log.read_text().splitlines() if line.startswith("worker-pgid ")]
        if found:
            groups[log.name.split("-1.0-")[0]] = int(found[0])
    return groups


def test_one_engine_worker_serves_every_build_of_a_slot_and_leaves_with_pmpm(tmp_path):
    """Python's start-up and py-rattler-build's import are paid once per -j slot, not per package."""
    _worker_stack(tmp_path)
    pmpm("build", "stack.yml", "-j", "1", cwd=tmp_path)
    groups = _worker_groups(tmp_path)
    assert sorted(groups) == ["four", "one", "three", "two"]
    assert len(set(groups.values())) == 1, groups
    assert not Path(f"/proc/{groups['one']}").exists()  # the worker ended with pmpm

    # --force starts the workers before pmpm sets CPU_COUNT to each build's share: every job
    # carries the value of its moment.
    pmpm("build", "stack.yml", "-j", "2", "--force", cwd=tmp_path)
    assert 1 <= len(set(_worker_groups(tmp_path).values())) <= 2
    for name in NAMES:
        log = next((tmp_path / ".pmpm" / "logs").glob(f"{name}-1.0-*.log")).read_text()
        assert "\ncpu-count=1\n" in log, log[-2000:]


def test_a_failed_build_gets_the_next_job_a_fresh_worker(tmp_path):
    _worker_stack(tmp_path, fail="two")
    proc = pmpm("build", "stack.yml", "-j", "1", "--keep-going", "--json", cwd=tmp_path, check=False)
    order = [(p["name"], p["status"]) for p in json.loads(proc.stdout)["packages"] if p["name"] in NAMES]
    assert sorted(order) == sorted((n, "failed" if n == "two" else "built") for n in NAMES)
    groups = [_worker_groups(tmp_path)[name] for name, _ in order]
    failed = [name for name, _ in order].index("two")
    assert len(set(groups[: failed + 1])) == 1 and len(set(groups[failed + 1 :])) <= 1, (order, groups)
    if failed + 1 < len(groups):
        assert groups[failed + 1] != groups[failed], (order, groups)


def test_a_path_source_holding_the_state_dir_and_channel_is_copied_and_digested_without_them(tmp_path):
    """`path: .` holds .pmpm/, where other builds' dirs come and go while the engine copies the
    source ("Could not walk dir"), and ./local-channel, which every publish changes: the recipe
    excludes both, and the fingerprint skips both (else no build would ever be up to date)."""
    (tmp_path / "marker").write_text("mine\n")
    lines = ["name: here", "channels: []", "dependencies: []", "_pmpm:", "  packages:"]
    for name in NAMES:
        lines += [
            f"    - name: {name}",
            '      version: "1.0"',
            "      source: {path: .}",
            "      kind: script",
            "      script: ['test -f marker && test ! -e .pmpm && test ! -e local-channel']",
        ]
    (tmp_path / "stack.yml").write_text("\n".join(lines) + "\n")

    def statuses() -> dict[str, str]:
        report = json.loads(pmpm("build", "stack.yml", "-j", "2", "--json", cwd=tmp_path).stdout)
        return {p["name"]: p["status"] for p in report["packages"] if p["name"] in NAMES}

    assert statuses() == dict.fromkeys(NAMES, "built")
    assert statuses() == dict.fromkeys(NAMES, "up to date")
    (tmp_path / "marker").write_text("edited\n")  # a change to the source itself still counts
    assert statuses() == dict.fromkeys(NAMES, "built")


def test_the_cpu_gate_is_published_in_one_go_before_any_other_build_starts(tmp_path, monkeypatch):
    """A level > 1 package's test environment installs its gate build from the channel, so even
    with a free slot (-j 2) no stack build starts while gate builds are unpublished. They are
    metadata only and published together: one re-index, not one per archspec name. Each build
    script counts the gate files the channel lists when it runs."""
    from pmpm import api
    from pmpm.channel.local import LocalChannel

    count = (
        "grep -o '\"_x86_64-microarch-level-[^\"]*[.]conda\"' "
        f"'{tmp_path}/local-channel/noarch/repodata.json' | sort -u | wc -l > \"$PREFIX/share/gates\""
    )
    lines = [
        "name: gated",
        "channels: []",
        "dependencies: []",
        "_pmpm:",
        "  variants: {march: [x86-64-v3]}",
        "  packages:",
    ]
    for name in ("early", "late"):
        lines += [
            f"    - name: {name}",
            '      version: "1.0"',
            "      source: {path: src}",
            "      kind: script",
            f"      script: ['mkdir -p \"$PREFIX/share\"', {json.dumps(count)}]",
        ]
    _source_dir(tmp_path)
    (tmp_path / "stack.yml").write_text("\n".join(lines) + "\n")
    published: list[list[str]] = []
    real = LocalChannel.publish_new

    def publish_new(self, files, *args, **kwargs):
        published.append(sorted(Path(f).name for f in files))
        return real(self, files, *args, **kwargs)

    monkeypatch.setattr(LocalChannel, "publish_new", publish_new)
    monkeypatch.chdir(tmp_path)
    for variable in ("CPU_COUNT", "PMPM_CCACHE_DIR", "PATH"):  # a build sets them for its scripts: restored after
        if variable in os.environ:
            monkeypatch.setenv(variable, os.environ[variable])
        else:
            monkeypatch.delenv(variable, raising=False)
    recipes = api.recipe_set([Path("stack.yml")])
    report = api.build(recipes, api.BuildOptions.of(channel=tmp_path / "local-channel", jobs=2))
    gates = [r for r in report.results if r.job.name == "_x86_64-microarch-level"]
    assert len(gates) > 30 and {r.status for r in gates} == {"built"}
    assert published[0] == sorted(f"{r.job.label}.conda" for r in gates)  # one publish, first
    assert sorted(published[1:]) == sorted([f"{r.job.label}.conda"] for r in report.results if r not in gates)
    for name in ("early", "late"):
        env = install_env(tmp_path / "local-channel", tmp_path / f"env-{name}", [name], archspec="x86_64_v3")
        assert int((env / "share" / "gates").read_text()) == len(gates), name

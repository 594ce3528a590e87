"""`pmpm lock --platform`: one lock file for several platforms (issue 13, deliverable 1).

The upstream channel is real: rattler-build builds `platdata` for linux-64 and, with
`target_platform: osx-arm64`, a genuine osx-arm64 package (its script writes only a text
file, so it builds on this host), plus a noarch `pyhelper`; rattler indexes the channel.
platdata's osx-arm64 build needs `__osx >=11` and its linux-64 build `__glibc >=2.17`, so
the osx-arm64 solve succeeds only with that platform's virtual packages, not this host's.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import warnings
from pathlib import Path

import pytest
from conftest import pmpm

FOREIGN = "osx-arm64"
PLATFORMS = ("linux-64", FOREIGN)

PLATDATA = """\
package: {name: platdata, version: "1.0"}
build:
  number: 0
  script:
    - mkdir -p $PREFIX/share/platdata
    - echo "${{ target_platform }}" > $PREFIX/share/platdata/platform.txt
requirements:
  run:
    - pyhelper
    - if: osx
      then: __osx >=11
    - if: linux
      then: __glibc >=2.17
"""

PYHELPER = """\
package: {name: pyhelper, version: "2.0"}
build:
  noarch: generic
  script:
    - mkdir -p $PREFIX/share/pyhelper && echo helper > $PREFIX/share/pyhelper/helper.txt
"""


@pytest.fixture(scope="module")
def upstream(tmp_path_factory) -> Path:
    """A conda channel with platdata for linux-64 and osx-arm64 and noarch pyhelper, all built by rattler-build."""
    import rattler.index
    import rattler_build

    root = tmp_path_factory.mktemp("upstream")
    for name, text in (("platdata", PLATDATA), ("pyhelper", PYHELPER)):
        (root / "recipes" / name).mkdir(parents=True)
        (root / "recipes" / name / "recipe.yaml").write_text(text)
    out = root / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # build_recipes: the one call that takes target_platform
        rattler_build.build_recipes(
            [root / "recipes" / "pyhelper" / "recipe.yaml"], output_dir=out, test="skip", no_include_recipe=True
        )
        for platform in PLATFORMS:
            rattler_build.build_recipes(
                [root / "recipes" / "platdata" / "recipe.yaml"],
                output_dir=out,
                test="skip",
                target_platform=platform,
                no_include_recipe=True,
            )
    channel = root / "channel"
    for package in out.glob("*/*.conda"):
        (channel / package.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(package, channel / package.parent.name / package.name)
    asyncio.run(rattler.index.index_fs(channel, write_zst=False, write_shards=False))
    for subdir in (*PLATFORMS, "noarch"):
        assert json.loads((channel / subdir / "repodata.json").read_text())["packages.conda"], subdir
    return channel


def write_stack(path: Path, upstream: Path, *, noarch: bool) -> Path:
    """A local package `glue` needing platdata; noarch generic, or a linux-64 build."""
    path.write_text(f"""\
name: mp
channels: [{upstream.as_uri()}]
dependencies: [platdata]
_pmpm:
  packages:
    - name: glue
      version: "1.0"
      source: {{path: .}}
      kind: script
{"      noarch: generic" if noarch else ""}
      requirements: {{run: [platdata]}}
      script: ["mkdir -p $PREFIX/share/glue && echo glue > $PREFIX/share/glue/glue.txt"]
""")
    return path


def lock_records(lock: Path) -> dict[str, dict[str, tuple]]:
    """platform -> name -> (version, build, subdir, url, sha256), read back by rattler."""
    from rattler import LockFile

    lock_file = LockFile.from_path(lock)
    environment = lock_file.default_environment()
    return {
        p.name: {
            r.name.normalized: (str(r.version), str(r.build), r.subdir, r.url, r.sha256.hex())
            for r in environment.conda_repodata_records_for_platform(p)
        }
        for p in lock_file.platforms()
    }


def explicit_urls(path: Path) -> tuple[str, list[str]]:
    lines = path.read_text().splitlines()
    platform = next(l.split(":", 1)[1].strip() for l in lines if l.startswith("# platform:"))
    return platform, lines[lines.index("@EXPLICIT") + 1 :]


def test_lock_two_platforms_into_one_lock_then_create_and_verify_linux(upstream, tmp_path):
    stack = write_stack(tmp_path / "mp.yml", upstream, noarch=True)
    pmpm("build", stack, "--no-test", cwd=tmp_path)
    proc = pmpm("lock", stack, "--platform", "linux-64", "--platform", FOREIGN, cwd=tmp_path)
    assert f"for {FOREIGN}" in proc.stdout and "for linux-64" in proc.stdout

    locked = lock_records(tmp_path / "mp.lock")
    assert set(locked) == set(PLATFORMS)
    for platform in PLATFORMS:
        assert set(locked[platform]) == {"glue", "platdata", "pyhelper"}, locked[platform]
        assert locked[platform]["platdata"][2] == platform
        assert f"/{platform}/platdata-1.0-" in locked[platform]["platdata"][3]
        for noarch in ("glue", "pyhelper"):
            assert locked[platform][noarch][2] == "noarch"
    assert locked["linux-64"]["platdata"][4] != locked[FOREIGN]["platdata"][4]  # two real, different packages
    assert locked["linux-64"]["glue"] == locked[FOREIGN]["glue"]  # the one local noarch build

    for platform in PLATFORMS:
        md5_list, sha_list = tmp_path / f"mp-{platform}.txt", tmp_path / f"mp-{platform}.sha256.txt"
        for path, digest in ((md5_list, 32), (sha_list, 64)):
            listed_platform, urls = explicit_urls(path)
            assert listed_platform == platform
            assert sorted(u.split("#")[0] for u in urls) == sorted(r[3] for r in locked[platform].values())
            assert all(len(u.split("#")[1]) == digest for u in urls)
        assert {u.split("#")[1] for u in explicit_urls(sha_list)[1]} == {r[4] for r in locked[platform].values()}

    # create --locked on this linux-64 host takes the linux-64 part of the lock; verify agrees
    prefix = tmp_path / "env"
    pmpm("create", stack, "-p", prefix, "--locked", cwd=tmp_path)
    installed = {
        r["name"]: (r["version"], r["build"], r["subdir"], r["url"], r["sha256"])
        for r in (json.loads(p.read_text()) for p in (prefix / "conda-meta").glob("*.json"))
    }
    assert installed == locked["linux-64"]
    assert (prefix / "share" / "platdata" / "platform.txt").read_text().strip() == "linux-64"
    proc = pmpm("verify", "-p", prefix, "--lock", tmp_path / "mp.lock", cwd=tmp_path)
    assert "matches" in proc.stdout


def test_foreign_platform_uses_its_virtual_packages_and_conda_overrides(upstream, tmp_path):
    stack = write_stack(tmp_path / "mp.yml", upstream, noarch=True)
    pmpm("build", stack, "--no-test", cwd=tmp_path)
    # only osx-arm64 in the lock: platdata's osx-arm64 build needs __osx >=11, which this host lacks
    pmpm("lock", stack, "--platform", FOREIGN, cwd=tmp_path)
    assert set(lock_records(tmp_path / "mp.lock")) == {FOREIGN}
    assert not (tmp_path / "mp-linux-64.txt").exists()
    # create --locked needs the linux-64 part: one line, naming what the lock holds
    proc = pmpm("create", stack, "-p", tmp_path / "env", "--locked", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr  # the user's mistake (issue 23: was 1)
    assert proc.stderr.count("pmpm lock") == 1, proc.stderr
    assert "no default environment for linux-64" in proc.stderr and FOREIGN in proc.stderr
    # CONDA_OVERRIDE_OSX, as in conda: a macOS too old for platdata cannot be solved
    proc = pmpm(
        "lock",
        stack,
        "--platform",
        FOREIGN,
        "-o",
        tmp_path / "old.lock",
        cwd=tmp_path,
        check=False,
        env={"CONDA_OVERRIDE_OSX": "10.15"},
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "cannot be solved" in proc.stderr and "__osx" in proc.stderr
    assert not (tmp_path / "old.lock").exists()


def test_compiled_local_package_cannot_be_locked_for_another_platform(upstream, tmp_path):
    stack = write_stack(tmp_path / "mp.yml", upstream, noarch=False)
    pmpm("build", stack, "--no-test", cwd=tmp_path)
    assert list((tmp_path / "local-channel" / "linux-64").glob("glue-1.0-*.conda"))
    proc = pmpm("lock", stack, "--platform", "linux-64", "--platform", FOREIGN, cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "glue" in lines[0] and FOREIGN in lines[0] and "noarch" in lines[0]
    assert not (tmp_path / "mp.lock").exists()
    # linux-64 alone locks fine
    pmpm("lock", stack, cwd=tmp_path)
    assert set(lock_records(tmp_path / "mp.lock")) == {"linux-64"}

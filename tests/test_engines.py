"""The engine contracts: the exact command lines pmpm runs for conda-build and a rattler-build
executable, the per-job variant config they get, a rendered directory building with
rattler-build's own API alone, and (whenever conda, conda-build or mamba are on PATH) the real
tools building and installing the demo.

conda, conda-build and mamba cannot be installed from the registries reachable where this
suite was written: the integration tests below were written from their documented contracts
(see the comments) and skip, saying so, where the tools are missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import rattler_build
from conftest import STACKS, install_env, pmpm

from pmpm.engines.base import BuildRequest, PlannedBuild, plan_recipe
from pmpm.engines.external import CondaBuild, RattlerBuildExe
from pmpm.variants import microarch
from pmpm.variants.cbc import job_config, load_cbc
from pmpm.variants.cbc import write as config_yaml

# A rendered config as `pmpm render` writes it: strings, one zip group, a flag with a comma.
VALUES = {
    "march": ["x86-64", "x86-64-v3"],
    "mtune": ["generic", "generic"],
    "microarch_level": ["1", "3"],
    "opt": ["-O3"],
    "ldflags": ["-Wl,-O1"],
    "cflags": [""],
    "python": ["3.11"],
}
ZIPS = [["march", "mtune", "microarch_level"]]
V3 = {
    "march": "x86-64-v3",
    "mtune": "generic",
    "microarch_level": "3",
    "opt": "-O3",
    "ldflags": "-Wl,-O1",
    "cflags": "",
    "target_platform": "linux-64",
}
CHANNELS = ["file:///srv/local-channel", "https://conda.anaconda.org/conda-forge"]


@pytest.fixture
def recipes(tmp_path):
    """A v1 recipe directory and one `pmpm render --format meta.yaml` wrote (both files)."""
    for name, files in (("v1", ["recipe.yaml"]), ("classic", ["recipe.yaml", "meta.yaml"])):
        (tmp_path / name / "libkern").mkdir(parents=True)
        for file in files:
            (tmp_path / name / "libkern" / file).write_text("# stand-in\n")
    return tmp_path


def planned(recipe: Path) -> PlannedBuild:
    return PlannedBuild(
        name="libkern",
        version="0.1.0",
        build_string="h0123abc_x86_64_v3_0",
        noarch=False,
        variant=dict(V3),
        recipe=recipe,
        requirements={},
        source_paths=[],
    )


def request(tmp: Path, **options) -> BuildRequest:
    return BuildRequest(
        output_dir=tmp / "out" / "job",
        channels=list(CHANNELS),
        variant_file=tmp / "cbc.yaml",
        variants=VALUES,
        zip_keys=ZIPS,
        **options,
    )


# --- conda build, v1 recipe.yaml -------------------------------------------------------------
# Flags: conda/conda-build conda_build/cli/main_build.py (`--output-folder`, `-e/--exclusive-config-file`,
# `--package-format`, `--no-test`, `--no-build-id`) and conda's add_parser_channels (`-c`,
# `--override-channels`). Allowed for v1: VALID_ARGS["build"] in conda_build/_rattler_build/compat.py.

V1_ALLOWED = {
    "--output-folder",
    "-e",
    "--package-format",
    "--override-channels",
    "-c",
    "--no-test",
    "--no-build-id",
    "-m",
    "--exclusive-config-file",
    "--variant-config-files",
    "--channel",
}


def v1_head(tmp: Path) -> list[str]:
    return [
        "conda",
        "build",
        str(tmp / "v1" / "libkern"),
        "--output-folder",
        str(tmp / "out" / "job"),
        "--package-format",
        ".conda",
        "-e",
        str(tmp / "out" / "job.conda_build_config.yaml"),
        "--override-channels",
        "-c",
        "file:///srv/local-channel",
        "-c",
        "https://conda.anaconda.org/conda-forge",
    ]


@pytest.mark.parametrize(
    "options, tail",
    [
        ({}, []),
        ({"test": False}, ["--no-test"]),
        # pmpm's --dirty: no build id; the persistent build tree is in pmpm's derived recipe.
        ({"dirty": True, "work_dir": Path("/w/croot")}, ["--no-build-id"]),
    ],
    ids=["default", "no-test", "dirty"],
)
def test_conda_build_v1_command(recipes, options, tail):
    argv = CondaBuild("conda").command(planned(recipes / "v1" / "libkern" / "recipe.yaml"), request(recipes, **options))
    assert argv == v1_head(recipes) + tail
    # conda-build 26 raises "Invalid arguments for conda-build" on anything else (--variants, --croot, --dirty …)
    assert {a for a in argv if a.startswith("-")} <= V1_ALLOWED


def test_conda_build_v1_without_channels_has_no_override(recipes):
    # compat.py: "Channels must be specified using -c/--channel argument when --override-channels is used."
    req = request(recipes)
    req.channels = []
    argv = CondaBuild("conda").command(planned(recipes / "v1" / "libkern" / "recipe.yaml"), req)
    assert "--override-channels" not in argv and "-c" not in argv


# --- conda build, classic meta.yaml ------------------------------------------------------------
# `-m/--variant-config-files`, `--variants` (a YAML mapping read with BaseLoader), `--no-anaconda-upload`,
# `--dirty`, `--croot`: conda_build/cli/main_build.py. A file path as RECIPE_PATH: main_build.check_recipe
# ("Forcing conda-build to use the recipe file"), utils.find_recipe returns it as is.

VARIANTS_V3 = (
    '{"cflags": [""], "ldflags": ["-Wl,-O1"], "march": ["x86-64-v3"], "microarch_level": ["3"], '
    '"mtune": ["generic"], "opt": ["-O3"]}'
)


def classic_head(tmp: Path) -> list[str]:
    return [
        "conda",
        "build",
        str(tmp / "classic" / "libkern" / "meta.yaml"),
        "--output-folder",
        str(tmp / "out" / "job"),
        "--package-format",
        ".conda",
        "-m",
        str(tmp / "cbc.yaml"),
        "--variants",
        VARIANTS_V3,
        "--no-anaconda-upload",
        "--override-channels",
        "-c",
        "file:///srv/local-channel",
        "-c",
        "https://conda.anaconda.org/conda-forge",
    ]


@pytest.mark.parametrize(
    "options, tail",
    [
        ({}, []),
        ({"test": False}, ["--no-test"]),
        ({"dirty": True, "work_dir": Path("/w/croot")}, ["--dirty", "--croot", "/w/croot"]),
    ],
    ids=["default", "no-test", "dirty"],
)
def test_conda_build_classic_command(recipes, options, tail):
    argv = CondaBuild("conda").command(
        planned(recipes / "classic" / "libkern" / "recipe.yaml"), request(recipes, **options)
    )
    assert argv == classic_head(recipes) + tail


def test_classic_dirty_builds_the_rendered_meta_yaml_not_the_derived_copy(recipes, tmp_path):
    """--dirty plans from a derived recipe.yaml in pmpm's workspace; conda-build's own --dirty
    reuses its work dir, so it builds the meta.yaml pmpm rendered."""
    derived = tmp_path / "ws" / "recipe"
    derived.mkdir(parents=True)
    (derived / "recipe.yaml").write_text("# derived\n")
    req = request(recipes, dirty=True, work_dir=Path("/w/croot"))
    req.origin_recipe = recipes / "classic" / "libkern" / "recipe.yaml"
    argv = CondaBuild("conda").command(planned(derived / "recipe.yaml"), req)
    assert argv[2] == str(recipes / "classic" / "libkern" / "meta.yaml")


def test_variants_value_is_yaml_conda_build_reads_as_strings():
    # main_build.ParseYAMLArgument: yaml.load(values[0], Loader=yaml.BaseLoader), must be a dict;
    # ruamel's "base" loader is the same YAML 1.1 base loader (every scalar a string)
    from ruamel.yaml import YAML

    parsed = YAML(typ="base").load(VARIANTS_V3)
    assert dict(parsed)["microarch_level"] == ["3"] and dict(parsed)["cflags"] == [""]


def test_solver_is_conda_s_environment_setting_not_a_flag(recipes):
    # conda-build has no --solver; CONDA_SOLVER is the environment form of conda's --solver
    # (conda-libmamba-solver user guide).
    engine = CondaBuild("conda", solver="libmamba")
    for kind in ("v1", "classic"):
        argv = engine.command(planned(recipes / kind / "libkern" / "recipe.yaml"), request(recipes))
        assert "--solver" not in argv
    job = planned(recipes / "v1" / "libkern" / "recipe.yaml")
    assert engine.environment(request(recipes), job) == {"CONDA_SOLVER": "libmamba"}
    assert CondaBuild("conda").environment(request(recipes), job) == {}


def test_libmamba_without_the_plugin_is_one_clear_error(tmp_path):
    from pmpm.engines.external import check_solver
    from pmpm.errors import EngineError

    (tmp_path / "bin").mkdir()
    python = tmp_path / "bin" / "python"
    python.symlink_to(sys.executable)  # a python without conda_libmamba_solver
    (tmp_path / "bin" / "conda").write_text("#!/bin/sh\n")
    if subprocess.run([sys.executable, "-c", "import conda_libmamba_solver"], capture_output=True).returncode == 0:
        pytest.skip("this python has conda_libmamba_solver")
    with pytest.raises(EngineError, match="needs conda-libmamba-solver"):
        check_solver(str(tmp_path / "bin" / "conda"), "libmamba")
    check_solver(str(tmp_path / "bin" / "conda"), "classic")


# --- rattler-build executable -----------------------------------------------------------------
# prefix-dev/rattler-build docs/reference/cli.md: `--recipe`, `--output-dir`, `-m/--variant-config`,
# `--variant KEY=VALUE` (commas make several variants, so -Wl,-O1 and "" stay in the -m file),
# `--test skip|native`, `-c/--channel`, `--no-build-id`.


@pytest.mark.parametrize(
    "options, test, tail",
    [({}, "native", []), ({"test": False}, "skip", []), ({"dirty": True}, "native", ["--no-build-id"])],
    ids=["default", "no-test", "dirty"],
)
def test_rattler_build_command(recipes, options, test, tail):
    recipe = recipes / "v1" / "libkern" / "recipe.yaml"
    argv = RattlerBuildExe("rattler-build").command(planned(recipe), request(recipes, **options))
    assert argv == [
        "rattler-build",
        "build",
        "--recipe",
        str(recipe),
        "--output-dir",
        str(recipes / "out" / "job"),
        "-m",
        str(recipes / "out" / "job.conda_build_config.yaml"),
        "--variant",
        "march=x86-64-v3",
        "--variant",
        "microarch_level=3",
        "--variant",
        "mtune=generic",
        "--variant",
        "opt=-O3",
        "--test",
        test,
        "-c",
        "file:///srv/local-channel",
        "-c",
        "https://conda.anaconda.org/conda-forge",
        *tail,
    ]


# --- the per-job variant config ---------------------------------------------------------------


def test_job_config_pins_one_row_of_each_touched_zip_group():
    values, zips = job_config(VALUES, ZIPS, V3)
    assert values == {
        "march": ["x86-64-v3"],
        "mtune": ["generic"],
        "microarch_level": ["3"],
        "opt": ["-O3"],
        "ldflags": ["-Wl,-O1"],
        "cflags": [""],
        "python": ["3.11"],
    }
    assert zips == ZIPS


def test_job_config_keeps_groups_the_variant_does_not_use():
    values = {**VALUES, "gate_name": ["a", "b"], "gate_level": ["1", "2"]}
    narrowed, zips = job_config(values, [*ZIPS, ["gate_name", "gate_level"]], V3)
    assert narrowed["gate_name"] == ["a", "b"] and narrowed["gate_level"] == ["1", "2"]
    assert zips == [*ZIPS, ["gate_name", "gate_level"]]


@pytest.fixture(scope="module")
def rendered_demo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rendered")
    pmpm("render", STACKS / "demo.yml", "-o", root / "recipes", "--variant", "march=x86-64,x86-64-v3", cwd=root)
    return root / "recipes"


def test_job_config_renders_exactly_the_planned_build(rendered_demo, tmp_path):
    """Read back as conda-build 26 reads it for a v1 recipe (VariantConfig.from_file, compat.py) and
    as a conda_build_config.yaml: every planned build of every recipe, gate included, renders
    alone and with the same build string (so the same hash)."""
    values, zips = load_cbc(rendered_demo / "conda_build_config.yaml", "linux-64")
    jinja = rattler_build.JinjaConfig(platform=rattler_build.PlatformConfig(target_platform="linux-64"))
    seen = 0
    for recipe in sorted(rendered_demo.glob("*/recipe.yaml")):
        for build in plan_recipe(recipe, values, zips):
            path = tmp_path / "conda_build_config.yaml"
            path.write_text(config_yaml(*job_config(values, zips, build.variant), exact=True))
            for config in (
                rattler_build.VariantConfig.from_file(path),
                rattler_build.VariantConfig.from_conda_build_config(path, jinja),
            ):
                again = rattler_build.Stage0Recipe.from_file(recipe).render(config)
                assert [v.recipe.build.string for v in again] == [build.build_string], recipe
            seen += 1
    assert seen >= 4 + 4  # libkern and kern-cli × 2 marches, and the gate builds


# --- a missing engine ---------------------------------------------------------------------------


@pytest.mark.parametrize("engine, tool", [("conda-build", "conda"), ("rattler-build-exe", "rattler-build")])
def test_missing_engine_is_one_line_and_a_failure(rendered_demo, tmp_path, engine, tool):
    path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])
    if shutil.which(tool, path=path):
        pytest.skip(f"{tool} is installed in {path}")
    proc = pmpm(
        "build",
        rendered_demo,
        "--engine",
        engine,
        "--channel",
        tmp_path / "ch",
        cwd=tmp_path,
        check=False,
        env={"PATH": path, "CONDA_EXE": ""},
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr
    assert tool in lines[0] and "--engine rattler-build" in lines[0], lines[0]
    assert not (tmp_path / "ch" / "linux-64").exists() or not list((tmp_path / "ch").glob("*/*.conda"))


# --- (c) the rendered directory builds with rattler-build's API alone ---------------------------

API_BUILD = textwrap.dedent('''
    """Build a `pmpm render` directory with py-rattler-build and py-rattler only (no pmpm)."""
    import asyncio, os, sys
    from pathlib import Path
    from rattler.index import index_fs
    from rattler_build import (JinjaConfig, PlatformConfig, Stage0Recipe, ToolConfiguration, VariantConfig)

    recipes, channel, host_level = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    jinja = JinjaConfig(platform=PlatformConfig(target_platform="linux-64"))
    config = VariantConfig.from_conda_build_config(recipes / "conda_build_config.yaml", jinja)
    asyncio.run(index_fs(channel, write_zst=False, write_shards=False))
    for name in sys.argv[4:]:  # dependency order
        for variant in Stage0Recipe.from_file(recipes / name / "recipe.yaml").render(config):
            # a binary this host cannot run cannot be tested here
            runnable = int(variant.variant.get("microarch_level", 1)) <= host_level
            tool = ToolConfiguration(test_strategy="native" if runnable else "skip")
            variant.run_build(tool_config=tool, output_dir=channel, channels=[channel.as_uri()])
            print("built", name, variant.recipe.build.string, flush=True)
        asyncio.run(index_fs(channel, force=True, write_zst=False, write_shards=False))
    print("done", flush=True)
    os._exit(0)  # py-rattler's runtime can crash the interpreter at teardown (see conftest.py)
''')


def test_rendered_directory_builds_with_rattler_build_api_alone(rendered_demo, tmp_path):
    channel = tmp_path / "channel"
    channel.mkdir()
    script = tmp_path / "build.py"
    script.write_text(API_BUILD)
    order = ["_x86_64-microarch-level", "libkern", "kern-cli"]
    proc = subprocess.run(
        [sys.executable, script, rendered_demo, channel, str(microarch.host_level()), *order],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env={**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]},
    )
    assert proc.returncode == 0 and proc.stdout.endswith("done\n"), proc.stdout[-2000:] + proc.stderr[-3000:]
    names = sorted(p.name for p in channel.glob("linux-64/kern-cli-*.conda"))
    assert len(names) == 2, names
    assert any(n.endswith("_x86_64_0.conda") for n in names) and any(n.endswith("_x86_64_v3_0.conda") for n in names)
    assert list(channel.glob("noarch/_x86_64-microarch-level-3-*_x86_64_v3.conda"))


# --- integration: the real conda-build, conda and mamba -----------------------------------------


def _conda() -> str | None:
    return os.environ.get("CONDA_EXE") or shutil.which("conda")


def _has_conda_build() -> bool:
    conda = _conda()
    return bool(conda) and subprocess.run([conda, "build", "--version"], capture_output=True).returncode == 0


needs_conda_build = pytest.mark.skipif(
    not _has_conda_build(),
    reason="conda with conda-build is not on PATH "
    "(no registry reachable here has them); runs wherever they are installed",
)
needs_conda = pytest.mark.skipif(not _conda(), reason="conda is not on PATH (no registry reachable here has it)")
needs_mamba = pytest.mark.skipif(
    not shutil.which("mamba"), reason="mamba is not on PATH (no registry reachable here has it)"
)


def objdump_registers(library: Path) -> dict[str, int]:
    text = subprocess.run(["objdump", "-d", str(library)], capture_output=True, text=True, check=True).stdout
    return {reg: text.count(f"%{reg}") for reg in ("xmm", "ymm", "zmm")}


@pytest.fixture(scope="module", params=["recipe.yaml", "meta.yaml"])
def conda_build_demo(request, tmp_path_factory):
    """The demo built by `pmpm build --engine conda-build` for two marches, in one recipe format."""
    if not _has_conda_build():
        pytest.skip("conda with conda-build is not on PATH")
    root = tmp_path_factory.mktemp(f"conda-build-{request.param}")
    pmpm(
        "render",
        STACKS / "demo.yml",
        "-o",
        root / "recipes",
        "--variant",
        "march=x86-64,x86-64-v3",
        "--format",
        request.param,
        cwd=root,
    )
    proc = pmpm("build", root / "recipes", "--engine", "conda-build", "--json", cwd=root, timeout=3600)
    return root / "local-channel", json.loads(proc.stdout), request.param


@pytest.mark.slow
@needs_conda_build
def test_conda_build_engine_builds_both_marches(conda_build_demo, tmp_path):
    channel, report, fmt = conda_build_demo
    assert report["ok"], report
    names = sorted(p.name for p in channel.glob("linux-64/*.conda"))
    for package in ("libkern", "kern-cli"):
        for tag in ("_x86_64_0.conda", "_x86_64_v3_0.conda"):
            # the real hash, not conda-build's first-pass placeholder (meta.yaml: h{{ PKG_HASH }})
            assert any(n.startswith(f"{package}-0.1.0-h") and n.endswith(tag) and "1234567" not in n for n in names), (
                fmt,
                names,
            )
    envs = {
        level: install_env(channel, tmp_path / level, ["kern-cli"], archspec=level) for level in ("x86_64", "x86_64_v3")
    }
    v3 = objdump_registers(envs["x86_64_v3"] / "lib" / "libkern.so.0.1.0")
    base = objdump_registers(envs["x86_64"] / "lib" / "libkern.so.0.1.0")
    assert v3["ymm"] > 0, v3
    assert base["ymm"] == 0 and base["zmm"] == 0 and base["xmm"] > 0, base


# What conda or mamba reports as __archspec is overridden (research: conda's archspec virtual package
# and libmamba's get_archspec both return CONDA_OVERRIDE_ARCHSPEC verbatim); the channel has the
# baseline and x86-64-v3, so a v2 host gets the baseline and v3/v4 hosts the v3 build.
BEST = {"x86_64_v2": "_x86_64_0", "x86_64_v3": "_x86_64_v3_0", "x86_64_v4": "_x86_64_v3_0"}


def _create(tool: list[str], channel: Path, prefix: Path, archspec: str, tmp: Path) -> str:
    env = {
        **os.environ,
        "CONDA_OVERRIDE_ARCHSPEC": archspec,
        "CONDA_PKGS_DIRS": str(tmp / "pkgs"),
        "CONDARC": str(tmp / "condarc"),
    }
    (tmp / "condarc").write_text("channels: []\n")
    # --offline still reads file:// channels (conda/core/subdir_data.py); --override-channels: no defaults
    argv = [
        *tool,
        "create",
        "--offline",
        "--yes",
        "-p",
        str(prefix),
        "--override-channels",
        "-c",
        channel.as_uri(),
        "kern-cli",
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, f"{' '.join(argv)}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    [record] = prefix.glob("conda-meta/kern-cli-*.json")
    return json.loads(record.read_text())["build"]


def _check_runs(prefix: Path, build: str) -> None:
    level = 3 if "_v3_" in build else 1
    if level <= microarch.host_level():
        out = subprocess.run([prefix / "bin" / "kern", "1000", "3"], capture_output=True, text=True, check=True).stdout
        assert ("isa=avx2" if level == 3 else "isa=sse2") in out


@pytest.mark.slow
@needs_conda
@pytest.mark.parametrize("archspec", sorted(BEST))
def test_conda_create_offline_picks_the_best_build(demo_build, tmp_path, archspec):
    build = _create([_conda()], demo_build.channel, tmp_path / "env", archspec, tmp_path)
    assert build.endswith(BEST[archspec]), build
    _check_runs(tmp_path / "env", build)


@pytest.mark.slow
@needs_mamba
@pytest.mark.parametrize("archspec", sorted(BEST))
def test_mamba_create_offline_picks_the_best_build(demo_build, tmp_path, archspec):
    build = _create([shutil.which("mamba")], demo_build.channel, tmp_path / "env", archspec, tmp_path)
    assert build.endswith(BEST[archspec]), build
    _check_runs(tmp_path / "env", build)

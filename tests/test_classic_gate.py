"""The CPU gate as classic conda-build builds it (`pmpm render --format meta.yaml`), issue 24.

conda-build is not installable here, so the contract is pinned with the rules its source states
(conda/conda-build, 23.x-24.x; cited in README, "conda-build and the two recipe formats"):

- variants.py `explode_variants` zips each `zip_keys` group into rows; `list_of_dicts_to_dict_of_lists`
  reduces a zipped group as a *set* of tuples, and metadata.py `get_reduced_variant_set` keeps one
  arbitrary value of a key outside the used groups: a zipped key with repeated values (the gate's
  levels 1, 1, 1, 2, ...) is not kept aligned (conda/conda-build#4987; conda-build 26.7.1 rendered
  all 33 gate builds at version 4). So the classic gate's only variant key is the archspec name,
  unique per build, and its version is looked up from the name in the recipe itself.
- conda-build renders meta.yaml with Jinja2, the variant's values in the context.
- build.py `test()` solves the package's run requirements against the host's virtual packages,
  which `CONDA_OVERRIDE_ARCHSPEC` replaces (conda/plugins/virtual_packages/archspec.py): set per
  gate build, `__archspec 1.* NAME` is satisfiable on any host.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
from conftest import STACKS, pmpm
from ruamel.yaml import YAML
from test_engines import _conda, needs_conda_build

from pmpm.engines.base import BuildRequest, PlannedBuild
from pmpm.engines.external import CondaBuild
from pmpm.variants import microarch


@pytest.fixture(scope="module")
def classic(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("classic")
    pmpm("render", STACKS / "demo.yml", "-o", out / "recipes", "--format", "meta.yaml", cwd=out)
    return out / "recipes"


def _conda_build_render(meta: Path, variant: dict) -> dict:
    """meta.yaml as conda-build renders it for one variant: Jinja2 over the text, then YAML."""
    text = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(meta.read_text()).render(**variant)
    return YAML(typ="safe").load(text)


def _loop_values(cbc: Path, key: str) -> list[str]:
    """The values of `key` in the rendered config, each one variant of a recipe that uses only it."""
    return [str(v) for v in YAML(typ="safe").load(cbc.read_text())[key]]


def test_every_classic_gate_build_has_its_own_level(classic):
    names = _loop_values(classic / "conda_build_config.yaml", microarch.GATE_NAME_KEY)
    assert len(names) == len(set(names)) == len(microarch.gate_builds())  # one variant per name, no repeats
    meta = classic / microarch.GATE_PACKAGE / "meta.yaml"
    rendered = {}
    for name in names:
        doc = _conda_build_render(meta, {microarch.GATE_NAME_KEY: name})
        assert doc["build"]["string"] == f"0_{name}"
        assert doc["requirements"]["run"] == [f"__archspec 1.* {name}"]
        rendered[name] = int(doc["package"]["version"])
    assert rendered == dict(microarch.gate_builds())  # exactly the 33 (name, level) pairs
    assert rendered["core2"] == 1 and rendered["x86_64_v4"] == 4 and rendered["zen4"] == 4
    # The level is not taken from the zipped, repeating config key conda-build misaligns.
    assert microarch.GATE_LEVEL_KEY not in meta.read_text().split("{% set levels")[1]


def test_conda_build_gets_each_gate_build_s_own_archspec(tmp_path):
    engine = CondaBuild("conda")
    for name, _ in microarch.gate_builds():
        job = PlannedBuild(
            name=microarch.GATE_PACKAGE,
            version="1",
            build_string=f"0_{name}",
            noarch=True,
            variant={microarch.GATE_NAME_KEY: name},
            recipe=tmp_path / "meta.yaml",
            requirements={},
            source_paths=[],
        )
        env = engine.environment(BuildRequest(output_dir=tmp_path / "out", channels=[]), job)
        assert env["CONDA_OVERRIDE_ARCHSPEC"] == name


def _solvable(spec: str, archspec: str) -> bool:
    """Whether `spec` solves on a host whose __archspec is `archspec`, as conda reports it under
    CONDA_OVERRIDE_ARCHSPEC (any string: py-rattler's own override knows fewer names than conda's)."""
    import asyncio

    import rattler
    from rattler import BuildString, GenericVirtualPackage, MatchSpec, PackageName, Version
    from rattler.exceptions import SolverError

    host = [GenericVirtualPackage(PackageName("__archspec"), Version("1"), BuildString(archspec))]
    try:
        asyncio.run(rattler.solve([], [MatchSpec(spec)], platforms=["linux-64", "noarch"], virtual_packages=host))
    except SolverError:
        return False
    return True


def test_the_gate_s_run_requirement_solves_for_every_name_with_the_override():
    """What conda-build's test phase asks of each gate build: with the override each build sets,
    satisfiable for every name; with another CPU's, not (the failure conda-build 26 showed)."""
    for name, _ in microarch.gate_builds():
        assert _solvable(f"__archspec 1.* {name}", archspec=name), name
        assert not _solvable(f"__archspec 1.* {name}", archspec="some_other_cpu"), name


@pytest.mark.slow
@needs_conda_build
def test_conda_render_lists_each_gate_name_with_its_own_level(classic, tmp_path):
    """The check of issue 24 with the real tool: `conda render` of the rendered meta.yaml alone."""
    import shutil
    import subprocess

    shutil.copytree(classic / microarch.GATE_PACKAGE, tmp_path / "gate")
    out = subprocess.run(
        [_conda(), "render", str(tmp_path / "gate"), "-m", str(classic / "conda_build_config.yaml"), "--output"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    files = sorted(line.rsplit("/", 1)[-1] for line in out.split() if line.endswith((".conda", ".tar.bz2")))
    expected = sorted(f"{microarch.GATE_PACKAGE}-{level}-0_{name}" for name, level in microarch.gate_builds())
    assert [f.removesuffix(".conda").removesuffix(".tar.bz2") for f in files] == expected

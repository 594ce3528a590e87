"""Packages only PyPI has (issue 29): `_pmpm.pypi` made into conda packages of the local channel.

The end-to-end tests build aiohttp and what it needs (multidict, yarl, frozenlist, propcache
compiled; aiosignal, attrs, aiohappyeyeballs, idna, typing_extensions pure; setuptools 80,
expandvars, pkgconfig and Cython as build tools) from an on-disk PyPI index (`pypi_index`) on
the python fixture channel, which has python, pip and an older setuptools and Cython.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from conftest import pmpm
from packaging.requirements import Requirement
from pypi_index import index_env, index_root
from python_fixture import objdump_ymm
from ruamel.yaml import YAML
from test_python import env_python, python_channel, upstream  # noqa: F401  (a fixture)

from pmpm.recipes.pypi import applies, conda_name, conda_spec

V3 = {"CONDA_OVERRIDE_ARCHSPEC": "x86_64_v3"}


@pytest.mark.parametrize(
    "pypi, conda",
    [("aiohttp", "aiohttp"), ("Typing_Extensions", "typing_extensions"), ("msgpack", "msgpack-python")]
    + [("tables", "pytables"), ("matplotlib", "matplotlib-base"), ("torch", "pytorch"), ("Foo.Bar_baz", "foo-bar-baz")],
)
def test_names_follow_pep_503_and_conda_forge_s_own_spellings(pypi, conda):
    assert conda_name(pypi) == conda
    assert conda_spec(Requirement(pypi)) == conda


@pytest.mark.parametrize(
    "requirement, spec",
    [
        ("yarl<2.0,>=1.25.1", "yarl <2.0,>=1.25.1"),
        ("attrs>=17.3.0", "attrs >=17.3.0"),
        ("cython~=3.1", "cython >=3.1,<4"),
        ("pkg~=1.4.2", "pkg >=1.4.2,<1.5"),
        ("pkg===1.0", "pkg ==1.0"),
        ("pkg==2.*", "pkg ==2.*"),
        ("msgpack!=1.0.1", "msgpack-python !=1.0.1"),
    ],
)
def test_version_specifiers_become_conda_specs(requirement, spec):
    assert conda_spec(Requirement(requirement)) == spec


def test_markers_are_evaluated_for_the_target_python_and_the_extras_asked_for():
    tomli = Requirement('tomli; python_version < "3.11"')
    assert applies(tomli, "3.10") and not applies(tomli, "3.11")
    brotli = Requirement('Brotli>=1.2; platform_python_implementation == "CPython" and extra == "speedups"')
    assert not applies(brotli, "3.11") and applies(brotli, "3.11", {"speedups"})
    assert not applies(Requirement('pywin32; sys_platform == "win32"'), "3.11")


# --- against the on-disk index --------------------------------------------------------------

STACK = """\
name: web
channels: []
dependencies: [python 3.11.*, {dependency}]  # no pip: list
_pmpm:
  variants: {{march: [x86-64-v3]}}
  pypi: [{pypi}]
"""


def stack_text(dependency: str, pypi: str | None = None) -> str:
    return STACK.format(dependency=dependency, pypi=pypi or dependency)


@pytest.fixture(scope="module")
def aiohttp_build(python_channel, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("aiohttp")
    (root / "stack.yml").write_text(stack_text("aiohttp"))
    env = index_env(index_root(), root / "cache")
    proc = pmpm("build", "stack.yml", *upstream(python_channel), "-j", "2", "--json", cwd=root, env=env, timeout=1800)
    return root, env, json.loads(proc.stdout)


def test_aiohttp_and_what_it_needs_become_packages_of_the_local_channel(aiohttp_build):
    root, _, report = aiohttp_build
    built = {p["name"]: p["build"] for p in report["packages"] if p["status"] == "built"}
    compiled = {"aiohttp", "multidict", "yarl", "frozenlist", "propcache"}
    pure = {"aiosignal", "attrs", "aiohappyeyeballs", "idna", "typing_extensions"}
    tools = {
        "setuptools",
        "expandvars",
        "pkgconfig",
        "cython",
    }  # the channel's setuptools 75 and Cython 3.0 are too old
    assert compiled | pure | tools <= set(built), sorted(built)
    assert all(built[name].endswith("_x86_64_v3_0") for name in compiled)
    assert all(built[name].startswith("pyh") for name in pure | tools)  # noarch: python repacks of their wheels
    recipe = (root / "recipes" / "aiohttp" / "recipe.yaml").read_text()
    assert "aiohttp-3.14.5.tar.gz" in recipe and "setuptools >=77.0" in recipe and "pkgconfig" in recipe
    assert "cython >=3.1.2" in (root / "recipes" / "yarl" / "recipe.yaml").read_text()  # the backend asked for it


def test_pmpm_create_installs_aiohttp_compiled_for_the_cpu_as_conda_packages(aiohttp_build, python_channel):  # noqa: F811
    root, env, _ = aiohttp_build
    prefix = root / "env"
    pmpm("create", "stack.yml", "-p", prefix, *upstream(python_channel), cwd=root, env={**env, **V3})
    check = """
import asyncio, aiohttp, multidict, yarl
from aiohttp import web

async def main():
    app = web.Application()
    app.router.add_get("/", lambda request: web.Response(text="hello " + request.query["who"]))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    async with aiohttp.ClientSession() as session:
        async with session.get(yarl.URL(f"http://127.0.0.1:{port}/").with_query(who="pmpm")) as response:
            print(response.status, await response.text(), aiohttp.__version__)
    await runner.cleanup()

asyncio.run(main())
"""
    assert env_python(prefix, check).split() == ["200", "hello", "pmpm", "3.14.5"]
    site = prefix / "lib" / "python3.11" / "site-packages"
    for extension in ("aiohttp/_http_parser", "yarl/_quoting_c", "multidict/_multidict"):
        [library] = site.glob(f"{extension}.cpython-311-*.so")
        assert objdump_ymm(library) > 0, library  # AVX2: built for x86-64-v3, not PyPI's baseline wheel
    records = [json.loads(p.read_text()) for p in (prefix / "conda-meta").glob("*.json")]
    local = {r["name"] for r in records if r["channel"].rstrip("/").endswith("local-channel")}
    assert {"aiohttp", "multidict", "yarl", "frozenlist", "propcache", "aiosignal", "attrs"} <= local
    pip_installed = [d for d in site.glob("*.dist-info") if (d / "INSTALLER").read_text().strip() != "conda"]
    assert pip_installed == []  # every distribution belongs to a conda package


def test_an_unchanged_resolution_rewrites_no_recipe_and_builds_nothing(aiohttp_build, python_channel):  # noqa: F811
    """pip is asked again (the index may have a new release), and the same answer changes nothing."""
    root, env, _ = aiohttp_build
    recipes = {p: p.stat().st_mtime_ns for p in (root / "recipes").glob("*/recipe.yaml")}
    proc = pmpm("build", "stack.yml", *upstream(python_channel), "--json", cwd=root, env=env)
    assert {p["status"] for p in json.loads(proc.stdout)["packages"]} == {"up to date"}
    assert "resolving aiohttp with pip" in proc.stderr
    assert {p: p.stat().st_mtime_ns for p in recipes} == recipes


def test_the_lock_records_the_generated_packages_with_their_sha256(aiohttp_build, python_channel):  # noqa: F811
    root, env, _ = aiohttp_build
    pmpm("lock", "stack.yml", *upstream(python_channel), cwd=root, env={**env, **V3})
    lock = (root / "stack.lock").read_text()
    assert "local-channel/linux-64/aiohttp-3.14.5-py311" in lock and "sha256:" in lock


def test_a_compiled_distribution_without_an_sdist_is_one_line_naming_the_wheel_option(tmp_path, python_channel):  # noqa: F811
    index = tmp_path / "index"
    (index / "files").mkdir(parents=True)
    wheel = next((index_root() / "files").glob("frozenlist-1.8.0-cp311-*.whl"))
    (index / "files" / wheel.name).write_bytes(wheel.read_bytes())
    from pypi_index import _write_pages

    _write_pages(index)
    stack = tmp_path / "stack.yml"
    stack.write_text(stack_text("frozenlist"))
    env = index_env(index, tmp_path / "cache")
    proc = pmpm("render", "stack.yml", cwd=tmp_path, env=env, check=False)
    assert proc.returncode == 2
    [line] = [line for line in proc.stderr.splitlines() if not line.startswith("pmpm: ")]
    assert line.startswith("stack.yml:6: _pmpm.pypi: cannot fetch the sdist of frozenlist==1.8.0 through pip")
    assert line.endswith("or take its wheel as is: `- {name: frozenlist==1.8.0, wheel: true}` in _pmpm.pypi)")
    stack.write_text(stack_text("frozenlist", "{name: frozenlist, wheel: true}"))
    pmpm("build", "stack.yml", *upstream(python_channel), cwd=tmp_path, env=env)
    pmpm("create", "stack.yml", "-p", tmp_path / "env", *upstream(python_channel), cwd=tmp_path, env={**env, **V3})
    assert env_python(tmp_path / "env", "import frozenlist; print(frozenlist.FrozenList([1, 2]))").strip()


def test_pmpm_fetch_mirrors_what_pypi_entries_generate_and_a_build_takes_it_from_there(tmp_path, python_channel):  # noqa: F811
    """`pmpm fetch` fills the mirror with the files `_pmpm.pypi` makes packages of: the binary wheel
    of a `wheel: true` entry (its own mirror key: it is not the sdist), the pure wheels of the rest.
    A build with --source-mirror names the mirror's files in every recipe, and the result installs."""
    (tmp_path / "stack.yml").write_text(stack_text("aiosignal", "{name: frozenlist, wheel: true}, aiosignal"))
    env = index_env(index_root(), tmp_path / "cache")
    fetched = pmpm("fetch", "stack.yml", "--to", "mirror", cwd=tmp_path, env=env).stdout
    assert "fetched  frozenlist: wheel source frozenlist==1.8.0" in fetched
    assert "fetched  aiosignal: pure source aiosignal==1.4.0" in fetched
    records = json.loads((tmp_path / "mirror" / "sources.json").read_text())
    assert "-cp311-cp311-manylinux" in records["wheel frozenlist==1.8.0"]["path"]
    assert records["pure aiosignal==1.4.0"]["path"].endswith("-py3-none-any.whl")
    assert "present" in pmpm("fetch", "stack.yml", "--to", "mirror", cwd=tmp_path, env=env).stdout  # once only

    pmpm("build", "stack.yml", "--source-mirror", "mirror", *upstream(python_channel), cwd=tmp_path, env=env)
    mirror_url = (tmp_path / "mirror").as_uri()
    for name in ("frozenlist", "aiosignal"):
        recipe = (tmp_path / "recipes" / name / "recipe.yaml").read_text()
        assert f"{mirror_url}/files/" in recipe and "file_name:" in recipe, recipe
    pmpm("create", "stack.yml", "-p", tmp_path / "env", *upstream(python_channel), cwd=tmp_path, env={**env, **V3})
    assert env_python(tmp_path / "env", "import aiosignal, frozenlist; print(aiosignal.__version__)").strip() == "1.4.0"


def test_a_binary_wheel_is_the_stack_python_s_not_the_one_pmpm_runs_on(tmp_path, monkeypatch):
    """`wheel: true` for a stack on python 3.11 takes the cp311 wheel whatever Python runs pmpm; the
    index (cp311 wheels only) has none for 3.12, which is said, not answered with the cp311 one."""
    from pmpm.errors import NotOnIndex
    from pmpm.recipes.sources import resolve_sdist

    for name, value in index_env(index_root(), tmp_path / "cache").items():
        monkeypatch.setenv(name, value)
    assert "-cp311-cp311-" in resolve_sdist("frozenlist==1.8.0", form="wheel", python="3.11").filename
    with pytest.raises(NotOnIndex, match="cannot fetch the wheel of frozenlist==1.8.0"):
        resolve_sdist("frozenlist==1.8.0", form="wheel", python="3.12")  # not the cached 3.11 one either


def test_add_pypi_writes_the_entry_once_pip_resolves_it(tmp_path):
    stack = tmp_path / "stack.yml"
    stack.write_text("name: s  # mine\nchannels: []\ndependencies: []\n_pmpm:\n  pypi:\n    - attrs  # kept\n")
    env = index_env(index_root(), tmp_path / "cache")
    pmpm("add-pypi", "-s", stack, "aiosignal>=1.4", cwd=tmp_path, env=env)
    pmpm("add-pypi", "-s", stack, "--wheel", "Attrs", cwd=tmp_path, env=env)
    text = stack.read_text()
    assert "name: s  # mine" in text  # the file as the user wrote it, with one entry more and one replaced
    assert YAML(typ="safe").load(text)["_pmpm"]["pypi"] == [{"name": "Attrs", "wheel": True}, "aiosignal>=1.4"]
    proc = pmpm("add-pypi", "-s", stack, "no-such-dist-xyz", cwd=tmp_path, env=env, check=False)
    assert proc.returncode == 2 and "pip cannot resolve no-such-dist-xyz" in proc.stderr
    assert "no-such-dist-xyz" not in stack.read_text()


def test_a_pure_package_through_the_machine_s_pip_configuration_gets_its_command(tmp_path, python_channel):  # noqa: F811
    """pyflakes (pure Python, a console script) resolved and fetched through pip's own configuration."""
    (tmp_path / "stack.yml").write_text(stack_text("pyflakes", "pyflakes==3.4.0"))
    pmpm("build", "stack.yml", *upstream(python_channel), cwd=tmp_path)
    pmpm("create", "stack.yml", "-p", tmp_path / "env", *upstream(python_channel), cwd=tmp_path)
    (tmp_path / "bad.py").write_text("import os\n")
    proc = subprocess.run([tmp_path / "env" / "bin" / "pyflakes", tmp_path / "bad.py"], capture_output=True, text=True)
    assert proc.returncode == 1 and "'os' imported but unused" in proc.stdout
    assert os.access(tmp_path / "env" / "bin" / "pyflakes", os.X_OK)

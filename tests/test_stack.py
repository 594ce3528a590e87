"""Stack completion: the catalogue shorthand, compilers, build env, PyPI sources."""

from __future__ import annotations

import hashlib
import re

import pytest
from conftest import pmpm

from pmpm.stack.load import load_stack


def _stack(tmp_path, body: str):
    path = tmp_path / "stack.yml"
    path.write_text(body)
    return load_stack(path)


def test_shorthand_takes_definitions_from_the_catalogue(tmp_path):
    stack = _stack(tmp_path, "name: s\n_pmpm:\n  dependencies: [fftw, zlib-ng=2.2.3, openblas=develop]\n")
    fftw, zlib, openblas = (stack.package(n) for n in ("fftw", "zlib-ng", "openblas"))
    assert fftw.kind == "autotools" and fftw.source.url and len(fftw.source.sha256) == 64
    assert (zlib.source.rev, zlib.version) == ("2.2.3", "2.2.3")  # a version tag sets the version
    assert (openblas.source.rev, openblas.version) == ("develop", "0.3.28+git.develop")  # a branch stays visible


def test_conda_mode_adds_the_declared_compilers(tmp_path):
    (tmp_path / "stack.yml").write_text(
        "name: s\n_pmpm:\n  compiler: conda\n  packages:\n    - name: f\n      version: '1'\n"
        "      source: {path: .}\n      kind: make\n      compilers: [c, fortran]\n      env: {MPICH_CC: gcc}\n"
    )
    pmpm("render", "stack.yml", "-o", "out", cwd=tmp_path)
    recipe = (tmp_path / "out" / "f" / "recipe.yaml").read_text()
    assert "${{ compiler('fortran') }}" in recipe and "${{ compiler('c') }}" in recipe
    assert "compiler('cxx')" not in recipe
    assert re.search(r"^    env:\n(?:      .*\n)*      MPICH_CC: gcc\n", recipe, re.M), recipe  # the script's env


@pytest.mark.slow
def test_pypi_source_without_sha256_is_pinned_through_pip(tmp_path):
    (tmp_path / "stack.yml").write_text(
        "name: s\n_pmpm:\n  packages:\n    - name: six\n      version: '1.16.0'\n"
        "      source: {pypi: six==1.16.0}\n      kind: python\n      noarch: python\n"
    )
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    pmpm("render", "stack.yml", "-o", "out", cwd=tmp_path, env=env)
    [sdist] = (tmp_path / "cache" / "pmpm" / "sdists" / "sha256").glob("*/six-1.16.0.tar.gz")
    recipe = (tmp_path / "out" / "six" / "recipe.yaml").read_text()
    assert f'"{sdist.as_uri()}"' in recipe  # the file pip fetched, never a pypi.org URL a mirror would 404
    assert f"sha256: {hashlib.sha256(sdist.read_bytes()).hexdigest()}" in recipe
    sdist.write_bytes(sdist.read_bytes())  # cached: a second render asks pip nothing
    pmpm("render", "stack.yml", "-o", "out2", cwd=tmp_path, env={**env, "PIP_INDEX_URL": "http://127.0.0.1:9/"})
    assert (tmp_path / "out2" / "six" / "recipe.yaml").read_text() == recipe


def test_environment_summary_is_cached_by_content_and_never_hides_errors(tmp_path, monkeypatch):
    from pmpm.envs.summary import summarize
    from pmpm.errors import StackError

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    stack = tmp_path / "stack.yml"
    stack.write_text(
        "name: s\nchannels: [conda-forge]\ndependencies: [zlib, {pip: [rich]}]\n_pmpm:\n  dependencies: [fftw]\n"
    )
    first = summarize(stack)
    assert (first.channels, first.conda_specs, first.pip_requirements, first.package_names) == (
        ["conda-forge"],
        ["zlib"],
        ["rich"],
        ["fftw"],
    )
    assert len(list((tmp_path / "cache" / "pmpm" / "stacks").glob("*.json"))) == 1
    assert summarize(stack) == first  # served from the cache
    stack.write_text(stack.read_text().replace("zlib", "zlib >=1.3"))
    assert summarize(stack).conda_specs == ["zlib >=1.3"]  # new content, validated afresh
    stack.write_text(stack.read_text().replace("zlib >=1.3", "zlib >=>1.3"))
    with pytest.raises(StackError, match="invalid conda spec"):
        summarize(stack)

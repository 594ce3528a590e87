"""`pmpm render`: golden recipes per build kind, determinism, and the engine's acceptance."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import rattler_build
from conftest import REPO, STACKS, pmpm

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = Path(__file__).parent / "golden"
KINDS = ["cm", "me", "at", "mk", "py-ext", "py-pure", "sc"]


def _normalize(text: str) -> str:
    """The host compiler's version and pmpm's sdist cache are the machine-dependent parts."""
    text = re.sub(r"file://[^\"]*/pmpm/sdists/", "file://<cache>/pmpm/sdists/", text)
    return re.sub(r"system gcc [0-9.]+", "system gcc <version>", text)


# The fixture's pypi: sources are not on any index: seed pmpm's content-addressed sdist cache instead.
_FAKE_SDISTS = {
    "1a1111111111111111111111111111111111111111111111111111111111111b": "py_ext-5.0.tar.gz",
    "2a2222222222222222222222222222222222222222222222222222222222222b": "py_pure-6.0.tar.gz",
}


@pytest.fixture(scope="module")
def kinds(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kinds")
    for digest, filename in _FAKE_SDISTS.items():
        (root / "cache" / "pmpm" / "sdists" / "sha256" / digest).mkdir(parents=True)
        (root / "cache" / "pmpm" / "sdists" / "sha256" / digest / filename).write_bytes(b"not a real sdist")
    out = root / "recipes"
    pmpm(
        "render",
        FIXTURES / "kinds.yml",
        "-o",
        out,
        "--format",
        "meta.yaml",
        "--variant",
        "march=x86-64,x86-64-v3,znver3",
        cwd=REPO,
        env={"XDG_CACHE_HOME": str(root / "cache")},
    )
    return out


@pytest.mark.parametrize("package", KINDS)
@pytest.mark.parametrize("fmt", ["recipe.yaml", "meta.yaml"])
def test_golden(kinds, package, fmt):
    rendered = _normalize((kinds / package / fmt).read_text())
    golden = GOLDEN / package / fmt
    if os.environ.get("PMPM_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(rendered)
    assert rendered == golden.read_text(), f"{package}/{fmt} differs from {golden} (PMPM_UPDATE_GOLDEN=1 to accept)"


def test_golden_config(kinds):
    golden = GOLDEN / "conda_build_config.yaml"
    rendered = (kinds / "conda_build_config.yaml").read_text()
    if os.environ.get("PMPM_UPDATE_GOLDEN"):
        golden.write_text(rendered)
    assert rendered == golden.read_text()


def _engine_variants(recipes: Path) -> list:
    config = rattler_build.VariantConfig.from_conda_build_config(
        str(recipes / "conda_build_config.yaml"),
        rattler_build.JinjaConfig(platform=rattler_build.PlatformConfig(target_platform="linux-64")),
    )
    return config


@pytest.mark.parametrize("package", KINDS)
def test_engine_renders_every_recipe_with_one_build_string_per_march(kinds, package):
    variants = rattler_build.Stage0Recipe.from_file(kinds / package / "recipe.yaml").render(_engine_variants(kinds))
    strings = [v.recipe.build.string for v in variants]
    if package == "py-pure":  # noarch: one build for every CPU
        assert len(strings) == 1
        return
    assert len(set(strings)) == 3, strings
    assert {s.split("_", 1)[1].rsplit("_", 1)[0] for s in strings} == {"x86_64", "x86_64_v3", "znver3"}
    prefix = "py311" if package == "py-ext" else ""
    assert all(re.fullmatch(prefix + r"h[0-9a-f]{7}_[a-z0-9_]+_0", s) for s in strings), strings
    numbers = sorted(v.recipe.build.number for v in variants)
    assert numbers == [100, 300, 300]  # higher levels win among installable builds


def test_render_is_deterministic_and_leaves_unchanged_files_alone(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        pmpm("render", STACKS / "demo.yml", "-o", out, "--variant", "march=x86-64,native", cwd=tmp_path)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files and files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
    stamp = (first / "libkern" / "recipe.yaml").stat().st_mtime_ns
    pmpm("render", STACKS / "demo.yml", "-o", first, "--variant", "march=x86-64,native", cwd=tmp_path)
    assert (first / "libkern" / "recipe.yaml").stat().st_mtime_ns == stamp


def test_native_is_resolved_and_recorded(tmp_path):
    import archspec.cpu

    pmpm("render", STACKS / "demo.yml", "-o", tmp_path, "--variant", "march=native", cwd=tmp_path)
    config = (tmp_path / "conda_build_config.yaml").read_text()
    host = archspec.cpu.host().name
    assert f"march 'native' resolved on the rendering host to {host}" in config
    assert "native" not in config.split("march:")[1].split(":")[0]


@pytest.mark.parametrize("stack", sorted(STACKS.glob("*.yml")), ids=lambda p: p.stem)
def test_every_shipped_stack_renders_and_the_engine_accepts_it(stack, tmp_path):
    pmpm("render", stack, "-o", tmp_path, cwd=tmp_path)
    recipes = sorted(tmp_path.glob("*/recipe.yaml"))
    assert recipes
    for recipe in recipes:
        assert rattler_build.Stage0Recipe.from_file(recipe).render(_engine_variants(tmp_path))


def test_render_help_teaches():
    out = pmpm("render", "--help", cwd=REPO).stdout
    for needle in (
        "--variant",
        "-m, --variant-config",
        "march",
        "znver3",
        "native",
        "Example",
        "meta.yaml",
        "-o, --output",
    ):
        assert needle in out, needle


def test_local_dependency_is_pinned_to_the_same_march(kinds):
    text = (kinds / "me" / "recipe.yaml").read_text()
    assert """- "cm * *_${{ march | replace('-', '_') }}_0\"""" in text

"""Variants: conda_build_config merging, --variant matrices, zip_keys, march translation."""

from __future__ import annotations

from pathlib import Path

import archspec.cpu
import pytest

from pmpm import microarch
from pmpm.errors import VariantError
from pmpm.variants import resolve_variants


@pytest.mark.parametrize("given, archspec_name, march, level", [
    ("zen3", "zen3", "znver3", 3),                       # archspec name -> compiler spelling
    ("znver3", "zen3", "znver3", 3),                     # compiler spelling -> archspec name
    ("x86_64_v3", "x86_64_v3", "x86-64-v3", 3),
    ("x86-64-v3", "x86_64_v3", "x86-64-v3", 3),
    ("skylake-avx512", "skylake_avx512", "skylake-avx512", 4),
    ("skylake_avx512", "skylake_avx512", "skylake-avx512", 4),
    ("icelake", "icelake", "icelake-client", 4),
    ("x86-64", "x86_64", "x86-64", 1),
    ("haswell", "haswell", "haswell", 3),
])
def test_march_translation_both_ways(given, archspec_name, march, level):
    m = microarch.resolve(given, "gcc", "12.2.0")
    assert (m.name, m.march, m.level) == (archspec_name, march, level)


def test_mtune_defaults_to_archspecs_choice():
    assert microarch.resolve("znver3", "gcc", "12.2.0").mtune == "znver3"
    assert microarch.resolve("x86-64-v3", "gcc", "12.2.0").mtune == "generic"


def test_native_resolves_to_this_host():
    m = microarch.resolve("native", "gcc", "12.2.0")
    assert m.name == archspec.cpu.host().name and m.requested == "native"


def test_compiler_too_old_for_march_is_an_error():
    with pytest.raises(VariantError, match=r"gcc 10.2.0 cannot target 'x86-64-v4' with -march alone .* \(use gcc >= 11.1 or a named CPU"):
        microarch.resolve("x86-64-v4", "gcc", "10.2.0")


def test_gate_accepts_generic_and_specific_names_of_that_level_and_above():
    v3 = microarch.names_at_or_above(3)
    assert {"x86_64_v3", "x86_64_v4", "haswell", "zen3", "icelake"} <= set(v3)
    assert not {"x86_64_v2", "x86_64", "nehalem", "core2"} & set(v3)


def test_variant_matrix_from_command_line():
    v = resolve_variants(overrides=["march=x86-64,znver3", "opt=-O2,-O3"], include_default=False)
    combos = v.combinations()
    assert len(combos) == 4
    assert {(c["march"], c["mtune"], c["microarch_level"], c["opt"]) for c in combos} == {
        ("x86-64", "generic", "1", "-O2"), ("x86-64", "generic", "1", "-O3"),
        ("znver3", "znver3", "3", "-O2"), ("znver3", "znver3", "3", "-O3")}


def test_zip_keys_from_a_config_file_are_honoured(tmp_path):
    cbc = tmp_path / "cbc.yaml"
    cbc.write_text("march: [x86-64, x86-64-v3]\ncflags: ['-DBASE', '-DFAST']\nopt: [-O2, -O3]\n"
                   "zip_keys:\n  - [march, cflags]\n")
    combos = resolve_variants(config_files=[cbc], include_default=False).combinations()
    assert len(combos) == 4  # (march, cflags) zipped x opt
    assert {(c["march"], c["cflags"]) for c in combos} == {("x86-64", "-DBASE"), ("x86-64-v3", "-DFAST")}


def test_selectors_are_evaluated_for_linux(tmp_path):
    cbc = tmp_path / "cbc.yaml"
    cbc.write_text("march:\n  - x86-64\n  - x86-64-v3  # [linux]\n  - haswell    # [osx]\n")
    assert resolve_variants(config_files=[cbc], include_default=False).values["march"] == ["x86-64", "x86-64-v3"]


def test_sources_merge_in_order(tmp_path):
    stack = tmp_path / "stack.yml"
    stack.write_text("name: s\n")
    (tmp_path / "conda_build_config.yaml").write_text("march: [haswell]\nopt: [-O1]\ncflags: [-DBESIDE]\n")
    extra = tmp_path / "extra.yaml"
    extra.write_text("opt: [-O2]\n")
    v = resolve_variants(stack_path=stack, stack_variants={"cflags": "-DSTACK"}, config_files=[extra],
                         overrides=["march=znver3"])
    assert v.values["march"] == ["znver3"]        # --variant beats everything
    assert v.values["opt"] == ["-O2"]             # -m beats the file beside the stack
    assert v.values["cflags"] == ["-DSTACK"]      # _pmpm.variants beats the file beside the stack
    assert v.values["fflags"] == [""]             # the repo default fills the rest


def test_march_overridden_at_build_time_rederives_mtune_and_level(tmp_path):
    rendered = resolve_variants(overrides=["march=x86-64,x86-64-v3"])
    cbc = tmp_path / "conda_build_config.yaml"
    cbc.write_text(rendered.to_yaml())
    at_build = resolve_variants(config_files=[cbc], overrides=["march=znver3"], include_default=False)
    assert at_build.values["march"] == ["znver3"]
    assert at_build.values["mtune"] == ["znver3"]
    assert at_build.values["microarch_level"] == ["3"]


def test_mismatched_zip_lengths_are_an_error(tmp_path):
    cbc = tmp_path / "cbc.yaml"
    cbc.write_text("march: [x86-64, x86-64-v3]\ncflags: ['-DA']\nzip_keys:\n  - [march, cflags]\n")
    with pytest.raises(VariantError, match=r"zipped keys have different lengths \(march=2, cflags=1"):
        resolve_variants(config_files=[cbc], include_default=False)


def test_unknown_march_in_a_config_file_names_file_and_line(tmp_path):
    cbc = tmp_path / "cbc.yaml"
    cbc.write_text("opt: [-O2]\nmarch:\n  - zen9\n")
    with pytest.raises(VariantError) as info:
        resolve_variants(config_files=[cbc], include_default=False)
    assert str(info.value).startswith(f"{cbc}:2: march: unknown microarchitecture 'zen9'")


def test_written_config_round_trips_through_the_engine(tmp_path):
    import rattler_build

    v = resolve_variants(overrides=["march=x86-64,zen3,skylake-avx512", "cflags=-DX=1 -g"])
    cbc = tmp_path / "conda_build_config.yaml"
    cbc.write_text(v.to_yaml("header"))
    engine = rattler_build.VariantConfig.from_conda_build_config(
        str(cbc), rattler_build.JinjaConfig(platform=rattler_build.PlatformConfig(target_platform="linux-64")))
    assert sorted(map(str, engine.combinations()), key=str) == sorted(map(str, v.combinations()), key=str)

"""Variants: conda_build_config merging, --variant matrices, zip_keys, march translation."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import archspec.cpu
import pytest

from pmpm.errors import VariantError
from pmpm.variants import microarch
from pmpm.variants.resolve import resolve_variants


@pytest.mark.parametrize(
    "given, archspec_name, march, level",
    [
        ("zen3", "zen3", "znver3", 3),  # archspec name -> compiler spelling
        ("znver3", "zen3", "znver3", 3),  # compiler spelling -> archspec name
        ("x86_64_v3", "x86_64_v3", "x86-64-v3", 3),
        ("x86-64-v3", "x86_64_v3", "x86-64-v3", 3),
        ("skylake-avx512", "skylake_avx512", "skylake-avx512", 4),
        ("skylake_avx512", "skylake_avx512", "skylake-avx512", 4),
        ("icelake", "icelake", "icelake-client", 4),
        ("x86-64", "x86_64", "x86-64", 1),
        ("haswell", "haswell", "haswell", 3),
    ],
)
def test_march_translation_both_ways(given, archspec_name, march, level):
    m = microarch.resolve(given, "gcc", "12.2.0")
    assert (m.name, m.march, m.level) == (archspec_name, march, level)


def test_mtune_defaults_to_archspecs_choice():
    assert microarch.resolve("znver3", "gcc", "12.2.0").mtune == "znver3"
    assert microarch.resolve("x86-64-v3", "gcc", "12.2.0").mtune == "generic"


def test_native_resolves_to_this_host():
    m = microarch.resolve("native", "gcc", "12.2.0")
    assert m.name == archspec.cpu.host().name and m.requested == "native"


def test_host_level_is_detected_once_per_cpu_and_then_remembered(tmp_path, monkeypatch):
    """Every build asks whether it can test what it built; archspec's import and detection
    (~12 ms of start-up) are paid once per CPU, then read from the user cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    detect = microarch.host_level.__wrapped__  # past the per-process cache
    level = detect()
    assert level == microarch._level(archspec.cpu.host())
    [remembered] = (tmp_path / "pmpm" / "host").glob("*.level")
    assert remembered.read_text() == str(level)
    remembered.write_text("7")  # what a later process finds is what it uses
    assert detect() == 7
    remembered.write_text("garbage")  # an unreadable record is detected again and rewritten
    assert detect() == level and remembered.read_text() == str(level)


def test_compiler_too_old_for_march_is_an_error():
    with pytest.raises(
        VariantError,
        match=r"gcc 10.2.0 cannot target 'x86-64-v4' with -march alone .* \(use gcc >= 11.1 or a named CPU",
    ):
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
        ("x86-64", "generic", "1", "-O2"),
        ("x86-64", "generic", "1", "-O3"),
        ("znver3", "znver3", "3", "-O2"),
        ("znver3", "znver3", "3", "-O3"),
    }


def test_zip_keys_from_a_config_file_are_honoured(tmp_path):
    cbc = tmp_path / "cbc.yaml"
    cbc.write_text(
        "march: [x86-64, x86-64-v3]\ncflags: ['-DBASE', '-DFAST']\nopt: [-O2, -O3]\nzip_keys:\n  - [march, cflags]\n"
    )
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
    v = resolve_variants(
        stack_path=stack, stack_variants={"cflags": "-DSTACK"}, config_files=[extra], overrides=["march=znver3"]
    )
    assert v.values["march"] == ["znver3"]  # --variant beats everything
    assert v.values["opt"] == ["-O2"]  # -m beats the file beside the stack
    assert v.values["cflags"] == ["-DSTACK"]  # _pmpm.variants beats the file beside the stack
    assert v.values["fflags"] == [""]  # the repo default fills the rest


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
        str(cbc), rattler_build.JinjaConfig(platform=rattler_build.PlatformConfig(target_platform="linux-64"))
    )
    gate_keys = {"microarch_gate_name", "microarch_gate_level"}
    from_file = {str({k: c[k] for k in sorted(c) if k not in gate_keys}) for c in engine.combinations()}
    assert from_file == {str({k: c[k] for k in sorted(c)}) for c in v.combinations()}


# --- variant keys that cannot be mistyped (issue 9.3) ------------------------------------

REPO = Path(__file__).resolve().parent.parent
DECLARE = "a key of your own goes in _pmpm.variant_keys"


def test_mistyped_key_on_the_command_line_is_an_error_with_a_suggestion():
    with pytest.raises(VariantError) as info:
        resolve_variants(overrides=["mrach=znver3"])
    assert str(info.value) == f"--variant mrach=znver3: unknown variant key 'mrach' (did you mean march? {DECLARE})"


def test_mistyped_key_in_a_config_file_names_file_and_line(tmp_path):
    cbc = tmp_path / "cbc.yaml"
    cbc.write_text("opt: [-O2]\nmtnue:\n  - znver3\n")
    with pytest.raises(VariantError) as info:
        resolve_variants(config_files=[cbc])
    assert str(info.value) == f"{cbc}:2: mtnue: unknown variant key 'mtnue' (did you mean mtune? {DECLARE})"


def test_unknown_key_without_a_close_match_lists_pmpms_keys():
    with pytest.raises(
        VariantError,
        match=r"unknown variant key 'frobnicate' \(pmpm's keys are march, mtune, opt, "
        r"cflags, cxxflags, fflags, ldflags, cuda_arch, besides conda-build's; a key",
    ):
        resolve_variants(overrides=["frobnicate=1"])


@pytest.mark.parametrize("source", ["--variant", "stack"])
def test_microarch_level_cannot_be_set(source):
    kwargs = (
        {"overrides": ["microarch_level=3"]} if source == "--variant" else {"stack_variants": {"microarch_level": 3}}
    )
    with pytest.raises(
        VariantError, match=r"microarch_level is derived from march and cannot be set \(set march instead\)"
    ):
        resolve_variants(**kwargs)


def test_microarch_level_alone_in_a_config_file_is_an_error(tmp_path):
    cbc = tmp_path / "cbc.yaml"
    cbc.write_text("microarch_level: ['3']\n")
    with pytest.raises(VariantError, match=rf"^{cbc}:1: microarch_level: microarch_level is derived"):
        resolve_variants(config_files=[cbc])


def test_standard_and_declared_keys_are_accepted():
    v = resolve_variants(
        overrides=["c_stdlib_version=2.28", "numpy=2.1", "target_platform=linux-64", "my_flag=a,b"],
        user_keys=["my_flag"],
    )
    assert v.values["my_flag"] == ["a", "b"] and v.values["numpy"] == ["2.1"]


def test_the_repo_default_config_is_valid():
    from pmpm.variants.resolve import DEFAULT_CBC, load_cbc

    assert load_cbc(DEFAULT_CBC)[0]  # every key of it passes the check below
    assert resolve_variants().values["python"] == ["3.11"]


def test_keys_used_by_a_stacks_packages(tmp_path):
    from pmpm.stack.load import load_stack
    from pmpm.variants.resolve import keys_used_by

    (tmp_path / "src").mkdir()
    stack = tmp_path / "stack.yml"
    stack.write_text(
        "name: s\n_pmpm:\n  packages:\n    - name: p\n      version: '1'\n      source: {path: src}\n"
        "      kind: script\n      script: ['make FAST=${{ fast_mode }} ${{ python | version_to_buildstring }}']\n"
        "      env: {CC: \"${{ compiler('c') }}\"}\n      requirements: {host: [mpi, 'zlib >=1.2']}\n"
    )
    keys = keys_used_by(load_stack(stack).packages)
    assert {"fast_mode", "python", "mpi", "zlib"} <= keys
    assert not {"version_to_buildstring", "compiler", "c"} & keys


def test_keys_used_by_hand_written_recipes(tmp_path):
    from pmpm.variants.resolve import recipe_keys

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "package: {name: x, version: '1'}\nbuild:\n  script: make ${{ blas_flavour }}\n"
        "requirements:\n  host:\n    - openblas\n    - ${{ compiler('c') }}\n"
    )
    assert {"blas_flavour", "openblas"} <= recipe_keys([recipe])


def _stack(tmp_path: Path, pmpm_lines: str) -> Path:
    stack = tmp_path / "stack.yml"
    stack.write_text(
        "name: s\n_pmpm:\n" + pmpm_lines + "  packages:\n    - name: libkern\n      version: '0.1.0'\n"
        f"      source: {{path: {REPO / 'stacks/demo/libkern'}}}\n      kind: cmake\n"
    )
    return stack


def _render(*args):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "pmpm", "render", *map(str, args)], capture_output=True, text=True, timeout=120
    )


def test_render_rejects_a_mistyped_variant_on_the_command_line(tmp_path):
    result = _render(REPO / "stacks/demo.yml", "-o", tmp_path / "out", "--variant", "mrach=znver3")
    assert (
        result.stderr.strip() == f"--variant mrach=znver3: unknown variant key 'mrach' (did you mean march? {DECLARE})"
    )
    assert result.returncode == 2 and not (tmp_path / "out").exists()


def test_declared_user_keys_render_into_the_config(tmp_path):
    stack = _stack(tmp_path, "  variant_keys: [my_flag]\n  variants:\n    my_flag: [on]\n")
    result = _render(stack, "-o", tmp_path / "out", "--variant", "my_flag=a,b")
    assert result.returncode == 0, result.stderr
    assert "my_flag:\n  - a\n  - b\n" in (tmp_path / "out" / "conda_build_config.yaml").read_text()


def test_undeclared_user_key_in_the_stack_points_at_its_line(tmp_path):
    stack = _stack(tmp_path, "  variants:\n    march: [x86-64]\n    widget: [on]\n")
    result = _render(stack, "-o", tmp_path / "out")
    assert result.stderr.strip() == (
        f"{stack}:5: _pmpm.variants.widget: unknown variant key 'widget' "
        f"(pmpm's keys are march, mtune, opt, cflags, cxxflags, fflags, ldflags, cuda_arch, "
        f"besides conda-build's; {DECLARE})"
    )
    assert result.returncode == 2


# --- every spelling gcc and archspec accept (issue 9.3) -----------------------------------

HOST_GCC = microarch.compiler_version("gcc") if shutil.which("gcc") else None
needs_gcc = pytest.mark.skipif(HOST_GCC is None, reason="needs the host's gcc")


@pytest.mark.parametrize(
    "given, version, archspec_name, march, level",
    [
        ("znver4", "14.2.0", "zen4", "znver4", 4),  # gcc >= 12.3's spelling
        ("zen4", "14.2.0", "zen4", "znver4", 4),
        ("znver5", "14.2.0", "zen5", "znver5", 4),
        ("sapphirerapids", "12.2.0", "sapphirerapids", "sapphirerapids", 4),
        ("x86-64-v4", "12.2.0", "x86_64_v4", "x86-64-v4", 4),
        ("x86_64_v4", "12.2.0", "x86_64_v4", "x86-64-v4", 4),
        ("icelake-client", "12.2.0", "icelake", "icelake-client", 4),
        ("corei7", "12.2.0", "nehalem", "nehalem", 2),  # an old gcc spelling of an archspec target
        ("core-avx2", "12.2.0", "haswell", "haswell", 3),
        ("znver3", "12.2.0", "zen3", "znver3", 3),  # not zen4, which gcc 12.2 emulates with znver3
    ],
)
def test_every_spelling_resolves_to_its_target_and_level(given, version, archspec_name, march, level):
    m = microarch.resolve(given, "gcc", version)
    assert (m.name, m.march, m.level) == (archspec_name, march, level)


def test_a_spelling_too_new_for_the_compiler_says_so_rather_than_unknown():
    with pytest.raises(VariantError, match=r"gcc 12.2.0 cannot target 'znver5'"):
        microarch.resolve("znver5", "gcc", "12.2.0")


def test_every_archspec_name_is_known():
    for name, target in archspec.cpu.TARGETS.items():
        if target.family.name == "x86_64":
            try:
                assert microarch.resolve(name, "gcc", "14.2.0").name == name
            except VariantError as exc:
                assert "cannot target" in str(exc), name


@needs_gcc
@pytest.mark.parametrize(
    "given, level",
    [
        ("icelake-server", 4),
        ("tigerlake", 4),
        ("cooperlake", 4),
        ("knm", 3),
        ("btver2", 2),
        ("silvermont", 2),
        ("atom", 1),
        ("k8", 1),
    ],
)
def test_cpus_only_gcc_knows_get_their_level_from_gcc(given, level):
    m = microarch.resolve(given, "gcc", HOST_GCC)
    assert (m.march, m.mtune, m.level, m.name) == (given, given, level, "x86_64" if level == 1 else f"x86_64_v{level}")


@needs_gcc
def test_every_march_the_host_gcc_lists_is_accepted():
    import subprocess

    listed = subprocess.run(
        ["gcc", "-march=no-such-cpu", "-x", "c", "-c", "/dev/null", "-o", "/dev/null"],
        capture_output=True,
        text=True,
        env={"LC_ALL": "C", "PATH": os.environ["PATH"]},
    ).stderr
    names = listed.split("switch are:")[1].split(";")[0].split()
    assert {"x86-64-v4", "skylake-avx512", "icelake-server", "native"} <= set(names)
    for name in names:
        m = microarch.resolve(name, "gcc", HOST_GCC)
        assert 1 <= m.level <= 4 and m.requested == name


def test_unknown_march_suggests_both_spellings():
    with pytest.raises(VariantError) as info:
        microarch.resolve("znvr4", "gcc", "14.2.0")
    assert info.value.fix.startswith("did you mean znver4 (zen4), ")
    assert "znver3 (zen3)" in info.value.fix


def test_a_rendered_config_is_trusted_with_its_declared_keys(tmp_path):
    rendered = resolve_variants(overrides=["march=x86-64,x86-64-v3", "my_flag=on"], user_keys=["my_flag"])
    cbc = tmp_path / "conda_build_config.yaml"
    cbc.write_text(rendered.to_yaml())
    at_build = resolve_variants(config_files=[cbc], overrides=["my_flag=off"], include_default=False)
    assert at_build.values["my_flag"] == ["off"]
    with pytest.raises(VariantError, match="microarch_level is derived"):
        resolve_variants(config_files=[cbc], overrides=["microarch_level=2"], include_default=False)


def test_render_and_build_help_teach_declared_keys():
    import subprocess
    import sys

    for command in ("render", "build"):
        text = subprocess.run([sys.executable, "-m", "pmpm", command, "--help"], capture_output=True, text=True).stdout
        assert "_pmpm.variant_keys" in " ".join(text.split()), command

"""GPU variants (issue 27): CUDA builds beside CPU builds, the right one installed on each host.

The demo (`stacks/demo-cuda.yml`) is built with nvcc from NVIDIA's PyPI wheels (`cuda_fixture`)
on a machine without a GPU: the fatbins are read with cuobjdump, the solver's picks checked with
and without `CONDA_OVERRIDE_CUDA`, and the kernel run wherever `nvidia-smi` sees a GPU.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest
from conftest import STACKS, pmpm
from cuda_fixture import cuda_home, cuobjdump, nvcc_release
from ruamel.yaml import YAML
from test_build import objdump_registers

from pmpm.errors import VariantError
from pmpm.variants import cuda
from pmpm.variants.resolve import resolve_variants


def _gpu() -> str | None:
    """The first GPU nvidia-smi lists, or None."""
    if shutil.which("nvidia-smi") is None:
        return None
    out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


GPU = _gpu()
needs_gpu = pytest.mark.skipif(GPU is None, reason="nvidia-smi sees no GPU on this host")
NO_DRIVER = {"CONDA_OVERRIDE_CUDA": ""}  # conda's spelling of "no __cuda", on any host


# --- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given, normal",
    [
        ("sm_90", "sm_90"),
        ("90", "sm_90"),
        ("9.0", "sm_90"),
        ("sm90", "sm_90"),
        ("compute_90", "sm_90"),
        ("sm_90,sm_80", "sm_80+sm_90"),  # one value naming two GPUs: one fat binary
        ("sm_90+sm_80+sm_90", "sm_80+sm_90"),
        ("sm_100a", "sm_100a"),
        ("all-major", "all-major"),
    ],
)
def test_cuda_arch_has_one_spelling(given, normal):
    assert cuda.normalize_arch(given) == normal


def test_native_is_this_host_s_gpus_or_one_line_saying_there_are_none():
    if GPU is None:
        with pytest.raises(VariantError, match="cuda_arch native: nvidia-smi sees no GPU on this host"):
            cuda.normalize_arch("native")
    else:
        assert cuda.normalize_arch("native").startswith("sm_")


def test_cuda_keys_make_one_cpu_row_and_one_row_per_gpu_target():
    variants = resolve_variants(
        stack_variants={"cuda_compiler_version": ["None", "13.5"], "cuda_arch": ["sm_80", "sm_90"]},
        compiler_mode="conda",  # no toolchain check: conda's compiler('cuda') brings nvcc
    )
    rows = {(c["cuda_compiler_version"], c["cuda_arch"]) for c in variants.combinations()}
    assert rows == {("None", "None"), ("13.5", "sm_80"), ("13.5", "sm_90")}
    assert ["cuda_compiler_version", "cuda_arch"] in variants.zip_keys
    assert variants.summary() == "march x86-64; CUDA 13.5 for sm_80; CUDA 13.5 for sm_90"
    assert variants.values["cuda_compiler"] == ["cuda-nvcc"]  # what conda-forge's compiler('cuda') reads


def test_a_stack_with_a_cuda_package_and_no_cuda_keys_builds_for_the_cpu():
    variants = resolve_variants(cuda_needed=True)
    assert variants.values["cuda_compiler_version"] == ["None"] and variants.values["cuda_arch"] == ["None"]


def _stack(tmp_path: Path, variants: str) -> Path:
    text = (STACKS / "demo-cuda.yml").read_text().replace("path: demo-cuda/", f"path: {STACKS}/demo-cuda/")
    start = text.index("  variants:\n")
    end = text.index("  packages:\n")
    stack = tmp_path / "stack.yml"
    stack.write_text(text[:start] + variants + text[end:])
    return stack


def test_unknown_gpu_architecture_is_one_line_with_a_suggestion(tmp_path):
    stack = _stack(tmp_path, "  variants:\n    cuda_compiler_version: [None, 13.5]\n    cuda_arch: [sm_91]\n")
    result = pmpm("render", stack, "-o", tmp_path / "out", cwd=tmp_path, check=False, env={"PATH": os.defpath})
    assert result.returncode == 2, result.stderr
    line = stack.read_text().splitlines().index("    cuda_arch: [sm_91]") + 1
    assert result.stderr.strip() == (
        f"{stack}:{line}: _pmpm.variants.cuda_arch: unknown GPU architecture 'sm_91' (did you mean sm_90 or sm_89?)"
    )


def test_a_cuda_version_without_nvcc_says_how_to_get_one(tmp_path):
    stack = _stack(tmp_path, "  variants:\n    cuda_compiler_version: [None, 13.5]\n")
    env = {"PATH": f"{Path(os.sys.executable).parent}:/usr/bin:/bin", "CUDA_HOME": "", "CUDA_PATH": ""}
    result = pmpm("render", stack, "-o", tmp_path / "out", cwd=tmp_path, check=False, env=env)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("cuda_compiler_version: no nvcc found for cuda_compiler_version 13.5 (")
    assert "pip install nvidia-cuda-nvcc nvidia-cuda-runtime nvidia-cuda-crt" in line


def test_a_cuda_version_other_than_the_nvcc_s_is_refused():
    home = cuda_home()
    with pytest.raises(VariantError) as caught:
        cuda.check_toolchain(["None", "12.4"], ["None", "sm_90"], {"CUDA_HOME": str(home)})
    release = nvcc_release(home)
    assert f"cuda_compiler_version 12.4 but {home}/bin/nvcc is CUDA {release}" in str(caught.value)
    with pytest.raises(VariantError, match=f"CUDA {release}'s nvcc cannot build for sm_60"):
        cuda.check_toolchain(["None", release], ["None", "sm_60"], {"CUDA_HOME": str(home)})


# --- the recipes ----------------------------------------------------------------------------


def test_meta_yaml_gives_cuda_builds_their_tag_number_and_driver(tmp_path):
    """conda-build renders meta.yaml with Jinja2, the variant's values in the context."""
    stack = _stack(tmp_path, "  variants:\n    cuda_compiler_version: [None, native]\n    cuda_arch: [sm_90]\n")
    pmpm(
        "render",
        stack,
        "-o",
        tmp_path / "out",
        "--format",
        "meta.yaml",
        cwd=tmp_path,
        env={"CUDA_HOME": str(cuda_home())},
    )
    meta = (tmp_path / "out" / "gpukern" / "meta.yaml").read_text()
    base = {"march": "x86-64-v3", "microarch_level": "3", "mtune": "generic", "opt": "-O3", "PKG_HASH": "1234567"}
    base |= {"cflags": "", "cxxflags": "", "fflags": "", "ldflags": "", "environ": os.environ}
    base |= {"pin_subpackage": lambda name, **pin: f"{name} (pinned)"}  # conda-build's own Jinja functions

    def render(**variant) -> dict:
        text = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(meta).render(**base, **variant)
        return YAML(typ="safe").load(text)

    release = nvcc_release(cuda_home())  # `native`: the nvcc's own, written into the config
    assert (
        f"cuda_compiler_version:\n  - None\n  - {release}\n"
        in (tmp_path / "out" / "conda_build_config.yaml").read_text()
    )
    gpu = render(cuda_compiler_version=release, cuda_arch="sm_90")
    cpu = render(cuda_compiler_version="None", cuda_arch="None")
    assert (
        gpu["build"]["string"] == f"h1234567_cuda{release.replace('.', '')}_sm90_x86_64_v3_0"
        and gpu["build"]["number"] == 1300
    )
    assert cpu["build"]["string"] == "h1234567_x86_64_v3_0" and cpu["build"]["number"] == 300
    assert "__cuda >=13" in gpu["requirements"]["run"] and not any("__cuda" in r for r in cpu["requirements"]["run"])


def test_conda_mode_asks_for_conda_forge_s_cuda_compiler_in_cuda_builds_only(tmp_path):
    from pmpm.engines.base import plan_recipe
    from pmpm.recipes.render import RecipeSet

    stack = _stack(tmp_path, "  variants:\n    cuda_compiler_version: [None, 13.5]\n    cuda_arch: [sm_90]\n")
    stack.write_text(stack.read_text().replace("compiler: system", "compiler: conda"))
    pmpm("render", stack, "-o", tmp_path / "out", "--variant", "march=x86-64-v3", cwd=tmp_path)
    variants = RecipeSet.load(tmp_path / "out").variants
    planned = plan_recipe(tmp_path / "out" / "gpukern" / "recipe.yaml", variants.values, variants.zip_keys)
    by_cuda = {p.variant["cuda_compiler_version"]: p for p in planned}
    assert set(by_cuda) == {"None", "13.5"}
    assert "cuda-nvcc_linux-64 13.5.*" in by_cuda["13.5"].requirements["build"]
    assert "cuda-version ==13.5" in by_cuda["13.5"].requirements["host"]
    assert not any("cuda" in spec for specs in by_cuda["None"].requirements.values() for spec in specs)


# --- the demo, built ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_cuda(tmp_path_factory) -> Path:
    """stacks/demo-cuda.yml for the baseline and x86-64-v3, CUDA builds for sm_90, with the
    PyPI toolkit (CUDA_HOME), as README's "GPU variants" shows."""
    root = tmp_path_factory.mktemp("democuda")
    env = {"CUDA_HOME": str(cuda_home())}
    proc = pmpm(
        "build",
        STACKS / "demo-cuda.yml",
        "--variant",
        "march=x86-64,x86-64-v3",
        "--variant",
        "cuda_arch=sm_90",
        "-j",
        "2",
        "--json",
        cwd=root,
        env=env,
    )
    report = json.loads(proc.stdout)
    assert report["ok"] and {job["status"] for job in report["packages"]} == {"built"}, report
    return root


def _unpacked(root: Path, name: str, gpu: bool, march_tag: str = "x86_64_v3", version: str = "0.1.0") -> Path:
    """The package of `name` for this march, its CUDA build or its CPU build, extracted."""
    from rattler.package_streaming import extract

    [package] = [
        p
        for p in (root / "local-channel" / "linux-64").glob(f"{name}-{version}-*_{march_tag}_0.conda")
        if ("_cuda" in p.name) == gpu
    ]
    target = root / "unpacked" / package.stem
    if not target.is_dir():
        extract(package, target)
    return target


def test_each_march_gets_a_cpu_and_a_cuda_build_and_the_program_one_build(demo_cuda):
    files = sorted(p.name for p in (demo_cuda / "local-channel" / "linux-64").glob("gpukern*.conda"))
    release = nvcc_release(cuda_home()).replace(".", "")
    assert [f.split("-0.1.0-")[0] for f in files] == ["gpukern"] * 4 + ["gpukern-cli"] * 2, files
    tags = sorted(f.split("_", 1)[1] for f in files if f.startswith("gpukern-0"))
    assert tags == sorted(
        [f"cuda{release}_sm90_x86_64_0.conda", f"cuda{release}_sm90_x86_64_v3_0.conda"]
        + ["x86_64_0.conda", "x86_64_v3_0.conda"]
    )


def test_the_cuda_build_carries_sm_90_sass_and_ptx_and_the_cpu_build_no_device_code(demo_cuda):
    home = cuda_home()
    gpu = _unpacked(demo_cuda, "gpukern", gpu=True) / "lib" / "libgpukern.so.0.1.0"
    cpu = _unpacked(demo_cuda, "gpukern", gpu=False) / "lib" / "libgpukern.so.0.1.0"
    assert "sm_90.cubin" in cuobjdump(home, gpu, "--list-elf")
    assert "sm_90.ptx" in cuobjdump(home, gpu, "--list-ptx")
    assert "does not contain device code" in cuobjdump(home, cpu, "--list-elf")
    assert objdump_registers(gpu)["ymm"] > 0  # host code still built for the march


def test_the_cuda_build_needs_a_driver_of_its_major_version(demo_cuda):
    index = json.loads((_unpacked(demo_cuda, "gpukern", gpu=True) / "info" / "index.json").read_text())
    major = nvcc_release(cuda_home()).split(".")[0]
    assert f"__cuda >={major}" in index["depends"] and index["build_number"] == 1300


def _create(root: Path, prefix: str, env: dict) -> Path:
    pmpm("create", STACKS / "demo-cuda.yml", "-p", root / prefix, cwd=root, env=env)
    return root / prefix


def _installed(prefix: Path, name: str) -> str:
    [record] = (prefix / "conda-meta").glob(f"{name}-0.1.0-*.json")
    return json.loads(record.read_text())["build"]


def _run(prefix: Path) -> dict[str, str]:
    out = subprocess.run([prefix / "bin" / "gpukern", "100000", "50"], capture_output=True, text=True, check=True)
    return dict(line.split("=", 1) for line in out.stdout.splitlines())


def test_create_picks_the_cpu_build_without_a_driver_and_the_cuda_build_with_one(demo_cuda):
    cpu_env = _create(demo_cuda, "env-cpu", NO_DRIVER)
    gpu_env = _create(demo_cuda, "env-gpu", {"CONDA_OVERRIDE_CUDA": "13.0"})
    assert "cuda" not in _installed(cpu_env, "gpukern")
    assert _installed(gpu_env, "gpukern").startswith("h") and "_cuda" in _installed(gpu_env, "gpukern")
    cpu, gpu = _run(cpu_env), _run(gpu_env)
    assert cpu["ran"].startswith("cpu") and gpu["build"].startswith("cuda ")
    assert cpu["sum"] == gpu["sum"]  # wherever it ran, the same answer
    if GPU is None:  # the CUDA build on a host without a GPU runs its CPU path and says why
        assert gpu["ran"].startswith("cpu avx") and "no CUDA device" in gpu["ran"], gpu


def test_lock_records_the_build_each_kind_of_host_gets(demo_cuda):
    for name, env in (("gpu", {"CONDA_OVERRIDE_CUDA": "13.0"}), ("cpu", NO_DRIVER)):
        pmpm("lock", STACKS / "demo-cuda.yml", "-o", demo_cuda / f"{name}.lock", cwd=demo_cuda, env=env)
    gpu, cpu = ((demo_cuda / f"{name}.lock").read_text() for name in ("gpu", "cpu"))
    assert "linux-64/gpukern-0.1.0-" in gpu and "_cuda" in gpu.split("linux-64/gpukern-0.1.0-", 1)[1].split()[0]
    assert "linux-64/gpukern-0.1.0-" in cpu and "_cuda" not in cpu


@needs_gpu
def test_the_kernel_runs_on_the_gpu(demo_cuda):
    env = _create(demo_cuda, "env-real-gpu", {})  # the real driver's __cuda
    result = _run(env)
    assert result["ran"].startswith("cuda "), result
    assert result["sum"] == _run(_create(demo_cuda, "env-cpu-ref", NO_DRIVER))["sum"]


KERNEL_CU = """
__global__ void scale(float *y, float a, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] *= a;
}
// host code nvcc hands to gcc: vectorized for the variant's march through -Xcompiler
extern "C" void host_saxpy(int n, float a, const float *__restrict__ x, float *__restrict__ y) {
    for (int i = 0; i < n; i++) y[i] = a * x[i] + y[i];
}
"""

SCRIPT_STACK = """
name: cu-script
channels: []
dependencies: []
_pmpm:
  compiler: system
  variants:
    march: [x86-64-v3]
    cuda_compiler_version: [native]
    cuda_arch: ["sm_80,sm_90"]
  packages:
    - name: cukern
      version: "1.0"
      source: {path: src}
      kind: script
      compilers: [c, cuda]
      script:
        - mkdir -p "$PREFIX/lib"
        - $CUDACXX $CUDAFLAGS -Xcompiler -fPIC -shared k.cu -o "$PREFIX/lib/libcukern.so"
"""


def test_other_build_kinds_get_gencode_flags_and_the_march_for_host_code(tmp_path):
    """`CUDAFLAGS` for kinds other than CMake: SASS for every GPU listed, PTX only of the newest."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "k.cu").write_text(KERNEL_CU)
    (tmp_path / "stack.yml").write_text(SCRIPT_STACK)
    home = cuda_home()
    pmpm("build", "stack.yml", cwd=tmp_path, env={"CUDA_HOME": str(home)})
    library = _unpacked(tmp_path, "cukern", gpu=True, version="1.0") / "lib" / "libcukern.so"
    sass, ptx = cuobjdump(home, library, "--list-elf"), cuobjdump(home, library, "--list-ptx")
    assert "sm_80.cubin" in sass and "sm_90.cubin" in sass, sass
    assert "sm_90.ptx" in ptx and "sm_80" not in ptx, ptx
    assert objdump_registers(library)["ymm"] > 0

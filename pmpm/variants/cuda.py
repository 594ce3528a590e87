"""GPU targets: the CUDA variant keys, their values, and the nvcc that builds them.

conda-forge's `cuda_compiler_version` says which CUDA a build uses (`None`: a CPU build;
`native`: the release of the nvcc pmpm finds, recorded when rendering);
pmpm's `cuda_arch` says which GPUs it carries machine code for: `sm_90`, several joined by
`+` (`sm_80+sm_90`; a YAML file may also write `sm_80,sm_90` as one value), `all-major`,
`all`, or `native` (the GPUs `nvidia-smi` sees when rendering, recorded in the config).
Every listed GPU gets SASS and the newest one also PTX, which a newer GPU compiles at load
time. The two keys are zipped: a CPU row has `cuda_arch: None`, so a CUDA package is built
once per CPU variant and once per (CUDA version, GPU target) pair, and no other package is
built again for them (only recipes of packages with `compilers: [..., cuda]` use the keys).
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping

from ..errors import VariantError

VERSION_KEY = "cuda_compiler_version"
ARCH_KEY = "cuda_arch"
KEYS = (VERSION_KEY, ARCH_KEY)
CPU = "None"
DEFAULT_ARCH = "all-major"  # conda-forge's choice: machine code for every major GPU generation
# CUDA builds get build numbers this much higher, so a host with a driver (`__cuda`) prefers them
# to the CPU build of any march; the march's own offset (100 per level) still orders them.
BUILD_NUMBER_OFFSET = 1000
WORDS = ("all", "all-major", "native")
# Real GPU architectures nvcc has known (12.x and 13.x); an nvcc at hand narrows them to its own.
KNOWN = tuple(
    f"sm_{n}"
    for n in (
        "50 52 53 60 61 62 70 72 75 80 86 87 88 89 90 90a 100 100a 100f 101 101a 101f 103 103a 103f "
        "107 107a 107f 110 110a 110f 120 120a 120f 121 121a 121f"
    ).split()
)
GET_NVCC = (
    "`module load cuda`, set CUDA_HOME, or `pip install nvidia-cuda-nvcc nvidia-cuda-runtime nvidia-cuda-crt` "
    "beside pmpm"
)

# The same rules as recipe expressions, for the templates (`${{ }}` in recipe.yaml, `{{ }}` in meta.yaml).
IS_CUDA = f'{VERSION_KEY} != "{CPU}"'
TAG_EXPRESSION = (  # cuda130_sm80_sm90_ in a CUDA build's string, nothing in a CPU build's
    f'("cuda" ~ ({VERSION_KEY} | replace(".", "")) ~ "_" ~ '
    f'({ARCH_KEY} | replace("sm_", "sm") | replace("+", "_") | replace("-", "")) ~ "_") if {IS_CUDA} else ""'
)
# The driver a build needs: one of its CUDA major version (the runtime is linked statically, and
# CUDA's minor-version compatibility runs it on any driver of that major version).
DRIVER_EXPRESSION = f'{VERSION_KEY} | split(".") | first'
DRIVER_EXPRESSION_META = f'{VERSION_KEY}.split(".")[0]'  # conda-build's Jinja2 has no `split` filter
TEMPLATE = {
    "version_key": VERSION_KEY,
    "arch_key": ARCH_KEY,
    "is_cuda": IS_CUDA,
    "tag": TAG_EXPRESSION,
    "driver": DRIVER_EXPRESSION,
    "driver_meta": DRIVER_EXPRESSION_META,
    "offset": BUILD_NUMBER_OFFSET,
    "get_nvcc": GET_NVCC.replace("`", ""),
}


def normalize_arch(value: object, origin: Mapping[str, Any] = {}) -> str:
    """A `cuda_arch` value in its one spelling: `sm_80+sm_90`, `all-major`, `all`; `native` resolved."""
    text = str(value).strip()
    if text in ("all", "all-major"):
        return text
    if text == "native":
        return "+".join(native_archs(origin))
    archs = []
    for part in filter(None, re.split(r"[\s,;+]+", text)):
        arch = _spelling(part)
        if arch not in KNOWN:
            close = difflib.get_close_matches(arch, [*KNOWN, *WORDS], n=2, cutoff=0.6)
            fix = f"did you mean {' or '.join(close)}?" if close else "e.g. sm_90, sm_80+sm_90, all-major or native"
            raise VariantError(f"unknown GPU architecture {part!r}", fix=fix, **origin)
        archs.append(arch)
    if not archs:
        raise VariantError(
            "no GPU architecture given",
            fix=f"a CUDA build needs one, e.g. sm_90 (CPU builds are cuda_compiler_version: {CPU})",
            **origin,
        )
    return "+".join(sorted(set(archs), key=_number))


def _spelling(part: str) -> str:
    """`sm_90` for `sm_90`, `sm90`, `90`, `compute_90` or `9.0` (a compute capability)."""
    match = re.fullmatch(r"(?:sm_?|compute_)?(\d+)([af]?)", part.lower()) or re.fullmatch(r"(\d+)\.(\d)", part)
    return f"sm_{match.group(1)}{match.group(2)}" if match else part


def _number(arch: str) -> tuple[int, str]:
    digits = re.sub(r"\D", "", arch)
    return int(digits or 0), arch


def normalize_version(value: object, origin: Mapping[str, Any] = {}) -> str:
    """`13.0` (`13` becomes `13.0`), `None` for a CPU build; `native` is the release of the nvcc at hand."""
    text = str(value).strip()
    if text in (CPU, "none", "null", "~", ""):
        return CPU
    if text == "native":
        nvcc = find_nvcc()
        if nvcc is None:
            raise VariantError(f"{VERSION_KEY} native: no nvcc found", fix=GET_NVCC, **origin)
        return nvcc_version(nvcc)
    match = re.fullmatch(r"(\d+)(?:\.(\d+))?(?:\.\d+)*", text)
    if match is None:
        raise VariantError(
            f"{VERSION_KEY} {text!r} is not a CUDA version", fix=f"e.g. 13.0, or {CPU} for a CPU build", **origin
        )
    return f"{match.group(1)}.{match.group(2) or 0}"


def native_archs(origin: Mapping[str, Any] = {}) -> list[str]:
    """The GPUs of this host, as `nvidia-smi` reports their compute capability."""
    smi = shutil.which("nvidia-smi")
    out = (
        subprocess.run(
            [smi, "--query-gpu=compute_cap", "--format=csv,noheader"], capture_output=True, text=True, timeout=60
        )
        if smi
        else None
    )
    caps = [line.strip() for line in out.stdout.splitlines() if line.strip()] if out and out.returncode == 0 else []
    if not caps:
        raise VariantError(
            "cuda_arch native: nvidia-smi sees no GPU on this host",
            fix="name the GPUs to build for, e.g. cuda_arch: sm_90 (H100/H200) or sm_80 (A100)",
            **origin,
        )
    return sorted({_spelling(cap) for cap in caps}, key=_number)


def arch_tag(arch: str) -> str:
    """What TAG_EXPRESSION makes of a `cuda_arch` value (`sm80_sm90`), for Python's side."""
    return arch.replace("sm_", "sm").replace("+", "_").replace("-", "")


def expand(
    values: dict[str, list], zips: list[list[str]], where: Mapping[str, Mapping[str, Any]], needed: bool
) -> None:
    """Normalize the CUDA keys and zip them into rows: each CPU row (`None`) once, each CUDA version
    once per `cuda_arch` value (default all-major). A zip group of the user's naming either key is
    taken as the rows themselves. `needed` (a package compiles CUDA) gives a stack without the keys
    one CPU row, so its recipes render; `where` names each key's origin for errors."""
    if not needed and not any(key in values for key in KEYS):
        return
    versions = [normalize_version(v, where.get(VERSION_KEY, {})) for v in values.get(VERSION_KEY, [CPU])]
    group = next((g for g in zips if VERSION_KEY in g or ARCH_KEY in g), None)
    if group is None:
        given = [a for a in values.get(ARCH_KEY, [DEFAULT_ARCH]) if str(a) != CPU] or [DEFAULT_ARCH]
        archs = list(dict.fromkeys(normalize_arch(a, where.get(ARCH_KEY, {})) for a in given))
        rows = list(dict.fromkeys((v, CPU) if v == CPU else (v, a) for v in versions for a in archs))
        zips.append([VERSION_KEY, ARCH_KEY])
    elif set(KEYS) <= set(group) and len(versions) == len(values.get(ARCH_KEY, [])):
        pairs = zip(versions, values[ARCH_KEY])
        rows = [(v, CPU if v == CPU else normalize_arch(a, where.get(ARCH_KEY, {}))) for v, a in pairs]
    else:
        raise VariantError(
            f"{ARCH_KEY} and {VERSION_KEY} are zipped with each other, a value of one per value of the other",
            key="zip_keys",
            fix="put both in one zip_keys group with as many values, or leave them out of zip_keys",
        )
    values[VERSION_KEY], values[ARCH_KEY] = [v for v, _ in rows], [a for _, a in rows]


# --- the toolchain -------------------------------------------------------------------------


def find_nvcc(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The nvcc system-mode builds use: CUDA_HOME's (or CUDA_PATH's), the first on PATH (an HPC
    `module load cuda`), else one from the PyPI wheels installed beside pmpm (nvidia-cuda-nvcc)."""
    for home in (environ.get("CUDA_HOME"), environ.get("CUDA_PATH")):
        if home and os.access(Path(home, "bin", "nvcc"), os.X_OK):
            return Path(home, "bin", "nvcc")
    on_path = shutil.which("nvcc", path=environ.get("PATH", ""))
    if on_path:
        return Path(on_path)
    return _wheel_nvcc()


def _wheel_nvcc() -> Path | None:
    found = [
        Path(entry, "nvidia", home, "bin", "nvcc")
        for entry in sys.path
        if entry and Path(entry, "nvidia").is_dir()
        for home in os.listdir(Path(entry, "nvidia"))
        if home.startswith("cu") and home[2:].isdigit()
    ]
    usable = [path for path in found if os.access(path, os.X_OK)]
    return max(usable, key=lambda p: int(p.parent.parent.name[2:])) if usable else None


@functools.cache
def nvcc_version(nvcc: Path) -> str:
    """`13.0` from `nvcc --version`'s "release 13.0"."""
    out = subprocess.run([str(nvcc), "--version"], capture_output=True, text=True, timeout=120)
    match = re.search(r"release (\d+\.\d+)", out.stdout)
    if out.returncode != 0 or match is None:
        raise VariantError(f"{nvcc} --version did not say its release", fix=f"check that nvcc runs, or {GET_NVCC}")
    return match.group(1)


@functools.cache
def nvcc_archs(nvcc: Path) -> tuple[str, ...]:
    """The real GPU architectures this nvcc can compile for (`nvcc --list-gpu-code`)."""
    out = subprocess.run([str(nvcc), "--list-gpu-code"], capture_output=True, text=True, timeout=120)
    return tuple(sorted(set(out.stdout.split()), key=_number)) if out.returncode == 0 else KNOWN


def check_toolchain(versions: list[str], archs: list[str], environ: Mapping[str, str] = os.environ) -> Path:
    """The nvcc for a system-mode stack's CUDA builds, refusing one that cannot build them."""
    nvcc = find_nvcc(environ)
    wanted = sorted({v for v in versions if v != CPU})
    if nvcc is None:
        raise VariantError(f"no nvcc found for {VERSION_KEY} {', '.join(wanted)}", key=VERSION_KEY, fix=GET_NVCC)
    have = nvcc_version(nvcc)
    if wanted != [have]:
        raise VariantError(
            f"{VERSION_KEY} {', '.join(wanted)} but {nvcc} is CUDA {have}",
            key=VERSION_KEY,
            fix=f"set {VERSION_KEY}: [{CPU}, {have}], or put the nvcc of that release first (CUDA_HOME or PATH)",
        )
    supported = nvcc_archs(nvcc)
    for value in archs:
        for arch in value.split("+"):
            if arch not in WORDS and arch != CPU and arch not in supported:
                raise VariantError(
                    f"CUDA {have}'s nvcc cannot build for {arch}",
                    key=ARCH_KEY,
                    fix=f"it builds for {', '.join(supported)}; use an older CUDA for older GPUs",
                )
    return nvcc

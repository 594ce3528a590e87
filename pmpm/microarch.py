"""Microarchitecture knowledge: names, compiler spellings, flags, generic levels.

archspec is the source of truth. pmpm accepts a compiler spelling (`znver3`,
`x86-64-v3`), an archspec name (`zen3`, `x86_64_v3`) or `native`, and always hands the
rest of the code a `Microarch` with both spellings and the generic `x86_64_vN` level
that conda's `__archspec` virtual package and pmpm's CPU gating use.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from dataclasses import dataclass

import archspec.cpu

from .errors import VariantError

FAMILY = "x86_64"
LEVELS = {"x86_64": 1, "x86_64_v2": 2, "x86_64_v3": 3, "x86_64_v4": 4}


@dataclass(frozen=True)
class Microarch:
    """One optimization target as pmpm uses it."""

    name: str           # archspec name, e.g. "zen3"
    march: str          # compiler spelling, e.g. "znver3"
    mtune: str          # archspec's default tuning for that compiler
    level: int          # generic x86-64 level 1..4
    requested: str      # what the user wrote (e.g. "native")

    @property
    def tag(self) -> str:
        """Build-string safe tag: build strings allow no '-'."""
        return self.march.replace("-", "_")

    @property
    def generic(self) -> str:
        return "x86_64" if self.level == 1 else f"x86_64_v{self.level}"


@functools.cache
def _spellings(compiler: str) -> dict[str, str]:
    """Map compiler spellings (`znver3`) to archspec names (`zen3`)."""
    table: dict[str, str] = {}
    for name, target in archspec.cpu.TARGETS.items():
        if target.family.name != FAMILY:
            continue
        entries = target.compilers.get(compiler, [])
        if not entries:
            continue
        spelling = entries[0].get("name", name).format(name=name)
        # Several targets share an old-compiler spelling (`x86-64`): the exact one wins.
        if spelling not in table or spelling.replace("-", "_") == name:
            table[spelling] = name
    return table


def known_names(compiler: str = "gcc") -> list[str]:
    names = {n for n, t in archspec.cpu.TARGETS.items() if t.family.name == FAMILY}
    return sorted(names | set(_spellings(compiler)))


def host_target() -> str:
    """The archspec name of this machine's CPU."""
    return archspec.cpu.host().name


def resolve(requested: str, compiler: str = "gcc", version: str | None = None) -> Microarch:
    """Turn any accepted spelling into a `Microarch`, checking the compiler can target it."""
    version = version or compiler_version(compiler)
    text = str(requested).strip()
    name = host_target() if text == "native" else text
    name = _spellings(compiler).get(name, name)
    target = archspec.cpu.TARGETS.get(name)
    if target is None or target.family.name != FAMILY:
        close = [n for n in known_names(compiler) if n[:3] == text[:3]][:6]
        hint = f"did you mean {', '.join(close)}?" if close else "use e.g. x86-64-v3, znver3, skylake-avx512 or native"
        raise VariantError(f"unknown microarchitecture {text!r}", key="march", fix=hint)
    try:
        flags = target.optimization_flags(compiler, version)
    except archspec.cpu.UnsupportedMicroarchitecture as exc:
        raise VariantError(f"{compiler} {version} cannot target {text!r}: {exc}", key="march",
                           fix="choose an older march or a newer compiler") from None
    extra = [f for f in flags.split() if not f.startswith(("-march=", "-mtune="))]
    if extra:
        # archspec emulates the target with feature flags on old compilers; -march alone would silently
        # build the baseline, so refuse rather than mislabel a package.
        raise VariantError(f"{compiler} {version} cannot target {text!r} with -march alone (it needs {' '.join(extra[:3])} ...)",
                           key="march", fix=f"use {compiler} >= {_first_native_version(target, compiler)} or a named CPU such as skylake-avx512")
    march = _flag(flags, "march") or name.replace("_", "-")
    return Microarch(name=name, march=march, mtune=_flag(flags, "mtune") or "generic",
                     level=_level(target), requested=text)


def _first_native_version(target: "archspec.cpu.Microarchitecture", compiler: str) -> str:
    entries = target.compilers.get(compiler, [])
    return entries[0]["versions"].split(":")[0] if entries else "a newer version"


def _flag(flags: str, option: str) -> str | None:
    match = re.search(rf"-{option}=(\S+)", flags)
    return match.group(1) if match else None


def _level(target: "archspec.cpu.Microarchitecture") -> int:
    generic = target.generic.name
    return LEVELS.get(generic, 1)


def host_level() -> int:
    return _level(archspec.cpu.host())


@functools.cache
def compiler_version(compiler: str = "gcc") -> str:
    """Version of the host compiler (system mode); a conda-forge-like default otherwise."""
    exe = shutil.which(compiler)
    if exe is None:
        return "14.2.0"
    out = subprocess.run([exe, "-dumpfullversion", "-dumpversion"], capture_output=True, text=True)
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else "14.2.0"


GATE_PACKAGE = "_x86_64-microarch-level"


def names_at_or_above(level: int) -> list[str]:
    """Every archspec name (generic and specific) of an x86-64 CPU at `level` or higher.

    rattler and conda report a specific name (`icelake`), mamba a generic one
    (`x86_64_v4`): a gate must accept both.
    """
    return sorted(name for name, target in archspec.cpu.TARGETS.items()
                  if target.family.name == FAMILY and _level(target) >= level)


def archspec_gate(level: int) -> str:
    """The `__archspec` match spec a host must satisfy to run x86-64 level `level` code."""
    return '__archspec 1.*[build="^(' + "|".join(names_at_or_above(level)) + ')$"]'

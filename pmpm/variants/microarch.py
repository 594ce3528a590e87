"""Microarchitecture knowledge: names, compiler spellings, flags, generic levels.

archspec is the source of truth. pmpm accepts a compiler spelling (`znver3`,
`x86-64-v3`), an archspec name (`zen3`, `x86_64_v3`) or `native`, and always hands the
rest of the code a `Microarch` with both spellings and the generic `x86_64_vN` level
that conda's `__archspec` virtual package and pmpm's CPU gating use.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import VariantError
from ..files import atomic_write

if TYPE_CHECKING:  # imported on first use (see `host_level`): most builds never need it
    import archspec.cpu

FAMILY = "x86_64"
LEVELS = {"x86_64": 1, "x86_64_v2": 2, "x86_64_v3": 3, "x86_64_v4": 4}


@dataclass(frozen=True)
class Microarch:
    """One optimization target as pmpm uses it."""

    name: str  # archspec name, e.g. "zen3"
    march: str  # compiler spelling, e.g. "znver3"
    mtune: str  # archspec's default tuning for that compiler
    level: int  # generic x86-64 level 1..4
    requested: str  # what the user wrote (e.g. "native")

    @property
    def tag(self) -> str:
        """Build-string safe tag: build strings allow no '-'."""
        return self.march.replace("-", "_")

    @property
    def generic(self) -> str:
        return "x86_64" if self.level == 1 else f"x86_64_v{self.level}"


def _in_range(entry: dict, version: str) -> bool:
    """Whether `version` satisfies an archspec compiler entry, compared exactly as archspec does."""

    def parts(text: str) -> tuple[int, ...]:
        digits = re.match(r"[\d.]*", text).group(0).strip(".")
        return tuple(int(p) for p in digits.split(".") if p)

    low, _, high = entry["versions"].partition(":")
    have = parts(version)
    return (not low or parts(low) <= have) and (not high or have <= parts(high))


def _native(entry: dict) -> bool:
    """An entry that targets the CPU with -march/-mtune alone, not by emulating it with feature flags."""
    return all(f.startswith(("-march=", "-mtune=")) for f in entry["flags"].split())


def _archspec():
    """archspec.cpu, imported on first use: a build of rendered recipes needs none of it (~9 ms)."""
    import archspec.cpu

    return archspec.cpu


def _x86_targets() -> dict[str, "archspec.cpu.Microarchitecture"]:
    return {n: t for n, t in _archspec().TARGETS.items() if t.family.name == FAMILY}


@functools.cache
def _spellings(compiler: str, version: str) -> dict[str, str]:
    """Map every compiler spelling archspec knows (`znver4`) to its archspec name (`zen4`).

    archspec lists one spelling per compiler version range; all ranges count, so that a name
    the chosen compiler is too old for is reported as such rather than as unknown. Where
    targets share a spelling (`znver3` is also zen4 emulated on gcc < 12.3), the entry the
    compiler version satisfies wins, then one needing no feature flags, then the exact name.
    """
    best: dict[str, tuple[tuple, str]] = {}
    for name, target in _x86_targets().items():
        for entry in target.compilers.get(compiler, []):
            spelling = entry.get("name", name).format(name=name)
            rank = (_in_range(entry, version), _native(entry), spelling.replace("-", "_") == name)
            if spelling not in best or rank > best[spelling][0]:
                best[spelling] = (rank, name)
    return {spelling: name for spelling, (_, name) in best.items()}


@functools.cache
def _gcc_marches(compiler: str, version: str) -> tuple[str, ...]:
    """The -march values the host's gcc accepts, when it is the compiler variants are built with.

    gcc lists them in the note for an invalid -march. A conda gcc at least as new as the host's
    accepts every one of them too (gcc does not drop CPU names), so they apply to it as well.
    """
    exe = shutil.which(compiler)
    if compiler != "gcc" or exe is None or _major(compiler_version(compiler)) > _major(version):
        return ()
    out = subprocess.run(
        [exe, "-march=pmpm-list", "-x", "c", "-c", os.devnull, "-o", os.devnull],
        capture_output=True,
        text=True,
        env={**os.environ, "LC_ALL": "C"},
    )
    match = re.search(r"valid arguments to .-march=. switch are: ([^;\n]*)", out.stderr)
    return tuple(n for n in match.group(1).split() if n != "native") if match else ()


def _major(version: str) -> int:
    match = re.match(r"\d+", version)
    return int(match.group(0)) if match else 0


@functools.cache
def _gcc_level(compiler: str, march: str) -> int:
    """x86-64 level of a CPU only gcc knows (`icelake-server`), from the ISA flags gcc enables for it."""
    out = subprocess.run(
        [shutil.which(compiler), f"-march={march}", "-Q", "--help=target"],
        capture_output=True,
        text=True,
        env={**os.environ, "LC_ALL": "C"},
    )
    enabled = set(re.findall(r"^\s+(-m[\w.-]+)\s+\[enabled\]", out.stdout, re.M))
    return max([1] + [level for level, needs in _level_flags().items() if needs <= enabled])


@functools.cache
def _level_flags() -> dict[int, frozenset[str]]:
    """The ISA flags each x86-64 level needs: archspec's emulation of x86_64_vN on old compilers."""
    out = {}
    for name, level in LEVELS.items():
        entries = _archspec().TARGETS[name].compilers.get("gcc", [])
        flags = max((e["flags"].split() for e in entries), key=len, default=[])
        out[level] = frozenset(f for f in flags if not f.startswith(("-march=", "-mtune=")))
    return out


def known_names(compiler: str = "gcc", version: str | None = None) -> list[str]:
    """Every name `resolve` accepts besides `native`: archspec names, compiler spellings, gcc's CPUs."""
    version = version or compiler_version(compiler)
    return sorted(set(_x86_targets()) | set(_spellings(compiler, version)) | set(_gcc_marches(compiler, version)))


def host_target() -> str:
    """The archspec name of this machine's CPU."""
    return _archspec().host().name


def resolve(requested: str, compiler: str = "gcc", version: str | None = None) -> Microarch:
    """Turn any accepted spelling into a `Microarch`, checking the compiler can target it."""
    version = version or compiler_version(compiler)
    text = str(requested).strip()
    name = host_target() if text == "native" else text
    name = name if name in _x86_targets() else _spellings(compiler, version).get(name, name)
    target = _x86_targets().get(name)
    if target is None:
        if text in _gcc_marches(compiler, version):
            return _gcc_only(text, compiler)
        raise VariantError(f"unknown microarchitecture {text!r}", key="march", fix=_suggest(text, compiler, version))
    try:
        flags = target.optimization_flags(compiler, version)
    except _archspec().UnsupportedMicroarchitecture as exc:
        raise VariantError(
            f"{compiler} {version} cannot target {text!r}: {exc}",
            key="march",
            fix="choose an older march or a newer compiler",
        ) from None
    extra = [f for f in flags.split() if not f.startswith(("-march=", "-mtune="))]
    if extra:
        # archspec emulates the target with feature flags on old compilers; -march alone would silently
        # build the baseline, so refuse rather than mislabel a package.
        raise VariantError(
            f"{compiler} {version} cannot target {text!r} with -march alone (it needs {' '.join(extra[:3])} ...)",
            key="march",
            fix=f"use {compiler} >= {_first_native_version(target, compiler)} or a named CPU such as skylake-avx512",
        )
    march = _flag(flags, "march") or name.replace("_", "-")
    return Microarch(
        name=name, march=march, mtune=_flag(flags, "mtune") or "generic", level=_level(target), requested=text
    )


def _gcc_only(march: str, compiler: str) -> Microarch:
    """A CPU gcc knows and archspec does not (`icelake-server`): named by its generic level."""
    level = _gcc_level(compiler, march)
    generic = next(name for name, n in LEVELS.items() if n == level)
    return Microarch(name=generic, march=march, mtune=march, level=level, requested=march)


def _suggest(text: str, compiler: str, version: str) -> str:
    """`did you mean znver3 (zen3), znver4 (zen4)?`: close names, each with both spellings."""
    names = known_names(compiler, version)
    scored = sorted((-difflib.SequenceMatcher(None, text.lower(), n.lower()).ratio(), n) for n in names)
    shown: dict[str, str] = {}
    for score, name in scored:
        if -score < 0.6 or len(shown) == 5:
            break
        label = _both_spellings(name, compiler, version)
        shown.setdefault(label, label)
    if not shown:
        return "use e.g. x86-64-v3, znver3, skylake-avx512 or native"
    return f"did you mean {', '.join(shown)}?"


def _both_spellings(name: str, compiler: str, version: str) -> str:
    """`znver4 (zen4)`: the compiler's spelling and archspec's name of the target `name` denotes."""
    targets = _x86_targets()
    archspec_name = name if name in targets else _spellings(compiler, version).get(name)
    if archspec_name is None:
        return name  # a CPU only gcc knows
    entries = targets[archspec_name].compilers.get(compiler, [])
    usable = (
        [e for e in entries if _in_range(e, version) and _native(e)] or [e for e in entries if _native(e)] or entries
    )
    spelling = usable[0].get("name", archspec_name).format(name=archspec_name) if usable else archspec_name
    return spelling if spelling.replace("-", "_") == archspec_name else f"{spelling} ({archspec_name})"


def _first_native_version(target: "archspec.cpu.Microarchitecture", compiler: str) -> str:
    entries = [e for e in target.compilers.get(compiler, []) if _native(e)] or target.compilers.get(compiler, [])
    return entries[0]["versions"].split(":")[0] if entries else "a newer version"


def _flag(flags: str, option: str) -> str | None:
    match = re.search(rf"-{option}=(\S+)", flags)
    return match.group(1) if match else None


def _level(target: "archspec.cpu.Microarchitecture") -> int:
    generic = target.generic.name
    return LEVELS.get(generic, 1)


@functools.cache
def host_level() -> int:
    """The x86-64 level of this machine's CPU, remembered per CPU (`cpu_identity`) in pmpm's user
    cache: archspec's import and host detection cost every build start-up ~12 ms."""
    from .. import __version__, cpu_identity, user_cache

    remembered = user_cache("host", f"{cpu_identity()[:32]}-{__version__}.level")
    try:
        return int(remembered.read_text())
    except (OSError, ValueError):
        level = _level(_archspec().host())
    try:
        atomic_write(remembered, str(level))
    except OSError:  # a read-only cache: detect again next time
        pass
    return level


@functools.cache
def compiler_version(compiler: str = "gcc") -> str:
    """Version of the host compiler (system mode); a conda-forge-like default otherwise."""
    exe = shutil.which(compiler)
    if exe is None:
        return "14.2.0"
    out = subprocess.run([exe, "-dumpfullversion", "-dumpversion"], capture_output=True, text=True)
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else "14.2.0"


# --- the CPU gate --------------------------------------------------------------------
# conda-forge's scheme (conda-forge/microarch-level-feedstock, recipe/meta.yaml and its
# gen.py-generated conda_build_config.yaml): `_x86_64-microarch-level` has exactly one build
# per archspec name, whose version is that name's x86-64 level and whose only dependency is
# `__archspec 1 NAME`. A package built for level N depends on `_x86_64-microarch-level >=N`:
# the solver can only pick the build of the host's own name, and only if its level is >= N.
# Exact build strings are the one form every solver matches (conda classic and libmamba,
# mamba 2, rattler/pixi); libsolv cannot parse a regex alternation. pmpm's baseline builds
# depend on no gate, so a host whose CPU name is newer than the channel's archspec data still
# gets the baseline. The local channel shadows conda-forge's gate (strict priority), so pmpm
# publishes every name, level 1 included, for conda-forge packages that need `>=1`.

GATE_PACKAGE = "_x86_64-microarch-level"
GATE_NAME_KEY = "microarch_gate_name"  # variant keys only the gate recipe uses
GATE_LEVEL_KEY = "microarch_gate_level"


def names_at_or_above(level: int) -> list[str]:
    """Every archspec name (generic and specific) of an x86-64 CPU at `level` or higher.

    conda and rattler report a specific name (`icelake`), mamba 2 a generic one (`x86_64_v4`),
    CONDA_OVERRIDE_ARCHSPEC either: a gate must accept both.
    """
    return sorted(
        name for name, target in _archspec().TARGETS.items() if target.family.name == FAMILY and _level(target) >= level
    )


def gate_builds() -> list[tuple[str, int]]:
    """(archspec name, its level) of every gate build, ordered by level then name."""
    names = names_at_or_above(1)
    return sorted(((name, _level(_archspec().TARGETS[name])) for name in names), key=lambda b: (b[1], b[0]))


# The same rules as recipe expressions, for the templates (`${{ }}` in recipe.yaml, `{{ }}` in meta.yaml).
TAG_EXPRESSION = "march | replace('-', '_')"  # Microarch.tag: build strings allow no '-'
LEVEL_EXPRESSION = "microarch_level | int"
GATE_CONDITION = "microarch_level | int > 1"  # gate_spec() is None for the baseline


def gate_spec(level: int) -> str | None:
    """The run dependency of a package built for x86-64 `level` (None for the baseline)."""
    return f"{GATE_PACKAGE} >={level}" if level > 1 else None


def level_of_archspec(name: str) -> int | None:
    """The x86-64 level of an `__archspec` build string, None for a name archspec does not know."""
    target = _archspec().TARGETS.get(name)
    return _level(target) if target is not None and target.family.name == FAMILY else None

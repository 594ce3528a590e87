"""Variants: conda_build_config.yaml files, `--variant` overrides, march translation.

Sources are merged key by key in conda-build's order, later winning: the repo default,
the `conda_build_config.yaml` beside the stack, the stack's `_pmpm.variants`, each
`-m FILE`, then `--variant key=value` (`key=a,b` makes a matrix). rattler-build's own
loader evaluates `# [selector]` lines and expands the matrix with `zip_keys`, so pmpm's
combinations are exactly the engine's. `march` values are normalized to the compiler's
spelling, and `mtune` (unless given) and `microarch_level` are derived and zipped with it.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .. import resources
from ..errors import VariantError
from ..order import spec_name
from . import cbc, cuda, microarch
from .cbc import load_cbc
from .microarch import Microarch

# Keys that change the compiled binary: every compiled recipe uses them.
FLAG_KEYS = ("march", "mtune", "opt", "cflags", "cxxflags", "fflags", "ldflags")
DERIVED_KEYS = ("microarch_level",)
# Keys conda-build, rattler-build and conda-forge's pinning give a meaning of their own (besides
# package names, which pin host requirements and count as known when a package requires them).
STANDARD_KEYS = tuple(
    (
        "c_compiler c_compiler_version cxx_compiler cxx_compiler_version fortran_compiler "
        "fortran_compiler_version cuda_compiler cuda_compiler_version cuda_compiler_version_min rust_compiler "
        "rust_compiler_version go_compiler go_compiler_version cgo_compiler m2w64_c_compiler m2w64_cxx_compiler "
        "m2w64_fortran_compiler c_stdlib c_stdlib_version cxx_stdlib cxx_stdlib_version target_platform "
        "build_platform host_platform cross_target_platform cross_compiler_target_platform zip_keys "
        "pin_run_as_build extend_keys ignore_version ignore_build_only_deps channel_sources channel_targets "
        "docker_image cdt_name cdt_arch BUILD CMAKE_GENERATOR VERBOSE_AT VERBOSE_CM CONDA_BUILD_SYSROOT "
        "MACOSX_DEPLOYMENT_TARGET MACOSX_SDK_VERSION macos_machine python python_impl python_min is_python_min "
        "numpy perl r_base ruby lua blas_impl mpi target_goos target_goarch target_goexe target_gobin "
        "github_actions_labels"
    ).split()
)
DECLARE_HINT = "a key of your own goes in _pmpm.variant_keys"
GATE_KEYS = (microarch.GATE_NAME_KEY, microarch.GATE_LEVEL_KEY)
DEFAULT_CBC = resources.default_cbc()


@dataclass
class Origin:
    """Where a key's value came from, for error messages."""

    file: str
    line: int | None = None
    key: str | None = None  # how the key is named in that file; None for the command line
    rank: int = 0  # position of the source in merge order


@dataclass
class VariantSet:
    """Merged variant values, their zip groups and the march each value resolves to."""

    values: dict[str, list[Any]]
    zip_keys: list[list[str]] = field(default_factory=list)
    origins: dict[str, Origin] = field(default_factory=dict)
    microarchs: dict[str, Microarch] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: Path) -> "VariantSet":
        """A conda_build_config.yaml written by `pmpm render`, taken as resolved (no re-resolution)."""
        values, zips = load_cbc(path)
        return cls(values, zips)

    @property
    def python(self) -> str:
        """The stack's python: its first `python` variant (3.11 is the shipped cbc's); what `_pmpm.pypi`
        is resolved for and binary wheels are fetched for."""
        return str((self.values.get("python") or ["3.11"])[0])

    def combinations(self) -> list[dict[str, Any]]:
        """The matrix the stack's packages are built for (the CPU gate's own variants left out)."""
        values = {k: v for k, v in self.values.items() if k not in GATE_KEYS}
        return cbc.combinations(values, [g for g in self.zip_keys if not set(g) & set(GATE_KEYS)])

    def summary(self) -> str:
        """`march x86-64, x86-64-v3` and, where CUDA builds are asked for, `; CUDA 13.0 for sm_90`."""
        rows = zip(self.values.get(cuda.VERSION_KEY, []), self.values.get(cuda.ARCH_KEY, []))
        gpus = [f"CUDA {version} for {arch}" for version, arch in rows if version != cuda.CPU]
        return "; ".join([f"march {', '.join(self.values['march'])}", *gpus])

    def to_yaml(self, header: str = "") -> str:
        """Deterministic conda_build_config.yaml text."""
        return cbc.write(self.values, self.zip_keys, header)


def parse_overrides(pairs: list[str]) -> dict[str, list[str]]:
    """`--variant key=value` / `key=a,b` into lists."""
    out: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise VariantError(
                f"--variant {pair!r} is not KEY=VALUE", fix="e.g. --variant march=x86-64-v3 or march=x86-64,znver3"
            )
        out[key.strip()] = [v.strip() for v in value.split(",")]
    return out


def _check_key(key: str, origin: Origin, allowed: set[str]) -> None:
    """An unknown key is a typo until declared: pmpm would silently build without it."""
    if key in allowed:
        return
    where = _where(origin)
    if key in DERIVED_KEYS:
        raise VariantError(f"{key} is derived from march and cannot be set", fix="set march instead", **where)
    close = difflib.get_close_matches(key, sorted(allowed), n=3, cutoff=0.6)
    fix = (
        f"did you mean {' or '.join(close)}? "
        if close
        else f"pmpm's keys are {', '.join((*FLAG_KEYS, cuda.ARCH_KEY))}, besides conda-build's; "
    ) + DECLARE_HINT
    raise VariantError(f"unknown variant key {key!r}", fix=fix, **where)


_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)
_NAME = re.compile(r"(\|\s*|\.)?\b([A-Za-z_]\w*)\b(\s*\()?")
_NOT_KEYS = {"if", "else", "and", "or", "not", "in", "is", "true", "false", "none", "True", "False", "None"}


def expression_keys(text: str) -> set[str]:
    """Variables read by the `${{ ... }}` expressions in `text` (not filters, functions or attributes)."""
    names = set()
    for expression in _EXPRESSION.findall(text):
        expression = re.sub(r"'[^']*'|\"[^\"]*\"", "''", expression)
        names |= {name for prefix, name, call in _NAME.findall(expression) if not prefix and not call}
    return names - _NOT_KEYS


def keys_used_by(packages: Iterable[Any]) -> set[str]:
    """Variant keys a stack's packages use: `${{ key }}` anywhere in them, or a requirement named like a key."""
    keys: set[str] = set()
    for package in packages:
        reqs = package.requirements
        keys |= {spec_name(spec) for spec in [*reqs.build, *reqs.host, *reqs.run]}
        keys |= expression_keys(json.dumps(package.model_dump()))
    return keys


def recipe_keys(recipes: Iterable[Path]) -> set[str]:
    """Variant keys hand-written recipes use: their `${{ }}` variables and requirement names."""
    keys: set[str] = set()
    for recipe in recipes:
        text = Path(recipe).read_text()
        keys |= expression_keys(text)
        for match in re.finditer(r"^\s*-\s+[\"']?([A-Za-z0-9_][A-Za-z0-9_.\-]*)", text, re.M):
            keys.add(match.group(1))  # every list item's first word: requirement names among them
    return keys


def _key_line(path: Path, key: str) -> int | None:
    try:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.match(rf"^{re.escape(key)}\s*:", line):
                return number
    except OSError:
        pass
    return None


def resolve_variants(
    *,
    stack_variants: dict[str, Any] | None = None,
    stack_path: Path | None = None,
    config_files: list[Path] = (),
    overrides: list[str] = (),
    compiler_mode: str = "system",
    include_default: bool = True,
    stack_origin: Callable[[str], Origin] | None = None,
    user_keys: Iterable[str] = (),
    cuda_needed: bool = False,
) -> VariantSet:
    """Merge every variant source and resolve march values.

    Keys must be pmpm's, standard conda-build ones, or in `user_keys` (declared in the stack or
    used by its packages); `cuda_needed` (a package compiles CUDA) adds the CUDA keys' CPU row
    when they are not given. `microarch_level` is never set by hand: only a config pmpm rendered
    carries it, beside the march it was derived for, and such a config's keys are all trusted.
    """
    values: dict[str, list] = {}
    zips: list[list[str]] = []
    origins: dict[str, Origin] = {}
    allowed = {*FLAG_KEYS, *cuda.KEYS, *STANDARD_KEYS, *user_keys}

    def merge(new: dict[str, list], new_zips: list[list[str]], origin_of, from_file: bool = True) -> None:
        nonlocal zips
        found = {key: origin_of(key) for key in new}
        rendered = from_file and "march" in new and set(DERIVED_KEYS) <= set(new)
        if rendered:  # written by `pmpm render`: its keys were checked then, its microarch_level is re-derived
            allowed.update(key for key in new if key not in DERIVED_KEYS)
        for key, origin in found.items():
            if not (rendered and key in DERIVED_KEYS):
                _check_key(key, origin, allowed)
        rank = len({o.rank for o in origins.values()}) + 1
        for key, vals in new.items():
            values[key] = list(vals)
            origins[key] = found[key]
            origins[key].rank = rank
        if new_zips:
            zips = [list(g) for g in new_zips]

    files: list[Path] = []
    if include_default and DEFAULT_CBC.is_file():
        files.append(DEFAULT_CBC)
    if stack_path is not None and (stack_path.parent / "conda_build_config.yaml").is_file():
        beside = stack_path.parent / "conda_build_config.yaml"
        if beside.resolve() != DEFAULT_CBC:
            files.append(beside)
    for path in files:
        merge(*load_cbc(path), lambda k, p=path: Origin(str(p), _key_line(p, k), k))
    if stack_variants:
        raw = {k: v if isinstance(v, list) else [v] for k, v in stack_variants.items() if k != "zip_keys"}
        merge(
            raw,
            stack_variants.get("zip_keys") or [],
            stack_origin or (lambda k: Origin(str(stack_path), None, f"_pmpm.variants.{k}")),
            from_file=False,
        )
    for path in config_files:
        path = Path(path)
        merge(*load_cbc(path), lambda k, p=path: Origin(str(p), _key_line(p, k), k))
    cli = parse_overrides(list(overrides))
    merge(cli, [], lambda k: Origin(f"--variant {k}={','.join(cli[k])}"), from_file=False)
    return _finish(values, zips, origins, compiler_mode, cuda_needed)


def _finish(
    values: dict[str, list], zips: list[list[str]], origins: dict[str, Origin], compiler_mode: str, cuda_needed: bool
) -> VariantSet:
    values.setdefault("march", ["x86-64"])
    for derived in DERIVED_KEYS + GATE_KEYS:
        values.pop(derived, None)
    zips = [g for g in zips if not set(g) & set(GATE_KEYS)]
    if "mtune" in values and origins.get("mtune", Origin("")).rank < origins.get("march", Origin("")).rank:
        del values["mtune"]  # derived for an earlier march (e.g. a rendered config): derive again
    compiler, version = _compiler(values, compiler_mode)
    resolved: list[Microarch] = []
    for raw in values["march"]:
        try:
            resolved.append(microarch.resolve(str(raw), compiler, version))
        except VariantError as exc:
            origin = origins.get("march", Origin(""))
            raise VariantError(
                exc.what, file=origin.file or None, line=origin.line, key=origin.key, fix=exc.fix
            ) from None
    values["march"] = [m.march for m in resolved]
    values["microarch_level"] = [str(m.level) for m in resolved]  # as the engine reads it back from a file
    group = next((g for g in zips if "march" in g), None)
    if group is None:
        group = ["march"]
        zips.append(group)
    if "mtune" not in values:
        values["mtune"] = [m.mtune for m in resolved]
        if "mtune" not in group:
            group.append("mtune")
    elif "mtune" in group and len(values["mtune"]) != len(resolved):
        raise VariantError(
            f"mtune has {len(values['mtune'])} values but march has {len(resolved)}",
            key="zip_keys",
            fix="zipped keys need the same number of values",
        )
    if "microarch_level" not in group:
        group.append("microarch_level")
    zips = [g for g in zips if len(g) > 1]
    _add_gate_builds(values, zips)
    cuda.expand(values, zips, {k: _where(origins[k]) for k in cuda.KEYS if k in origins}, cuda_needed)
    if any(v != cuda.CPU for v in values.get(cuda.VERSION_KEY, [])):
        if compiler_mode == "system":
            cuda.check_toolchain(values[cuda.VERSION_KEY], values[cuda.ARCH_KEY])
        else:  # what conda-forge's pinning names it; `compiler('cuda')` reads it
            values.setdefault("cuda_compiler", ["cuda-nvcc"])
    for key in ("opt", "cflags", "cxxflags", "fflags", "ldflags"):
        values.setdefault(key, ["-O3" if key == "opt" else ""])
    _check_zip_lengths(values, zips)
    return VariantSet(values=values, zip_keys=zips, origins=origins, microarchs={m.march: m for m in resolved})


def _where(origin: Origin) -> dict[str, Any]:
    return dict(file=origin.file or None, line=origin.line, key=origin.key)


def _add_gate_builds(values: dict[str, list], zips: list[list[str]]) -> None:
    """The CPU gate recipe's own variants (one per archspec name); other recipes do not use them."""
    builds = microarch.gate_builds()
    values[microarch.GATE_NAME_KEY] = [name for name, _ in builds]
    values[microarch.GATE_LEVEL_KEY] = [str(level) for _, level in builds]
    zips.append(list(GATE_KEYS))


def _check_zip_lengths(values: dict[str, list], zips: list[list[str]]) -> None:
    for group in zips:
        present = [k for k in group if k in values]
        lengths = {len(values[k]) for k in present}
        if len(lengths) > 1:
            detail = ", ".join(f"{k}={len(values[k])}" for k in present)
            raise VariantError(
                f"zipped keys have different lengths ({detail})",
                key="zip_keys",
                fix="give every key of a zip_keys group the same number of values",
            )


def _compiler(values: dict[str, list], compiler_mode: str) -> tuple[str, str]:
    name = str((values.get("c_compiler") or ["gcc"])[0])
    if compiler_mode == "conda":
        return name, str((values.get("c_compiler_version") or ["14"])[0])
    return name, microarch.compiler_version(name)

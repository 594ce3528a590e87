"""Variants: conda_build_config.yaml files, `--variant` overrides, march translation.

Sources are merged key by key in conda-build's order, later winning: the repo default,
the `conda_build_config.yaml` beside the stack, the stack's `_pmpm.variants`, each
`-m FILE`, then `--variant key=value` (`key=a,b` makes a matrix). rattler-build's own
loader evaluates `# [selector]` lines and expands the matrix with `zip_keys`, so pmpm's
combinations are exactly the engine's. `march` values are normalized to the compiler's
spelling, and `mtune` (unless given) and `microarch_level` are derived and zipped with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import rattler_build

from . import microarch, resources
from .errors import VariantError, first_line
from .microarch import Microarch

# Keys that change the compiled binary: every compiled recipe uses them.
FLAG_KEYS = ("march", "mtune", "opt", "cflags", "cxxflags", "fflags", "ldflags")
DERIVED_KEYS = ("microarch_level",)
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

    def engine_config(self) -> rattler_build.VariantConfig:
        return rattler_build.VariantConfig({k: list(v) for k, v in self.values.items()},
                                           zip_keys=self.zip_keys or None)

    def combinations(self) -> list[dict[str, Any]]:
        return self.engine_config().combinations()

    def to_yaml(self, header: str = "") -> str:
        """Deterministic conda_build_config.yaml text."""
        lines = [f"# {line}" if line else "#" for line in header.splitlines()]
        for key in sorted(self.values):
            lines.append(f"{key}:")
            lines.extend(f"  - {_scalar(v)}" for v in self.values[key])
        if self.zip_keys:
            lines.append("zip_keys:")
            lines.extend(f"  - [{', '.join(group)}]" for group in self.zip_keys)
        return "\n".join(lines) + "\n"


def _scalar(value: Any) -> str:
    text = str(value)
    if text == "" or re.search(r"[:#\[\]{},&*!|>'\"%@`]|^[-?\s]|\s$", text) or text.lower() in ("yes", "no", "true", "false", "null", "~"):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def load_cbc(path: Path, target_platform: str = "linux-64") -> tuple[dict[str, list], list[list[str]]]:
    """Values and zip_keys of one conda_build_config.yaml, selectors evaluated."""
    if not path.is_file():
        raise VariantError("no such conda_build_config file", file=str(path), fix="check the -m path")
    jinja = rattler_build.JinjaConfig(platform=rattler_build.PlatformConfig(target_platform=target_platform))
    try:
        config = rattler_build.VariantConfig.from_conda_build_config(str(path), jinja)
    except Exception as exc:  # the engine raises its own error types; all mean "bad file"
        raise VariantError(f"invalid conda_build_config: {first_line(exc)}", file=str(path),
                           fix="each key maps to a list of values; zip_keys is a list of lists") from None
    return {k: list(v) for k, v in config.to_dict().items()}, [list(g) for g in (config.zip_keys or [])]


def parse_overrides(pairs: list[str]) -> dict[str, list[str]]:
    """`--variant key=value` / `key=a,b` into lists."""
    out: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise VariantError(f"--variant {pair!r} is not KEY=VALUE", fix="e.g. --variant march=x86-64-v3 or march=x86-64,znver3")
        out[key.strip()] = [v.strip() for v in value.split(",")]
    return out


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
) -> VariantSet:
    """Merge every variant source and resolve march values."""
    values: dict[str, list] = {}
    zips: list[list[str]] = []
    origins: dict[str, Origin] = {}

    def merge(new: dict[str, list], new_zips: list[list[str]], origin_of) -> None:
        nonlocal zips
        rank = len({o.rank for o in origins.values()}) + 1
        for key, vals in new.items():
            values[key] = list(vals)
            origins[key] = origin_of(key)
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
        merge(raw, stack_variants.get("zip_keys") or [],
              stack_origin or (lambda k: Origin(str(stack_path), None, f"_pmpm.variants.{k}")))
    for path in config_files:
        path = Path(path)
        merge(*load_cbc(path), lambda k, p=path: Origin(str(p), _key_line(p, k), k))
    cli = parse_overrides(list(overrides))
    merge(cli, [], lambda k: Origin(f"--variant {k}={','.join(cli[k])}"))
    return _finish(values, zips, origins, compiler_mode)


def _finish(values: dict[str, list], zips: list[list[str]], origins: dict[str, Origin], compiler_mode: str) -> VariantSet:
    values.setdefault("march", ["x86-64"])
    values.pop("microarch_level", None)
    if "mtune" in values and origins.get("mtune", Origin("")).rank < origins.get("march", Origin("")).rank:
        del values["mtune"]  # derived for an earlier march (e.g. a rendered config): derive again
    compiler, version = _compiler(values, compiler_mode)
    resolved: list[Microarch] = []
    for raw in values["march"]:
        try:
            resolved.append(microarch.resolve(str(raw), compiler, version))
        except VariantError as exc:
            origin = origins.get("march", Origin(""))
            raise VariantError(exc.what, file=origin.file or None, line=origin.line, key=origin.key,
                               fix=exc.fix) from None
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
        raise VariantError(f"mtune has {len(values['mtune'])} values but march has {len(resolved)}",
                           key="zip_keys", fix="zipped keys need the same number of values")
    if "microarch_level" not in group:
        group.append("microarch_level")
    zips = [g for g in zips if len(g) > 1]
    for key in ("opt", "cflags", "cxxflags", "fflags", "ldflags"):
        values.setdefault(key, ["-O3" if key == "opt" else ""])
    _check_zip_lengths(values, zips)
    return VariantSet(values=values, zip_keys=zips, origins=origins,
                      microarchs={m.march: m for m in resolved})


def _check_zip_lengths(values: dict[str, list], zips: list[list[str]]) -> None:
    for group in zips:
        present = [k for k in group if k in values]
        lengths = {len(values[k]) for k in present}
        if len(lengths) > 1:
            detail = ", ".join(f"{k}={len(values[k])}" for k in present)
            raise VariantError(f"zipped keys have different lengths ({detail})", key="zip_keys",
                               fix="give every key of a zip_keys group the same number of values")


def _compiler(values: dict[str, list], compiler_mode: str) -> tuple[str, str]:
    name = str((values.get("c_compiler") or ["gcc"])[0])
    if compiler_mode == "conda":
        return name, str((values.get("c_compiler_version") or ["14"])[0])
    return name, microarch.compiler_version(name)

"""The one reader and writer of conda_build_config.yaml, and the matrix it expands to.

The reader is the engine's own (rattler-build's `VariantConfig`), so `# [selector]` lines and
`zip_keys` mean exactly what they will mean when the engine builds; what it refuses is said
again with FILE:LINE: key. The writer emits no selectors, so its files are also valid
`variants.yaml` (conda-build's v1 path reads them with py-rattler-build's
`VariantConfig.from_file`, classic conda-build with yaml's BaseLoader).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import VariantError, first_line, type_word

PLATFORM = "linux-64"  # the only platform pmpm builds for


def load_cbc(path: Path, target_platform: str = PLATFORM) -> tuple[dict[str, list], list[list[str]]]:
    """Values and zip_keys of one conda_build_config.yaml, selectors evaluated by the engine's loader."""
    if path.is_dir():
        raise VariantError(
            "is a directory, not a conda_build_config file",
            file=str(path),
            fix="give the file, e.g. DIR/conda_build_config.yaml",
        )
    if not path.is_file():
        raise VariantError("no such conda_build_config file", file=str(path), fix="check the -m path")
    try:
        values, zips = _engine_read(path, target_platform)
    except VariantError as exc:
        raise _diagnose_cbc(path) or exc from None
    nested = next((k for k, vals in values.items() if any(isinstance(v, (list, dict)) for v in vals)), None)
    if nested is not None:
        raise _diagnose_cbc(path) or VariantError(
            "expected a list of values, got a list holding a list",
            file=str(path),
            key=nested,
            fix=f"write {nested}: [VALUE, ...]",
        )
    return values, zips


def _diagnose_cbc(path: Path) -> VariantError | None:
    """What the engine's loader refused, said with FILE:LINE: key (its own text names neither)."""
    from ..yamlio import read_yaml

    doc = read_yaml(path, VariantError)
    if not isinstance(doc, dict):
        return VariantError(
            f"a conda_build_config must be a mapping of keys to lists, got {type_word(doc)}",
            file=str(path),
            line=1,
            fix="write KEY: [VALUE, ...] lines",
        )
    for key, value in doc.items():
        line = doc.lc.key(key)[0] + 1 if hasattr(doc, "lc") else None
        if not isinstance(key, str):
            return VariantError(f"key {key!r} is not a name", file=str(path), line=line, fix="keys are variant names")
        if key == "zip_keys":
            groups = value if isinstance(value, list) else None
            if groups is None or not all(isinstance(g, list) and all(isinstance(k, str) for k in g) for g in groups):
                return VariantError(
                    f"zip_keys must be a list of lists of key names, got {type_word(value)}",
                    file=str(path),
                    line=line,
                    key=key,
                    fix="e.g. zip_keys: [[python, numpy]]",
                )
            continue
        if value is None:
            continue
        if not isinstance(value, list):
            written = value if isinstance(value, (str, int, float)) else "VALUE, ..."
            return VariantError(
                f"expected a list of values, got {type_word(value)}",
                file=str(path),
                line=line,
                key=key,
                fix=f"write {key}: [{written}]",
            )
        bad = next((v for v in value if isinstance(v, (dict, list)) or v is None), "ok")
        if bad != "ok":
            return VariantError(
                f"expected a list of values, got a list holding {type_word(bad)}",
                file=str(path),
                line=line,
                key=key,
                fix=f"write {key}: [VALUE, ...]",
            )
    return None


def write(values: dict[str, list], zip_keys: list[list[str]], header: str = "", *, exact: bool = False) -> str:
    """Deterministic conda_build_config.yaml text (keys sorted), `header` as comment lines.

    A rendered config is written for people and for every engine's loader, which types an
    unquoted value itself (as it did reading the stack's). An `exact` one (one job's, read back
    by the engine that planned it from these very values) quotes every string: the engine
    hashes "1" and 1 differently, so the build must see the types the plan saw."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    for key in sorted(values):
        lines.append(f"{key}:")
        lines.extend(f"  - {json.dumps(v) if exact else _scalar(v)}" for v in values[key])
    if zip_keys:
        lines.append("zip_keys:")
        lines.extend(f"  - [{', '.join(group)}]" for group in zip_keys)
    return "\n".join(lines) + "\n"


def _scalar(value: Any) -> str:
    """A value as people write it: quoted only where YAML syntax, a boolean or null would change it."""
    text = str(value)
    if (
        text == ""
        or re.search(r"[:#\[\]{},&*!|>'\"%@`]|^[-?\s]|\s$", text)
        or text.lower() in ("yes", "no", "true", "false", "null", "~")
    ):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def _engine_read(path: Path, target_platform: str) -> tuple[dict[str, list], list[list[str]]]:
    """Values and zip_keys of one conda_build_config.yaml, selectors evaluated."""
    import rattler_build

    jinja = rattler_build.JinjaConfig(platform=rattler_build.PlatformConfig(target_platform=target_platform))
    try:
        config = rattler_build.VariantConfig.from_conda_build_config(str(path), jinja)
    except Exception as exc:  # the engine raises its own error types; all mean "bad file"
        raise VariantError(
            f"invalid conda_build_config: {first_line(exc)}",
            file=str(path),
            fix="each key maps to a list of values; zip_keys is a list of lists",
        ) from None
    return {k: list(v) for k, v in config.to_dict().items()}, [list(g) for g in (config.zip_keys or [])]


def variant_config(values: dict[str, list], zip_keys: list[list[str]]) -> Any:
    """The engine's VariantConfig of these values (what it renders recipes with)."""
    import rattler_build

    return rattler_build.VariantConfig({k: list(v) for k, v in values.items()}, zip_keys=zip_keys or None)


def combinations(values: dict[str, list], zip_keys: list[list[str]]) -> list[dict[str, Any]]:
    """Every variant the engine would build, zip_keys honoured."""
    return variant_config(values, zip_keys).combinations()


def job_config(
    values: dict[str, list], zip_keys: list[list[str]], variant: dict[str, Any]
) -> tuple[dict[str, list], list[list[str]]]:
    """The rendered config narrowed to one variant: each key the variant sets holds only its
    value, every key zipped with it the value of the same row; other keys and every zip
    group stay as they were, so the engine renders this one variant and nothing else."""
    narrowed = {k: list(v) for k, v in values.items()}
    grouped = set()
    for group in zip_keys:
        present = [k for k in group if k in narrowed]
        used = [k for k in present if k in variant]
        grouped.update(present)
        if not used:
            continue
        row = next(
            (i for i in range(len(narrowed[used[0]])) if all(str(narrowed[k][i]) == str(variant[k]) for k in used)),
            None,
        )
        if row is None:
            raise VariantError(f"variant {_describe(variant, used)} is not a row of zip_keys {group}")
        for key in present:
            narrowed[key] = [narrowed[key][row]]
    for key, value in variant.items():
        if key in narrowed and key not in grouped:
            same = [v for v in narrowed[key] if str(v) == str(value)]
            narrowed[key] = same[:1] or [value]
    return narrowed, [list(g) for g in zip_keys]


def _describe(variant: dict[str, Any], keys: list[str]) -> str:
    return ", ".join(f"{k}={variant[k]}" for k in keys)

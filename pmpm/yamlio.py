"""Reading YAML files (stacks, catalogue entries) with errors that point at FILE:LINE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from .errors import StackError

_yaml = YAML(typ="rt")


def read_yaml(path: Path, error: type = StackError) -> Any:
    try:
        text = path.read_text()
    except OSError as exc:
        raise error(f"cannot read file: {exc.strerror}", file=str(path)) from None
    try:
        return _yaml.load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"invalid YAML: {problem}", file=str(path), line=line, fix="check indentation and quoting") from None

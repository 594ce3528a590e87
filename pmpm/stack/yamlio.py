"""Reading YAML files (stacks, catalogue entries) with errors that point at FILE:LINE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ..errors import StackError

_yaml = YAML(typ="rt")
NL = b"\n"


def read_yaml(path: Path, error: type = StackError) -> Any:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"cannot read file: {exc.strerror}", file=str(path)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = data[:exc.start].count(NL) + 1, exc.start - data.rfind(NL, 0, exc.start)
        raise error(f"not UTF-8 text: byte 0x{data[exc.start]:02x} at column {column}",
                    file=str(path), line=line, fix="save the file as UTF-8") from None
    if "\0" in text:
        raise error("not a text file: it holds a NUL byte", file=str(path), line=text[:text.index("\0")].count("\n") + 1,
                    fix="give a YAML stack file")
    try:
        return _yaml.load(text)
    except RecursionError:
        raise error("nesting deeper than YAML can be read", file=str(path),
                    fix="a stack file nests a few levels of mappings and lists; check the brackets") from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"invalid YAML: {problem}", file=str(path), line=line, fix="check indentation and quoting") from None

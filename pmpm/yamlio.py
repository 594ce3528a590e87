"""Reading YAML files (stacks, catalogue entries) with errors that point at FILE:LINE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from .errors import StackError

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
        line, column = data[: exc.start].count(NL) + 1, exc.start - data.rfind(NL, 0, exc.start)
        raise error(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at column {column}",
            file=str(path),
            line=line,
            fix="save the file as UTF-8",
        ) from None
    if "\0" in text:
        raise error(
            "not a text file: it holds a NUL byte",
            file=str(path),
            line=text[: text.index("\0")].count("\n") + 1,
            fix="give a YAML stack file",
        )
    try:
        return _yaml.load(text)
    except RecursionError:
        raise error(
            "nesting deeper than YAML can be read",
            file=str(path),
            fix="a stack file nests a few levels of mappings and lists; check the brackets",
        ) from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(
            f"invalid YAML: {problem}", file=str(path), line=line, fix="check indentation and quoting"
        ) from None


def line_of(doc: Any, loc: tuple) -> int | None:
    """1-based line of the deepest node of `loc` that exists in the ruamel document."""
    node, line = doc, getattr(getattr(doc, "lc", None), "line", None)
    for part in loc:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(node, dict) and part in node:
                line = lc.key(part)[0] if lc else line
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                line = lc.item(part)[0] if lc else line
                node = node[part]
            else:
                break
        except (KeyError, TypeError, AttributeError):
            break
    return None if line is None else line + 1


def dotted(doc: Any, loc: tuple) -> str:
    out, node = "", doc
    for part in loc:
        if isinstance(part, int):
            name = (
                node[part].get("name")
                if isinstance(node, list) and part < len(node) and isinstance(node[part], dict)
                else None
            )
            out += f"[{name}]" if name else f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return out

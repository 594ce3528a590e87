"""Edits of a stack file that keep it as the user wrote it (comments, order, quoting)."""

from __future__ import annotations

import io
import re
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ..errors import StackError
from ..files import atomic_write
from ..order import canonical
from ..yamlio import read_yaml


def _key(requirement: str) -> str:
    """The PEP 503 name a requirement starts with."""
    return canonical(re.split(r"[\s\[<>=!~;@]", requirement.strip(), maxsplit=1)[0])


def add_pypi(path: Path, requirements: list[str], *, wheel: bool = False) -> list[str]:
    """Add `requirements` to the stack's `_pmpm.pypi` (as `{name: R, wheel: true}` with `wheel`);
    one already listed for the same distribution is replaced. Returns the requirements written."""
    doc = read_yaml(path)
    if not isinstance(doc, CommentedMap):
        raise StackError("a stack file is a mapping (name, channels, dependencies, _pmpm)", file=str(path))
    section = doc.setdefault("_pmpm", CommentedMap())
    if not isinstance(section, CommentedMap):
        raise StackError("_pmpm must be a mapping", file=str(path), key="_pmpm")
    entries = section.setdefault("pypi", CommentedSeq())
    if not isinstance(entries, list):
        raise StackError("_pmpm.pypi must be a list", file=str(path), key="_pmpm.pypi", fix="write pypi: [NAME, ...]")
    for requirement in requirements:
        entry = CommentedMap([("name", requirement), ("wheel", True)]) if wheel else requirement
        names = [_key(e["name"] if isinstance(e, dict) else str(e)) for e in entries]
        if _key(requirement) in names:
            index = names.index(_key(requirement))
            entries[index] = entry
            entries.ca.items.pop(index, None)  # the replaced entry's comment described it
        else:
            entries.append(entry)
    out, yaml = io.StringIO(), YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)  # lists indented under their key, as stacks are written
    yaml.dump(doc, out)
    atomic_write(path, out.getvalue())
    return list(requirements)

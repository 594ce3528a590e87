"""Loading a stack file: parse, validate with the model, expand catalogue entries, and say
every mistake as `FILE:LINE: key: what (fix)`."""

from __future__ import annotations

import difflib
import errno
import graphlib
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, get_args, get_origin

from pydantic import BaseModel, ValidationError

from ..errors import StackError, type_word
from ..yamlio import dotted as _dotted
from ..yamlio import line_of, read_yaml
from . import legacy
from .fields import FieldError
from .model import NumberVersion, Package, Source, Stack, StackFile, local_deps

if TYPE_CHECKING:
    from .catalogue import Catalogue


def load_stack(path: str | Path, catalogue: "Catalogue | None" = None, *, compiler: str | None = None) -> Stack:
    """Parse, validate and complete a stack file; `compiler` overrides its `_pmpm.compiler`
    (`pmpm system_install` forces system), before catalogue entries are expanded for that mode."""
    from .catalogue import Catalogue

    path = Path(path)
    doc = read_yaml(path)
    if not isinstance(doc, dict):
        line = getattr(getattr(doc, "lc", None), "line", 0) + 1
        raise StackError(
            f"a stack file must be a mapping, got {type_word(doc)} (write name:, channels:, dependencies:, "
            "_pmpm: at the top level, not '- ' items)",
            file=str(path),
            line=line,
        )
    legacy.translate(
        doc,
        lambda key, what, fix: StackError(
            what, file=str(path), line=line_of(doc, ("_pmpm", key)), key=f"_pmpm.{key}", fix=fix
        ),
    )
    try:
        model = StackFile.model_validate(doc)
    except ValidationError as exc:
        raise _stack_error(exc, doc, path) from None
    if compiler:
        model.pmpm.compiler = compiler  # type: ignore[assignment]
    catalogue = catalogue or Catalogue.default()
    packages = list(model.pmpm.packages)
    for index, entry in enumerate(model.pmpm.dependencies):
        where = _Where(path, doc, ("_pmpm", "dependencies", index))
        data = catalogue.expand(entry, where, model.pmpm.compiler)
        try:
            packages.append(Package.model_validate(data))
        except ValidationError as exc:
            raise where.error(f"catalogue entry {data['name']}.yml is invalid: {exc.errors()[0]['msg']}") from None
    _check_packages(path, doc, model, packages)
    return Stack(path, model, packages, doc)


class _Where:
    """A position in the stack file, for errors raised after validation."""

    def __init__(self, path: Path, doc: Any, loc: tuple):
        self.path, self.doc, self.loc = path, doc, loc

    def error(self, what: str, fix: str | None = None, key: str | None = None) -> StackError:
        return StackError(
            what, file=str(self.path), line=line_of(self.doc, self.loc), key=key or _dotted(self.doc, self.loc), fix=fix
        )


def _check_packages(path: Path, doc: Any, model: StackFile, packages: list[Package]) -> None:
    n_explicit = len(model.pmpm.packages)

    def where(i: int, *rest: Any) -> _Where:
        loc = ("_pmpm", "packages", i, *rest) if i < n_explicit else ("_pmpm", "dependencies", i - n_explicit)
        return _Where(path, doc, loc)

    seen: dict[str, int] = {}
    for i, package in enumerate(packages):
        if package.name in seen:
            raise where(i, "name").error(
                f"duplicate package {package.name!r}",
                fix=f"already defined at line {line_of(doc, where(seen[package.name]).loc)}",
            )
        seen[package.name] = i
    for i, package in enumerate(packages):
        for j, dep in enumerate(package.depends):
            if dep not in seen:
                raise where(i, "depends", j).error(
                    f"{dep!r} is not a local package of this stack",
                    fix=f"local packages: {', '.join(seen)}; conda packages go in requirements",
                )
    graph = {p.name: local_deps(p, packages) for p in packages}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        first = seen[cycle[0]]
        raise where(first, "depends").error(
            f"dependency cycle: {' -> '.join(reversed(cycle))}", fix="remove one of these depends"
        ) from None
    for i, package in enumerate(packages):
        _check_source_files(package.source, path.parent, lambda *rest, i=i: where(i, "source", *rest))


_RELATIVE = "paths are relative to the stack file's directory"
_TARBALL = "point path at a source directory; a tarball goes in url: file://... with sha256"


def _check_source_files(source: Source, stack_dir: Path, where: Callable[..., _Where]) -> None:
    """`path:` and `patches:` name files beside the stack: check them now, not when the engine trips."""
    if source.path:
        problem = _missing(stack_dir / source.path, want_dir=True)
        if problem:
            raise where("path").error(
                f"path {source.path!r} {problem}", fix=_TARBALL if problem.startswith("is a file") else _RELATIVE
            )
    for j, patch in enumerate(source.patches):
        problem = _missing(stack_dir / patch, want_dir=False)
        if problem:
            raise where("patches", j).error(f"patch {patch!r} {problem}", fix=_RELATIVE)


def _missing(target: Path, want_dir: bool) -> str | None:
    """Why `target` is not a usable directory (or file), or None."""
    try:
        is_dir = stat.S_ISDIR(os.stat(target).st_mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symlink loop"
        if exc.errno == errno.ENAMETOOLONG:
            return "is too long a file name"
        if os.path.islink(target):
            return f"is a broken symlink to {os.readlink(target)!r}"
        return "does not exist" if exc.errno == errno.ENOENT else f"cannot be read: {exc.strerror}"
    if want_dir and not is_dir:
        return "is a file, not a directory"
    if not want_dir and is_dir:
        return "is a directory, not a patch file"
    return None


# --- errors: pydantic -> FILE:LINE: key: message ----------------------------------

_TYPE_NAMES = {
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


_FIELD_HINTS = {"build_number": "use 0 for the first build of a version"}


MAX_REPORTED = 5  # mistakes of one file reported at once; the rest are counted


def _stack_error(exc: ValidationError, doc: Any, path: Path) -> StackError:
    """The file's mistakes, by line, as one error: the first, and up to a few more on lines of their own."""
    errors = [e for e in exc.errors() if not _union_member_mismatch(e)] or exc.errors()
    errors = [e for e in errors if not _misspelt(e, errors)] or errors
    errors.sort(key=lambda e: line_of(doc, _clean_loc(e["loc"])) or 0)
    found: dict[tuple, StackError] = {}
    for err in errors:
        found.setdefault(_mistake(err), _error(err, doc, path))
    first, *others = found.values()
    if others:
        more = f"\n... and {len(others) + 1 - MAX_REPORTED} more" if len(others) + 1 > MAX_REPORTED else ""
        first.args = ("\n".join(str(e) for e in [first, *others][:MAX_REPORTED]) + more,)
    return first


def _mistake(err: dict) -> tuple:
    """What one mistake's errors share: a list item's (a dependency written as the wrong mapping
    is missing one key and has another), or one complaint about sibling keys (an alias bomb)."""
    loc = _clean_loc(err["loc"])
    items = [i for i, part in enumerate(loc) if isinstance(part, int)]
    if items:  # one per list item (a package, a dependency), whatever inside it is wrong
        return loc[: items[-1] + 1]
    return (*loc[:-1], err["type"], err["msg"]) if err["type"] in _TYPE_NAMES else loc


def _misspelt(err: dict, errors: list[dict]) -> bool:
    """A required key reported missing because it was misspelt: the misspelling says it."""
    if err["type"] != "missing":
        return False
    loc = _clean_loc(err["loc"])
    typos = [_clean_loc(e["loc"]) for e in errors if e["type"] == "extra_forbidden"]
    return any(t[:-1] == loc[:-1] and difflib.get_close_matches(str(t[-1]), [str(loc[-1])], cutoff=0.7) for t in typos)


def _error(err: dict, doc: Any, path: Path) -> StackError:
    loc = _clean_loc(err["loc"])
    kind = err["type"]
    fix = None
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.7)
        what = f"unknown key {loc[-1]!r}" + (f"; did you mean {close[0]!r}?" if close else "")
        fix = f"allowed here: {', '.join(allowed)}"
    elif kind == "missing":
        what, fix = f"missing required key {loc[-1]!r}", f"add {loc[-1]}:"
    elif kind == "literal_error":
        what, fix = f"{err['input']!r} is not allowed", f"use one of {err['ctx']['expected']}"
    elif kind in _TYPE_NAMES:
        written = _raw_scalar(doc, loc, path) or str(err["input"])
        what, fix = (
            f"expected {_TYPE_NAMES[kind]}, got {type_word(err['input'])}",
            _type_fix(kind, err["input"], loc, written),
        )
    elif kind == "greater_than_equal":
        what, fix = f"must be >= {err['ctx']['ge']}, got {err['input']!r}", _FIELD_HINTS.get(str(loc[-1]))
    elif kind == "less_than_equal":
        what, fix = f"must be <= {err['ctx']['le']}, got {err['input']!r}", _FIELD_HINTS.get(str(loc[-1]))
    elif kind in ("value_error", "assertion_error"):
        error = err["ctx"]["error"]
        loc = (*loc, error.field) if isinstance(error, FieldError) else loc
        what, fix = _split_fix(str(error))
        if isinstance(error, NumberVersion):
            written = _raw_scalar(doc, loc, path) or str(error.args[0])
            what, fix = f"version {written} is a number", f'quote it: "{written}"'

    else:
        what = err["msg"]
    return StackError(what, file=str(path), line=line_of(doc, loc), key=_dotted(doc, loc), fix=fix)


def _union_member_mismatch(err: dict) -> bool:
    """A Union member that rejected the input's type outright: noise beside the member that fits."""
    last = err["loc"][-1] if err["loc"] else None
    return isinstance(last, str) and _is_union_tag(last) and err["type"] in _TYPE_NAMES


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and (part in ("str", "PipSection") or part.startswith("function-"))


def _clean_loc(loc: tuple) -> tuple:
    # pydantic adds union member names ("str", "PipSection") to locations; they are not keys.
    return tuple(p for p in loc if not _is_union_tag(p))


def _type_fix(kind: str, value: Any, loc: tuple, written: str) -> str | None:
    if kind == "string_type" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'quote it: "{written}"'
    if kind in ("int_type", "int_parsing") and isinstance(value, (bool, float)):
        return "write a whole number, e.g. 0"
    if kind == "list_type" and isinstance(value, (str, int, float)):
        return f"write a list: [{value}]"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        keys = _allowed_keys(loc)
        return f"write a mapping with keys {', '.join(keys)}" if keys else "write a mapping"
    return None


def _raw_scalar(doc: Any, loc: tuple, path: Path) -> str | None:
    """A scalar exactly as typed in the file: YAML turns `3.10` into 3.1 and `0012` into 12."""
    parent = doc
    for part in loc[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return None
    lc = getattr(parent, "lc", None)
    try:
        line, col = lc.value(loc[-1]) if isinstance(parent, dict) else lc.item(loc[-1])
        text = path.read_text().splitlines()[line]
    except (AttributeError, KeyError, IndexError, TypeError, OSError):
        return None
    match = re.match(r"[^\s,\]}#]+", text[col:])
    return match.group(0) if match else None


def _split_fix(message: str) -> tuple[str, str | None]:
    match = re.match(r"^(.*) \(([^()]*)\)$", message)
    return (match.group(1), match.group(2)) if match else (message, None)


def _allowed_keys(loc: tuple) -> list[str]:
    model: Any = StackFile
    for part in loc:
        if isinstance(part, int):
            continue
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return []
        model = _model_in(field.annotation)
    return [f.alias or n for n, f in model.model_fields.items()] if model else []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation) if get_origin(annotation) else ():
        found = _model_in(arg)
        if found:
            return found
    return None

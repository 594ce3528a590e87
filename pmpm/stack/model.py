"""The stack file: an ordinary conda environment.yml plus a `_pmpm:` section.

This module owns parsing and validation. It turns a YAML file into a `Stack` whose
local packages are complete (shorthand entries expanded from the catalogue) and whose
errors point at `FILE:LINE: key`.
"""

from __future__ import annotations

import errno
import graphlib
import os
import re
import stat
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Union, get_args, get_origin

import rattler
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import legacy
from ..errors import StackError, type_word
from ..order import NAME_RE, spec_name, topological_order
from .yamlio import read_yaml

KINDS = ("cmake", "meson", "autotools", "make", "python", "script")
KIND_ARGS = {"cmake_args": "cmake", "meson_args": "meson", "configure_args": "autotools",
             "pip_args": "python", "script": "script"}
VERSION_RE = re.compile(r"^[A-Za-z0-9_.+!]+$")
SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_NAME, MAX_VERSION, MAX_BUILD_NUMBER = 100, 64, 2**31 - 1  # NAME-VERSION-BUILD.conda must stay a legal file name
# What render writes into its output directory beside the <package>/ directories.
RESERVED_NAMES = ("conda_build_config.yaml", "pmpm.json")
PYPI_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*==[A-Za-z0-9_.+!]+$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FieldError(ValueError):
    """A model-level check that blames one field, so the error points at that line."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _check_spec(spec: str) -> str:
    try:
        rattler.MatchSpec(spec)
    except Exception:
        raise ValueError(f"invalid conda spec {spec!r} (write e.g. 'zlib >=1.2' or 'numpy 2.*')") from None
    return spec


Spec = Annotated[str, AfterValidator(_check_spec)]


class NumberVersion(ValueError):
    """An unquoted version: the message needs the text as written, known only to the loader."""


class Source(_Model):
    """Where a package's source comes from: exactly one of path, git, url, pypi."""

    path: str | None = None
    git: str | None = None
    rev: str | None = None
    url: str | None = None
    sha256: str | None = None
    pypi: str | None = None
    patches: list[str] = []

    @model_validator(mode="after")
    def _one_origin(self) -> "Source":
        origins = [k for k in ("path", "git", "url", "pypi") if getattr(self, k)]
        if not origins:
            raise ValueError("no path, git, url or pypi given (add exactly one)")
        if len(origins) > 1:
            raise FieldError(origins[1], f"{' and '.join(origins)} are both given (keep exactly one of path, git, url, pypi)")
        if self.rev and not self.git:
            raise FieldError("rev", "rev only applies to a git source (remove rev or add git)")
        if self.url and not self.sha256:
            raise FieldError("url", "a url source needs sha256 (add sha256: <64 hex digits>)")
        if self.sha256 and not SHA256_RE.match(self.sha256):
            raise FieldError("sha256", f"sha256 must be 64 hex digits, got {len(self.sha256)} characters "
                                       "(use the full output of sha256sum)")
        if self.pypi and not PYPI_RE.match(self.pypi):
            raise FieldError("pypi", f"pypi source {self.pypi!r} must be NAME==VERSION (e.g. numpy==2.1.3)")
        return self


class Requirements(_Model):
    build: list[Spec] = []
    host: list[Spec] = []
    run: list[Spec] = []


class Tests(_Model):
    imports: list[str] = []
    commands: list[str] = []


class About(_Model):
    summary: str | None = None
    license: str | None = None
    homepage: str | None = None


class Package(_Model):
    """One locally compiled package."""

    name: str
    version: str
    source: Source
    kind: Literal["cmake", "meson", "autotools", "make", "python", "script"]
    cmake_args: list[str] = []
    meson_args: list[str] = []
    configure_args: list[str] = []
    make_args: list[str] = []
    pip_args: list[str] = []
    script: list[str] = []
    requirements: Requirements = Requirements()
    depends: list[str] = []
    tests: Tests = Tests()
    about: About = About()
    build_number: int = Field(0, ge=0, le=MAX_BUILD_NUMBER, strict=True)
    noarch: Literal["python", "generic"] | None = None
    run_exports: bool = True
    compilers: list[Literal["c", "cxx", "fortran", "cuda", "rust", "go"]] = ["c", "cxx"]
    env: dict[str, str] = {}
    entry_points: list[str] = []

    @field_validator("name")
    @classmethod
    def _conda_name(cls, name: str) -> str:
        if not NAME_RE.match(name):
            raise ValueError(f"invalid conda package name {name!r} (use lowercase letters, digits, '-', '_', '.')")
        if len(name) > MAX_NAME:
            raise ValueError(f"package name is {len(name)} characters long (at most {MAX_NAME}: it becomes part of "
                             "file names)")
        from ..variants.microarch import GATE_PACKAGE

        if name in (*RESERVED_NAMES, GATE_PACKAGE):
            raise ValueError(f"package name {name!r} is a file pmpm writes beside the recipes (rename the package)")
        return name

    @field_validator("version", mode="before")
    @classmethod
    def _conda_version(cls, version: Any) -> str:
        if isinstance(version, (int, float)) and not isinstance(version, bool):
            raise NumberVersion(version)
        if not isinstance(version, str) or not VERSION_RE.match(version):
            raise ValueError(f"invalid conda version {version!r} (no '-' or spaces; e.g. 1.2.3)")
        if len(version) > MAX_VERSION:
            raise ValueError(f"version is {len(version)} characters long (at most {MAX_VERSION})")
        try:
            rattler.Version(version)
        except Exception:
            raise ValueError(f"invalid conda version {version!r} (start with a digit or letter, e.g. 1.2.3)") from None
        return version

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for key in env:
            if not ENV_NAME_RE.fullmatch(key):
                raise FieldError(key, f"environment variable name {key!r} is not a name (use letters, digits and "
                                      "'_', not starting with a digit)")
        return env

    @model_validator(mode="after")
    def _kind_options(self) -> "Package":
        for field, kind in KIND_ARGS.items():
            if getattr(self, field) and self.kind != kind:
                raise FieldError(field, f"{field} applies to kind {kind}, not {self.kind} (remove it or change kind)")
        if self.kind == "script" and not self.script:
            raise FieldError("kind", "kind script needs a script (add script: a list of shell lines)")
        if self.noarch == "python" and self.kind not in ("python", "script"):
            raise FieldError("noarch", "noarch: python needs kind python or script (set kind: python or remove noarch)")
        for index, entry in enumerate(self.entry_points):
            if not re.fullmatch(r"[\w.-]+ *= *[\w.]+:[\w.]+", entry):
                raise FieldError("entry_points", f"entry point {entry!r} must be 'NAME = module:function' "
                                                 "(e.g. 'pmpm = pmpm.cli:main')")
        return self


class PipSection(_Model):
    pip: list[str]


class SlurmTarget(_Model):
    """Where one CPU target's Slurm jobs run (`_pmpm.slurm.<march>`); `--sbatch-arg` adds anything else."""

    constraint: str | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time: str | None = None
    cpus_per_task: int | None = Field(None, alias="cpus-per-task", ge=1)
    mem: str | None = None

    def sbatch_args(self) -> list[str]:
        return [f"--{name.replace('_', '-')}={value}" for name, value in self.model_dump().items() if value is not None]


class PmpmSection(_Model):
    """The `_pmpm:` section."""

    compiler: Literal["system", "conda"] = "system"
    variants: dict[str, Any] = {}
    variant_keys: list[str] = []  # keys of the user's own: anything else unknown is a typo
    packages: list[Package] = []
    dependencies: list[str] = []
    # Per march value as written in --variant/_pmpm.variants (or `default`), e.g. {x86-64-v4: {constraint: avx512}}.
    slurm: dict[str, SlurmTarget] = {}

    @field_validator("variants")
    @classmethod
    def _cbc_like(cls, variants: dict[str, Any]) -> dict[str, Any]:
        for key, value in variants.items():
            values = value if isinstance(value, list) else [value]
            if key != "zip_keys" and not all(isinstance(v, (str, int, float)) for v in values):
                raise FieldError(key, f"variant {key!r} must be a value or a list of values, got {type_word(value)} "
                                      f"(write {key}: VALUE or {key}: [VALUE, ...])")
        return variants

    @field_validator("slurm")
    @classmethod
    def _slurm_targets(cls, targets: dict[str, Any]) -> dict[str, Any]:
        from ..variants import microarch

        known = None
        for key in targets:
            if key in ("default", "native"):
                continue
            known = known or set(microarch.known_names())
            if key not in known:
                raise FieldError(key, f"_pmpm.slurm key {key!r} is not a CPU target (use a march value such as "
                                      "x86-64-v4 or znver3 as written in --variant, or `default`)")
        return targets

    @field_validator("variant_keys")
    @classmethod
    def _identifiers(cls, keys: list[str]) -> list[str]:
        for index, key in enumerate(keys):
            if not re.fullmatch(r"[A-Za-z_]\w*", key):
                raise FieldError(index, f"variant key {key!r} is not a name (use letters, digits and '_', "
                                        "as recipes read it in ${{ KEY }})")
        return keys


class StackFile(_Model):
    """The whole file as written."""

    name: str | None = None
    prefix: str | None = None
    channels: list[str] = []
    dependencies: list[Union[Spec, PipSection]] = []
    variables: dict[str, str] = {}
    pmpm: PmpmSection = Field(PmpmSection(), alias="_pmpm")


class Stack:
    """A validated stack: conda part, compiler mode, variants and complete local packages."""

    def __init__(self, path: Path, model: StackFile, packages: list[Package], doc: Any = None):
        self.path = path
        self.model = model
        self.packages = packages
        self.doc = doc  # the ruamel document, for error positions found after validation

    def line(self, *loc: Any) -> int | None:
        return line_of(self.doc, loc) if self.doc is not None else None

    @property
    def name(self) -> str:
        return self.model.name or self.path.stem

    @property
    def channels(self) -> list[str]:
        return list(self.model.channels)

    @property
    def compiler(self) -> str:
        return self.model.pmpm.compiler

    @property
    def conda_specs(self) -> list[str]:
        return [d for d in self.model.dependencies if isinstance(d, str)]

    @property
    def pip_requirements(self) -> list[str]:
        return [p for d in self.model.dependencies if isinstance(d, PipSection) for p in d.pip]

    def package(self, name: str) -> Package:
        return next(p for p in self.packages if p.name == name)

    def build_order(self) -> list[Package]:
        """Local packages, dependencies first; ties in file order for determinism."""
        return [self.package(n) for n in topological_order({p.name: local_deps(p, self.packages) for p in self.packages})]


def local_deps(package: Package, packages: list[Package]) -> list[str]:
    """Local packages this one needs: `depends:` plus requirements naming a local package."""
    names = {p.name for p in packages}
    reqs = package.requirements
    named = [spec_name(spec) for spec in [*reqs.build, *reqs.host, *reqs.run]]
    return list(dict.fromkeys([*package.depends, *(n for n in named if n in names and n != package.name)]))


# --- loading -----------------------------------------------------------------------

def load_stack(path: str | Path, catalogue: "Catalogue | None" = None) -> Stack:
    """Parse, validate and complete a stack file."""
    from .catalogue import Catalogue

    path = Path(path)
    doc = read_yaml(path)
    if not isinstance(doc, dict):
        line = getattr(getattr(doc, "lc", None), "line", 0) + 1
        raise StackError(f"a stack file must be a mapping, got {type_word(doc)} (write name:, channels:, dependencies:, "
                         "_pmpm: at the top level, not '- ' items)", file=str(path), line=line)
    legacy.translate(doc, lambda key, what, fix: StackError(
        what, file=str(path), line=line_of(doc, ("_pmpm", key)), key=f"_pmpm.{key}", fix=fix))
    try:
        model = StackFile.model_validate(doc)
    except ValidationError as exc:
        raise _first_error(exc, doc, path) from None
    catalogue = catalogue or Catalogue.default()
    packages = list(model.pmpm.packages)
    for index, entry in enumerate(model.pmpm.dependencies):
        where = _Where(path, doc, ("_pmpm", "dependencies", index))
        data = catalogue.expand(entry, where)
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
        return StackError(what, file=str(self.path), line=line_of(self.doc, self.loc),
                          key=key or _dotted(self.doc, self.loc), fix=fix)


def _check_packages(path: Path, doc: Any, model: StackFile, packages: list[Package]) -> None:
    n_explicit = len(model.pmpm.packages)

    def where(i: int, *rest: Any) -> _Where:
        loc = ("_pmpm", "packages", i, *rest) if i < n_explicit else ("_pmpm", "dependencies", i - n_explicit)
        return _Where(path, doc, loc)

    seen: dict[str, int] = {}
    for i, package in enumerate(packages):
        if package.name in seen:
            raise where(i, "name").error(f"duplicate package {package.name!r}",
                                         fix=f"already defined at line {line_of(doc, where(seen[package.name]).loc)}")
        seen[package.name] = i
    for i, package in enumerate(packages):
        for j, dep in enumerate(package.depends):
            if dep not in seen:
                raise where(i, "depends", j).error(
                    f"{dep!r} is not a local package of this stack",
                    fix=f"local packages: {', '.join(seen)}; conda packages go in requirements")
    graph = {p.name: local_deps(p, packages) for p in packages}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        first = seen[cycle[0]]
        raise where(first, "depends").error(f"dependency cycle: {' -> '.join(reversed(cycle))}",
                                            fix="remove one of these depends") from None
    for i, package in enumerate(packages):
        _check_source_files(package.source, path.parent, lambda *rest, i=i: where(i, "source", *rest))


_RELATIVE = "paths are relative to the stack file's directory"
_TARBALL = "point path at a source directory; a tarball goes in url: file://... with sha256"


def _check_source_files(source: Source, stack_dir: Path, where: Callable[..., _Where]) -> None:
    """`path:` and `patches:` name files beside the stack: check them now, not when the engine trips."""
    if source.path:
        problem = _missing(stack_dir / source.path, want_dir=True)
        if problem:
            raise where("path").error(f"path {source.path!r} {problem}", fix=_TARBALL if problem.startswith("is a file") else _RELATIVE)
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


def _dotted(doc: Any, loc: tuple) -> str:
    out, node = "", doc
    for part in loc:
        if isinstance(part, int):
            name = node[part].get("name") if isinstance(node, list) and part < len(node) and isinstance(node[part], dict) else None
            out += f"[{name}]" if name else f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return out


_TYPE_NAMES = {"string_type": "a string", "list_type": "a list", "dict_type": "a mapping",
               "int_type": "an integer", "int_parsing": "an integer", "bool_type": "true or false",
               "bool_parsing": "true or false", "model_type": "a mapping", "model_attributes_type": "a mapping"}


_FIELD_HINTS = {"build_number": "use 0 for the first build of a version"}


def _first_error(exc: ValidationError, doc: Any, path: Path) -> StackError:
    errors = [e for e in exc.errors() if not _union_member_mismatch(e)] or exc.errors()
    err = min(errors, key=lambda e: line_of(doc, _clean_loc(e["loc"])) or 0)
    loc = _clean_loc(err["loc"])
    kind = err["type"]
    fix = None
    if kind == "extra_forbidden":
        what, fix = f"unknown key {loc[-1]!r}", f"allowed here: {', '.join(_allowed_keys(loc[:-1]))}"
    elif kind == "missing":
        what, fix = f"missing required key {loc[-1]!r}", f"add {loc[-1]}:"
    elif kind == "literal_error":
        what, fix = f"{err['input']!r} is not allowed", f"use one of {err['ctx']['expected']}"
    elif kind in _TYPE_NAMES:
        written = _raw_scalar(doc, loc, path) or str(err["input"])
        what, fix = f"expected {_TYPE_NAMES[kind]}, got {type_word(err['input'])}", _type_fix(kind, err["input"], loc, written)
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

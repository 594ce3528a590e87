"""The stack file: an ordinary conda environment.yml plus a `_pmpm:` section.

This module owns parsing and validation. It turns a YAML file into a `Stack` whose local packages
are complete (shorthand entries expanded from the catalogue) and whose errors point at `FILE:LINE: key`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Union, get_args

import rattler
from pydantic import Field, field_validator, model_validator

from ..errors import type_word
from ..order import NAME_RE, local_deps, topological_order
from ..yamlio import line_of
from .fields import CacheEntry, FieldError, Line, PypiEntry, S3Url, SlurmTarget, Spec, StrictModel, one_line

Kind = Literal["cmake", "meson", "autotools", "make", "python", "script"]  # templates/kinds/<kind>.sh.j2
KINDS: tuple[str, ...] = get_args(Kind)
Compiler = Literal["system", "conda"]  # `_pmpm.compiler`
COMPILERS: tuple[str, ...] = get_args(Compiler)
KIND_ARGS = dict(cmake_args="cmake", meson_args="meson", configure_args="autotools", pip_args="python", script="script")
VERSION_RE = re.compile(r"^[A-Za-z0-9_.+!]+$")
SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_NAME, MAX_VERSION, MAX_BUILD_NUMBER = 100, 64, 2**31 - 1  # NAME-VERSION-BUILD.conda must stay a legal file name
# What render writes into its output directory beside the <package>/ directories.
RESERVED_NAMES = ("conda_build_config.yaml", "pmpm.json")
PYPI_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*==[A-Za-z0-9_.+!]+$")


class NumberVersion(ValueError):
    """An unquoted version: the message needs the text as written, known only to the loader."""


class Source(StrictModel):
    """Where a package's source comes from: exactly one of path, git, url, pypi."""

    path: str | None = None
    git: str | None = None
    rev: str | None = None
    url: str | None = None
    sha256: str | None = None
    pypi: str | None = None
    wheel: bool = False  # a pypi source taken as its wheel (a repack), not built from its sdist
    patches: list[str] = []

    @model_validator(mode="after")
    def _one_origin(self) -> "Source":
        origins = [k for k in ("path", "git", "url", "pypi") if getattr(self, k)]
        if not origins:
            raise ValueError("no path, git, url or pypi given (add exactly one)")
        if len(origins) > 1:
            raise FieldError(
                origins[1], f"{' and '.join(origins)} are both given (keep exactly one of path, git, url, pypi)"
            )
        if self.wheel and not self.pypi:
            raise FieldError("wheel", "wheel only applies to a pypi source (remove wheel or use pypi:)")
        if self.rev and not self.git:
            raise FieldError("rev", "rev only applies to a git source (remove rev or add git)")
        if self.url and not self.sha256:
            raise FieldError("url", "a url source needs sha256 (add sha256: <64 hex digits>)")
        if self.sha256 and not SHA256_RE.match(self.sha256):
            raise FieldError(
                "sha256",
                f"sha256 must be 64 hex digits, got {len(self.sha256)} characters (use the full output of sha256sum)",
            )
        if self.pypi and not PYPI_RE.match(self.pypi):
            raise FieldError("pypi", f"pypi source {self.pypi!r} must be NAME==VERSION (e.g. numpy==2.1.3)")
        return self


class Requirements(StrictModel):
    build: list[Spec] = []
    host: list[Spec] = []
    run: list[Spec] = []


class Tests(StrictModel):
    imports: list[str] = []
    commands: list[str] = []


class About(StrictModel):
    summary: str | None = None
    license: str | None = None
    homepage: str | None = None


class Package(StrictModel):
    """One locally compiled package."""

    name: str
    version: str
    source: Source
    kind: Kind
    cmake_args: list[Line] = []
    meson_args: list[Line] = []
    configure_args: list[Line] = []
    make_args: list[Line] = []
    pip_args: list[Line] = []
    script: list[str] = []
    requirements: Requirements = Requirements()
    depends: list[str] = []
    tests: Tests = Tests()
    about: About = About()
    build_number: int = Field(0, ge=0, le=MAX_BUILD_NUMBER, strict=True)
    noarch: Literal["python", "generic"] | None = None
    run_exports: bool = True
    compilers: list[Literal["c", "cxx", "fortran", "cuda", "rust", "go"]] = ["c", "cxx"]
    env: dict[str, Line] = {}
    entry_points: list[str] = []

    @field_validator("name")
    @classmethod
    def _conda_name(cls, name: str) -> str:
        if not NAME_RE.match(name):
            raise ValueError(f"invalid conda package name {name!r} (use lowercase letters, digits, '-', '_', '.')")
        if len(name) > MAX_NAME:
            raise ValueError(
                f"package name is {len(name)} characters long (at most {MAX_NAME}: it becomes part of file names)"
            )
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
        if not any(c.isdigit() for c in version):  # conda orders 'latest' below every numbered release
            raise ValueError(f"version {version!r} is a word, not a release (write the release it names, e.g. 1.2.3)")
        return version

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for key in env:
            if not ENV_NAME_RE.fullmatch(key):
                raise FieldError(
                    key,
                    f"environment variable name {key!r} is not a name (use letters, digits and "
                    "'_', not starting with a digit)",
                )
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
                raise FieldError(
                    "entry_points",
                    f"entry point {entry!r} must be 'NAME = module:function' (e.g. 'pmpm = pmpm.cli:main')",
                )
        return self


class PipSection(StrictModel):
    pip: list[str]


class PmpmSection(StrictModel):
    """The `_pmpm:` section."""

    compiler: Compiler = "system"
    variants: dict[str, Any] = {}
    variant_keys: list[str] = []  # keys of the user's own: anything else unknown is a typo
    packages: list[Package] = []
    dependencies: list[str] = []
    pypi: list[Union[Line, PypiEntry]] = []  # PyPI requirements made into packages (recipes.pypi)
    cache: list[Union[S3Url, CacheEntry]] = []  # binary caches (builder.cache)
    # Per march value as written in --variant/_pmpm.variants (or `default`), e.g. {x86-64-v4: {constraint: avx512}}.
    slurm: dict[str, SlurmTarget] = {}

    @field_validator("variants")
    @classmethod
    def _cbc_like(cls, variants: dict[str, Any]) -> dict[str, Any]:
        for key, value in variants.items():
            values = value if isinstance(value, list) else [value]
            if key != "zip_keys" and not all(isinstance(v, (str, int, float)) for v in values):
                raise FieldError(
                    key,
                    f"variant {key!r} must be a value or a list of values, got {type_word(value)} "
                    f"(write {key}: VALUE or {key}: [VALUE, ...])",
                )
            for text in (v for v in values if isinstance(v, str)):  # values reach build scripts as flags
                try:
                    one_line(text)
                except ValueError as exc:
                    raise FieldError(key, f"variant {key!r}: {exc}") from None
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
                raise FieldError(
                    key,
                    f"_pmpm.slurm key {key!r} is not a CPU target (use a march value such as "
                    "x86-64-v4 or znver3 as written in --variant, or `default`)",
                )
        return targets

    @field_validator("variant_keys")
    @classmethod
    def _identifiers(cls, keys: list[str]) -> list[str]:
        for index, key in enumerate(keys):
            if not re.fullmatch(r"[A-Za-z_]\w*", key):
                raise FieldError(
                    index,
                    f"variant key {key!r} is not a name (use letters, digits and '_', "
                    "as recipes read it in ${{ KEY }})",
                )
        return keys


class StackFile(StrictModel):
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
    def caches(self) -> tuple[list[str], list[str]]:
        """The writable and the read-only binary caches of `_pmpm.cache`."""
        entries = [CacheEntry(url=e) if isinstance(e, str) else e for e in self.model.pmpm.cache]
        return [e.url for e in entries if not e.read_only], [e.url for e in entries if e.read_only]

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
        return [
            self.package(n) for n in topological_order({p.name: local_deps(p, self.packages) for p in self.packages})
        ]

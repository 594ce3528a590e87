"""Render a stack into conda recipes: `DIR/<pkg>/recipe.yaml` and `DIR/conda_build_config.yaml`.

Templates live in `templates/`: a recipe shell per format (`recipe.yaml.j2`, `meta.yaml.j2`)
and a script body per build kind (`kinds/<kind>.sh.j2`). pmpm's own Jinja uses `[[ ]]` and
`[% %]` so that the engine's `${{ }}` expressions pass through verbatim. The output is
deterministic and is the contract with `build`: rattler-build or conda-build can build it
by hand.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__, resources
from ..errors import NotInMirror
from ..files import atomic_write
from ..order import spec_name
from ..variants import cuda, microarch
from ..variants.resolve import DERIVED_KEYS, FLAG_KEYS, VariantSet
from .gate import render_gate_recipe

if TYPE_CHECKING:  # `pmpm build` of rendered recipes needs neither the stack model nor jinja2
    import jinja2

    from ..stack.model import Package, Stack
    from .mirror import Mirror

TEMPLATES = resources.templates_dir()
FORMATS = {"recipe.yaml": "recipe.yaml.j2", "meta.yaml": "meta.yaml.j2"}
MANIFEST = "pmpm.json"
_PLAIN = re.compile(r"^[A-Za-z0-9_./+=<>*!,~-][A-Za-z0-9_ ./+=<>*!,~()-]*$")
_PEP517_BACKENDS = set(
    "setuptools meson-python scikit-build-core flit-core hatchling poetry-core pdm-backend maturin".split()
)
_KIND_BUILD_TOOLS = {
    "cmake": ["cmake", "ninja"],
    "meson": ["meson", "ninja"],
    "autotools": ["make"],
    "make": ["make"],
    "python": [],
    "script": ["make"],
}


@dataclass
class RecipeSet:
    """Recipes on disk with the variants and upstream channels they are built for: `build`'s input.

    `pmpm render` writes one (`Rendered.recipe_set`); `RecipeSet.load` reads one back, its
    variants taken verbatim from its conda_build_config.yaml (they were resolved when rendering).
    """

    recipes: list[Path]
    variants: VariantSet
    channels: list[str] = field(default_factory=list)
    config: Path | None = None  # the conda_build_config.yaml the recipes were rendered with
    stack: Path | None = None  # the stack file they came from, if any
    caches: tuple[list[str], list[str]] = ([], [])  # the stack's binary caches: writable, read-only

    @classmethod
    def load(cls, directory: Path) -> "RecipeSet":
        """A directory written by `pmpm render`."""
        manifest = json.loads((directory / MANIFEST).read_text())
        config = directory / "conda_build_config.yaml"
        names = [*manifest.get("gates", []), *manifest["packages"]]
        return cls(
            [directory / name / "recipe.yaml" for name in names],
            VariantSet.from_file(config),
            manifest.get("channels", []),
            config,
            Path(manifest["stack"]) if manifest.get("stack") else None,
            tuple(manifest.get("caches") or ([], [])),
        )

    @staticmethod
    def is_rendered(directory: Path) -> bool:
        return (directory / MANIFEST).is_file()


@dataclass
class Rendered:
    """What `render_stack` wrote."""

    output_dir: Path
    recipes: dict[str, Path]
    config: Path
    variants: VariantSet
    order: list[str]
    stack: Stack
    gates: list[Path] = field(default_factory=list)
    extra_files: list[Path] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "output": str(self.output_dir),
            "order": self.order,
            "recipes": {name: str(path) for name, path in self.recipes.items()},
            "variants": self.variants.combinations(),
        }

    def recipe_set(self) -> RecipeSet:
        return RecipeSet(
            [*self.gates, *(self.recipes[name] for name in self.order)],
            self.variants,
            self.stack.channels,
            self.config,
            self.stack.path,
            self.stack.caches,
        )


def _quote(value: Any) -> str:
    """YAML scalar: plain when unambiguous, else JSON (a valid YAML double-quoted string)."""
    text = str(value)
    if _PLAIN.match(text) and not re.match(r"^(true|false|yes|no|null|~|[0-9.]+)$", text, re.I) and ": " not in text:
        return text
    return json.dumps(text)


def _environment(templates: Path) -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        variable_start_string="[[",
        variable_end_string="]]",
        block_start_string="[%",
        block_end_string="%]",
        comment_start_string="[#",
        comment_end_string="#]",
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters["q"] = _quote
    env.filters["jstr"] = json.dumps  # a string literal inside a Jinja expression (meta.yaml's {% set %})
    return env


class Renderer:
    """Renders packages of one stack with compiled templates (reused across packages)."""

    def __init__(
        self,
        stack: Stack,
        templates: Path = TEMPLATES,
        offline: bool = False,
        mirror: "Mirror | None" = None,
        python: str | None = None,
    ):
        self.offline = offline
        self.python = python  # the binary wheels' (`wheel: true`)
        self.mirror = mirror
        self.mirror_index = mirror.index() if mirror else None  # read once per render
        self.stack = stack
        self.env = _environment(templates)
        self.compiler_id = _compiler_id(stack.compiler)

    def render_package(self, package: Package, recipe_dir: Path, fmt: str = "recipe.yaml") -> str:
        unavailable = None
        try:
            source = _source(package, recipe_dir, self)
        except NotInMirror as exc:  # this package fails when built (see `PlannedBuild.unavailable`); the rest build
            source, unavailable = (
                [("url", f"{self.mirror.base_url}/missing/{package.name}"), ("sha256", "0" * 64)],
                str(exc),
            )
        var = (lambda key: "${{ %s }}" % key) if fmt == "recipe.yaml" else (lambda key: "{{ %s }}" % key)
        compiled = package.noarch is None
        gpu = cuda.TEMPLATE if compiled and "cuda" in package.compilers else None
        context = {"pkg": package, "compiler": self.stack.compiler, "var": var, "cuda": gpu}
        script = self.env.get_template(f"kinds/{package.kind}.sh.j2").render(context).rstrip("\n")
        if compiled:
            script = self.env.get_template("kinds/_flags.sh.j2").render(context) + script
        script = self.env.get_template("kinds/_source.sh.j2").render(context) + script
        return self.env.get_template(FORMATS[fmt]).render(
            pmpm_version=__version__,
            stack=self.stack.path.name,
            pkg=package,
            compiled=compiled,
            source=source,
            unavailable=unavailable,
            patches=_patches(package, self.stack.path.parent, recipe_dir),
            script="set -euo pipefail\n" + script + "\n",
            reqs=self._requirements(package, var),
            run_exports=compiled and package.run_exports,
            use_keys="[" + ", ".join([*FLAG_KEYS, *DERIVED_KEYS, *(cuda.KEYS if gpu else ())]) + "]",
            cuda=gpu,
            compiler=self.stack.compiler,
            conda_cuda=gpu and self.stack.compiler == "conda",
            about=_about(package),
            compiler_id=self.compiler_id,
            gate_package=microarch.GATE_PACKAGE,
            march_tag=microarch.TAG_EXPRESSION,
            level=microarch.LEVEL_EXPRESSION,
            gate_condition=microarch.GATE_CONDITION,
            script_env=sorted(package.env.items()),
        )

    def _requirements(self, package: Package, var) -> dict[str, list[str]]:
        build = list(package.requirements.build)
        host = list(package.requirements.host)
        run = list(package.requirements.run)
        compiled = package.noarch is None
        if self.stack.compiler == "conda" and compiled:
            # the CUDA compiler only for CUDA builds: the template makes it conditional
            compilers = [var(f"compiler('{language}')") for language in package.compilers if language != "cuda"]
            build = [*compilers, *_KIND_BUILD_TOOLS[package.kind], *build]
        if package.kind == "python":
            backend_given = any(spec_name(spec) in _PEP517_BACKENDS for spec in host)
            # never the package itself: the engine packages only files new to the host env (setuptools
            # builds with its own in-tree backend, pip installs itself from its source tree)
            tools = ["python", "pip", *([] if backend_given or package.source.wheel else ["setuptools"])]
            host = _ensure(host, [name for name in tools if name != package.name])
            run = _ensure(run, ["python"])
        local = {p.name: p for p in self.stack.packages}
        march_tag = var(microarch.TAG_EXPRESSION)
        for dep in package.depends:
            # The host env gets the dependency's build for this same march, not the solver's favourite;
            # the build number ends the glob, or the baseline's `*_x86_64_*` would match `_x86_64_v3_0` too.
            same_march = (
                f"{dep} * *_{march_tag}_{local[dep].build_number}" if compiled and local[dep].noarch is None else dep
            )
            host = _ensure(host, [same_march])
            if not local[dep].run_exports or local[dep].noarch:
                run = _ensure(run, [dep])
        return {"build": build, "host": host, "run": run}


def _ensure(specs: list[str], names: list[str]) -> list[str]:
    present = {spec_name(s) for s in specs}
    return specs + [n for n in names if n not in present]


def _source(package: Package, recipe_dir: Path, renderer: Renderer) -> list[tuple[str, str]]:
    src = package.source
    if src.path:
        return [("path", _beside_stack(src.path, renderer.stack.path.parent, recipe_dir))]
    if renderer.mirror is not None:  # every remote source comes from the site's mirror, never from upstream
        return renderer.mirror.recipe_source(src, renderer.mirror_index, noarch=package.noarch)
    if src.git:
        return [("git", src.git)] + ([("rev", src.rev)] if src.rev else [])
    if src.url:
        return [("url", src.url), ("sha256", src.sha256)]
    from .sources import pypi_form, resolve_sdist  # asks pip, which knows the user's index, mirrors and proxies

    form = pypi_form(src, package.noarch)
    sdist = resolve_sdist(src.pypi, src.sha256, offline=renderer.offline, form=form, python=renderer.python)
    kept = [("file_name", sdist.filename)] if src.wheel else []  # a named file is not unpacked: pip installs it
    return [("url", sdist.url), ("sha256", sdist.sha256), *kept]


def _patches(package: Package, stack_dir: Path, recipe_dir: Path) -> list[str]:
    """Patch files are named relative to the stack, as `path:` is; the engine reads them relative to the recipe."""
    return [_beside_stack(patch, stack_dir, recipe_dir) for patch in package.source.patches]


def _beside_stack(path: str, stack_dir: Path, recipe_dir: Path) -> str:
    return os.path.relpath((stack_dir / path).resolve(), recipe_dir.resolve())


def _about(package: Package) -> list[tuple[str, str]]:
    about = package.about
    items = [
        ("summary", about.summary or f"{package.name} built by pmpm"),
        ("license", about.license),
        ("homepage", about.homepage),
    ]
    return [(k, v) for k, v in items if v]


def _compiler_id(mode: str) -> str:
    if mode == "conda":
        return "conda-forge compiler packages"
    return f"system gcc {microarch.compiler_version('gcc')}"


def render_stack(
    stack: Stack,
    output_dir: str | Path,
    variants: VariantSet,
    formats: tuple[str, ...] = ("recipe.yaml",),
    templates: Path = TEMPLATES,
    offline: bool = False,
    mirror: "Mirror | None" = None,
) -> Rendered:
    """Write one recipe directory per local package plus the merged conda_build_config.yaml; with a
    source `mirror` (pmpm.mirror), remote sources become the mirror's files."""
    output_dir = Path(output_dir)
    renderer = Renderer(stack, templates, offline, mirror, python=variants.python)
    order = [p.name for p in stack.build_order()]
    recipes: dict[str, Path] = {}
    for name in order:
        recipe_dir = output_dir / name
        for fmt in formats:
            _write_if_changed(recipe_dir / fmt, renderer.render_package(stack.package(name), recipe_dir, fmt))
        recipes[name] = recipe_dir / formats[0]
    gates = render_gate_recipe(output_dir, variants, formats, templates) if _needs_gate(stack, variants) else []
    config = output_dir / "conda_build_config.yaml"
    _write_if_changed(config, variants.to_yaml(_cbc_header(stack, variants)))
    manifest = output_dir / MANIFEST
    _write_if_changed(
        manifest,
        json.dumps(
            {
                "stack": str(stack.path.resolve()),
                "channels": stack.channels,
                "caches": stack.caches,
                "compiler": stack.compiler,
                "packages": order,
                "gates": [g.parent.name for g in gates],
                "pmpm_version": __version__,
                "march": {
                    m.march: {"archspec": m.name, "requested": m.requested, "level": m.level}
                    for m in variants.microarchs.values()
                },
            },
            indent=2,
            sort_keys=True,
        )
        + "\n",
    )
    return Rendered(output_dir, recipes, config, variants, order, stack, gates, [manifest])


def _needs_gate(stack: Stack, variants: VariantSet) -> bool:
    return any(p.noarch is None for p in stack.packages)


def _cbc_header(stack: Stack, variants: VariantSet) -> str:
    lines = [f"Merged by pmpm {__version__} for {stack.path.name}. Edit the sources, not this file."]
    for m in variants.microarchs.values():
        if m.requested == "native":
            lines.append(
                f"march 'native' resolved on the rendering host to {m.name} ({m.march}, x86-64 level {m.level})."
            )
    return "\n".join(lines)


def _write_if_changed(path: Path, text: str) -> None:
    """Leave identical files untouched so timestamps (and rebuild checks) stay stable."""
    if not (path.is_file() and path.read_text() == text):
        atomic_write(path, text)

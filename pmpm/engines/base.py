"""The engine seam's contract: what a build is (`PlannedBuild`), what an engine is asked
(`BuildRequest`) and what it reports (a `BuildLog`, typed `EngineFailure`s).

Planning (which packages a recipe yields for a variant config, their build strings and
requirements) is always done by py-rattler-build's renderer, so every engine builds the plan
pmpm shows. Engines: `rattler.RattlerBuild` (py-rattler-build in process), `worker` (the same
in child processes), `external` (conda-build, a rattler-build executable); `registry` picks one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import rattler_build

from ..errors import EngineError, RecipeError, first_line
from ..options import ENGINES
from ..variants.cbc import variant_config

__all__ = [
    "ENGINES",
    "BuildLog",
    "BuildRequest",
    "Cause",
    "Engine",
    "EngineFailure",
    "Phase",
    "PlannedBuild",
    "plan_recipe",
]


class Phase(enum.Enum):
    """Where a build is, as far as pmpm cares: timing the script, explaining a failure."""

    SOURCE = "source"
    RESOLVE = "resolve"
    SCRIPT = "script"
    PACKAGE = "package"
    TEST = "test"
    OTHER = "other"


def phase_of(step: str) -> Phase:
    """The engine's own name for a step (py-rattler-build's span and step names, e.g. "Fetching
    source code", "Running build script", "Running script test for"), as a Phase. The one place
    that reads the engine's words."""
    text = step.lower()
    for words, phase in (
        (("build script",), Phase.SCRIPT),
        (("test",), Phase.TEST),
        (("fetching source", "download", "extract"), Phase.SOURCE),
        (("resolv", "solv", "subdir", "repodata"), Phase.RESOLVE),
        (("packaging",), Phase.PACKAGE),
    ):
        if any(w in text for w in words):
            return phase
    return Phase.OTHER


WARN = "[warn] "  # how an engine's warnings (overlinking, missing DSOs, relocation) reach the build log


class Cause(enum.Enum):
    """Why a build failed."""

    RESOLVE = "resolve"  # the build/host/test requirements cannot be solved
    DOWNLOAD = "download"  # a source could not be fetched
    TIMEOUT = "timeout"  # a source gave no answer within the network timeout (already said in full)
    SCRIPT = "script"  # the build script failed
    TEST = "test"  # the package's tests failed
    PACKAGE = "package"  # the package does not hold what its own metadata lists
    ENGINE = "engine"  # anything else the engine reports


class EngineFailure(EngineError):
    """A build the engine could not finish, with its cause (typed at the engine seam)."""

    def __init__(self, message: str, cause: Cause = Cause.ENGINE):
        super().__init__(message)
        self.message, self.cause = message, cause

    @classmethod
    def of(cls, message: str, phase: Phase | None) -> "EngineFailure":
        """The failure the engine reported, while in `phase` (its last reported step)."""
        lowered = message.lower()
        if "resolve dependencies" in lowered or "cannot solve" in lowered or phase is Phase.RESOLVE:
            return cls(message, Cause.RESOLVE)
        by_phase = {Phase.SCRIPT: Cause.SCRIPT, Phase.TEST: Cause.TEST, Phase.SOURCE: Cause.DOWNLOAD}
        if phase not in by_phase and ("download" in lowered or "fetch" in lowered):
            return cls(message, Cause.DOWNLOAD)
        return cls(message, by_phase.get(phase, Cause.ENGINE))


@dataclass
class PlannedBuild:
    """One recipe × variant, as the engine renders it."""

    name: str
    version: str
    build_string: str
    noarch: bool
    variant: dict[str, Any]
    recipe: Path
    requirements: dict[str, list[str]]
    source_paths: list[Path]  # local `path:` sources, resolved
    source_urls: list[str] = field(default_factory=list)  # `url:` and `git:` sources
    patch_files: list[Path] = field(default_factory=list)  # they decide the content as much as the sources
    handle: Any = field(default=None, repr=False)  # rattler_build.RenderedVariant

    @property
    def label(self) -> str:
        return f"{self.name}-{self.version}-{self.build_string}"

    @property
    def kind(self) -> str:
        """The pmpm build kind the recipe records (`extra.pmpm.kind`); hand-written recipes count as script."""
        return str(self._pmpm_extra().get("kind") or "script")

    @property
    def unavailable(self) -> str | None:
        """Why this build cannot run, as rendered (`extra.pmpm.unavailable`: a source the mirror lacks)."""
        return self._pmpm_extra().get("unavailable")

    def _pmpm_extra(self) -> dict:
        extra = self.handle.recipe.to_dict().get("extra") or {} if self.handle is not None else {}
        return extra.get("pmpm") or {}


def plan_recipe(recipe: Path, values: dict[str, list], zip_keys: list[list[str]]) -> list[PlannedBuild]:
    """Render one recipe for every matching variant."""
    try:
        rendered = rattler_build.Stage0Recipe.from_file(recipe).render(variant_config(values, zip_keys))
    except Exception as exc:  # the engine's parse/render errors
        raise RecipeError(f"rattler-build cannot render this recipe: {first_line(exc)}", file=str(recipe)) from None
    return [_planned(recipe, variant) for variant in rendered]


def _planned(recipe_path: Path, rendered: Any) -> PlannedBuild:
    recipe = rendered.recipe
    requirements = {
        section: [str(s) for s in (getattr(recipe.requirements, section, None) or [])]
        for section in ("build", "host", "run")
    }
    paths, urls, patches = [], [], []
    for source in recipe.sources:
        spec = source.to_dict()
        if "path" in spec:
            path = (recipe_path.parent / spec["path"]).resolve()
            if path.is_dir():
                paths.append(path)
        patches += [(recipe_path.parent / p).resolve() for p in spec.get("patches") or []]
        for key in ("url", "git"):
            found = spec.get(key)
            urls += [str(u) for u in found] if isinstance(found, list) else [str(found)] if found else []
    return PlannedBuild(
        name=recipe.package.name,
        version=str(recipe.package.version),
        build_string=recipe.build.string,
        noarch=bool(recipe.build.noarch),
        variant=dict(rendered.variant),
        recipe=recipe_path,
        requirements=requirements,
        source_paths=paths,
        source_urls=urls,
        patch_files=patches,
        handle=rendered,
    )


class BuildLog(Protocol):
    """Where an engine writes its output: the whole log to a file, phases to the reporter."""

    def write(self, line: str) -> None: ...
    def phase(self, text: str) -> None: ...


@dataclass
class BuildRequest:
    """Everything an engine needs besides the planned build."""

    output_dir: Path
    channels: list[str]
    test: bool = True
    dirty: bool = False  # reuse work dirs: stable paths, no build id
    variant_file: Path | None = None  # the conda_build_config.yaml the recipe was planned with
    work_dir: Path | None = None  # conda-build's --croot for --dirty
    variants: dict[str, list] = field(default_factory=dict)  # that file's values and zip_keys
    zip_keys: list[list[str]] = field(default_factory=list)
    origin_recipe: Path | None = None  # the recipe pmpm rendered (`planned.recipe` may be --dirty's derived copy)
    environ: dict[str, str] = field(default_factory=dict)  # set for the build, over the engine's own environment


class Engine(Protocol):
    name: str

    def build(self, planned: PlannedBuild, request: BuildRequest, log: BuildLog) -> list[Path]: ...

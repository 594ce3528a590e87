"""The API's first stages: a stack's variants, its rendered recipes, what `pmpm build TARGETS` builds."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from ..errors import RecipeError, StackError
from ..options import DEFAULT_RECIPES, STATE_DIR, ChannelOptions, RecipeOptions
from ..options import key as options_key
from ..recipes.gate import render_gate_recipe
from ..recipes.render import RecipeSet, Rendered, render_stack
from ..runtime import RUNTIME
from ..state import StateDir
from ..variants import microarch
from ..variants.resolve import Origin, VariantSet, keys_used_by, recipe_keys, resolve_variants

if TYPE_CHECKING:
    from ..builder import replay
    from ..stack.model import Stack


# Imported on first use: `pmpm build` of rendered recipes needs no stack model (pydantic), no
# environment code and no Slurm, and every CLI start-up would pay for them.
def stack_variants(stack: Stack, recipes: RecipeOptions = RecipeOptions()) -> VariantSet:
    """The stack's variants: repo defaults, the cbc beside it, `_pmpm.variants`, `-m` files, `--variant`."""
    return resolve_variants(
        stack_variants=stack.model.pmpm.variants,
        stack_path=stack.path,
        config_files=list(recipes.variant_configs),
        overrides=list(recipes.variants),
        compiler_mode=stack.compiler,
        stack_origin=lambda key: Origin(str(stack.path), stack.line("_pmpm", "variants", key), f"_pmpm.variants.{key}"),
        user_keys=[*stack.model.pmpm.variant_keys, *keys_used_by(stack.packages)],
        cuda_needed=any("cuda" in p.compilers and p.noarch is None for p in stack.packages),
    )


def render_file(
    stack_path: str | Path,
    output: str | Path = DEFAULT_RECIPES,
    recipes: RecipeOptions = RecipeOptions(),
    *,
    formats: tuple[str, ...] = ("recipe.yaml",),
    offline: bool = False,
    compiler: str | None = None,
    channels: ChannelOptions | None = None,
) -> Rendered:
    """`pmpm render`: validate the stack, resolve its variants once, write recipes.

    `recipes.source_mirror` (a directory or URL filled by `pmpm fetch`) replaces every remote
    source; `compiler` overrides the stack's `_pmpm.compiler` (`pmpm system_install` forces system).
    """
    from ..envs.summary import remember_summary
    from ..recipes.mirror import Mirror
    from ..stack.load import load_stack

    stack = load_stack(stack_path, compiler=compiler)
    remember_summary(stack)  # validated now: `pmpm create` of this stack need not validate it again
    variants = stack_variants(stack, recipes)
    if stack.model.pmpm.pypi:
        _add_pypi_packages(stack, variants, channels, offline)
    return render_stack(
        stack,
        output,
        variants,
        formats,
        offline=offline,
        mirror=Mirror(recipes.source_mirror) if recipes.source_mirror else None,
    )


def _add_pypi_packages(stack: Stack, variants: VariantSet, channels: ChannelOptions | None, offline: bool) -> None:
    """`_pmpm.pypi`'s packages beside the stack's own, generated for the stack's python from what
    its channels (and -c ones) lack; the local channel does not count: pmpm builds those there."""
    from ..channel.layout import channel_url
    from ..recipes.from_pypi import pypi_packages

    if offline:
        raise StackError(
            "--offline: _pmpm.pypi is resolved by pip from its index", fix="render once online, or drop --offline"
        )
    searched = [*([] if channels and channels.override_channels else stack.channels), *_searched(channels)]
    urls = [channel_url(channel) for channel in searched]
    with _in_stack(stack):
        generated = pypi_packages(
            stack.model.pmpm.pypi, python=variants.python, channels=urls, taken={p.name for p in stack.packages}
        )
    stack.packages.extend(generated)


@contextmanager
def _in_stack(stack: Stack) -> Iterator[None]:
    """A `_pmpm.pypi` mistake, said at the stack's FILE:LINE."""
    try:
        yield
    except StackError as exc:
        if exc.file is not None:
            raise
        raise StackError(
            exc.what, file=str(stack.path), line=stack.line("_pmpm", "pypi"), key=exc.key, fix=exc.fix
        ) from None


def fetch_sources(stack_path: str | Path, to: str | Path) -> Iterator[tuple[str, str, bool]]:
    """`pmpm fetch STACK`: every remote source a build of the stack takes, `_pmpm.pypi`'s generated
    packages included, into the mirror `to`; yields (package, source described, whether it was new)."""
    from ..recipes.mirror import fetch_packages
    from ..stack.load import load_stack

    stack = load_stack(stack_path)
    variants = stack_variants(stack)
    if stack.model.pmpm.pypi:
        _add_pypi_packages(stack, variants, None, offline=False)
    yield from fetch_packages(stack.packages, Path(to), variants.python)


def add_pypi(stack_path: Path, requirements: list[str], *, wheel: bool = False) -> list[str]:
    """`pmpm add-pypi`: the requirements, once pip resolves them for the stack's python, into its
    `_pmpm.pypi` (`wheel`: taken as their wheels). Returns what was written."""
    from ..recipes.from_pypi import parse
    from ..recipes.pypi import resolve
    from ..stack.edit import add_pypi as write_entries
    from ..stack.load import load_stack

    stack = load_stack(stack_path)
    with _in_stack(stack):
        for text in requirements:
            parse(text)
        resolve(
            list(requirements), stack_variants(stack).python, quiet=True
        )  # a typo or an unknown version fails here, not at build
    return write_entries(Path(stack_path), list(requirements), wheel=wheel)


def _searched(channels: ChannelOptions | None) -> list[str]:
    """The -c channels a render looks in (for `_pmpm.pypi`), as text for its record."""
    return [str(c) for c in channels.upstream] if channels else []


def recipe_set(
    targets: list[Path],
    recipes: RecipeOptions = RecipeOptions(),
    *,
    output: Path = DEFAULT_RECIPES,
    state_dir: Path = STATE_DIR,
    offline: bool = False,
    compiler: str | None = None,
    channels: ChannelOptions | None = None,
) -> RecipeSet:
    """What `pmpm build TARGETS` builds: a stack file (rendered into `output` first), a directory
    written by `pmpm render` (rendered again from its stack when variants are overridden), or
    hand-written recipe directories (variants resolved here, once)."""
    targets = list(targets) or [output]
    if len(targets) == 1 and _is_stack_file(targets[0]):
        return _stack_recipe_set(
            targets[0],
            recipes,
            output=output,
            state_dir=state_dir,
            offline=offline,
            compiler=compiler,
            channels=channels,
        )
    if len(targets) == 1 and RecipeSet.is_rendered(targets[0]):
        rendered = RecipeSet.load(targets[0])
        if (recipes != RecipeOptions() or compiler) and rendered.stack is not None:
            again = render_file(
                rendered.stack, targets[0], recipes, offline=offline, compiler=compiler, channels=channels
            )
            return again.recipe_set()
        return rendered
    found = [recipe for target in targets for recipe in _recipes_in(target)]
    variants = resolve_variants(
        config_files=list(recipes.variant_configs), overrides=list(recipes.variants), user_keys=recipe_keys(found)
    )
    if any(microarch.GATE_PACKAGE in recipe.read_text() for recipe in found):
        found = [*render_gate_recipe(StateDir.at(state_dir).root / "gates", variants), *found]
    return RecipeSet(list(dict.fromkeys(found)), variants)


def _stack_recipe_set(
    stack: Path,
    recipes: RecipeOptions,
    *,
    output: Path,
    state_dir: Path,
    offline: bool,
    compiler: str | None,
    channels: ChannelOptions | None = None,
) -> RecipeSet:
    """A stack's recipe set: read back when this very render is recorded as unchanged, else rendered."""
    output = _render_dir(
        stack,
        output,
        state_dir,
        [*recipes.variants, *map(str, recipes.variant_configs), str(recipes.source_mirror), str(compiler)],
    )
    record = (
        None
        if recipes.source_mirror
        else _render_record(
            stack,
            output,
            state_dir,
            {**options_key(recipes), "offline": offline, "compiler": compiler, "channels": _searched(channels)},
        )
    )
    if record is not None and record.load() is not None:
        return RecipeSet.load(output)
    rendered = render_file(stack, output, recipes, offline=offline, compiler=compiler, channels=channels)
    if record is not None:
        _remember_render(record, rendered, list(recipes.variant_configs))
    return rendered.recipe_set()


def _render_record(stack: Path, output: Path, state_dir: Path, options: dict) -> "replay.Record":
    """Where this very render of `stack` into `output` is remembered (see `replay`)."""
    from ..builder.replay import Record, invocation_key

    key = invocation_key(
        Path.cwd(), {"stack": str(Path(stack).resolve()), "output": str(Path(output).absolute()), **options}
    )
    return Record(StateDir.at(state_dir).root, key, kind="render")


def _remember_render(record: "replay.Record", rendered: Rendered, config_files: list[Path]) -> None:
    """What decided this render, unless it asked pip (a `pypi:` source resolves through the
    user's index, which only pip can check): the next identical render then reads it back."""
    stack = rendered.stack
    if any(p.source.pypi for p in stack.packages):
        record.forget()
        return
    patches = [stack.path.parent / patch for p in stack.packages for patch in p.source.patches]
    inputs = [*_render_inputs(stack.path), *config_files, *patches]
    written = [*rendered.recipes.values(), *rendered.gates, rendered.config, *rendered.extra_files]
    record.save(
        {},
        files=[Path(f).absolute() for f in [*inputs, *written]],
        dirs=[stack.path.parent / p.source.path for p in stack.packages if p.source.path],
    )


def _render_inputs(stack: Path | None) -> list[Path]:
    """The files every render of `stack` reads, but for -m configs and patches: the stack and the
    conda_build_config.yaml beside it, pmpm's templates, catalogue and default conda_build_config.yaml."""
    from .. import resources

    beside = [stack, stack.parent / "conda_build_config.yaml"] if stack else []
    return [
        *beside,
        *resources.templates_dir().rglob("*.j2"),
        *resources.catalogue_dir().glob("*.yml"),
        resources.default_cbc(),
    ]


def _render_dir(stack: Path, output: Path, state_dir: Path, inputs: list[str]) -> Path:
    """Where `pmpm build STACK` renders: `output` (./recipes) when this process can have it to
    itself and it holds nothing or this stack's recipes; else a private `.recipes-<hash>` beside
    it, one per stack and variant inputs, so concurrent builds from one directory never build
    each other's recipes. A sibling of `output`, so relative source paths, and with them the
    fingerprints, are the same as in `output`. The lock that claims `output` lives in pmpm's
    state dir and is held until the process ends (its build reads the recipes)."""
    import hashlib
    import json

    from filelock import FileLock, Timeout

    output = Path(output)
    key = hashlib.sha256(json.dumps([str(Path(stack).resolve()), *inputs]).encode()).hexdigest()[:12]
    private = output.parent / f".{output.name}-{key}"
    claim = hashlib.sha256(str(output.absolute()).encode()).hexdigest()[:16]
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(StateDir.at(state_dir).lock(f"render-{claim}")))
        lock.acquire(timeout=0)
    except (OSError, Timeout):
        return private
    try:
        manifest = json.loads((output / "pmpm.json").read_text()) if (output / "pmpm.json").is_file() else None
    except (OSError, ValueError):
        manifest = {}
    theirs = manifest is not None and Path(str(manifest.get("stack", ""))).resolve() != Path(stack).resolve()
    if (output.exists() and manifest is None and any(output.iterdir())) or theirs:
        lock.release()
        return private
    RUNTIME.hold(lock)
    return output


def _is_stack_file(target: Path) -> bool:
    return (
        target.suffix in (".yml", ".yaml") and target.name not in ("recipe.yaml", "meta.yaml") and not target.is_dir()
    )


def _recipes_in(target: Path) -> list[Path]:
    if target.is_file() and target.name == "recipe.yaml":
        return [target]
    if (target / "recipe.yaml").is_file():
        return [target / "recipe.yaml"]
    if target.is_dir() and any(target.glob("*/recipe.yaml")):
        return sorted(target.glob("*/recipe.yaml"))
    hint = "run `pmpm render STACK` first, or pass a stack file or a recipe directory"
    if not target.exists():
        raise RecipeError(f"no such file or directory: {target}", fix=hint)
    raise RecipeError(f"no recipes found in {target}/", file=str(target), fix=hint)

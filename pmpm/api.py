"""pmpm's Python API: one function per stage, each taking the previous stage's object.

    stack = load_stack("stack.yml")
    variants = stack_variants(stack, overrides=["march=x86-64,x86-64-v3"])
    rendered = render_stack(stack, "recipes", variants)
    report = build(rendered.recipe_set(), BuildOptions.of(jobs=2))
    create(summarize("stack.yml"), "./env", request_for(...))

Data flows one way: variants are resolved once, recipes on disk are build's input, and the
channel is the environment's. `recipe_set()` is what `pmpm build TARGETS` does with its
arguments: it renders a stack, reads a rendered directory, or takes hand-written recipes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .variants import microarch
from .builder import scheduler
from .builder.plan import plan
from .builder.report import BuildReport, JobResult, Reporter, Status
from .builder.scheduler import Builder
from .channel.local import SUBDIRS, LocalChannel, search_order, url_to_path
from .engines.registry import engine_for
from .options import key as options_key
from .options import (ENGINES, BuildOptions, BuildSettings, ChannelOptions, EngineOptions, RecipeOptions,
                      STATE_DIR, DEFAULT_RECIPES)
from .errors import PmpmError, RecipeError
from .recipes.render import RecipeSet, Rendered, render_gate_recipe, render_stack
from .runtime import RUNTIME
from .state import StateDir
from .variants.resolve import Origin, VariantSet, keys_used_by, recipe_keys, resolve_variants

if TYPE_CHECKING:
    from .executors import slurm, units as distribute
    from .builder import replay
    from .executors.units import Invocation
    from .envs.environment import EnvironmentRequest, StackSummary, create, request_for, summarize
    from .envs.lock import Locked, read_lock, write_locks
    from .envs.stack_env import bundle_stack, create_stack_env, lock_stack, target_prefix
    from .stack.model import Stack, load_stack

# Imported on first use: `pmpm build` of rendered recipes needs no stack model (pydantic), no
# environment code and no Slurm, and every CLI start-up would pay for them.
_LAZY = {"load_stack": "stack.model", "Stack": "stack.model", "Invocation": "executors.units",
         "EnvironmentRequest": "envs.environment", "StackSummary": "envs.environment", "create": "envs.environment",
         "request_for": "envs.environment", "summarize": "envs.environment",
         "read_lock": "envs.lock", "write_locks": "envs.lock", "Locked": "envs.lock",
         "create_stack_env": "envs.stack_env", "lock_stack": "envs.stack_env", "bundle_stack": "envs.stack_env",
         "target_prefix": "envs.stack_env"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["load_stack", "Stack", "stack_variants", "VariantSet", "render_stack", "render_file", "Rendered",
           "RecipeSet", "recipe_set", "build", "BuildOptions", "RecipeOptions", "ChannelOptions", "BuildSettings",
           "EngineOptions", "BuildReport", "JobResult", "Status", "ENGINES", "engine_for", "LocalChannel", "summarize",
           "StackSummary", "request_for", "EnvironmentRequest", "create", "create_stack_env", "lock_stack",
           "bundle_stack", "target_prefix", "write_locks", "read_lock", "Locked", "PmpmError", "install",
           "Invocation", "submit_slurm", "wait_slurm", "slurm_status", "ci_workflow"]


def stack_variants(stack: Stack, recipes: RecipeOptions = RecipeOptions()) -> VariantSet:
    """The stack's variants: repo defaults, the cbc beside it, `_pmpm.variants`, `-m` files, `--variant`."""
    return resolve_variants(
        stack_variants=stack.model.pmpm.variants, stack_path=stack.path, config_files=list(recipes.variant_configs),
        overrides=list(recipes.variants), compiler_mode=stack.compiler,
        stack_origin=lambda key: Origin(str(stack.path), stack.line("_pmpm", "variants", key), f"_pmpm.variants.{key}"),
        user_keys=[*stack.model.pmpm.variant_keys, *keys_used_by(stack.packages)])


def render_file(stack_path: str | Path, output: str | Path = DEFAULT_RECIPES,
                recipes: RecipeOptions = RecipeOptions(), *, formats: tuple[str, ...] = ("recipe.yaml",),
                offline: bool = False, compiler: str | None = None) -> Rendered:
    """`pmpm render`: validate the stack, resolve its variants once, write recipes.

    `recipes.source_mirror` (a directory or URL filled by `pmpm fetch`) replaces every remote
    source; `compiler` overrides the stack's `_pmpm.compiler` (`pmpm system_install` forces system).
    """
    from .envs.environment import remember_summary
    from .recipes.mirror import Mirror
    from .stack.model import load_stack

    stack = load_stack(stack_path)
    remember_summary(stack)  # validated now: `pmpm create` of this stack need not validate it again
    if compiler:
        stack.model.pmpm.compiler = compiler
    variants = stack_variants(stack, recipes)
    return render_stack(stack, output, variants, formats, offline=offline,
                        mirror=Mirror(recipes.source_mirror) if recipes.source_mirror else None)


def recipe_set(targets: list[Path], recipes: RecipeOptions = RecipeOptions(), *, output: Path = DEFAULT_RECIPES,
               state_dir: Path = STATE_DIR, offline: bool = False, compiler: str | None = None) -> RecipeSet:
    """What `pmpm build TARGETS` builds: a stack file (rendered into `output` first), a directory
    written by `pmpm render` (rendered again from its stack when variants are overridden), or
    hand-written recipe directories (variants resolved here, once)."""
    targets = list(targets) or [output]
    if len(targets) == 1 and _is_stack_file(targets[0]):
        return _stack_recipe_set(targets[0], recipes, output=output, state_dir=state_dir, offline=offline,
                                 compiler=compiler)
    if len(targets) == 1 and RecipeSet.is_rendered(targets[0]):
        rendered = RecipeSet.load(targets[0])
        if (recipes != RecipeOptions() or compiler) and rendered.stack is not None:
            return render_file(rendered.stack, targets[0], recipes, offline=offline, compiler=compiler).recipe_set()
        return rendered
    found = [recipe for target in targets for recipe in _recipes_in(target)]
    variants = resolve_variants(config_files=list(recipes.variant_configs), overrides=list(recipes.variants),
                                user_keys=recipe_keys(found))
    if any(microarch.GATE_PACKAGE in recipe.read_text() for recipe in found):
        found = [*render_gate_recipe(StateDir.at(state_dir).root / "gates", variants), *found]
    return RecipeSet(list(dict.fromkeys(found)), variants)


def _stack_recipe_set(stack: Path, recipes: RecipeOptions, *, output: Path, state_dir: Path, offline: bool,
                      compiler: str | None) -> RecipeSet:
    """A stack's recipe set: read back when this very render is recorded as unchanged, else rendered."""
    output = _render_dir(stack, output, state_dir, [*recipes.variants, *map(str, recipes.variant_configs),
                                                    str(recipes.source_mirror), str(compiler)])
    record = None if recipes.source_mirror else _render_record(stack, output, state_dir, {
        **options_key(recipes), "offline": offline, "compiler": compiler})
    if record is not None and record.load() is not None:
        return RecipeSet.load(output)
    rendered = render_file(stack, output, recipes, offline=offline, compiler=compiler)
    if record is not None:
        _remember_render(record, rendered, list(recipes.variant_configs))
    return rendered.recipe_set()


def _render_record(stack: Path, output: Path, state_dir: Path, options: dict) -> "replay.Record":
    """Where this very render of `stack` into `output` is remembered (see `replay`)."""
    from .builder.replay import Record, invocation_key

    key = invocation_key(Path.cwd(), {"stack": str(Path(stack).resolve()), "output": str(Path(output).absolute()),
                                      **options})
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
    record.save({}, files=[Path(f).absolute() for f in [*inputs, *written]],
                dirs=[stack.path.parent / p.source.path for p in stack.packages if p.source.path])


def _render_inputs(stack: Path | None) -> list[Path]:
    """The files every render of `stack` reads, but for -m configs and patches: the stack and the
    conda_build_config.yaml beside it, pmpm's templates, catalogue and default conda_build_config.yaml."""
    from . import resources

    beside = [stack, stack.parent / "conda_build_config.yaml"] if stack else []
    return [*beside, *resources.templates_dir().rglob("*.j2"), *resources.catalogue_dir().glob("*.yml"),
            resources.default_cbc()]


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
    return target.suffix in (".yml", ".yaml") and target.name not in ("recipe.yaml", "meta.yaml") and not target.is_dir()


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


def build(recipe_set: RecipeSet, options: BuildOptions = BuildOptions(), reporter: Reporter | None = None, *,
          only: list[str] = ()) -> BuildReport:
    """`pmpm build`: every recipe × variant of `recipe_set` (or those of the `only` packages),
    dependencies first, into the local channel. A stack built whole leaves its summary in the
    channel, so `pmpm create` of it from anywhere need not validate it again."""
    report = scheduler.build(recipe_set, options, reporter, only=list(only))
    if report.ok and recipe_set.stack is not None and not only:
        from .envs.environment import share_summary

        share_summary(Path(recipe_set.stack), options.channels.channel)
    return report


def submit_slurm(targets: list[Path], recipe_set: RecipeSet, recipes: RecipeOptions, options: BuildOptions, *,
                 sbatch_args: list[str] = ()) -> tuple[list[distribute.Unit], list[slurm.Submitted]]:
    """`pmpm build --executor slurm`: one sbatch job per package × variant not yet up to date,
    chained by afterok; returns every unit and the jobs submitted (recorded for `pmpm status`).
    Each job builds from the stack when known (re-rendered on its node), else from `targets`."""
    from .executors import slurm, units as distribute
    from .stack.model import load_stack

    units = distribute.units(plan(recipe_set), recipe_set.variants)
    builder = Builder(recipe_set, options)
    builder.channel.ensure()
    todo = distribute.stale(units, builder.up_to_date, force=options.settings.force)
    sources = [Path(recipe_set.stack)] if recipe_set.stack is not None else list(targets) or [DEFAULT_RECIPES]
    invocation = distribute.Invocation(tuple(sources), recipes, options)
    targets = {}
    if recipe_set.stack is not None:
        targets = {k: v.sbatch_args() for k, v in load_stack(recipe_set.stack).model.pmpm.slurm.items()}
    state = StateDir.at(options.state_dir).slurm
    submitted = slurm.submit(todo, invocation, state, sbatch_args=list(sbatch_args), targets=targets)
    if submitted:  # an all-up-to-date run keeps the last submission visible to `pmpm status`
        slurm.save(state, submitted)
    return units, submitted


def wait_slurm(units: list[distribute.Unit], submitted: list[slurm.Submitted], reporter: Reporter,
               poll: float = 2.0) -> BuildReport:
    """Block until every submitted job ends, reporting through the usual progress display."""
    from .executors import slurm

    by_key = {u.key: u for u in units}
    reporter.planned([job for s in submitted for job in by_key[s.key].jobs])

    def started(sub: slurm.Submitted) -> None:
        for job in by_key[sub.key].jobs:
            reporter.started(job, Path(sub.log))

    def finished(sub: slurm.Submitted, state: slurm.JobState) -> None:
        status = (Status.BUILT if state.state == "COMPLETED" else
                  Status.SKIPPED if "Dependency" in state.reason else Status.FAILED)
        message = "" if status is Status.BUILT else f"Slurm job {sub.id} {state.state} {state.reason}".strip()
        for job in by_key[sub.key].jobs:
            results.append(JobResult(job, status, log=Path(sub.log), message=message))
            reporter.finished(results[-1])

    results: list[JobResult] = []
    slurm.wait(submitted, slurm.Watch(started, finished), poll=poll)
    return BuildReport(results, Path())


def slurm_status(state_dir: Path = Path(".pmpm")) -> list[tuple[slurm.Submitted, slurm.JobState | None]]:
    """`pmpm status`: the last submission's jobs with their Slurm state."""
    from .executors import slurm

    submitted = slurm.load(StateDir.at(state_dir).slurm)
    states = slurm.states([s.id for s in submitted])
    return [(s, states.get(s.id)) for s in submitted]


def remember_build(record: "replay.Record", recipe_set: RecipeSet, options: BuildOptions, report: BuildReport,
                   config_files: list[Path] = ()) -> None:
    """Record what decided a successful build so an identical next invocation is a replay
    (see `replay`); an upstream channel that is not a local directory can change unseen, so
    such builds are not recorded."""
    local = LocalChannel(options.channels.channel)
    channels = search_order(local, recipe_set.channels, options.channels.upstream,
                            override=options.channels.override_channels, offline=options.channels.offline)
    if not report.ok or any(not url.startswith("file://") for url in channels):
        record.forget()
        return
    channel_dirs = [Path(url_to_path(url)) for url in channels]
    repodata = [d / sub / "repodata.json" for d in channel_dirs for sub in SUBDIRS] + [local.meta / "fingerprints.json"]
    jobs = [result.job for result in report.results]
    patches = [p for job in jobs for p in job.planned.patch_files]
    files = [*_render_inputs(recipe_set.stack), *([recipe_set.config] if recipe_set.config else []),
             *recipe_set.recipes, *map(Path, config_files), *repodata, *patches]
    record.save(report.to_json(), files=[Path(f).absolute() for f in files],
                trees={p: report.tree_digests.get(p) for job in jobs for p in job.planned.source_paths},
                packages=[local.path / job.channel_key for job in jobs])


def ci_workflow(stack_path: Path, provider: str, recipes: RecipeOptions = RecipeOptions(), *,
                install: str = "python -m pip install pmpm") -> str:
    """`pmpm ci`: the stack's package × variant units as a GitHub Actions or GitLab CI workflow."""
    import tempfile

    from .executors import ci, units as distribute
    from .executors.units import Invocation
    from .stack.model import load_stack

    stack = load_stack(stack_path)
    with tempfile.TemporaryDirectory(prefix="pmpm-ci-") as scratch:
        variants = stack_variants(stack, recipes)
        rendered = render_stack(stack, Path(scratch), variants).recipe_set()
        units = distribute.units(plan(rendered), rendered.variants)
    options = BuildOptions.of(channel=Path(ci.CHANNEL))
    invocation = Invocation((Path(stack_path),), recipes, options, absolute=False)
    return ci.render(units, invocation, provider, stack.name, install)


def install(stack_path: Path, prefix: Path, options: BuildOptions, recipes: RecipeOptions = RecipeOptions(), *,
            reporter: "Reporter | None" = None, command: str = "pmpm install", compiler: str | None = None) -> Path:
    """`pmpm install` (and python-pmpm's conda_install/system_install): render + build + create.

    `compiler` overrides the stack's (system_install forces system); the environment comes
    from the same channels the build used."""
    from .envs.environment import create, request_for, summarize

    found = recipe_set([stack_path], recipes, offline=options.channels.offline, compiler=compiler)
    build(found, options, reporter).raise_for_failures()
    summary = summarize(stack_path)
    channels = options.channels
    request = request_for(summary, LocalChannel(channels.channel), extra_channels=list(channels.upstream),
                          override_channels=channels.override_channels, offline=channels.offline)
    return create(summary, prefix, request, command=command)

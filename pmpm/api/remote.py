"""The API's executors: Slurm jobs and CI workflows of a recipe set's package × variant units."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..builder.cache import through_s3
from ..builder.fingerprint import Fingerprints
from ..builder.plan import plan
from ..builder.report import BuildReport, JobResult, Reporter, Status
from ..channel.layout import search_order
from ..channel.local import LocalChannel
from ..files import atomic_write
from ..options import DEFAULT_RECIPES, BuildOptions, RecipeOptions
from ..recipes.render import RecipeSet, render_stack
from ..state import StateDir

if TYPE_CHECKING:
    from ..executors import slurm
    from ..executors import units as distribute

# Imported on first use: `pmpm build` of rendered recipes needs no stack model (pydantic), no
# environment code and no Slurm, and every CLI start-up would pay for them.
from ..options import STATE_DIR
from .recipe_sets import stack_variants


def submit_slurm(
    targets: list[Path],
    recipe_set: RecipeSet,
    recipes: RecipeOptions,
    options: BuildOptions,
    *,
    sbatch_args: Sequence[str] = (),
) -> tuple[list[distribute.Unit], list[slurm.Submitted]]:
    """`pmpm build --executor slurm`: one sbatch job per package × variant not yet up to date,
    chained by afterok; returns every unit and the jobs submitted (recorded for `pmpm status`).
    Each job builds from the stack when known (re-rendered on its node), else from `targets`."""
    from ..executors import slurm
    from ..executors import units as distribute
    from ..stack.load import load_stack

    units = distribute.units(plan(recipe_set), recipe_set.variants)
    channels = through_s3(options).channels  # the jobs are told `options`: each maps an S3 channel itself
    channel = LocalChannel(channels.channel)
    channel.ensure()
    searched = search_order(
        channel, recipe_set.channels, channels.upstream, override=channels.override_channels, offline=channels.offline
    )
    fingerprints = Fingerprints(searched, options.engine.engine)  # the names engines build under
    todo = distribute.stale(units, lambda job: fingerprints.up_to_date(job, channel), force=options.settings.force)
    sources = [Path(recipe_set.stack)] if recipe_set.stack is not None else list(targets) or [DEFAULT_RECIPES]
    invocation = distribute.Invocation(tuple(sources), recipes, options)
    per_target: dict[str, list[str]] = {}
    if recipe_set.stack is not None:
        per_target = {k: v.sbatch_args() for k, v in load_stack(recipe_set.stack).model.pmpm.slurm.items()}
    state = StateDir.at(options.state_dir).slurm
    submitted = slurm.submit(todo, invocation, state, sbatch_args=list(sbatch_args), targets=per_target)
    if submitted:  # an all-up-to-date run keeps the last submission visible to `pmpm status`
        slurm.save(state, submitted)
    return units, submitted


def wait_slurm(
    units: list[distribute.Unit], submitted: list[slurm.Submitted], reporter: Reporter, poll: float = 2.0
) -> BuildReport:
    """Block until every submitted job ends, reporting through the usual progress display."""
    from ..executors import slurm

    by_key = {u.key: u for u in units}
    reporter.planned([job for s in submitted for job in by_key[s.key].jobs])

    def started(sub: slurm.Submitted) -> None:
        for job in by_key[sub.key].jobs:
            reporter.started(job, Path(sub.log))

    def finished(sub: slurm.Submitted, state: slurm.JobState) -> None:
        status = (
            Status.BUILT
            if state.state == "COMPLETED"
            else Status.SKIPPED
            if "Dependency" in state.reason
            else Status.FAILED
        )
        message = "" if status is Status.BUILT else f"Slurm job {sub.id} {state.state} {state.reason}".strip()
        for job in by_key[sub.key].jobs:
            results.append(JobResult(job, status, log=Path(sub.log), message=message))
            reporter.finished(results[-1])

    results: list[JobResult] = []
    slurm.wait(submitted, slurm.Watch(started, finished), poll=poll)
    return BuildReport(results, Path())


def slurm_status(state_dir: Path = STATE_DIR) -> list[tuple[slurm.Submitted, slurm.JobState | None]]:
    """`pmpm status`: the last submission's jobs with their Slurm state."""
    from ..executors import slurm

    submitted = slurm.load(StateDir.at(state_dir).slurm)
    states = slurm.states([s.id for s in submitted])
    return [(s, states.get(s.id)) for s in submitted]


def ci_workflow(
    stack_path: Path,
    provider: str,
    recipes: RecipeOptions = RecipeOptions(),
    *,
    install: str = "python -m pip install pmpm",
    channel: str | None = None,
) -> str:
    """`pmpm ci`: the stack's package × variant units as a GitHub Actions or GitLab CI workflow;
    with an S3 `channel` (s3://BUCKET/PREFIX) the jobs build into it and read from it."""
    import tempfile

    from ..channel.s3 import S3Channel
    from ..executors import ci
    from ..executors import units as distribute
    from ..executors.units import Invocation
    from ..stack.load import load_stack

    s3 = S3Channel(channel).url if channel is not None else None  # a mistake is said before rendering
    stack = load_stack(stack_path)
    with tempfile.TemporaryDirectory(prefix="pmpm-ci-") as scratch:
        variants = stack_variants(stack, recipes)
        rendered = render_stack(stack, Path(scratch), variants).recipe_set()
        units = distribute.units(plan(rendered), rendered.variants)
    options = BuildOptions.of(channel=s3 or Path(ci.CHANNEL))
    invocation = Invocation((Path(stack_path),), recipes, options, absolute=False)
    return ci.render(units, invocation, provider, stack.name, install, s3=s3 is not None)


def write_ci_workflow(
    stack_path: Path,
    provider: str,
    recipes: RecipeOptions = RecipeOptions(),
    *,
    install: str = "python -m pip install pmpm",
    output: Path | None = None,
    channel: str | None = None,
) -> Path:
    """`pmpm ci`'s file: the workflow written to `output` (default: where the provider looks)."""
    from ..executors.ci import DEFAULT_OUTPUT

    target = Path(output or DEFAULT_OUTPUT[provider])
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, ci_workflow(stack_path, provider, recipes, install=install, channel=channel))
    return target

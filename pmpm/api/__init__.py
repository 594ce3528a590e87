"""pmpm's Python API: one function per stage, each taking the previous stage's object.

    stack = load_stack("stack.yml")
    variants = stack_variants(stack, RecipeOptions(variants=("march=x86-64,x86-64-v3",)))
    rendered = render_stack(stack, "recipes", variants)
    report = build(rendered.recipe_set(), BuildOptions.of(jobs=2))
    create_stack_env("stack.yml", "./env")

Data flows one way: variants are resolved once, recipes on disk are build's input, and the
channel is the environment's. `recipe_set()` is what `pmpm build TARGETS` does with its
arguments: it renders a stack, reads a rendered directory, or takes hand-written recipes.

Every name is imported on first use: a command that replays its last result, or prints its
help, must not pay for the engine, the solver, the stack model or the templates.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what the names below are, for type checkers and readers
    from ..builder.progress import reporter_for
    from ..builder.report import BuildReport, JobResult, Replayed, Status
    from ..channel.local import LocalChannel
    from ..engines.registry import engine_for
    from ..envs.bundle import create_from_bundle
    from ..envs.environment import EnvironmentRequest, channel_counts, create, request_for, run
    from ..envs.lock import Locked, read_lock, write_locks
    from ..envs.pack import pack
    from ..envs.stack_env import bundle_stack, create_stack_env, lock_stack, target_prefix
    from ..envs.summary import StackSummary, summarize
    from ..envs.verify import verify
    from ..errors import PmpmError
    from ..executors.units import Invocation
    from ..options import ENGINES, BuildOptions, BuildSettings, ChannelOptions, EngineOptions, RecipeOptions
    from ..recipes.mirror import import_source
    from ..recipes.render import RecipeSet, Rendered, render_stack
    from ..stack.load import load_stack
    from ..stack.model import Stack
    from ..stack.starter import write_starter
    from ..variants.resolve import VariantSet
    from .building import build, install, remember_build
    from .recipe_sets import add_pypi, fetch_sources, recipe_set, render_file, stack_variants
    from .remote import ci_workflow, slurm_status, submit_slurm, wait_slurm, write_ci_workflow
    from .targets import build_targets, clean, index_channel, submit_targets

_WHERE = {
    "builder.progress": ["reporter_for"],
    "builder.report": ["BuildReport", "JobResult", "Replayed", "Status"],
    "channel.local": ["LocalChannel"],
    "engines.registry": ["engine_for"],
    "envs.bundle": ["create_from_bundle"],
    "envs.environment": ["EnvironmentRequest", "channel_counts", "create", "request_for", "run"],
    "envs.lock": ["Locked", "read_lock", "write_locks"],
    "envs.pack": ["pack"],
    "envs.stack_env": ["bundle_stack", "create_stack_env", "lock_stack", "target_prefix"],
    "envs.summary": ["StackSummary", "summarize"],
    "envs.verify": ["verify"],
    "errors": ["PmpmError"],
    "executors.units": ["Invocation"],
    "options": ["ENGINES", "BuildOptions", "BuildSettings", "ChannelOptions", "EngineOptions", "RecipeOptions"],
    "recipes.mirror": ["import_source"],
    "recipes.render": ["RecipeSet", "Rendered", "render_stack"],
    "stack.load": ["load_stack"],
    "stack.model": ["Stack"],
    "stack.starter": ["write_starter"],
    "variants.resolve": ["VariantSet"],
    "api.building": ["build", "install", "remember_build"],
    "api.recipe_sets": ["add_pypi", "fetch_sources", "recipe_set", "render_file", "stack_variants"],
    "api.remote": ["ci_workflow", "slurm_status", "submit_slurm", "wait_slurm", "write_ci_workflow"],
    "api.targets": ["build_targets", "clean", "index_channel", "submit_targets"],
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"pmpm.{_MODULE_OF[name]}"), name)
    globals()[name] = value  # once: the next access is a plain attribute
    return value

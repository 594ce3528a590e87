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

from typing import TYPE_CHECKING

from ..builder.report import BuildReport, JobResult, Status
from ..channel.local import LocalChannel
from ..engines.registry import engine_for
from ..errors import PmpmError
from ..options import ENGINES, BuildOptions, BuildSettings, ChannelOptions, EngineOptions, RecipeOptions
from ..recipes.render import RecipeSet, Rendered, render_stack
from ..variants.resolve import VariantSet
from .building import build, install, remember_build
from .recipe_sets import recipe_set, render_file, stack_variants
from .remote import ci_workflow, slurm_status, submit_slurm, wait_slurm

if TYPE_CHECKING:
    from ..envs.environment import EnvironmentRequest, create, request_for
    from ..envs.lock import Locked, read_lock, write_locks
    from ..envs.stack_env import bundle_stack, create_stack_env, lock_stack, target_prefix
    from ..envs.summary import StackSummary, summarize
    from ..executors.units import Invocation
    from ..stack.load import load_stack
    from ..stack.model import Stack

# Imported on first use: `pmpm build` of rendered recipes needs no stack model (pydantic), no
# environment code and no Slurm, and every CLI start-up would pay for them.
_LAZY = {
    "load_stack": "stack.load",
    "Stack": "stack.model",
    "Invocation": "executors.units",
    "EnvironmentRequest": "envs.environment",
    "StackSummary": "envs.summary",
    "create": "envs.environment",
    "request_for": "envs.environment",
    "summarize": "envs.summary",
    "read_lock": "envs.lock",
    "write_locks": "envs.lock",
    "Locked": "envs.lock",
    "create_stack_env": "envs.stack_env",
    "lock_stack": "envs.stack_env",
    "bundle_stack": "envs.stack_env",
    "target_prefix": "envs.stack_env",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"pmpm.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "load_stack",
    "Stack",
    "stack_variants",
    "VariantSet",
    "render_stack",
    "render_file",
    "Rendered",
    "RecipeSet",
    "recipe_set",
    "build",
    "BuildOptions",
    "RecipeOptions",
    "ChannelOptions",
    "BuildSettings",
    "EngineOptions",
    "BuildReport",
    "JobResult",
    "Status",
    "ENGINES",
    "engine_for",
    "LocalChannel",
    "summarize",
    "StackSummary",
    "request_for",
    "EnvironmentRequest",
    "create",
    "create_stack_env",
    "lock_stack",
    "bundle_stack",
    "target_prefix",
    "write_locks",
    "read_lock",
    "Locked",
    "PmpmError",
    "install",
    "Invocation",
    "submit_slurm",
    "wait_slurm",
    "slurm_status",
    "ci_workflow",
    "remember_build",
]

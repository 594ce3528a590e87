"""The Python API behind each command: stack file in, results out."""

from __future__ import annotations

from pathlib import Path

from .render import Rendered, render_stack
from .stack import load_stack
from .variants import Origin, resolve_variants


def render_file(stack_path: str | Path, output: str | Path = "recipes", *, overrides: list[str] = (),
                config_files: list[Path] = (), formats: tuple[str, ...] = ("recipe.yaml",)) -> Rendered:
    """`pmpm render`: validate the stack, merge its variants and write recipes."""
    stack = load_stack(stack_path)
    variants = resolve_variants(
        stack_variants=stack.model.pmpm.variants, stack_path=stack.path, config_files=list(config_files),
        overrides=list(overrides), compiler_mode=stack.compiler,
        stack_origin=lambda key: Origin(str(stack.path), stack.line("_pmpm", "variants", key), f"_pmpm.variants.{key}"))
    return render_stack(stack, output, variants, formats)

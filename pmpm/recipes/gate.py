"""The CPU gate's recipe (`_x86_64-microarch-level`), rendered beside a stack's recipes."""

from __future__ import annotations

from pathlib import Path

from ..variants import microarch
from ..variants.resolve import VariantSet


def render_gate_recipe(
    output_dir: Path, variants: VariantSet, formats: tuple[str, ...] = ("recipe.yaml",), templates: Path | None = None
) -> list[Path]:
    """The CPU gate's recipe beside the others, so conda-build and rattler-build build the whole stack.

    Its builds (one per archspec name) are variants of `microarch_gate_name` in conda_build_config.yaml.
    """
    from .render import TEMPLATES, _environment, _write_if_changed

    env = _environment(templates or TEMPLATES)
    context = {
        "name": microarch.GATE_PACKAGE,
        "name_key": microarch.GATE_NAME_KEY,
        "level_key": microarch.GATE_LEVEL_KEY,
        "levels": _gate_levels(variants),
    }
    recipe_dir = output_dir / microarch.GATE_PACKAGE
    for fmt in formats:
        template = "microarch-level.yaml.j2" if fmt == "recipe.yaml" else "microarch-level.meta.yaml.j2"
        _write_if_changed(recipe_dir / fmt, env.get_template(template).render(context))
    return [recipe_dir / formats[0]]


def _gate_levels(variants: VariantSet) -> dict[str, int]:
    """Each gate build's archspec name and level, as the rendered conda_build_config.yaml pairs them."""
    names, levels = variants.values[microarch.GATE_NAME_KEY], variants.values[microarch.GATE_LEVEL_KEY]
    return {str(name): int(level) for name, level in zip(names, levels)}

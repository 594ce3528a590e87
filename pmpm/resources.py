"""Where pmpm's packaged data lives: recipe templates, the catalogue, the default variants.

The repository keeps them top-level (`templates/`, `catalogue/`, `conda_build_config.yaml`);
`pmpm/_data/` holds symlinks to them, which a wheel or sdist stores as plain files
(pyproject.toml's package-data). So an editable checkout, a wheel and an sdist all find
them inside the `pmpm` package through importlib.resources, never through the checkout.
"""

from __future__ import annotations

from pathlib import Path


def _data(name: str) -> Path:
    beside = Path(__file__).parent / "_data" / name
    if (
        beside.exists()
    ):  # pmpm on the file system, what files("pmpm") returns, without importing importlib.resources (~10 ms)
        return beside.resolve()
    from importlib import resources

    entry = resources.files("pmpm") / "_data" / name
    # Jinja and rattler-build read these from disk: a zipped install cannot work.
    if not isinstance(entry, Path):
        raise RuntimeError(f"pmpm's data must be on the file system, not in {entry!r}")
    return entry.resolve()


def templates_dir() -> Path:
    """The Jinja templates: recipe shells and one script per build kind."""
    return _data("templates")


def catalogue_dir() -> Path:
    """The `<name>.yml` definitions behind the `_pmpm.dependencies` shorthand."""
    return _data("catalogue")


def starter() -> tuple[Path, list[Path]]:
    """`pmpm init`'s starter stack (the repository's stacks/demo.yml) and the directories it builds."""
    demo = _data("demo")
    return _data("demo.yml"), [demo / "libkern", demo / "kern-cli"]


def default_cbc() -> Path:
    """The lowest-priority `conda_build_config.yaml`, under every stack's own."""
    return _data("conda_build_config.yaml")

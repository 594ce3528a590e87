"""pmpm: an optimized, locally compiled conda software stack on top of conda-forge.

The Python API mirrors the command line, one function per stage, and data flows one way:

    stack = pmpm.load_stack("stack.yml")
    variants = pmpm.stack_variants(stack, pmpm.RecipeOptions(variants=("march=znver3",)))
    rendered = pmpm.render_stack(stack, "recipes", variants)
    report = pmpm.build(rendered.recipe_set(), pmpm.BuildOptions.of(jobs=2))
    pmpm.create_stack_env("stack.yml", "./env")

Options are declared once, in `pmpm.options`: the same dataclasses the command line is made from.
"""

import os
from pathlib import Path

__version__ = "0.1.0"


def user_cache(*parts: str) -> Path:
    """pmpm's directory under $XDG_CACHE_HOME (default ~/.cache)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "pmpm", *parts)


def cpu_identity() -> str:
    """A digest of what decides this CPU's microarchitecture (what `march=native` resolves from):
    model and flags in /proc/cpuinfo. Here, not in `microarch`, for the no-op replay's sake."""
    import hashlib

    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    lines = [line for line in text.splitlines() if line.startswith(("model name", "flags", "vendor_id"))]
    return hashlib.sha256("\n".join(sorted(set(lines))).encode()).hexdigest()


# The public API is `pmpm.api.__all__`; it is imported on first use so that `import pmpm`
# (and with it every CLI start-up) stays cheap.
def __getattr__(name: str):
    """The API's names, from `pmpm.api` on first use. No module of pmpm is named like one of them
    (modules live in subpackages), so `pmpm.build` is the function in every access order."""
    import importlib
    import importlib.util

    if name != "api" and (
        (name.startswith("__") and name != "__all__") or importlib.util.find_spec(f"{__name__}.{name}")
    ):
        # a submodule being imported (`from . import resources`) is not an API name
        raise AttributeError(f"module 'pmpm' has no attribute {name!r}")

    api = importlib.import_module(".api", __name__)  # `from . import api` would recurse into here
    if name == "__all__":
        return ["__version__", "api", *api.__all__]
    if name == "api":
        return api
    if name in api.__all__:
        return getattr(api, name)
    raise AttributeError(f"module 'pmpm' has no attribute {name!r}")

"""pmpm: an optimized, locally compiled conda software stack on top of conda-forge.

The Python API mirrors the command line, one function per stage, and data flows one way:

    stack = pmpm.load_stack("stack.yml")
    variants = pmpm.stack_variants(stack, overrides=["march=znver3"])
    rendered = pmpm.render_stack(stack, "recipes", variants)
    report = pmpm.build(rendered.recipe_set(), pmpm.BuildOptions())
    pmpm.create(pmpm.summarize("stack.yml"), "./env", request)
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
__all__ = ["__version__", "api", "load_stack", "Stack", "stack_variants", "VariantSet", "render_stack",
           "render_file", "Rendered", "RecipeSet", "recipe_set", "build", "BuildOptions", "BuildReport", "ENGINES",
           "engine_for", "LocalChannel", "summarize", "StackSummary", "request_for", "EnvironmentRequest", "create",
           "write_lock", "read_lock", "PmpmError", "install", "Invocation", "submit_slurm", "wait_slurm",
           "slurm_status", "ci_workflow"]


def __getattr__(name: str):
    if name in __all__:
        import importlib

        api = importlib.import_module(".api", __name__)  # `from . import api` would recurse into here
        return api if name == "api" else getattr(api, name)
    raise AttributeError(f"module 'pmpm' has no attribute {name!r}")

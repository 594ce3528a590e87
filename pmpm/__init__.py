"""pmpm: an optimized, locally compiled conda software stack on top of conda-forge.

The Python API mirrors the command line and data flows one way:

    stack = pmpm.load_stack("stack.yml")
    variants = pmpm.resolve_variants(stack_variants=stack.model.pmpm.variants, overrides=["march=znver3"])
    pmpm.render_stack(stack, "recipes", variants)              # or pmpm.render_file("stack.yml")
    report = pmpm.build([Path("recipes")], pmpm.BuildOptions())
    pmpm.create(pmpm.summarize("stack.yml"), "./env", request)

Names are imported on first use, so `import pmpm` stays cheap for the CLI.
"""

import importlib
import os
from pathlib import Path

__version__ = "0.1.0"


def user_cache(*parts: str) -> Path:
    """pmpm's directory under $XDG_CACHE_HOME (default ~/.cache)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "pmpm", *parts)

_API = {
    "load_stack": "stack", "Stack": "stack",
    "resolve_variants": "variants", "VariantSet": "variants",
    "render_stack": "render", "render_file": "api",
    "build": "build", "BuildOptions": "build", "BuildReport": "build",
    "LocalChannel": "channel",
    "summarize": "environment", "request_for": "environment", "create": "environment",
    "solve": "environment", "install": "environment", "write_lock": "environment", "read_lock": "environment",
    "PmpmError": "errors",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'pmpm' has no attribute {name!r}")

"""pmpm: an optimized, locally compiled conda software stack on top of conda-forge.

The Python API mirrors the command line: `load_stack` → `resolve_variants` →
`render_stack` → `build` → `create`.
"""

__version__ = "0.1.0"

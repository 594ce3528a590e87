"""Variants: conda_build_config.yaml files, `--variant` overrides, the matrix, and every CPU-target
rule (`microarch`). Reads the stack's model; knows nothing of recipes, engines or channels."""

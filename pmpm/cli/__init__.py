"""The command line: parsing, calling `pmpm.api`, printing. Each module adds its commands to `cli`."""

from . import build, envs, legacy  # noqa: F401  (they register their commands)
from .main import cli, main

__all__ = ["cli", "main"]

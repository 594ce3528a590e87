"""The command line: parsing, calling `pmpm.api`, printing. Each module adds its commands to `cli`
when `cli` first asks for one of them (`main.COMMAND_MODULES`)."""

from .main import cli, main

__all__ = ["cli", "main"]

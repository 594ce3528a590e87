"""The command line: parsing, calling `pmpm.api`, printing. Each module adds its commands to `cli`
when `cli` first asks for one of them (`pmpm.commands.COMMAND_MODULES`)."""

from .main import cli, main

__all__ = ["cli", "main"]

"""click options derived from the declarations in `pmpm.options` and `pmpm.commands`: the only
place they are spelled."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

from ..options import Flag, flags, from_params, path_or_s3


def declared(*groups: type) -> Callable:
    """A decorator adding every option of `groups`, in declaration order, to a click command."""

    def decorate(function: Callable) -> Callable:
        for group in reversed(groups):
            for f, flag in reversed(list(flags(group))):
                function = _click_option(f.name, f.default, flag)(function)
        return function

    return decorate


def _click_option(name: str, default: Any, flag: Flag) -> Callable:
    common: dict[str, Any] = {"help": flag.help, "hidden": flag.hidden, "required": flag.required}
    if flag.metavar:
        common["metavar"] = flag.metavar
    if flag.negated:
        return click.option(flag.long, name, flag_value=False, default=True, **common)
    if isinstance(default, bool):
        return click.option(*flag.names, name, is_flag=True, **common)
    if flag.envvar:
        common["envvar"] = flag.envvar
    common["type"] = _kind(flag)
    if isinstance(default, tuple):
        return click.option(*flag.names, name, multiple=True, default=default, show_default=bool(default), **common)
    if default is not None:  # click 8.3 takes an explicit default=None as a value: `required` would never fire
        common["default"] = default
    shown = default is not None and not flag.hidden
    return click.option(*flag.names, name, show_default=shown, nargs=flag.nargs, **common)


def _kind(flag: Flag) -> Any:
    if flag.choices:
        return click.Choice(flag.choices)
    if flag.url:
        return path_or_s3
    if flag.path:
        return click.Path(path_type=Path, exists=flag.exists)
    return click.IntRange(flag.minimum) if flag.minimum is not None else None


def take(group: type, params: dict[str, Any]) -> Any:
    """The group's options out of a command's parameters (removed from `params`)."""
    names = [f.name for f, _ in flags(group)]
    mine = {name: params.pop(name) for name in names if name in params}
    return from_params(group, mine)

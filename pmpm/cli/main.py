"""The command line: a thin shell over pmpm's Python API.

Errors print as one line on stderr with the exception's exit code; `--debug` shows
the traceback instead.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

import click

from .. import __version__
from ..commands import COMMAND_MODULES
from ..errors import PmpmError


class _Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMAND_MODULES:
            importlib.import_module(f"{__package__}.{COMMAND_MODULES[name]}")  # it adds its commands to `cli`
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PmpmError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            else:
                click.echo(str(exc), err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo("pmpm: interrupted; the local channel holds only complete packages, re-run to finish", err=True)
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # the last resort: one line, never a traceback without --debug
            if ctx.obj and ctx.obj.get("debug"):
                raise
            from ..errors import first_line, shorten

            if isinstance(exc, OSError) and exc.strerror:
                where = f"{exc.filename}: " if exc.filename else ""
                click.echo(shorten(f"pmpm: {where}{exc.strerror}"), err=True)
            else:
                click.echo(
                    shorten(
                        f"pmpm: internal error: {type(exc).__name__}: {first_line(exc)} "
                        "(re-run with --debug and report it)"
                    ),
                    err=True,
                )
            sys.exit(1)


def main() -> None:
    """Console entry point."""
    try:
        code = cli.main(standalone_mode=False) or 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except click.ClickException as exc:
        click.echo(_usage_line(exc), err=True)
        code = exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        code = 130
    sys.stdout.flush()
    sys.stderr.flush()
    # py-rattler's runtime can crash the interpreter during teardown (seen: SIGSEGV after a
    # completed index): leave with our own exit code instead.
    os._exit(code if isinstance(code, int) else 0)


def _usage_line(exc: click.ClickException) -> str:
    """click's usage block, as the one line `pmpm: what (fix)` every other input mistake gets."""
    from ..errors import shorten

    what = " ".join(exc.format_message().split()).rstrip(".")
    names, ctx = [], getattr(exc, "ctx", None)
    while ctx is not None and ctx.parent is not None:
        names.insert(0, ctx.info_name)
        ctx = ctx.parent
    command = " ".join(["pmpm", *names])
    return f"pmpm: {shorten(what)} (see `{command} --help`)"


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pmpm")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """pmpm builds an optimized, locally compiled conda stack on top of conda-forge.

    \b
    The flow:
      pmpm render stack.yml                  # recipes + conda_build_config.yaml in ./recipes
      pmpm build --variant march=znver3      # build them into ./local-channel
      pmpm create stack.yml -p ./env         # the final environment

    Network reads give up after PMPM_NETWORK_TIMEOUT seconds without an answer
    (default 60), retried up to 3 times for transient errors.
    """
    ctx.obj = {"debug": debug}

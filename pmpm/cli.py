"""The command line: a thin shell over pmpm's Python API.

Errors print as one line on stderr with the exception's exit code; `--debug` shows
the traceback instead.
"""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
from pathlib import Path

import click

from . import __version__
from .errors import PmpmError, human_size

VARIANT_HELP = ("Override a variant key, e.g. march=znver3; KEY=a,b builds a matrix. Repeatable. An unknown "
                "KEY is an error: declare keys of your own in the stack's _pmpm.variant_keys.")
ENGINE_NAMES = ["rattler-build", "conda-build", "rattler-build-exe"]  # pmpm.engine.ENGINES, without importing it
CONFIG_HELP = "Extra conda_build_config.yaml, merged after the defaults and the stack's. Repeatable."


class _Group(click.Group):
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
            from .errors import first_line, shorten

            if isinstance(exc, OSError) and exc.strerror:
                where = f"{exc.filename}: " if exc.filename else ""
                click.echo(shorten(f"pmpm: {where}{exc.strerror}"), err=True)
            else:
                click.echo(shorten(f"pmpm: internal error: {type(exc).__name__}: {first_line(exc)} "
                                   "(re-run with --debug and report it)"), err=True)
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
    from .errors import shorten

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
    """
    ctx.obj = {"debug": debug}


@cli.command()
@click.argument("stack", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), default=Path("recipes"),
              show_default=True, help="Directory for <package>/recipe.yaml and conda_build_config.yaml.")
@click.option("--variant", "variants", multiple=True, metavar="KEY=VALUE", help=VARIANT_HELP)
@click.option("-m", "--variant-config", "configs", multiple=True, type=click.Path(path_type=Path), help=CONFIG_HELP)
@click.option("--format", "formats", multiple=True, type=click.Choice(["recipe.yaml", "meta.yaml"]),
              help="recipe.yaml (v1, rattler-build and recent conda-build) is always written; "
                   "meta.yaml adds classic conda-build recipes.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@click.option("--source-mirror", envvar="PMPM_SOURCE_MIRROR", metavar="DIR|URL",
              help="Take every remote source from this mirror (filled by `pmpm fetch`); env PMPM_SOURCE_MIRROR.")
def render(stack: Path, output: Path, variants: tuple[str, ...], configs: tuple[Path, ...],
           formats: tuple[str, ...], as_json: bool, source_mirror: str | None) -> None:
    """Render STACK into conda recipes and a merged conda_build_config.yaml.

    \b
    Variant keys: march (any gcc -march name such as znver3, x86-64-v3 or
    icelake-server, any archspec name such as zen3, or native), mtune, opt,
    cflags, cxxflags, fflags, ldflags, conda-build's keys (python, numpy,
    c_compiler_version ...), any key the stack's packages use, and keys declared
    in _pmpm.variant_keys. Any other key is reported as a typo.
    Sources, later winning: the repo's conda_build_config.yaml, one beside STACK,
    the stack's _pmpm.variants, each -m FILE, then --variant.

    \b
    Example:
      pmpm render stacks/demo.yml --variant march=x86-64,x86-64-v3
    """
    from .api import render_file

    result = render_file(stack, output, overrides=list(variants), config_files=list(configs),
                         formats=("recipe.yaml", *[f for f in formats if f != "recipe.yaml"]),
                         source_mirror=source_mirror)
    if as_json:
        click.echo(json.dumps({"output": str(result.output_dir), "order": result.order,
                               "recipes": {k: str(v) for k, v in result.recipes.items()},
                               "variants": result.variants.combinations()}, indent=2))
        return
    marches = ", ".join(result.variants.values["march"])
    click.echo(f"rendered {len(result.recipes)} recipe(s) for march {marches} into {result.output_dir}/")
    for name in result.order:
        click.echo(f"  {result.recipes[name]}")


@cli.command()
@click.argument("targets", nargs=-1, type=click.Path(path_type=Path))
@click.option("--variant", "variants", multiple=True, metavar="KEY=VALUE", help=VARIANT_HELP)
@click.option("-m", "--variant-config", "configs", multiple=True, type=click.Path(path_type=Path), help=CONFIG_HELP)
@click.option("--channel", "channel", type=click.Path(path_type=Path), default=Path("local-channel"),
              show_default=True, help="The local channel packages are published into.")
@click.option("-c", "--upstream", "upstream", multiple=True, metavar="CHANNEL",
              help="Extra channel for dependencies (name, URL or directory), searched after the local channel.")
@click.option("--override-channels", is_flag=True, help="Ignore the stack's channels; use only the local channel and -c.")
@click.option("--offline", is_flag=True, help="No network: only file:// channels and directories, and sources "
              "that are local or already in pmpm's cache (others fail at once, named).")
@click.option("-k", "--keep-going", is_flag=True, help="Continue past a failure; its dependents are skipped.")
@click.option("-j", "--jobs", type=click.IntRange(1), default=1, show_default=True,
              help="Build up to N independent packages at once.")
@click.option("--no-test", is_flag=True, help="Skip the recipes' tests.")
@click.option("--dirty", is_flag=True,
              help="Reuse each package's previous build tree: after a small source edit only what changed recompiles.")
@click.option("--force", is_flag=True, help="Rebuild packages even when they are up to date.")
@click.option("--no-ccache", is_flag=True, help="Compile without pmpm's compiler cache (ccache, under pmpm's user "
              "cache; used when installed); env PMPM_NO_CCACHE=1.")
@click.option("--engine", type=click.Choice(ENGINE_NAMES), default="rattler-build", show_default=True,
              help="Who builds: rattler-build (py-rattler-build, in process), conda-build (your `conda build`, "
                   "from $CONDA_EXE or PATH) or rattler-build-exe (a rattler-build executable on PATH).")
@click.option("--solver", type=click.Choice(["classic", "libmamba"]), default=None,
              help="conda-build's solver (--engine conda-build); libmamba needs conda-libmamba-solver, the "
                   "supported successor of boa's archived `conda mambabuild`.")
@click.option("-v", "--verbose", is_flag=True, help="Stream every build log line to stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print the build report as JSON on stdout.")
@click.option("--source-mirror", envvar="PMPM_SOURCE_MIRROR", metavar="DIR|URL",
              help="Take every remote source from this mirror (filled by `pmpm fetch`), never from upstream; "
                   "env PMPM_SOURCE_MIRROR.")
@click.option("--executor", type=click.Choice(["local", "slurm"]), default="local", show_default=True,
              help="local: build here. slurm: one sbatch job per package × variant, chained by afterok, each "
                   "running pmpm on a compute node into the shared --channel; prints the job ids and returns.")
@click.option("--sbatch-arg", "sbatch_args", multiple=True, metavar="ARG",
              help="Pass ARG to every sbatch (e.g. --sbatch-arg=--time=1:00:00). Repeatable.")
@click.option("--wait", is_flag=True, help="--executor slurm: block until every job ends, showing progress.")
@click.option("--only-package", "only", multiple=True, hidden=True,
              help="Build only this package's variants (what each Slurm or CI job runs).")
@click.option("--render-dir", type=click.Path(path_type=Path), default=Path("recipes"), hidden=True,
              help="Where a stack TARGET is rendered (a private directory per Slurm job).")
def build(targets: tuple[Path, ...], variants: tuple[str, ...], configs: tuple[Path, ...], channel: Path,
          upstream: tuple[str, ...], override_channels: bool, offline: bool, keep_going: bool, jobs: int,
          no_test: bool, dirty: bool, force: bool, no_ccache: bool, engine: str, solver: str | None, verbose: bool,
          as_json: bool, executor: str, sbatch_args: tuple[str, ...], wait: bool, only: tuple[str, ...],
          render_dir: Path, source_mirror: str | None) -> None:
    """Build recipes × variants, in dependency order, into a local conda channel.

    \b
    TARGETS are a stack file (rendered into ./recipes first), a directory written by
    `pmpm render` (rendered again from its stack when --variant or -m is given), or
    hand-written recipe directories. With none, builds ./recipes.

    A package whose recipe, variant, sources and resolved dependencies are unchanged
    since it was published is reported "up to date" and skipped (--force rebuilds);
    a rebuilt local dependency rebuilds its dependents.

    \b
    Examples:
      pmpm render stacks/demo.yml && pmpm build --variant march=x86-64,x86-64-v3
      pmpm build stacks/demo.yml --variant march=znver3 -j 2
      pmpm build recipes/libkern --override-channels -c ./mirror --offline
      pmpm build --dirty          # after editing a source file: recompile just that
      pmpm build --engine conda-build --solver libmamba

    Logs: .pmpm/logs/<package>-<version>-<build>.log. Nothing is published for a
    build whose script or tests fail.
    """
    record = None
    if executor == "local" and not (force or dirty or only):
        from .replay import Record, invocation_key

        key = invocation_key(Path.cwd(), {
            "targets": [t.absolute() for t in targets], "variants": variants, "configs": [c.absolute() for c in configs],
            "channel": channel.absolute(), "upstream": upstream, "override": override_channels, "offline": offline,
            "test": not no_test, "engine": engine, "solver": solver, "render_dir": render_dir.absolute(),
            "source_mirror": source_mirror})
        record = Record(Path(".pmpm").absolute(), key)
        previous = record.replay()
        if previous is not None:
            _print_replayed(previous, as_json)
            return
    if executor == "local" and engine == "rattler-build" and (dirty or force):
        from .engine import prestart

        prestart(jobs)  # builds will run: the engine's workers start while pmpm loads and plans
    from . import api
    from .progress import reporter_for

    if executor == "slurm":
        # Rendered as deep as each job's private render dir, so relative source paths, and with
        # them the fingerprints that decide what is up to date, agree with the jobs' own.
        from .state import StateDir

        render_dir = StateDir.at().slurm / "recipes" / "_submit"
    recipes = api.recipe_set(list(targets), overrides=list(variants), config_files=list(configs), offline=offline,
                             output=render_dir, source_mirror=source_mirror)
    options = api.BuildOptions(channel=channel, channels=list(upstream), override_channels=override_channels,
                               offline=offline, keep_going=keep_going, jobs=jobs, test=not no_test,
                               dirty=dirty, force=force, engine=api.engine_for(engine, solver=solver),
                               ccache=not no_ccache)
    if executor == "slurm":
        invocation = api.Invocation(_unit_targets(targets, recipes), list(variants), [c.absolute() for c in configs],
                                    channel.absolute(), list(upstream), override_channels, offline, not no_test,
                                    engine, solver, source_mirror)
        units, submitted = api.submit_slurm(recipes, invocation, options, sbatch_args=list(sbatch_args))
        click.echo(f"submitted {len(submitted)} Slurm job(s); {len(units) - len(submitted)} of {len(units)} "
                   "package × variant(s) up to date")
        for sub in submitted:
            after = f" after {','.join(sub.after)}" if sub.after else ""
            click.echo(f"  {sub.id}  {sub.key}{after}  log: {sub.log}")
        if not wait or not submitted:
            return
        with reporter_for(quiet=as_json, verbose=verbose) as reporter:
            report = api.wait_slurm(units, submitted, reporter)
    else:
        with reporter_for(quiet=as_json, verbose=verbose) as reporter:
            report = api.build(recipes, options, reporter, only=list(only))
        if record is not None:
            api.remember_build(record, recipes, options, report, list(configs))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    report.raise_for_failures()


def _print_replayed(report: dict, as_json: bool) -> None:
    """A replayed no-op: the same report, every package up to date."""
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    count = len(report["packages"])
    click.echo(f"pmpm build: all {count} package × variant builds up to date (nothing changed since the last "
               f"build; --force rebuilds)", err=True)


def _unit_targets(targets: tuple[Path, ...], recipes) -> list[Path]:
    """What each Slurm job builds from: the stack when known (re-rendered on the node), else the recipes."""
    if recipes.stack is not None:
        return [Path(recipes.stack).absolute()]
    return [t.absolute() for t in targets] or [Path("recipes").absolute()]


@cli.command()
@click.argument("stack", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--github", "provider", flag_value="github", help="Write a GitHub Actions workflow.")
@click.option("--gitlab", "provider", flag_value="gitlab", help="Write a GitLab CI pipeline.")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Where to write it (default .github/workflows/pmpm.yml or .gitlab-ci.yml; - for stdout).")
@click.option("--variant", "variants", multiple=True, metavar="KEY=VALUE", help=VARIANT_HELP)
@click.option("-m", "--variant-config", "configs", multiple=True, type=click.Path(path_type=Path), help=CONFIG_HELP)
@click.option("--install", default="python -m pip install pmpm", show_default=True,
              help="The shell command that installs pmpm in each CI job.")
def ci(stack: Path, provider: str | None, output: Path | None, variants: tuple[str, ...], configs: tuple[Path, ...],
       install: str) -> None:
    """Write a CI workflow that builds STACK as one job per package × variant.

    
    Dependencies become `needs:` (and, on GitLab, one stage per dependency level); the
    channel passes between jobs as artifacts, is cached per job across runs (unchanged
    packages are up to date) and is published by a final `channel` job. Paths in the
    workflow are as given here: run pmpm ci from the repository root.

    
    Examples:
      pmpm ci stacks/demo.yml --github --variant march=x86-64,x86-64-v3
      pmpm ci stack.yml --gitlab -o .gitlab-ci.yml
    """
    from .api import ci_workflow
    from .ci import DEFAULT_OUTPUT

    if provider is None:
        raise click.UsageError("choose --github or --gitlab")
    text = ci_workflow(stack, provider, overrides=list(variants), config_files=list(configs), install=install)
    target = output or DEFAULT_OUTPUT[provider]
    if str(target) == "-":
        click.echo(text, nl=False)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    click.echo(f"wrote {target}")


@cli.command()
@click.argument("channel", type=click.Path(path_type=Path), default=Path("local-channel"))
def index(channel: Path) -> None:
    """Re-index CHANNEL after package files were copied in (e.g. CI artifacts merged)."""
    from .channel import LocalChannel

    local = LocalChannel(channel)
    local.ensure()
    click.echo(f"indexed {local.path}: {len(local.packages())} packages")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the jobs as JSON.")
def status(as_json: bool) -> None:
    """Show the Slurm jobs of the last `pmpm build --executor slurm` from here: id, state, log.

    States come from squeue while the controller remembers a job, then from sacct.
    """
    from .api import slurm_status

    rows = slurm_status()
    if as_json:
        click.echo(json.dumps([{"id": s.id, "unit": s.key, "package": s.name, "variant": s.pins, "after": s.after,
                                "state": st.state if st else "UNKNOWN", "reason": st.reason if st else "",
                                "log": s.log} for s, st in rows], indent=2))
        return
    for sub, state in rows:
        text = f"{state.state}{f' ({state.reason})' if state and state.reason else ''}" if state else "UNKNOWN"
        after = f"after {','.join(sub.after)}" if sub.after else "-"
        click.echo(f"{sub.id:>8}  {text:<36} {sub.key:<28} {after:<16} {sub.log}")


@cli.command()
@click.argument("packages", nargs=-1)
@click.option("--logs", is_flag=True, help="Also remove build logs.")
@click.option("--cache", is_flag=True, help="Also remove the package cache that environments install from.")
def clean(packages: tuple[str, ...], logs: bool, cache: bool) -> None:
    """Remove --dirty build trees and leftover build outputs (of PACKAGES, or all).

    The local channel is never touched. Reports the space freed.
    """
    from .environment import default_cache_dir
    from .state import StateDir

    freed = StateDir.at().clean(list(packages), logs=logs, cache=default_cache_dir() if cache else None)
    for path, size in freed:
        click.echo(f"removed {path} ({human_size(size)})")
    click.echo(f"freed {human_size(sum(size for _, size in freed))}")




ENV_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")


def _envs_dir() -> Path:
    return Path(os.environ.get("PMPM_ENVS_DIR") or Path.home() / ".pmpm" / "envs")


def _target_prefix(prefix: Path | None, name: str | None) -> Path:
    if (prefix is None) == (name is None):
        raise click.UsageError("give exactly one of -p/--prefix PATH or -n/--name NAME")
    if name is not None and not ENV_NAME.fullmatch(name):
        from .errors import shorten

        raise click.UsageError(f"-n {shorten(repr(name), 60)}: an environment name is one word of letters, digits, "
                               "'.', '_' and '-', not a path; use -p PATH for a directory")
    return prefix if prefix is not None else _envs_dir() / name


def _channel_options(function):
    for option in reversed([
        click.option("--channel", "channel", type=click.Path(path_type=Path), default=Path("local-channel"),
                     show_default=True, help="The local channel built by `pmpm build`; searched first."),
        click.option("-c", "--upstream", "upstream", multiple=True, metavar="CHANNEL",
                     help="Extra channel (name, URL or directory), after the local one."),
        click.option("--override-channels", is_flag=True, help="Ignore the stack's channels."),
        click.option("--offline", is_flag=True, help="Use only file:// channels."),
    ]):
        function = option(function)
    return function


def _target_options(function):
    function = click.option("-n", "--name", help="Environment name, under $PMPM_ENVS_DIR (default ~/.pmpm/envs).")(function)
    return click.option("-p", "--prefix", type=click.Path(path_type=Path), help="Environment path.")(function)


def _request(stack, channel, upstream, override_channels, offline):
    from .channel import LocalChannel
    from .environment import request_for

    return request_for(stack, LocalChannel(channel), extra_channels=list(upstream),
                       override_channels=override_channels, offline=offline)


@cli.command()
@click.argument("stack", type=click.Path(path_type=Path), required=False)
@_target_options
@_channel_options
@click.option("--locked", is_flag=True, help="Install exactly the packages of the stack's lock file (see `pmpm lock`), "
              "pip packages in pip's hash-checking mode; a lock older than the stack's inputs is refused as stale.")
@click.option("--lock-file", type=click.Path(path_type=Path), help="Lock file for --locked (default: STACK.lock).")
@click.option("--from-bundle", "bundle", type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="Install the locked environment of a directory written by `pmpm bundle`, with no network (no STACK).")
@click.option("--force", is_flag=True, help="Install into an existing non-empty directory that is not a conda environment.")
def create(stack: Path | None, prefix: Path | None, name: str | None, channel: Path, upstream: tuple[str, ...],
           override_channels: bool, offline: bool, locked: bool, lock_file: Path | None, bundle: Path | None,
           force: bool) -> None:
    """Create the stack's environment: its conda dependencies plus its locally built packages.

    \b
    The local channel comes first with strict priority, so a local build always wins
    over a package of the same name upstream; builds for a CPU this host lacks are
    never chosen (set CONDA_OVERRIDE_ARCHSPEC=x86_64_v3 to solve for another host).
    The stack's pip: list is then installed with the environment's own pip.

    \b
    Examples:
      pmpm create stacks/demo.yml -p ./env
      pmpm create stack.yml -n hpc -c ./mirror --override-channels
      pmpm lock stack.yml && pmpm create stack.yml -p ./env --locked
      pmpm create --from-bundle ./bundle -p ./env      # offline, from `pmpm bundle`
    """
    from .environment import create as run_create, summarize

    target = _target_prefix(prefix, name)
    if bundle is not None:
        from .bundle import create_from_bundle

        if stack is not None:
            raise click.UsageError("--from-bundle takes no STACK: the bundle holds its stack and lock")
        _report_environment(create_from_bundle(bundle, target))
        return
    if stack is None:
        raise click.UsageError("missing STACK (or --from-bundle DIR)")
    loaded = summarize(stack, channel)
    if locked:
        from .lock import check_fresh, lock_paths, read_lock  # only --locked reads a lock: no start-up cost otherwise

        frozen = read_lock(lock_file or lock_paths(loaded.path)[0])
        check_fresh(frozen, loaded)
        records = frozen.records
        done = run_create(loaded, target, records=records, wheels=frozen.wheels,
                          command=f"pmpm create {stack} --locked", force=force)
    else:
        from .environment import solve_request

        request = _request(loaded, channel, upstream, override_channels, offline)
        records = solve_request(request)
        done = run_create(loaded, target, request, records=records, command=f"pmpm create {stack}", force=force)
    _report_environment(done, [r.channel for r in records])


def _report_environment(prefix: Path, channels: list[str] | None = None) -> None:
    """How many packages from which channel: those just installed (the prefix holds exactly these
    records), else as conda-meta lists them (reading every record costs ~1 ms per 10 packages)."""
    from collections import Counter

    if channels is None:
        channels = [json.loads(p.read_text()).get("channel", "?") for p in (prefix / "conda-meta").glob("*.json")]
    click.echo(f"created {prefix}: {len(channels)} packages")
    for channel, count in sorted(Counter((c or "?").rstrip("/") for c in channels).items()):
        click.echo(f"  {count:4d} from {channel}")


@cli.command()
@click.argument("stack", type=click.Path(path_type=Path))
@_channel_options
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Lock file (default: STACK.lock; the @EXPLICIT list goes beside it).")
@click.option("--platform", "platforms", multiple=True, default=("linux-64",), show_default=True, metavar="PLATFORM",
              help="Lock for this conda platform (repeatable), e.g. --platform linux-64 --platform osx-arm64; "
                   "local packages must be noarch for any platform but linux-64.")
def lock(stack: Path, channel: Path, upstream: tuple[str, ...], override_channels: bool, offline: bool,
         output: Path | None, platforms: tuple[str, ...]) -> None:
    """Solve the stack and write a lock file plus @EXPLICIT package lists.

    \b
    STACK.lock uses rattler's lock format (as pixi.lock does): the conda packages and the
    pip: list resolved by pip to exact wheels with their sha256 (for the locked python's
    version), plus a hash of the stack's inputs so a stale lock is reported.
    STACK-linux-64.txt is an @EXPLICIT list with md5s for `conda create --file` (any conda);
    STACK-linux-64.sha256.txt the same with sha256 (conda >= 24.9). Install exactly these
    packages later with `pmpm create STACK --locked`, or carry them with `pmpm bundle`.
    Each --platform is solved with that platform's virtual packages (CONDA_OVERRIDE_GLIBC,
    _OSX, _LINUX, _ARCHSPEC, _CUDA override them) into the same lock, with its own lists.
    """
    from .channel import LocalChannel
    from .environment import request_for, solve_request, summarize
    from .lock import inputs_hash, lock_paths, resolve_pip, write_locks

    loaded = summarize(stack)
    requests = {p: request_for(loaded, LocalChannel(channel), extra_channels=list(upstream), platform=p,
                               override_channels=override_channels, offline=offline) for p in dict.fromkeys(platforms)}
    solved = {}
    for platform, request in requests.items():
        records = solve_request(request)
        python = next((r for r in records if r.name.normalized == "python"), None)
        version = ".".join(str(python.version).split(".")[:2]) if python else None
        solved[platform] = (records, resolve_pip(loaded.pip_requirements, version, [r.name.normalized for r in records],
                                                 platform=platform))
    lock_path = output if output is not None else lock_paths(loaded.path)[0]
    channels = next(iter(requests.values())).channels
    written = write_locks(solved, channels, lock_path, inputs=inputs_hash(loaded))
    for platform, (records, wheels) in solved.items():
        click.echo(f"locked {len(records)} conda and {len(wheels)} pip packages for {platform}: {lock_path} and "
                   f"{written[platform]}")


@cli.command()
@click.argument("stack", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The bundle directory.")
@click.option("--lock-file", type=click.Path(path_type=Path), help="Lock file (default: STACK.lock, see `pmpm lock`).")
@click.option("--prune", is_flag=True, help="Remove packages and wheels the lock no longer needs.")
def bundle(stack: Path, output: Path, lock_file: Path | None, prune: bool) -> None:
    """Write everything STACK's lock needs into a directory that installs with no network.

    \b
    OUTPUT/channel is an indexed conda channel with every locked package (local builds
    and upstream), OUTPUT/wheels every locked pip wheel, beside the lock files and STACK.
    Re-running copies or downloads only what is missing.

    \b
    Examples:
      pmpm lock stack.yml && pmpm bundle stack.yml -o ./bundle
      pmpm create --from-bundle ./bundle -p ./env                 # on the offline machine
      conda create --offline -p ./env -c ./bundle/channel --override-channels kern-cli
    """
    from .bundle import write_bundle
    from .environment import summarize
    from .lock import check_fresh, lock_paths, read_lock

    loaded = summarize(stack)
    default_lock, explicit = lock_paths(loaded.path)
    frozen = read_lock(lock_file or default_lock)
    check_fresh(frozen, loaded)
    if lock_file is not None:
        explicit = lock_file.with_name(f"{lock_file.stem}-linux-64.txt")
    report = write_bundle(frozen, loaded.path, explicit, output, prune=prune)
    click.echo(f"bundled {len(frozen.records)} conda and {len(frozen.wheels)} pip packages into {report.output}: "
               f"{len(report.fetched)} fetched, {len(report.kept)} kept, {len(report.pruned)} pruned, "
               f"{human_size(report.size())}")


@cli.command()
@click.option("-p", "--prefix", type=click.Path(path_type=Path), required=True, help="Environment path.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Archive (FILE.tar.gz).")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT.")
def pack(prefix: Path, output: Path, force: bool) -> None:
    """A relocatable archive of an environment, made by conda-pack.

    \b
    Unpack it anywhere and run bin/conda-unpack (a python script) to rewrite the prefix:
      mkdir env && tar xzf env.tar.gz -C env && (cd env && python bin/conda-unpack)
    """
    from .pack import pack as run_pack

    done = run_pack(prefix, output, force=force)
    click.echo(f"packed {prefix} into {done} ({human_size(done.stat().st_size)})")


@cli.command()
@click.option("-p", "--prefix", type=click.Path(path_type=Path), required=True, help="Environment path.")
@click.option("--lock", "lock_file", type=click.Path(path_type=Path), required=True, help="The lock file.")
def verify(prefix: Path, lock_file: Path) -> None:
    """Check that an environment is exactly what a lock froze: records and file hashes.

    Conda packages must match the lock by name, version, build and sha256, pip packages
    by name and version; every installed file must have the hash its package recorded.
    Exit 1 with one line per difference otherwise.
    """
    from .verify import verify as run_verify

    report = run_verify(prefix, lock_file)
    if report.ok:
        click.echo(f"{prefix} matches {lock_file}")
        return
    for line in report.lines():
        click.echo(line)
    click.echo(f"{prefix} does not match {lock_file}", err=True)
    sys.exit(1)


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@_target_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(prefix: Path | None, name: str | None, command: tuple[str, ...]) -> None:
    """Run COMMAND inside an environment, activated (PATH, CONDA_PREFIX, activate.d scripts).

    \b
    Example:
      pmpm run -p ./env kern 1000000 100
    """
    from .environment import run as run_in

    sys.stdout.flush()
    sys.exit(run_in(_target_prefix(prefix, name), command))


@cli.command()
@click.argument("stack", type=click.Path(path_type=Path))
@_target_options
@_channel_options
@click.option("--variant", "variants", multiple=True, metavar="KEY=VALUE", help=VARIANT_HELP)
@click.option("-m", "--variant-config", "configs", multiple=True, type=click.Path(path_type=Path), help=CONFIG_HELP)
@click.option("-j", "--jobs", type=click.IntRange(1), default=1, show_default=True, help="Parallel builds.")
def install(stack: Path, prefix: Path | None, name: str | None, channel: Path, upstream: tuple[str, ...],
            override_channels: bool, offline: bool, variants: tuple[str, ...], configs: tuple[Path, ...], jobs: int) -> None:
    """Render, build and create in one go: `pmpm install stack.yml -p ./env`."""
    from . import api

    options = api.BuildOptions(channel=channel, channels=list(upstream), override_channels=override_channels,
                               offline=offline, jobs=jobs)
    _install(stack, _target_prefix(prefix, name), options, overrides=list(variants), config_files=list(configs),
             command=f"pmpm install {stack}")


def _install(stack: Path, prefix: Path, options, *, command: str, **recipe_args) -> None:
    """render + build + create, with the usual progress and report."""
    from . import api
    from .progress import reporter_for

    with reporter_for() as reporter:
        done = api.install(stack, prefix, options, reporter=reporter, command=command, **recipe_args)
    _report_environment(done)


# --- the original python-pmpm's commands, and source mirrors (pmpm.mirror) ---------------

MIRROR_HELP = ("Take every remote source from this mirror (filled by `pmpm fetch`), never from upstream; "
               "env PMPM_SOURCE_MIRROR.")


def _original_options(function):
    """python-pmpm's options, spelled as it spelled them, mapped onto pmpm's."""
    for option in reversed([
        click.option("--file", "stack", required=True, type=click.Path(path_type=Path), help="The stack file."),
        click.option("--arch", help="The march variant (e.g. x86-64-v3, znver3, native)."),
        click.option("--tune", help="The mtune variant (default: the march's own)."),
        click.option("--skip-test", is_flag=True, help="Skip the recipes' tests (pmpm build --no-test)."),
        click.option("--fast-update", is_flag=True, help="Reuse previous build trees (pmpm build --dirty)."),
        click.option("--source-mirror", envvar="PMPM_SOURCE_MIRROR", metavar="DIR|URL", help=MIRROR_HELP),
        click.option("-j", "--jobs", type=click.IntRange(1), default=1, show_default=True, help="Parallel builds."),
    ]):
        function = option(function)
    return _channel_options(function)


def _install_original(prefix: Path, stack: Path, arch: str | None, tune: str | None, skip_test: bool,
                      fast_update: bool, source_mirror: str | None, jobs: int, channel: Path,
                      upstream: tuple[str, ...], override_channels: bool, offline: bool, compiler: str | None,
                      command: str) -> None:
    """render + build + create into PREFIX: what both original commands did, in pmpm's stages."""
    from . import api

    options = api.BuildOptions(channel=channel, channels=list(upstream), override_channels=override_channels,
                               offline=offline, jobs=jobs, test=not skip_test, dirty=fast_update)
    overrides = [*([f"march={arch}"] if arch else []), *([f"mtune={tune}"] if tune else [])]
    _install(stack, prefix, options, overrides=overrides, source_mirror=source_mirror, compiler=compiler,
             command=f"pmpm {command} {prefix} --file {stack}")


@cli.command("conda_install")
@click.argument("prefix", type=click.Path(path_type=Path))
@_original_options
def conda_install(prefix: Path, **kwargs) -> None:
    """python-pmpm's conda_install: render, build and create STACK's environment in PREFIX.

    \b
    The stack's own _pmpm.compiler applies (conda: conda-forge's compilers, as the original
    used; system: the host's). Same as `pmpm install STACK -p PREFIX`.
    Example:
      pmpm conda_install ~/pmpm-test --file examples/linux.yml --arch x86-64-v3
    """
    _install_original(prefix, compiler=None, command="conda_install", **kwargs)


@cli.command("system_install")
@click.argument("prefix", type=click.Path(path_type=Path))
@_original_options
def system_install(prefix: Path, **kwargs) -> None:
    """python-pmpm's system_install: build with the host's compilers and the MPI on PATH.

    \b
    Forces `_pmpm.compiler: system`: gcc/g++/gfortran from PATH, and MPICC, MPICXX, MPIFC,
    MPIF90 set to the mpicc/mpicxx/mpifort/mpif90 found on PATH (a vendor MPI: load its
    module first). The packages still land in PREFIX as conda packages.
    Example:
      module load cray-mpich && pmpm system_install ~/stack --file examples/linux.yml
    """
    _install_original(prefix, compiler="system", command="system_install", **kwargs)


@cli.command()
@click.argument("stack", type=click.Path(path_type=Path), required=False)
@click.option("--to", "to", type=click.Path(path_type=Path), envvar="PMPM_SOURCE_MIRROR", default=Path("source-mirror"),
              show_default=True, help="The mirror directory (env PMPM_SOURCE_MIRROR).")
@click.option("--add", "add", nargs=2, metavar="URL[@REV] FILE",
              help="Import FILE, a tarball of git repository URL at REV (or, for an archive URL without @REV, "
                   "the file of that `url:` source), instead of fetching a stack.")
def fetch(stack: Path | None, to: Path, add: tuple[str, str] | None) -> None:
    """Download every remote source of STACK into a source mirror, for builds without the internet.

    \b
    git sources at their rev (as a `git archive` tarball), url sources (checked against
    their sha256) and pypi sdists land in DIR/files/<sha256>/, recorded in DIR/sources.json.
    Build elsewhere with `--source-mirror DIR` (or serve DIR over HTTP and pass its URL):
    catalogue entries resolve through the mirror by repository and rev, unchanged.
    Examples:
      pmpm fetch examples/linux.yml --to /shared/sources
      pmpm fetch --add https://github.com/hpc4cmb/libmadam@v1.0.2 libmadam.tar.gz --to /shared/sources
      pmpm fetch --add https://www.fftw.org/fftw-3.3.10.tar.gz fftw3_3.3.10.orig.tar.gz --to /shared/sources
      pmpm build examples/linux.yml --source-mirror /shared/sources
    """
    from .mirror import MirrorDir, describe

    mirror = MirrorDir(to)
    if add:
        if stack is not None:
            raise click.UsageError("--add takes no STACK")
        click.echo(f"added {describe(mirror.import_archive(add[0], Path(add[1])))} to {to}/")
        return
    if stack is None:
        raise click.UsageError("missing STACK (or --add URL@REV FILE)")
    from .stack import load_stack

    for package in load_stack(stack).packages:
        key, new = mirror.fetch(package.source, package.name)
        if key:
            click.echo(f"{'fetched' if new else 'present'}  {package.name}: {describe(key)}")
    click.echo(f"source mirror: {mirror.root}/")

"""Every option, declared once.

Each group is a frozen, keyword-only dataclass; each field carries its command-line spelling
(`Flag`). From these declarations come the click options (`pmpm.cli.params`), the API's
keywords (the dataclasses themselves), the replay key (`key`) and the command line of a Slurm
or CI job (`to_argv`), so a new option reaches all four or none. A negated flag (`--no-test`)
sets its field to False; a repeatable one is a tuple.

This module imports nothing heavy: every CLI start-up reads it.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

ENGINES = ("rattler-build", "conda-build", "rattler-build-exe")
SOLVERS = ("classic", "libmamba")
DEFAULT_CHANNEL = Path("local-channel")
DEFAULT_RECIPES = Path("recipes")
STATE_DIR = Path(".pmpm")
S3_SCHEME = "s3://"
S3_URL_RE = re.compile(r"s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/\S*)?")  # a bucket name as S3 allows it


def is_s3(value: str | Path) -> bool:
    """Whether a channel or cache value names an S3 channel rather than a directory."""
    return str(value).startswith(S3_SCHEME)


def s3_url(value: str) -> str:
    """`value` as an S3 channel URL, s3://BUCKET[/PREFIX] without a trailing slash; ValueError if it is not one."""
    if not S3_URL_RE.fullmatch(value) or "//" in value.removeprefix(S3_SCHEME):
        raise ValueError(f"{value!r} is not an S3 channel URL (write s3://BUCKET or s3://BUCKET/PREFIX)")
    return value.rstrip("/")


def path_or_s3(value: str | Path) -> Path | str:
    """A channel or cache location as given on the command line: an s3:// URL kept as written
    (a Path would fold its `//`), else a directory. `s3:/bucket` is a mistyped URL, not a
    directory to build into (a directory of that name is `./s3:/bucket`)."""
    text = str(value)
    if is_s3(text):
        return text
    if text.lower().startswith("s3:"):
        raise ValueError(f"{text!r} is not an S3 channel URL (write s3://BUCKET or s3://BUCKET/PREFIX)")
    return Path(value)


@dataclass(frozen=True)
class Flag:
    """How one field is spelled on the command line."""

    names: tuple[str, ...]  # e.g. ("-c", "--upstream"); the last is the long form
    help: str
    metavar: str | None = None
    envvar: str | None = None
    choices: tuple[str, ...] | None = None
    negated: bool = False  # `--no-test` stores False into `test`
    minimum: int | None = None
    path: bool = False  # a filesystem path (made absolute for jobs and the replay key)
    url: bool = False  # a path, or an s3:// URL kept as written
    exists: bool = False  # a path that must exist (checked while parsing)
    required: bool = False
    hidden: bool = False  # internal: what each Slurm or CI job is told
    nargs: int = 1

    @property
    def long(self) -> str:
        return self.names[-1]


def option(default: Any, *names: str, help: str, **flag: Any) -> Any:
    return field(default=default, metadata={"flag": Flag(tuple(names), help, **flag)})


VARIANT_HELP = (
    "Override a variant key, e.g. march=znver3; KEY=a,b builds a matrix. Repeatable. An unknown "
    "KEY is an error: declare keys of your own in the stack's _pmpm.variant_keys."
)
CONFIG_HELP = "Extra conda_build_config.yaml, merged after the defaults and the stack's. Repeatable."
MIRROR_HELP = (
    "Take every remote source from this mirror (filled by `pmpm fetch`), never from upstream; env PMPM_SOURCE_MIRROR."
)


@dataclass(frozen=True, kw_only=True)
class RecipeOptions:
    """What decides the recipes: variant overrides, extra configs, where sources come from."""

    variants: tuple[str, ...] = option((), "--variant", help=VARIANT_HELP, metavar="KEY=VALUE")
    variant_configs: tuple[Path, ...] = option((), "-m", "--variant-config", help=CONFIG_HELP, path=True)
    source_mirror: str | None = option(
        None, "--source-mirror", help=MIRROR_HELP, metavar="DIR|URL", envvar="PMPM_SOURCE_MIRROR"
    )


@dataclass(frozen=True, kw_only=True)
class ChannelOptions:
    """Where packages are published and looked up."""

    channel: Path | str = option(
        DEFAULT_CHANNEL,
        "--channel",
        path=True,
        url=True,
        metavar="DIR|s3://BUCKET/PREFIX",
        help="The local channel: packages are published into it and it is searched first. An S3 channel "
        "(s3://BUCKET/PREFIX) is a team channel: builds publish into a mirror of it in pmpm's user cache and "
        "push there (see --cache); create, lock and bundle read it.",
    )
    upstream: tuple[str, ...] = option(
        (),
        "-c",
        "--upstream",
        metavar="CHANNEL",
        help="Extra channel (name, URL or directory), searched after the local one. Repeatable. A channel, "
        "index or source that gives no answer for $PMPM_NETWORK_TIMEOUT seconds (default 60) fails the run.",
    )
    override_channels: bool = option(
        False, "--override-channels", help="Ignore the stack's channels; use only the local channel and -c."
    )
    offline: bool = option(
        False,
        "--offline",
        help="No network: only file:// channels and directories, and sources "
        "that are local or already in pmpm's cache (others fail at once, named).",
    )


@dataclass(frozen=True, kw_only=True)
class BuildSettings:
    """How the builds run."""

    keep_going: bool = option(False, "-k", "--keep-going", help="Continue past a failure; its dependents are skipped.")
    jobs: int = option(1, "-j", "--jobs", minimum=1, help="Build up to N independent packages at once.")
    test: bool = option(True, "--no-test", negated=True, help="Skip the recipes' tests.")
    dirty: bool = option(
        False,
        "--dirty",
        help="Reuse each package's previous build tree: after a small source edit only what changed recompiles.",
    )
    force: bool = option(False, "--force", help="Rebuild packages even when they are up to date.")
    ccache: bool = option(
        True,
        "--no-ccache",
        negated=True,
        envvar="PMPM_NO_CCACHE",
        help="Compile without pmpm's compiler cache (ccache, under pmpm's user cache; used when "
        "installed); env PMPM_NO_CCACHE=1.",
    )
    cache: tuple[str, ...] = option(
        (),
        "--cache",
        metavar="s3://BUCKET/PREFIX",
        help="A binary cache and team channel in S3 (or MinIO/Ceph via AWS_ENDPOINT_URL): a package built "
        "elsewhere from the same inputs is downloaded instead of built, and what is built is pushed there. "
        "Credentials from the standard AWS variables or AWS_PROFILE. Repeatable.",
    )
    cache_from: tuple[str, ...] = option(
        (), "--cache-from", metavar="s3://BUCKET/PREFIX", help="A cache read but never written. Repeatable."
    )


@dataclass(frozen=True, kw_only=True)
class EngineOptions:
    """Who builds."""

    engine: str = option(
        "rattler-build",
        "--engine",
        choices=ENGINES,
        help="Who builds: rattler-build (py-rattler-build, in process), conda-build (your `conda "
        "build`, from $CONDA_EXE or PATH) or rattler-build-exe (a rattler-build executable on "
        "PATH).",
    )
    solver: str | None = option(
        None,
        "--solver",
        choices=SOLVERS,
        help="conda-build's solver (--engine conda-build); libmamba needs "
        "conda-libmamba-solver, the supported successor of boa's archived `conda "
        "mambabuild`.",
    )


@dataclass(frozen=True, kw_only=True)
class BuildOptions:
    """Everything `pmpm build` is told besides its targets: channels, settings and engine."""

    channels: ChannelOptions = ChannelOptions()
    settings: BuildSettings = BuildSettings()
    engine: EngineOptions = EngineOptions()
    state_dir: Path = STATE_DIR

    @classmethod
    def of(cls, **keywords: Any) -> "BuildOptions":
        """From flat keywords, each a field of one group: `BuildOptions.of(jobs=2, force=True)`."""
        groups = {"channels": ChannelOptions, "settings": BuildSettings, "engine": EngineOptions}
        taken: dict[str, Any] = {}
        for name, group in groups.items():
            mine = {f.name: keywords.pop(f.name) for f in dataclasses.fields(group) if f.name in keywords}
            taken[name] = group(**mine)
        return cls(**taken, **keywords)

    def replace(self, **keywords: Any) -> "BuildOptions":
        """A copy with some flat keywords changed (`options.replace(force=True)`)."""
        flat = {
            f.name: getattr(group, f.name)
            for group in (self.channels, self.settings, self.engine)
            for f in dataclasses.fields(group)
        }
        state_dir = keywords.pop("state_dir", self.state_dir)  # the one field outside the groups
        return BuildOptions.of(**{**flat, **keywords}, state_dir=state_dir)


def flags(group: type) -> Iterator[tuple[dataclasses.Field, Flag]]:
    """Each field of an option group with its command-line spelling."""
    for f in dataclasses.fields(group):
        if "flag" in f.metadata:
            yield f, f.metadata["flag"]


def from_params(group: type, params: dict[str, Any]) -> Any:
    """The group built from parsed command-line parameters (click's, keyed by field name)."""
    values = {}
    for f, flag in flags(group):
        if f.name not in params:
            continue
        value = params[f.name]
        values[f.name] = tuple(value or ()) if isinstance(f.default, tuple) else value
    return group(**values)


def to_argv(options: Any, *, absolute: bool = True) -> list[str]:
    """The command-line arguments that reproduce `options` (defaults left out), e.g. for a Slurm
    job: `parse(to_argv(o)) == o` for every group (tested). Paths are made absolute: a job runs
    from another directory, or another node."""
    argv: list[str] = []
    for f, flag in flags(type(options)):
        value = getattr(options, f.name)
        if value == f.default:
            continue
        if flag.negated or isinstance(value, bool):
            argv.append(flag.long)
        elif isinstance(value, tuple):
            argv += [f"{flag.long}={_text(v, flag, absolute)}" for v in value]
        else:
            argv.append(f"{flag.long}={_text(value, flag, absolute)}")
    return argv


def _text(value: Any, flag: Flag, absolute: bool) -> str:
    if flag.url and isinstance(value, str) and is_s3(value):
        return value
    return str(Path(value).absolute()) if flag.path and absolute else str(value)


def key(*groups: Any) -> dict[str, Any]:
    """What identifies these options in a replay record: every field, paths absolute."""
    out: dict[str, Any] = {}
    for options in groups:
        for f, flag in flags(type(options)):
            value = getattr(options, f.name)
            if flag.path:
                value = [_text(v, flag, True) for v in value] if isinstance(value, tuple) else _text(value, flag, True)
            out[f"{type(options).__name__}.{f.name}"] = value
    return out

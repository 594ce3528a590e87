"""The options of python-pmpm's commands and `pmpm fetch` (`pmpm.cli.legacy`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..options import MIRROR_HELP, option


@dataclass(frozen=True, kw_only=True)
class Original:
    """python-pmpm's options, mapped onto pmpm's."""

    stack: Path = option(None, "--file", path=True, required=True, help="The stack file.")
    arch: str | None = option(None, "--arch", help="The march variant (e.g. x86-64-v3, znver3, native).")
    tune: str | None = option(None, "--tune", help="The mtune variant (default: the march's own).")
    skip_test: bool = option(False, "--skip-test", help="Skip the recipes' tests (pmpm build --no-test).")
    fast_update: bool = option(False, "--fast-update", help="Reuse previous build trees (pmpm build --dirty).")
    source_mirror: str | None = option(
        None, "--source-mirror", envvar="PMPM_SOURCE_MIRROR", metavar="DIR|URL", help=MIRROR_HELP
    )
    jobs: int = option(1, "-j", "--jobs", minimum=1, help="Parallel builds.")


@dataclass(frozen=True, kw_only=True)
class Fetching:
    to: Path = option(
        Path("source-mirror"),
        "--to",
        path=True,
        envvar="PMPM_SOURCE_MIRROR",
        help="The mirror directory (env PMPM_SOURCE_MIRROR).",
    )
    add: tuple[str, str] | None = option(
        None,
        "--add",
        nargs=2,
        metavar="URL[@REV] FILE",
        help="Import FILE, a tarball of git repository URL at REV (or, for an archive URL without @REV, "
        "the file of that `url:` source), instead of fetching a stack.",
    )

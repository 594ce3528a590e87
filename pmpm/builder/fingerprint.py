"""A job's fingerprint: what decides its package. The channel records each published package's
fingerprint; a job whose fingerprint matches the channel's record is up to date."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..files import sha256_file
from .plan import Job
from .rebuild import fingerprint, resolved_environment, tree_digest


class Channel(Protocol):
    path: Path

    def fingerprints(self) -> dict[str, str]: ...


class Fingerprints:
    """Fingerprints of jobs built through `channels` by the engine named `engine`: recipe, variant,
    source trees and patches, the build/host environments resolved now, the engine. Every variant
    of a package shares its source tree, digested once."""

    def __init__(self, channels: list[str], engine: str):
        self.channels, self.engine = channels, engine
        self.tree_digests: dict[Path, str] = {}  # the source trees read (the no-op replay re-checks them)

    def of(self, job: Job) -> str:
        specs = [*job.planned.requirements["build"], *job.planned.requirements["host"]]
        digests = [self.tree(path) for path in job.planned.source_paths]
        digests += [sha256_file(p) for p in job.planned.patch_files if p.is_file()]
        return fingerprint(
            recipe_text=job.recipe.read_text(),
            variant=job.variant,
            source_digests=digests,
            environment=resolved_environment(specs, self.channels),
            engine=self.engine,
        )

    def tree(self, path: Path) -> str:
        if path not in self.tree_digests:
            self.tree_digests[path] = tree_digest(path)
        return self.tree_digests[path]

    def up_to_date(self, job: Job, channel: Channel, digest: str | None = None) -> bool:
        """Whether `channel` holds `job`'s package built from exactly these inputs."""
        digest = digest or self.of(job)
        return (channel.path / job.channel_key).is_file() and channel.fingerprints().get(job.channel_key) == digest

"""The building blocks of the stack model (`model`): a strict base, field-level errors, checked
value types, and the small entries of the `_pmpm:` section."""

from __future__ import annotations

import re
from typing import Annotated

import rattler
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ..options import s3_url


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FieldError(ValueError):
    """A model-level check that blames one field, so the error points at that line."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def check_spec(spec: str) -> str:
    try:
        rattler.MatchSpec(spec)
    except Exception:
        raise ValueError(f"invalid conda spec {spec!r} (write e.g. 'zlib >=1.2' or 'numpy 2.*')") from None
    return spec


Spec = Annotated[str, AfterValidator(check_spec)]
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def one_line(value: str) -> str:  # in a job script, `partition: "short\n#SBATCH ..."` would add directives
    if found := CONTROL_RE.search(value):
        why = "a value that reaches a command line or a job script must be one line of printable text"
        raise ValueError(f"{value!r} contains the control character {found.group()!r}; {why}")
    return value


Line = Annotated[str, AfterValidator(one_line)]  # a value that reaches a command line or a job script


S3Url = Annotated[str, AfterValidator(s3_url)]


class SlurmTarget(StrictModel):
    """Where one CPU target's Slurm jobs run (`_pmpm.slurm.<march>`); `--sbatch-arg` adds anything else."""

    constraint: Line | None = None
    partition: Line | None = None
    account: Line | None = None
    qos: Line | None = None
    time: Line | None = None
    cpus_per_task: int | None = Field(None, alias="cpus-per-task", ge=1)
    mem: Line | None = None

    def sbatch_args(self) -> list[str]:
        return [f"--{name.replace('_', '-')}={value}" for name, value in self.model_dump().items() if value is not None]


class PypiEntry(StrictModel):
    """`_pmpm.pypi: [{name: aiohttp==3.14.5, wheel: true}]`: a requirement, its wheel taken as is."""

    name: Line
    wheel: bool = False


class CacheEntry(StrictModel):
    """`_pmpm.cache: [s3://team/cache, {url: s3://center/cache, read_only: true}]`: binary caches
    (as `pmpm build --cache` and `--cache-from`)."""

    url: S3Url
    read_only: bool = False

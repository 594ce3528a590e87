"""`pmpm ci`: a stack's units (see `units`) as a GitHub Actions or GitLab CI workflow.

One CI job per package × variant runs `pmpm build STACK --only-package NAME --variant …`;
`needs:` are its local dependencies (GitLab also gets one stage per dependency level).
The channel travels between jobs as artifacts (each job uploads the channel it built on,
dependents download their needs' channels into theirs; pmpm re-indexes a merged channel),
a per-unit cache keeps the channel with its fingerprints across runs so unchanged packages
are "up to date", and a final `channel` job publishes the merged, indexed channel.

With an S3 channel (`pmpm ci --channel s3://…`) there are no artifacts: every job builds with
`--channel s3://…`, takes what it stands on from the bucket and pushes what it builds, with the
AWS credentials from the CI's secrets (GitHub) or masked variables (GitLab).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from ..options import DEFAULT_CHANNEL
from .units import Invocation, Unit

CHANNEL = str(DEFAULT_CHANNEL)
INDEX = f"pmpm index {CHANNEL}"
DEFAULT_OUTPUT = {"github": Path(".github/workflows/pmpm.yml"), "gitlab": Path(".gitlab-ci.yml")}
# What each job of an S3 workflow is given, from the repository's secrets (GitHub Actions).
AWS_SECRETS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")


def levels(units: list[Unit]) -> dict[str, int]:
    """Dependency level of each unit (0: needs nothing local)."""
    level: dict[str, int] = {}
    for unit in units:  # dependencies first
        level[unit.key] = 1 + max((level[u.key] for u in unit.needs), default=-1)
    return level


def _command(unit: Unit, invocation: Invocation) -> str:
    import shlex

    return shlex.join(invocation.argv(unit, program=["pmpm"]))


def github(units: list[Unit], invocation: Invocation, name: str, install: str, s3: bool = False) -> dict[str, Any]:
    if s3:
        return _github_s3(units, invocation, name, install)
    jobs: dict[str, Any] = {}
    for unit in units:
        steps: list[dict[str, Any]] = [
            {"uses": "actions/checkout@v4"},
            {"uses": "actions/setup-python@v5", "with": {"python-version": "3.12"}},
            {"run": install},
            {
                "uses": "actions/cache@v4",
                "with": {
                    "path": CHANNEL,
                    "key": f"pmpm-{unit.key}-${{{{ github.sha }}}}",
                    "restore-keys": f"pmpm-{unit.key}-",
                },
            },
        ]
        steps += [
            {"uses": "actions/download-artifact@v4", "with": {"name": f"channel-{u.key}", "path": CHANNEL}}
            for u in unit.needs
        ]
        steps += [
            {"name": f"pmpm build {unit.label}", "run": _command(unit, invocation)},
            {
                "uses": "actions/upload-artifact@v4",
                "with": {"name": f"channel-{unit.key}", "path": f"{CHANNEL}/", "if-no-files-found": "error"},
            },
        ]
        job: dict[str, Any] = {"name": unit.label, "runs-on": "ubuntu-latest"}
        if unit.needs:
            job["needs"] = [u.key for u in unit.needs]
        jobs[unit.key] = {**job, "steps": steps}
    publish = [
        {"uses": "actions/checkout@v4"},
        {"uses": "actions/setup-python@v5", "with": {"python-version": "3.12"}},
        {"run": install},
        {
            "uses": "actions/download-artifact@v4",
            "with": {"pattern": "channel-*", "merge-multiple": True, "path": CHANNEL},
        },
        {"name": "index the merged channel", "run": INDEX},
        {"uses": "actions/upload-artifact@v4", "with": {"name": "channel", "path": f"{CHANNEL}/"}},
    ]
    jobs["channel"] = {
        "name": "publish the channel",
        "runs-on": "ubuntu-latest",
        "needs": [u.key for u in units],
        "steps": publish,
    }
    return {"name": f"pmpm {name}", "on": {"push": None, "workflow_dispatch": None}, "jobs": jobs}


def _github_s3(units: list[Unit], invocation: Invocation, name: str, install: str) -> dict[str, Any]:
    env = {var: f"${{{{ secrets.{var} }}}}" for var in AWS_SECRETS}
    jobs: dict[str, Any] = {}
    for unit in units:
        steps = [
            {"uses": "actions/checkout@v4"},
            {"uses": "actions/setup-python@v5", "with": {"python-version": "3.12"}},
            {"run": install},
            {"name": f"pmpm build {unit.label}", "run": _command(unit, invocation), "env": env},
        ]
        job: dict[str, Any] = {"name": unit.label, "runs-on": "ubuntu-latest"}
        if unit.needs:
            job["needs"] = [u.key for u in unit.needs]
        jobs[unit.key] = {**job, "steps": steps}
    return {"name": f"pmpm {name}", "on": {"push": None, "workflow_dispatch": None}, "jobs": jobs}


def gitlab(units: list[Unit], invocation: Invocation, name: str, install: str, s3: bool = False) -> dict[str, Any]:
    level = levels(units)
    stages = [f"level-{n}" for n in range(max(level.values(), default=0) + 1)] + ([] if s3 else ["publish"])
    doc: dict[str, Any] = {"stages": stages, "default": {"image": "python:3.12", "before_script": [install]}}
    for unit in units:
        doc[unit.key] = {
            "stage": f"level-{level[unit.key]}",
            "needs": [{"job": u.key, "artifacts": not s3} for u in unit.needs],
            "script": [_command(unit, invocation)],
        }
        if not s3:  # the AWS variables come from the project's masked CI/CD variables
            doc[unit.key]["cache"] = {"key": f"pmpm-{unit.key}", "paths": [f"{CHANNEL}/"]}
            doc[unit.key]["artifacts"] = {"paths": [f"{CHANNEL}/"], "expire_in": "1 week"}
    if s3:
        return doc
    doc["channel"] = {
        "stage": "publish",
        "needs": [{"job": u.key, "artifacts": True} for u in units],
        "script": [INDEX],
        "artifacts": {"name": f"{name}-channel", "paths": [f"{CHANNEL}/"]},
    }
    return doc


def render(units: list[Unit], invocation: Invocation, provider: str, name: str, install: str, s3: bool = False) -> str:
    """The workflow as YAML text (`s3`: the jobs share an S3 channel, not artifacts)."""
    doc = (github if provider == "github" else gitlab)(units, invocation, name, install, s3)
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    out = io.StringIO()
    out.write(
        f"# Written by `pmpm ci --{provider}`: one job per package × variant. Re-run pmpm ci after editing the stack.\n"
    )
    yaml.dump(doc, out)
    return out.getvalue()

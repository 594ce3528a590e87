"""`pmpm ci`: workflows validated against the published schemas (check-jsonschema's vendored
GitHub workflow and GitLab CI schemas), and the GitHub jobs' own commands run here in
`needs:` order with artifacts passed as the workflow passes them."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import STACKS, pmpm, repodata
from ruamel.yaml import YAML
from s3_server import s3_server  # noqa: F401  (the session's server)

SCHEMAS = {"github": "vendor.github-workflows", "gitlab": "vendor.gitlab-ci"}


def _repo(root: Path) -> Path:
    shutil.copytree(STACKS / "demo", root / "demo")
    shutil.copy(STACKS / "demo.yml", root / "demo.yml")
    return root


def _validate(provider: str, path: Path) -> subprocess.CompletedProcess:
    tool = Path(sys.executable).with_name("check-jsonschema")
    return subprocess.run([tool, "--builtin-schema", SCHEMAS[provider], path], capture_output=True, text=True)


@pytest.fixture(scope="module")
def workflows(tmp_path_factory):
    root = _repo(tmp_path_factory.mktemp("ci"))
    out = {}
    for provider in ("github", "gitlab"):
        pmpm("ci", "demo.yml", f"--{provider}", "--variant", "march=x86-64,x86-64-v3", cwd=root)
        out[provider] = root / (".github/workflows/pmpm.yml" if provider == "github" else ".gitlab-ci.yml")
    return root, out


@pytest.mark.parametrize("provider", ["github", "gitlab"])
def test_workflow_passes_the_published_schema_and_a_broken_one_does_not(workflows, provider, tmp_path):
    _, paths = workflows
    proc = _validate(provider, paths[provider])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = YAML().load(paths[provider].read_text())
    if provider == "github":
        del doc["jobs"]["libkern-x86-64"]["runs-on"]
    else:
        doc["libkern-x86-64"]["needs"] = "libkern"  # needs: takes a list
    broken = tmp_path / "broken.yml"
    YAML().dump(doc, broken)
    assert _validate(provider, broken).returncode != 0


def test_jobs_needs_and_levels(workflows):
    _, paths = workflows
    gh = YAML().load(paths["github"].read_text())["jobs"]
    assert set(gh) == {
        "x86_64-microarch-level",
        "libkern-x86-64",
        "libkern-x86-64-v3",
        "kern-cli-x86-64",
        "kern-cli-x86-64-v3",
        "channel",
    }
    assert gh["kern-cli-x86-64-v3"]["needs"] == ["x86_64-microarch-level", "libkern-x86-64-v3"]
    assert "needs" not in gh["libkern-x86-64"]
    gl = YAML().load(paths["gitlab"].read_text())
    assert gl["kern-cli-x86-64-v3"]["stage"] == "level-2" and gl["libkern-x86-64"]["stage"] == "level-0"
    assert gl["channel"]["artifacts"]["paths"] == ["local-channel/"]


@pytest.mark.slow
def test_github_jobs_run_here_in_needs_order_build_the_channel(workflows, tmp_path):
    """Each job in a fresh copy of the repository: its needs' artifacts downloaded into
    local-channel, its run: commands, its local-channel kept as its artifact."""
    root, paths = workflows
    jobs = YAML().load(paths["github"].read_text())["jobs"]
    artifacts: dict[str, Path] = {}
    for key, job in jobs.items():
        work = _repo(tmp_path / key)
        names = [
            s["with"]["name"]
            for s in job["steps"]
            if s.get("uses", "").startswith("actions/download-artifact") and "name" in s["with"]
        ]
        if key == "channel":
            names = list(artifacts)  # pattern: channel-*
        for name in names:
            shutil.copytree(artifacts[name], work / "local-channel", dirs_exist_ok=True)
        for step in job["steps"]:
            if "run" in step and "pip install" not in step["run"]:
                argv = shlex.split(step["run"])
                argv = [sys.executable, "-m", "pmpm", *argv[1:]] if argv[0] == "pmpm" else [sys.executable, *argv[1:]]
                subprocess.run(argv, cwd=work, check=True, capture_output=True, text=True)
        artifacts[f"channel-{key}"] = work / "local-channel"
    records = repodata(artifacts["channel-channel"])
    built = sorted(fn for fn, r in records.items() if r["name"] in ("libkern", "kern-cli"))
    assert len(built) == 4 and sum("_x86_64_v3_" in fn for fn in built) == 2, built


@pytest.mark.slow
@pytest.mark.parametrize("provider", ["github", "gitlab"])
def test_an_s3_workflow_passes_the_schema_and_its_jobs_link_through_the_bucket(s3_server, provider, tmp_path):  # noqa: F811
    """`pmpm ci --channel s3://…`: no artifacts; each job, run here in needs order on a machine
    of its own (fresh copy, fresh user cache) with the secrets as environment, takes what it
    stands on from the bucket; the result is created from the bucket on yet another machine."""
    url = f"s3://{s3_server.bucket()}/ci"
    root = _repo(tmp_path / "repo")
    pmpm("ci", "demo.yml", f"--{provider}", "--channel", url, "--variant", "march=x86-64,x86-64-v3", cwd=root)
    path = root / (".github/workflows/pmpm.yml" if provider == "github" else ".gitlab-ci.yml")
    proc = _validate(provider, path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = path.read_text()
    assert "local-channel" not in text and "-artifact@" not in text and "artifacts: true" not in text
    assert f"--channel={url}" in text
    if provider == "gitlab":
        return
    jobs = YAML().load(text)["jobs"]
    assert jobs["libkern-x86-64"]["steps"][-1]["env"]["AWS_SECRET_ACCESS_KEY"] == "${{ secrets.AWS_SECRET_ACCESS_KEY }}"
    done: set[str] = set()
    for key, job in jobs.items():  # written in needs order
        assert set(job.get("needs", [])) <= done
        work = _repo(tmp_path / key)
        env = {**s3_server.env, "XDG_CACHE_HOME": str(work / "user-cache")}
        for step in job["steps"]:
            if "run" in step and "pip install" not in step["run"]:
                argv = shlex.split(step["run"])
                pmpm(*argv[1:], cwd=work, env=env)
        done.add(key)
    laptop = _repo(tmp_path / "laptop")
    env = {**s3_server.env, "XDG_CACHE_HOME": str(laptop / "user-cache"), "CONDA_OVERRIDE_ARCHSPEC": "x86_64_v3"}
    created = pmpm("create", "demo.yml", "-p", "env", "--channel", url, cwd=laptop, env=env)
    assert f"from {url}" in created.stdout
    names = {
        p.name.rsplit("-", 2)[0] + "-" + p.name.rsplit("-", 2)[2]
        for p in (laptop / "env" / "conda-meta").glob("*.json")
    }
    assert any(n.startswith("libkern-") and "x86_64_v3" in n for n in names), names

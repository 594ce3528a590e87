"""A team channel and binary cache on S3 (`pmpm build --cache s3://…`), against a real
S3-compatible server on 127.0.0.1 (moto's): build once, reuse on a second machine, never trust a
cache entry that is not what its record promises, concurrent publishers, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import pmpm
from s3_server import s3_server  # noqa: F401  (the session's server)


def _machine(root: Path) -> Path:
    """A fresh directory with the starter stack, and a user cache of its own (another machine)."""
    root.mkdir()
    pmpm("init", ".", cwd=root)
    return root


def _env(s3_server, machine: Path, **extra: str) -> dict[str, str]:  # noqa: F811
    return {**s3_server.env, "XDG_CACHE_HOME": str(machine / "user-cache"), **extra}


def _statuses(proc: subprocess.CompletedProcess) -> dict[str, str]:
    report = json.loads(proc.stdout)
    return {p["name"]: p["status"] for p in report["packages"] if not p["name"].startswith("_")}


def _listed(s3_server, bucket: str, prefix: str = "ch") -> list[str]:  # noqa: F811
    body = s3_server.client().get_object(Bucket=bucket, Key=f"{prefix}/linux-64/repodata.json")["Body"].read()
    return sorted(json.loads(body)["packages.conda"])


def test_a_second_machine_builds_nothing_and_gets_the_same_packages(s3_server, tmp_path):  # noqa: F811
    cache = f"s3://{s3_server.bucket()}/ch"
    first = _machine(tmp_path / "first")
    built = pmpm("build", "stack.yml", "--cache", cache, "--json", cwd=first, env=_env(s3_server, first))
    assert _statuses(built) == {"libkern": "built", "kern-cli": "built"}
    # The cache is a conda channel: indexed by py-rattler, every package listed.
    bucket = cache.split("/")[2]
    assert [n.split("-0.1.0-")[0] for n in _listed(s3_server, bucket)] == ["kern-cli", "libkern"]

    second = _machine(tmp_path / "second")
    again = pmpm("build", "stack.yml", "--cache", cache, "--json", cwd=second, env=_env(s3_server, second))
    assert _statuses(again) == {"libkern": "from cache", "kern-cli": "from cache"}
    assert not (second / ".pmpm" / "logs").exists() or not list((second / ".pmpm" / "logs").glob("libkern*"))
    for name in ("libkern", "kern-cli"):
        mine = sorted((first / "local-channel" / "linux-64").glob(f"{name}-*.conda"))
        theirs = sorted((second / "local-channel" / "linux-64").glob(f"{name}-*.conda"))
        assert [p.read_bytes() for p in mine] == [p.read_bytes() for p in theirs]
    # Published into the local channel with its fingerprint: the next run is up to date, offline of S3.
    third = pmpm("build", "stack.yml", "--json", cwd=second, env=_env(s3_server, second))
    assert set(_statuses(third).values()) == {"up to date"}
    pmpm("create", "stack.yml", "-p", "env", cwd=second, env=_env(s3_server, second))
    run = subprocess.run([second / "env" / "bin" / "kern", "1000"], capture_output=True, text=True, check=True)
    assert run.stdout.strip()


def test_a_cache_entry_that_is_not_what_its_record_says_is_rebuilt(s3_server, tmp_path):  # noqa: F811
    bucket = s3_server.bucket()
    first = _machine(tmp_path / "first")
    pmpm("build", "stack.yml", "--cache", f"s3://{bucket}/ch", cwd=first, env=_env(s3_server, first))
    client = s3_server.client()
    key = next(k for k in (o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]) if "/libkern-" in k)
    client.put_object(Bucket=bucket, Key=key, Body=b"not the package the record names")
    second = _machine(tmp_path / "second")
    proc = pmpm("build", "stack.yml", "--cache", f"s3://{bucket}/ch", "--json", cwd=second, env=_env(s3_server, second))
    # libkern is rebuilt; so is kern-cli, whose host environment now holds another libkern file.
    assert _statuses(proc) == {"libkern": "built", "kern-cli": "built"}
    assert f"s3://{bucket}/ch/{key.removeprefix('ch/')}: sha256 " in proc.stderr
    assert "is not the" in proc.stderr and "building it instead" in proc.stderr
    assert "kept theirs" not in proc.stderr
    # The rebuilds replaced the bad file, the stale kern-cli and their records: a third machine
    # takes both from the cache.
    third = _machine(tmp_path / "third")
    proc = pmpm("build", "stack.yml", "--cache", f"s3://{bucket}/ch", "--json", cwd=third, env=_env(s3_server, third))
    assert _statuses(proc) == {"libkern": "from cache", "kern-cli": "from cache"}, proc.stderr


def test_a_read_only_cache_is_read_and_never_written(s3_server, tmp_path):  # noqa: F811
    shared, mine = s3_server.bucket(), s3_server.bucket()
    first = _machine(tmp_path / "first")
    pmpm("build", "stack.yml", "--cache", f"s3://{shared}", cwd=first, env=_env(s3_server, first))
    before = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=shared)["Contents"]]
    second = _machine(tmp_path / "second")
    args = ["--cache-from", f"s3://{shared}", "--cache", f"s3://{mine}/team", "--json"]
    proc = pmpm("build", "stack.yml", *args, cwd=second, env=_env(s3_server, second))
    assert _statuses(proc) == {"libkern": "from cache", "kern-cli": "from cache"}
    assert [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=shared)["Contents"]] == before
    # The writable cache gets what came from the read-only one.
    assert len(_listed(s3_server, mine, "team")) == 2


@pytest.mark.parametrize(
    "case, expected",
    [
        ("no bucket", "no such bucket 'nowhere'"),
        ("wrong endpoint", "no answer from http://127.0.0.1:9"),
        ("no credentials", "no AWS credentials found (set AWS_PROFILE, or AWS_ACCESS_KEY_ID"),
        ("not a URL", "is not an S3 channel URL"),
    ],
)
def test_each_s3_mistake_is_one_line_and_builds_nothing(s3_server, tmp_path, case, expected):  # noqa: F811
    bucket = s3_server.bucket()
    machine = _machine(tmp_path / "m")
    url, env = f"s3://{bucket}/ch", _env(s3_server, machine, PMPM_NETWORK_TIMEOUT="2")
    if case == "no bucket":
        url = "s3://nowhere/ch"
    elif case == "wrong endpoint":
        env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
    elif case == "no credentials":  # (moto's server accepts any key, so a wrong one cannot be shown here)
        env.update(AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="", AWS_EC2_METADATA_DISABLED="true")
    elif case == "not a URL":
        url = "s3:/bucket"
    proc = pmpm("build", "stack.yml", "--cache", url, cwd=machine, env=env, check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == (2 if case == "not a URL" else 1), proc.stderr
    assert expected in lines[-1] and len(lines[-1]) < 400, lines
    assert "Traceback" not in proc.stderr and "testing" not in proc.stderr  # no secret printed
    assert not list((machine / "local-channel").glob("*/libkern-*.conda"))  # nothing built


PUBLISHER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from pmpm.channel.s3 import S3Channel
    from pmpm.files import sha256_file
    url, index, *files = sys.argv[1:]
    channel = S3Channel(url)
    for path in map(Path, files):
        channel.upload(path, "noarch", "fp-" + path.name, sha256_file(path))
    if index == "kill":
        os._exit(9)  # as a publisher killed after its upload, before indexing
    channel.index()
    os._exit(0)  # as pmpm's CLI does: py-rattler's runtime can crash during interpreter teardown
    """
)


def _packages(tmp_path: Path, count: int) -> list[Path]:
    """`count` small distinct noarch packages, built once by pmpm."""
    lines = ["name: many", "channels: []", "dependencies: []", "_pmpm:", "  packages:"]
    for i in range(count):
        lines += [
            f"    - {{name: q{i:02d}, version: '1.0', source: {{path: .}}, kind: script, noarch: generic,",
            f"       script: ['mkdir -p $PREFIX/share && echo {i} > $PREFIX/share/q{i:02d}']}}",
        ]
    (tmp_path / "many.yml").write_text("\n".join(lines) + "\n")
    pmpm("build", "many.yml", "--no-test", "-j", "2", cwd=tmp_path)
    return sorted((tmp_path / "local-channel" / "noarch").glob("q*.conda"))


def test_concurrent_publishers_never_lose_a_package(s3_server, tmp_path):  # noqa: F811
    bucket = s3_server.bucket()
    url = f"s3://{bucket}/ch"
    packages = _packages(tmp_path, 40)
    env = {**os.environ, **s3_server.env}
    for round_ in range(10):  # 4 publishers at once, each with its own package, 10 rounds
        batch = packages[round_ * 4 : round_ * 4 + 4]
        procs = [
            subprocess.Popen([sys.executable, "-c", PUBLISHER, url, "index", str(p)], env=env, stderr=subprocess.PIPE)
            for p in batch
        ]
        for proc in procs:
            assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
        listed = json.loads(s3_server.client().get_object(Bucket=bucket, Key="ch/noarch/repodata.json")["Body"].read())[
            "packages.conda"
        ]
        assert sorted(listed) == sorted(p.name for p in packages[: round_ * 4 + 4]), f"round {round_}"


def test_a_publisher_killed_before_indexing_leaves_a_readable_channel_the_next_one_repairs(s3_server, tmp_path):  # noqa: F811
    bucket = s3_server.bucket()
    url = f"s3://{bucket}/ch"
    first, second, third = _packages(tmp_path, 3)
    env = {**os.environ, **s3_server.env}
    subprocess.run([sys.executable, "-c", PUBLISHER, url, "index", str(first)], env=env, check=True)
    killed = subprocess.run([sys.executable, "-c", PUBLISHER, url, "kill", str(second)], env=env)
    assert killed.returncode == 9
    data = json.loads(s3_server.client().get_object(Bucket=bucket, Key="ch/noarch/repodata.json")["Body"].read())
    assert sorted(data["packages.conda"]) == [first.name]  # readable, the unindexed file not listed yet
    subprocess.run([sys.executable, "-c", PUBLISHER, url, "index", str(third)], env=env, check=True)
    data = json.loads(s3_server.client().get_object(Bucket=bucket, Key="ch/noarch/repodata.json")["Body"].read())
    assert sorted(data["packages.conda"]) == sorted(p.name for p in (first, second, third))


def test_conda_clients_read_the_channel_through_s3(s3_server, tmp_path):  # noqa: F811
    """What mamba, pixi and conda do with `-c s3://…`: py-rattler solves and installs from it with
    the same AWS credentials, here through `pmpm create` of a plain environment.yml."""
    bucket = s3_server.bucket()
    first = _machine(tmp_path / "first")
    pmpm("build", "stack.yml", "--cache", f"s3://{bucket}/ch", cwd=first, env=_env(s3_server, first))
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "environment.yml").write_text(f"name: p\nchannels: [s3://{bucket}/ch]\ndependencies: [kern-cli]\n")
    env = _env(s3_server, plain)
    pmpm("create", "environment.yml", "-p", "env", cwd=plain, env=env)
    records = [json.loads(p.read_text()) for p in (plain / "env" / "conda-meta").glob("*.json")]
    assert sorted(r["name"] for r in records if not r["name"].startswith("_")) == ["kern-cli", "libkern"]
    assert all(r["url"].startswith(f"s3://{bucket}/ch/") for r in records)
    assert subprocess.run([plain / "env" / "bin" / "kern", "1000"], capture_output=True, check=True).stdout


def test_a_record_naming_a_path_outside_the_channel_is_ignored(s3_server, monkeypatch):  # noqa: F811
    from pmpm.channel.s3 import S3Channel

    bucket = s3_server.bucket()
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    evil = {"file": "../../../../tmp/evil.conda", "sha256": "0" * 64, "size": 1}
    for digest, body in (
        ("evil", json.dumps(evil)),
        ("broken", "{not json"),
        ("partial", '{"file": "noarch/a.conda"}'),
    ):
        s3_server.client().put_object(Bucket=bucket, Key=f"ch/.pmpm/fingerprints/{digest}.json", Body=body)
    said: list[str] = []
    channel = S3Channel(f"s3://{bucket}/ch", say=said.append)
    assert [channel.lookup(d) for d in ("evil", "broken", "partial")] == [None, None, None]
    assert said[0] == (
        f"s3://{bucket}/ch: the fingerprint record evil.json is not one pmpm wrote "
        "(it names '../../../../tmp/evil.conda'); ignored"
    )
    assert len(said) == 3 and all(line.endswith("; ignored") for line in said)


def test_an_s3_channel_links_machines_without_a_shared_filesystem(s3_server, tmp_path):  # noqa: F811
    """`--channel s3://…` as Slurm or CI jobs use it on separate machines: one builds libkern, the
    next builds kern-cli on top of it (taken from S3), and anyone creates, locks and bundles from it."""
    url = f"s3://{s3_server.bucket()}/team"
    one, two, three = (_machine(tmp_path / name) for name in ("node1", "node2", "laptop"))
    first = pmpm(
        "build", "stack.yml", "--channel", url, "--only-package", "libkern", "--json", cwd=one, env=_env(s3_server, one)
    )
    assert _statuses(first) == {"libkern": "built"}
    second = pmpm(
        "build",
        "stack.yml",
        "--channel",
        url,
        "--only-package",
        "kern-cli",
        "--json",
        cwd=two,
        env=_env(s3_server, two),
    )
    assert _statuses(second) == {"kern-cli": "built"}  # its host environment found libkern, from S3
    assert not (two / "local-channel").exists()  # the mirror is in pmpm's user cache
    env = _env(s3_server, three)
    created = pmpm("create", "stack.yml", "-p", "env", "--channel", url, cwd=three, env=env)
    assert f"from {url}" in created.stdout
    assert subprocess.run([three / "env" / "bin" / "kern", "1000"], capture_output=True, check=True).stdout
    pmpm("lock", "stack.yml", "--channel", url, cwd=three, env=env)
    assert f"{url}/linux-64/libkern-0.1.0-" in (three / "stack.lock").read_text()
    pmpm("create", "stack.yml", "-p", "env2", "--locked", "--channel", url, cwd=three, env=env)
    bundled = pmpm("bundle", "stack.yml", "-o", "bundle", cwd=three, env=env)
    assert "2 fetched" in bundled.stdout
    indexed = pmpm("index", url, cwd=three, env=env)
    assert indexed.stdout.strip() == f"indexed {url}: 2 packages"


def test_the_stack_names_its_caches(s3_server, tmp_path):  # noqa: F811
    """`_pmpm.cache:` in the stack, as --cache (a URL) and --cache-from ({url, read_only: true})."""
    bucket = s3_server.bucket()
    first, second = _machine(tmp_path / "first"), _machine(tmp_path / "second")
    with (first / "stack.yml").open("a") as stack:
        stack.write(f"  cache: [s3://{bucket}/team]\n")
    pmpm("build", "stack.yml", cwd=first, env=_env(s3_server, first))
    keys = sorted(o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"])
    with (second / "stack.yml").open("a") as stack:
        stack.write(f"  cache:\n    - {{url: s3://{bucket}/team, read_only: true}}\n")
    proc = pmpm("build", "stack.yml", "--json", cwd=second, env=_env(s3_server, second))
    assert _statuses(proc) == {"libkern": "from cache", "kern-cli": "from cache"}
    assert sorted(o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]) == keys


AUTH_SERVER = "from moto.server import ThreadedMotoServer; import sys, time\n" + (
    "s = ThreadedMotoServer(ip_address='127.0.0.1', port=int(sys.argv[1]), verbose=False); s.start()\n"
    "print('up', flush=True); time.sleep(3600)"
)


@pytest.fixture(scope="module")
def strict_s3(tmp_path_factory):
    """A second S3 server that checks credentials as AWS does (moto's IAM emulation), its first three
    calls free: a bucket, and a user with a key but no policy."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    server = subprocess.Popen(
        [sys.executable, "-c", AUTH_SERVER, str(port)], env=env, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout.readline().strip() == "up"
    import boto3

    endpoint = f"http://127.0.0.1:{port}"
    keys = {"aws_access_key_id": "admin", "aws_secret_access_key": "admin", "region_name": "us-east-1"}
    boto3.client("s3", endpoint_url=endpoint, **keys).create_bucket(Bucket="locked")
    iam = boto3.client("iam", endpoint_url=endpoint, **keys)
    iam.create_user(UserName="intern")
    key = iam.create_access_key(UserName="intern")["AccessKey"]
    yield endpoint, key["AccessKeyId"], key["SecretAccessKey"]
    server.kill()


@pytest.mark.parametrize(
    "who, expected",
    [
        ("intern", "access denied (the credentials need s3:ListBucket, s3:GetObject and s3:PutObject on the bucket"),
        ("stranger", "the endpoint refused these credentials (check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"),
    ],
)
def test_credentials_the_endpoint_refuses_are_one_line(strict_s3, tmp_path, who, expected):
    endpoint, key_id, secret = strict_s3
    machine = _machine(tmp_path / "m")
    keys = (key_id, secret) if who == "intern" else ("AKIANOBODY", "wrong")
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": keys[0], "AWS_SECRET_ACCESS_KEY": keys[1]}
    env.update(AWS_DEFAULT_REGION="us-east-1", XDG_CACHE_HOME=str(machine / "c"), AWS_CONFIG_FILE=os.devnull)
    proc = pmpm("build", "stack.yml", "--cache", "s3://locked/ch", cwd=machine, env=env, check=False)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"cannot open s3://locked/ch: {expected}"), lines
    assert secret not in proc.stderr and "wrong" not in proc.stderr
    assert not (machine / "local-channel").exists() or not list((machine / "local-channel").glob("*/libkern-*"))

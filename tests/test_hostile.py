"""Issue 10: never a traceback, never a lost package.

A corpus of bad command lines, variant files, channels and environment targets (beside
tests/bad_stacks/, the stack-file corpus), each with its exact one-line message and exit
code, checked to leave the channel as it was; then a channel with corrupt files, a full disk
(a 1 MiB tmpfs), Ctrl-C, `kill -9` at random moments of a build and of a create, and
concurrent builds of different stacks and copies of one stack from one working directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pmpm.channel.local import LocalChannel

REPO = Path(__file__).resolve().parent.parent


def pmpm(*args, cwd: Path, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pmpm", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def script_stack(path: Path, prefix: str, count: int, delay: float = 0, files: int = 1) -> Path:
    """`count` tiny noarch script packages prefix0.. (no CPU gate), each sleeping `delay` s."""
    packages = "".join(
        f"""\
    - name: {prefix}{i}
      version: "1.0"
      source: {{path: src}}
      kind: script
      noarch: generic
      script: ["sleep {delay} & wait", "mkdir -p $PREFIX/share/{prefix}{i} && for j in $(seq {files}); do echo {prefix}{i}.$j > $PREFIX/share/{prefix}{i}/$j; done"]
"""
        for i in range(count)
    )
    (path.parent / "src").mkdir(exist_ok=True)  # not `.`: the working directory changes under concurrent runs
    (path.parent / "src" / "README").write_text("source\n")
    path.write_text(f"name: {prefix}\nchannels: []\ndependencies: []\n_pmpm:\n  packages:\n{packages}")
    return path


def tree(path: Path) -> dict[str, str]:
    """Every file under `path` (the channel lock aside) with its sha256."""
    if not path.exists():
        return {}
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.name != "lock"
    }


def check_channel(channel: Path, killed: bool = False) -> dict[str, dict]:
    """Repodata parses, every listed file exists with its sha256, no temporary files. Right after a
    `killed` pmpm, a publisher's own `NAME.PID.part` may stay (kill -9 lands mid-copy, and
    nothing can remove it then): never listed, its process gone, and the next run removes it."""
    listed = {}
    for subdir in ("noarch", "linux-64"):
        data = json.loads((channel / subdir / "repodata.json").read_text())
        for key in ("packages", "packages.conda"):
            for name, record in data.get(key, {}).items():
                path = channel / subdir / name
                assert path.is_file(), f"{path} listed but missing"
                assert hashlib.sha256(path.read_bytes()).hexdigest() == record["sha256"], f"{path}: sha256 differs"
                listed[f"{subdir}/{name}"] = record
    leftovers = [p for p in channel.rglob("*") if p.name.endswith((".part", ".tmp")) and p.is_file()]
    if killed:
        leftovers = [p for p in leftovers if not _part_of_a_dead_process(p)]
    assert not leftovers, f"temporary files left: {leftovers}"
    return listed


def _part_of_a_dead_process(path: Path) -> bool:
    found = re.search(r"\.(\d+)\.part$", path.name)
    return found is not None and not Path(f"/proc/{found.group(1)}").exists()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A working directory with s.yml (two noarch packages) built into ./local-channel."""
    work = tmp_path_factory.mktemp("built")
    script_stack(work / "s.yml", "q", 2)
    result = pmpm("build", "s.yml", "--no-test", cwd=work)
    assert result.returncode == 0, result.stderr
    return work


# --- the corpus --------------------------------------------------------------------------


def _file(name: str, text: str | bytes):
    def setup(work: Path) -> None:
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())

    return setup


def _channel_file(rel: str, text: bytes):
    def setup(work: Path) -> None:
        target = work / "local-channel" / rel
        if target.is_dir():
            shutil.rmtree(target)
        target.write_bytes(text)

    return setup


NOTHING = None
NAME_RULE = (
    "an environment name is one word of letters, digits, '.', '_' and '-', not a path; use -p PATH for a directory"
)
CBC_FIX = "each key maps to a list of values; zip_keys is a list of lists"
CORPUS = [
    # (id, setup, argv, expected stderr line ({work} = the working directory), exit code)
    (
        "jobs-zero",
        NOTHING,
        ["build", "s.yml", "-j", "0"],
        "pmpm: Invalid value for '-j' / '--jobs': 0 is not in the range x>=1 (see `pmpm build --help`)",
        2,
    ),
    (
        "jobs-word",
        NOTHING,
        ["build", "s.yml", "-j", "many"],
        "pmpm: Invalid value for '-j' / '--jobs': 'many' is not a valid integer range (see `pmpm build --help`)",
        2,
    ),
    (
        "unknown-option",
        NOTHING,
        ["build", "s.yml", "--frob"],
        "pmpm: No such option '--frob'. (Did you mean one of: '--force', '--jobs'?) (see `pmpm build --help`)",
        2,
    ),
    ("unknown-command", NOTHING, ["frob"], "pmpm: No such command 'frob' (see `pmpm --help`)", 2),
    ("render-no-stack", NOTHING, ["render"], "pmpm: Missing argument 'STACK' (see `pmpm render --help`)", 2),
    (
        "engine-unknown",
        NOTHING,
        ["build", "s.yml", "--engine", "make"],
        "pmpm: Invalid value for '--engine': 'make' is not one of 'rattler-build', 'conda-build', 'rattler-build-exe' "
        "(see `pmpm build --help`)",
        2,
    ),
    (
        "variant-no-equals",
        NOTHING,
        ["build", "s.yml", "--variant", "march"],
        "--variant 'march' is not KEY=VALUE (e.g. --variant march=x86-64-v3 or march=x86-64,znver3)",
        2,
    ),
    (
        "variant-empty-key",
        NOTHING,
        ["render", "s.yml", "--variant", "=x86-64"],
        "--variant '=x86-64' is not KEY=VALUE (e.g. --variant march=x86-64-v3 or march=x86-64,znver3)",
        2,
    ),
    (
        "render-missing-stack",
        NOTHING,
        ["render", "nope.yml"],
        "nope.yml: cannot read file: No such file or directory",
        2,
    ),
    ("build-missing-stack", NOTHING, ["build", "nope.yml"], "nope.yml: cannot read file: No such file or directory", 2),
    (
        "build-stack-is-directory",
        _file("d.yml/x", ""),
        ["build", "d.yml"],
        "d.yml: no recipes found in d.yml/ (run `pmpm render STACK` first, or pass a stack file or a recipe directory)",
        2,
    ),
    (
        "build-empty-directory",
        _file("empty/.keep", ""),
        ["build", "empty"],
        "empty: no recipes found in empty/ (run `pmpm render STACK` first, or pass a stack file or a recipe directory)",
        2,
    ),
    (
        "create-name-dotdot",
        NOTHING,
        ["create", "s.yml", "-n", "../../../escaped"],
        f"pmpm: -n '../../../escaped': {NAME_RULE} (see `pmpm create --help`)",
        2,
    ),
    (
        "create-name-slash",
        NOTHING,
        ["create", "s.yml", "-n", "team/ml"],
        f"pmpm: -n 'team/ml': {NAME_RULE} (see `pmpm create --help`)",
        2,
    ),
    (
        "create-name-dot",
        NOTHING,
        ["create", "s.yml", "-n", "."],
        f"pmpm: -n '.': {NAME_RULE} (see `pmpm create --help`)",
        2,
    ),
    (
        "create-name-and-prefix",
        NOTHING,
        ["create", "s.yml", "-n", "a", "-p", "b"],
        "pmpm: give exactly one of -p/--prefix PATH or -n/--name NAME (see `pmpm create --help`)",
        2,
    ),
    (
        "create-into-foreign-dir",
        _file("mine/notes.txt", "precious"),
        ["create", "s.yml", "-p", "mine"],
        "{work}/mine: exists, is not empty and is not a conda environment (choose another -p/--prefix, or pass --force "
        "to install into it)",
        2,
    ),
    (
        "create-into-file",
        _file("afile", "x"),
        ["create", "s.yml", "-p", "afile"],
        "{work}/afile: exists and is not a directory (choose another -p/--prefix)",
        2,
    ),
    (
        "cbc-mapping",
        _file("m.yaml", "march:\n  a: b\n"),
        ["render", "s.yml", "-m", "m.yaml"],
        "m.yaml:1: march: expected a list of values, got a mapping (write march: [VALUE, ...])",
        2,
    ),
    (
        "cbc-scalar",
        _file("m.yaml", "march: x86-64\n"),
        ["render", "s.yml", "-m", "m.yaml"],
        "m.yaml:1: march: expected a list of values, got a string (write march: [x86-64])",
        2,
    ),
    (
        "cbc-nested-list",
        _file("m.yaml", "march: [[x86-64]]\n"),
        ["render", "s.yml", "-m", "m.yaml"],
        "m.yaml:1: march: expected a list of values, got a list holding a list (write march: [VALUE, ...])",
        2,
    ),
    (
        "cbc-top-list",
        _file("m.yaml", "- march\n"),
        ["render", "s.yml", "-m", "m.yaml"],
        "m.yaml:1: a conda_build_config must be a mapping of keys to lists, got a list (write KEY: [VALUE, ...] lines)",
        2,
    ),
    (
        "cbc-zip-keys-string",
        _file("m.yaml", "zip_keys: march\n"),
        ["render", "s.yml", "-m", "m.yaml"],
        "m.yaml:1: zip_keys: zip_keys must be a list of lists of key names, got a string (e.g. zip_keys: [[python, numpy]])",
        2,
    ),
    (
        "cbc-not-utf8",
        _file("m.yaml", b"march: [caf\xe9]\n"),
        ["render", "s.yml", "-m", "m.yaml"],
        "m.yaml:1: not UTF-8 text: byte 0xe9 at column 12 (save the file as UTF-8)",
        2,
    ),
    (
        "cbc-bad-yaml",
        _file("m.yaml", "march: [x86-64\n"),
        ["render", "s.yml", "-m", "m.yaml"],
        "m.yaml:2: invalid YAML: expected ',' or ']', but got '<stream end>' (check indentation and quoting)",
        2,
    ),
    (
        "cbc-directory",
        _file("cfg/x", ""),
        ["render", "s.yml", "-m", "cfg"],
        "cfg: is a directory, not a conda_build_config file (give the file, e.g. DIR/conda_build_config.yaml)",
        2,
    ),
    (
        "cbc-missing",
        NOTHING,
        ["render", "s.yml", "-m", "none.yaml"],
        "none.yaml: no such conda_build_config file (check the -m path)",
        2,
    ),
    (
        "channel-subdir-is-file",
        _channel_file("noarch", b"x"),
        ["build", "s.yml", "--no-test"],
        "{work}/local-channel/noarch: exists and is not a directory (a channel holds the directories noarch, linux-64 "
        "and .pmpm; move the file away or choose another --channel)",
        1,
    ),
    (
        "channel-meta-is-file",
        _channel_file(".pmpm", b"x"),
        ["build", "s.yml", "--no-test"],
        "{work}/local-channel/.pmpm: exists and is not a directory (a channel holds the directories noarch, linux-64 "
        "and .pmpm; move the file away or choose another --channel)",
        1,
    ),
    (
        "channel-under-proc",
        NOTHING,
        ["build", "s.yml", "--no-test", "--channel", "/proc/pmpm-channel"],
        "/proc/pmpm-channel: No such file or directory (cannot create the channel)",
        1,
    ),
    (
        "create-garbage-repodata",
        _channel_file("noarch/repodata.json", b"garbage"),
        ["create", "s.yml", "-p", "env"],
        "{work}/local-channel/noarch/repodata.json: unreadable repodata (Expecting value: line 1 column 1 (char 0)) "
        "(`pmpm index {work}/local-channel` or any `pmpm build` into the channel re-indexes it)",
        1,
    ),
    (
        "create-binary-repodata",
        _channel_file("noarch/repodata.json", b"\x80garbage"),
        ["create", "s.yml", "-p", "env"],
        "{work}/local-channel/noarch/repodata.json: unreadable repodata ('utf-8' codec can't decode byte 0x80 in "
        "position 0: invalid start byte) (`pmpm index {work}/local-channel` or any `pmpm build` into the channel "
        "re-indexes it)",
        1,
    ),
    # User mistakes exit 2 (issue 23: these were SolveErrors, exit 1).
    (
        "verify-not-an-environment",
        _file("notenv/readme.txt", "not an environment"),
        ["verify", "-p", "notenv", "--lock", "s.lock"],
        "{work}/notenv: not a conda environment (no conda-meta/)",
        2,
    ),
    (
        "pack-not-an-environment",
        _file("notenv/readme.txt", "not an environment"),
        ["pack", "-p", "notenv", "-o", "env.tar.gz"],
        "{work}/notenv: not a conda environment (no conda-meta/)",
        2,
    ),
    (
        "create-from-a-directory-that-is-no-bundle",
        _file("nobundle/readme.txt", "not a bundle"),
        ["create", "--from-bundle", "nobundle", "-p", "env"],
        "{work}/nobundle: not a pmpm bundle (expected one *.lock and channel/) (make one with `pmpm bundle`)",
        2,
    ),
    (
        "create-without-a-local-channel",
        NOTHING,
        ["create", "s.yml", "-p", "env", "--channel", "nowhere"],
        "{work}/nowhere: no local channel (run `pmpm build s.yml` first, or pass --channel)",
        2,
    ),
    (
        "create-repodata-list",
        _channel_file("noarch/repodata.json", b"[]"),
        ["create", "s.yml", "-p", "env"],
        "{work}/local-channel/noarch/repodata.json: unreadable repodata (not a JSON object) (`pmpm index "
        "{work}/local-channel` or any `pmpm build` into the channel re-indexes it)",
        1,
    ),
]


def test_corpus_size():
    stacks = len(list((REPO / "tests" / "bad_stacks").glob("*.yml")))
    assert stacks + len(CORPUS) >= 120
    assert len({c[0] for c in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("case", CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus(case, built, tmp_path):
    name, setup, argv, expected, code = case
    work = tmp_path / "w"
    shutil.copytree(built, work, ignore=shutil.ignore_patterns(".pmpm", "recipes", ".recipes*"))
    if setup:
        setup(work)
    before = tree(work / "local-channel")
    result = pmpm(*argv, cwd=work, env={"PMPM_ENVS_DIR": str(work / "envs")})
    assert "Traceback" not in result.stderr and "panicked" not in result.stderr
    assert result.stderr.strip() == expected.replace("{work}", str(work))
    assert result.returncode == code
    assert tree(work / "local-channel") == before, "bad input changed the channel"
    assert not (work / "envs").exists() and not (work.parent / "escaped").exists()


def test_create_force_installs_into_a_foreign_directory(built, tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("precious")
    result = pmpm("create", "s.yml", "-p", target, "--force", cwd=built)
    assert result.returncode == 0, result.stderr
    assert (target / "notes.txt").read_text() == "precious" and (target / "conda-meta").is_dir()


# --- corrupt and foreign files in the channel -------------------------------------------


def test_corrupt_and_foreign_packages_are_quarantined_and_indexing_goes_on(built, tmp_path):
    work = tmp_path / "w"
    shutil.copytree(built, work, ignore=shutil.ignore_patterns(".pmpm", "recipes", ".recipes*"))
    noarch = work / "local-channel" / "noarch"
    good = next(noarch.glob("q0-*.conda"))
    data = good.read_bytes()
    (noarch / "broken-1.0-0.conda").write_bytes(data[: len(data) // 2])
    (noarch / "foreign-1.0-0.tar.bz2").write_text("not a package")
    shutil.copy(good, noarch / "misnamed-1.0-0.conda")
    script_stack(work / "t.yml", "t", 1)
    result = pmpm("build", "t.yml", "--no-test", cwd=work)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "moved to" in line]
    assert len(lines) == 3, result.stderr
    quarantine = work / "local-channel" / ".pmpm" / "quarantine" / "noarch"
    assert sorted(p.name for p in quarantine.iterdir()) == [
        "broken-1.0-0.conda",
        "foreign-1.0-0.tar.bz2",
        "misnamed-1.0-0.conda",
    ]
    assert any("broken-1.0-0.conda: not a readable conda package" in line for line in lines)
    assert any("misnamed-1.0-0.conda: holds package q0-1.0-" in line for line in lines)
    names = {r["name"] for r in check_channel(work / "local-channel").values()}
    assert names == {"q0", "q1", "t0"}


# --- a full disk ---------------------------------------------------------------------------


@pytest.fixture
def tiny_fs(tmp_path):
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_leaves_channel_as_it_was_and_says_how_much_is_needed(built, tiny_fs, tmp_path):
    work = tmp_path / "w"
    shutil.copytree(built, work, ignore=shutil.ignore_patterns(".pmpm", "recipes", ".recipes*"))
    channel = tiny_fs / "channel"
    shutil.copytree(work / "local-channel", channel)
    fd = os.open(tiny_fs / "filler", os.O_WRONLY | os.O_CREAT)  # fill the rest of the 1 MiB
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    before = tree(channel)
    result = pmpm("build", "s.yml", "--no-test", "--force", "--channel", channel, cwd=work)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"{channel}: no space left on the device: publishing q")
    assert " needs " in line and " free (the channel is unchanged; free space and re-run)" in line
    assert tree(channel) == before
    assert not [p for p in tiny_fs.rglob("*") if ".part" in p.name]
    # Seen once in three loaded runs: the private output dir of the failed publish stays behind
    # (not yet understood); the next run must remove it, saying so.
    left = list((work / ".pmpm" / "out").glob("*"))
    shutil.rmtree(tiny_fs / "channel")
    again = pmpm("build", "s.yml", "--no-test", "--channel", tmp_path / "other", cwd=work)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("which is gone") == len(left)
    assert not list((work / ".pmpm" / "out").glob("*"))


# --- signals ---------------------------------------------------------------------------------


def _children_named(text: str, under: Path) -> list[str]:
    """Processes running `text` in a directory below `under`: this test's build scripts only, not
    those of another pmpm run on the machine (a concurrent test run once stopped this one early)."""
    ps = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout.splitlines()
    found = []
    for line in ps:
        pid, _, args = line.strip().partition(" ")
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if text in args and cwd.startswith(str(under)):
            found.append(args)
    return found


@pytest.mark.slow
def test_sigint_stops_the_running_build_script_and_exits_130_fast(tmp_path):
    script_stack(tmp_path / "s.yml", "slowint", 4, delay=30)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pmpm", "build", "s.yml", "--no-test"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not _children_named("sleep 30", tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _children_named("sleep 30", tmp_path), "the build script never started"
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    latency = time.monotonic() - start
    print(f"SIGINT exit latency: {latency:.2f} s")
    assert proc.returncode == 130, err
    assert latency < 5
    assert "Traceback" not in err and "interrupted" in err
    time.sleep(0.2)
    assert not _children_named("sleep 30", tmp_path), "the build script outlived pmpm"
    channel = LocalChannel(tmp_path / "local-channel")
    assert channel.is_consistent()
    assert not [n for n in check_channel(channel.path) if "slowint" in n], "a package was published after Ctrl-C"


@pytest.mark.slow
def test_kill_9_takes_the_running_build_script_with_it(tmp_path):
    script_stack(tmp_path / "s.yml", "orphan", 1, delay=31)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pmpm", "build", "s.yml", "--no-test"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not _children_named("sleep 31", tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _children_named("sleep 31", tmp_path), "the build script never started"
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while _children_named("sleep 31", tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _children_named("sleep 31", tmp_path), "the build script outlived a kill -9 of pmpm"


@pytest.mark.slow
def test_kill_9_at_random_moments_of_a_build(tmp_path):
    script_stack(tmp_path / "s.yml", "k", 6, delay=0.3, files=50)
    rng = random.Random(10)
    removed = healed = 0
    for round_ in range(20):
        proc = subprocess.Popen(
            [sys.executable, "-m", "pmpm", "build", "s.yml", "--no-test", "--force", "-j", "2"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(rng.uniform(0.5, 4.0))
        proc.kill()
        _, err = proc.communicate(timeout=60)
        removed += err.count("which is gone")
        healed += err.count("left by an interrupted publish")
        if (tmp_path / "local-channel" / "noarch" / "repodata.json").exists():
            check_channel(tmp_path / "local-channel", killed=True)
    result = pmpm("build", "s.yml", "--no-test", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    removed += result.stderr.count("which is gone")
    healed += result.stderr.count("left by an interrupted publish")
    names = sorted(r["name"] for r in check_channel(tmp_path / "local-channel").values())
    assert names == [f"k{i}" for i in range(6)]
    assert not list((tmp_path / ".pmpm" / "out").glob("*")), "leftovers of killed builds stayed"
    print(
        f"kill -9 rounds consistent: 20/20; stale outputs removed and reported: {removed}; "
        f"interrupted publishes' temporary files removed: {healed}"
    )


def _env_snapshot(prefix: Path) -> dict[str, str]:
    out = {}
    for path in sorted(prefix.rglob("*")):
        rel = str(path.relative_to(prefix))
        if path.is_file() and rel != "conda-meta/history":
            data = path.read_bytes().replace(str(prefix).encode(), b"PREFIX")
            if rel.startswith("conda-meta/") and rel.endswith(".json"):
                record = json.loads(data)
                for key in ("extracted_package_dir", "package_tarball_full_path"):
                    record.pop(key, None)
                data = json.dumps(record, sort_keys=True).encode()
            out[rel] = hashlib.sha256(data).hexdigest()
    return out


@pytest.mark.slow
def test_kill_9_at_random_moments_of_create(built, tmp_path):
    clean = tmp_path / "clean"
    start = time.monotonic()
    assert pmpm("create", "s.yml", "-p", clean, cwd=built).returncode == 0
    duration = time.monotonic() - start
    want = _env_snapshot(clean)
    rng = random.Random(20)
    target = tmp_path / "env"
    for round_ in range(20):
        proc = subprocess.Popen(
            [sys.executable, "-m", "pmpm", "create", "s.yml", "-p", target],
            cwd=built,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.2, duration))
        proc.kill()
        proc.wait()
        result = pmpm("create", "s.yml", "-p", target, cwd=built)
        assert result.returncode == 0, result.stderr
        assert _env_snapshot(target) == want, f"round {round_}: the re-created env differs from a clean one"


# --- concurrency -------------------------------------------------------------------------------


@pytest.mark.slow
def test_three_stacks_and_two_copies_of_one_from_one_directory(tmp_path):
    for prefix in ("a", "b", "c"):
        script_stack(tmp_path / f"{prefix}.yml", prefix, 3, delay=0.2)
    runs = ["a.yml", "b.yml", "c.yml", "a.yml", "a.yml"]
    for round_ in range(10):
        channel = tmp_path / f"channel{round_}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "pmpm", "build", stack, "--no-test", "--json", "--channel", channel],
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for stack in runs
        ]
        for stack, proc in zip(runs, procs):
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, f"round {round_} {stack}: {err}"
            report = json.loads(out)
            built_names = {p["name"] for p in report["packages"]}
            assert built_names == {f"{stack[0]}{i}" for i in range(3)}, f"{stack} built another stack's packages"
        listed = check_channel(channel)
        names = sorted(r["name"] for r in listed.values())
        assert names == sorted(f"{s}{i}" for s in "abc" for i in range(3)), f"round {round_}: {names}"
        for key, record in listed.items():
            content = subprocess.run(
                [
                    "python",
                    "-c",
                    "import sys,zipfile;print(zipfile.ZipFile(sys.argv[1]).namelist())",
                    str(channel / key),
                ],
                capture_output=True,
                text=True,
            )
            assert content.returncode == 0
    print("concurrent rounds complete: 10/10")

"""Nothing hangs (issue 25): servers on 127.0.0.1 that accept and never answer (a black hole),
or answer a byte at a time (a slow drip), end every command within the network timeout, with
one line naming the URL and the time waited; a slow download that keeps arriving still finishes.

Each case runs with PMPM_NETWORK_TIMEOUT=2: a read gives up after 2 s without an answer and is
retried `network.RETRIES` times with back-off, so the run ends within (RETRIES + 1) x 2 s plus the
back-off and pmpm's own start-up (`MARGIN`)."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import tarfile
import threading
import time
from pathlib import Path

import pytest
from conftest import pmpm
from test_network import NEEDS_ZLIB

from pmpm import network

LIMIT = 2
WORST = (network.RETRIES + 1) * LIMIT
MARGIN = 12  # rattler's and pip's back-off between tries (~4 s), pmpm's and pip's start-up


def _listen() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


def _serve(sock: socket.socket, answer) -> str:
    def loop():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def black_hole():
    """Accepts every connection, reads the request, never answers."""
    held: list[socket.socket] = []
    sock = _listen()
    yield _serve(sock, lambda conn: (held.append(conn), conn.recv(65536)))
    sock.close()
    for conn in held:
        conn.close()


def _dripping(payload: bytes, pause: float, forever: bool = False):
    def answer(conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            length = 10**9 if forever else len(payload)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % length)
            chunks = [
                payload[i : i + max(1, len(payload) // 8)] for i in range(0, len(payload), max(1, len(payload) // 8))
            ]
            while True:
                for chunk in chunks:
                    conn.sendall(chunk)
                    time.sleep(pause)
                if not forever:
                    return
        except OSError:
            return
        finally:
            conn.close()

    return answer


@pytest.fixture
def slow_drip():
    """Answers every request with a body that never ends, a few bytes a second."""
    sock = _listen()
    yield _serve(sock, _dripping(b"{", 0.5, forever=True))
    sock.close()


def _timed(*args, cwd: Path, env: dict | None = None):
    start = time.monotonic()
    proc = pmpm(*args, cwd=cwd, check=False, env={"PMPM_NETWORK_TIMEOUT": str(LIMIT), **(env or {})})
    return proc, time.monotonic() - start


def _ended_in_time(proc, seconds: float, url: str) -> str:
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert seconds < WORST + MARGIN, f"{seconds:.1f}s: {proc.stderr}"
    assert f"no answer within {LIMIT} s" in proc.stderr and url in proc.stderr, proc.stderr
    print(f"exit after {seconds:.1f} s: {proc.stderr.strip().splitlines()[-1]}")
    return proc.stderr


def _stack(tmp_path: Path, channels: list[str], deps: str = "[]", packages: str = "") -> Path:
    body = f"name: net\nchannels: {channels!r}\ndependencies: {deps}\n".replace("'", '"')
    if packages:
        body += f"_pmpm:\n  packages:\n{packages}"
    (tmp_path / "net.yml").write_text(body)
    return tmp_path / "net.yml"


@pytest.mark.parametrize("server", ["black_hole", "slow_drip"])
@pytest.mark.parametrize("command", ["create", "lock"])
def test_create_and_lock_end_on_a_channel_that_never_answers(command, server, request, tmp_path):
    url = request.getfixturevalue(server)
    stack = _stack(tmp_path, [url + "/"], deps="[zlib]")
    args = ["create", stack, "-p", tmp_path / "env"] if command == "create" else ["lock", stack]
    proc, seconds = _timed(*args, cwd=tmp_path)
    _ended_in_time(proc, seconds, url)
    assert not (tmp_path / "env").exists() and not (tmp_path / "net.lock").exists()


def test_build_ends_when_its_host_channel_never_answers(black_hole, tmp_path):
    stack = _stack(tmp_path, [black_hole + "/"], packages=NEEDS_ZLIB)
    proc, seconds = _timed("build", stack, cwd=tmp_path)
    _ended_in_time(proc, seconds, black_hole)
    assert not list((tmp_path / "local-channel").glob("*/needs-*"))


def _source_tarball() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = os.urandom(256 * 1024)  # incompressible: the download takes the whole drip
        info = tarfile.TarInfo("src-1.0/blob")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _url_package(url: str, sha256: str) -> str:
    return f"""    - name: src
      version: "1.0"
      source: {{url: "{url}", sha256: "{sha256}"}}
      kind: script
      script: ["test -f blob"]
"""


def test_url_source_that_never_answers_fails_the_build_in_time(black_hole, tmp_path):
    url = f"{black_hole}/src-1.0.tar.gz"
    stack = _stack(tmp_path, [], packages=_url_package(url, "0" * 64))
    proc, seconds = _timed("build", stack, cwd=tmp_path)
    _ended_in_time(proc, seconds, url)
    assert "url source" in proc.stderr and seconds < LIMIT + MARGIN


def test_slow_url_source_that_keeps_arriving_is_not_cut_off(tmp_path):
    """8 chunks a second apart: 8 s of download, 4 x the timeout, never 2 s without a byte."""
    payload = _source_tarball()
    sock = _listen()
    url = _serve(sock, _dripping(payload, 1.0)) + "/src-1.0.tar.gz"
    stack = _stack(tmp_path, [], packages=_url_package(url, hashlib.sha256(payload).hexdigest()))
    proc, seconds = _timed("build", stack, cwd=tmp_path)
    sock.close()
    assert proc.returncode == 0, proc.stderr
    assert seconds > 4 * LIMIT and list((tmp_path / "local-channel").glob("linux-64/src-1.0-*.conda"))


def test_pypi_source_through_an_index_that_never_answers(black_hole, tmp_path):
    package = """    - name: six
      version: "1.16.0"
      source: {pypi: "six==1.16.0"}
      kind: python
      noarch: python
"""
    stack = _stack(tmp_path, [], packages=package)
    pip = {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": f"{black_hole}/simple",
        "PIP_EXTRA_INDEX_URL": "",
        "PIP_FIND_LINKS": "",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),  # no sdist cached from an earlier run
    }
    proc, seconds = _timed("render", stack, cwd=tmp_path, env=pip)
    _ended_in_time(proc, seconds, black_hole)
    assert "six==1.16.0" in proc.stderr


def test_a_timeout_that_is_not_a_number_is_a_usage_error(tmp_path):
    stack = _stack(tmp_path, ["http://127.0.0.1:1/"], deps="[zlib]")
    proc = pmpm("lock", stack, cwd=tmp_path, check=False, env={"PMPM_NETWORK_TIMEOUT": "soon"})
    assert proc.returncode == 2 and "PMPM_NETWORK_TIMEOUT='soon' is not a number of seconds" in proc.stderr

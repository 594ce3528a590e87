"""Network failures say what failed: channel vs requirements, the source URL and its cause, --offline."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from pathlib import Path

import pytest
from conftest import pmpm

ZEROS = "0" * 64


class _Recorder(http.server.SimpleHTTPRequestHandler):
    """Serves a directory and remembers every path asked for."""

    requests: list[str] = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def send_head(self):
        type(self).requests.append(self.path)
        return super().send_head()


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = type("Handler", (_Recorder,), {"requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: connections are refused


def _stack(path: Path, channels: list[str], package: str) -> Path:
    path.write_text(f"name: net\nchannels: {json.dumps(channels)}\ndependencies: []\n_pmpm:\n  packages:\n{package}")
    return path


NEEDS_ZLIB = """    - name: needs
      version: "1.0"
      source: {path: .}
      kind: script
      script: ["true"]
      requirements: {host: [zlib]}
"""


def _url_package(url: str) -> str:
    return f"""    - name: dl
      version: "1.0"
      source: {{url: "{url}", sha256: "{ZEROS}"}}
      kind: make
"""


def _failure(proc) -> str:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr


def test_unreachable_channel_is_not_reported_as_unsatisfiable(tmp_path):
    channel = f"http://127.0.0.1:{_closed_port()}/channel"
    _stack(tmp_path / "stack.yml", [channel], NEEDS_ZLIB)
    err = _failure(pmpm("build", "stack.yml", cwd=tmp_path, check=False))
    assert f"cannot reach channel {channel} (connection to 127.0.0.1 refused)" in err
    assert "or use --override-channels / --offline" in err  # the wording `pmpm create` uses too
    assert "cannot resolve" not in err


def test_unsatisfiable_requirement_names_the_channels_searched(tmp_path, server):
    url, _ = server
    empty = tmp_path / "www" / "empty"
    for subdir in ("noarch", "linux-64"):
        (empty / subdir).mkdir(parents=True)
        (empty / subdir / "repodata.json").write_text(json.dumps({"info": {"subdir": subdir}, "packages": {}}))
    _stack(tmp_path / "stack.yml", [f"{url}/empty"], NEEDS_ZLIB)
    err = _failure(pmpm("build", "stack.yml", cwd=tmp_path, check=False))
    assert "cannot resolve the build or host requirements" in err and f"{url}/empty" in err
    assert "cannot reach channel" not in err


def test_source_download_failure_names_url_and_http_status(tmp_path, server):
    url, _ = server
    missing = f"{url}/dl-1.0.tar.gz"
    _stack(tmp_path / "stack.yml", [], _url_package(missing))
    err = _failure(pmpm("build", "stack.yml", cwd=tmp_path, check=False))
    assert f"cannot download the source {missing}: HTTP 404" in err


def test_source_download_failure_names_dns(tmp_path):
    missing = "http://no-such-host.invalid/dl-1.0.tar.gz"
    _stack(tmp_path / "stack.yml", [], _url_package(missing))
    err = _failure(pmpm("build", "stack.yml", cwd=tmp_path, check=False))
    assert f"cannot download the source {missing}: DNS lookup of no-such-host.invalid failed" in err


def test_offline_fails_fast_naming_remote_sources_without_touching_the_network(tmp_path, server):
    url, handler = server
    remote = f"{url}/dl-1.0.tar.gz"
    _stack(tmp_path / "stack.yml", [], _url_package(remote))
    err = _failure(pmpm("build", "stack.yml", "--offline", cwd=tmp_path, check=False))
    assert f"--offline: the source {remote} needs the network" in err
    assert handler.requests == []


def test_offline_render_names_an_uncached_pypi_sdist_without_asking_pip(tmp_path):
    package = """    - name: nowhere
      version: "1.0"
      source: {pypi: "pmpm-offline-probe==1.0"}
      kind: python
"""
    _stack(tmp_path / "stack.yml", [], package)
    # An index that cannot answer: if pip were asked, the message would be pip's, not this one.
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PIP_INDEX_URL": f"http://127.0.0.1:{_closed_port()}/simple"}
    proc = pmpm("build", "stack.yml", "--offline", cwd=tmp_path, check=False, env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--offline: the sdist of pmpm-offline-probe==1.0 is not in pmpm's cache" in proc.stderr

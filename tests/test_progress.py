"""Progress a person can follow: a live view on a terminal, a line per start and end elsewhere, -v streams."""

from __future__ import annotations

import os
import pty
import re
import select
import sys
import time
from pathlib import Path

from conftest import pmpm

SLOW = """name: progress
channels: []
dependencies: []
_pmpm:
  packages:
    - name: slow
      version: "1.0"
      source: {path: .}
      kind: script
      noarch: generic
      script:
        - echo progress-marker-one >&2
        - sleep 4
        - echo progress-marker-two
"""


def _stack(tmp_path: Path) -> Path:
    (tmp_path / "stack.yml").write_text(SLOW)
    return tmp_path / "stack.yml"


def test_without_a_terminal_each_build_gets_a_start_and_an_end_line(tmp_path):
    _stack(tmp_path)
    err = pmpm("build", "stack.yml", cwd=tmp_path).stderr
    log = tmp_path / ".pmpm" / "logs" / "slow-1.0-hbf21a9e_0.log"
    start = re.search(r"^\[1/1\] slow-1\.0-(\w+): building \(log: (.+)\)$", err, re.M)
    end = re.search(r"^\[1/1\] slow-1\.0-\w+: built \((\d+\.\d)s, 0:0\d elapsed\)$", err, re.M)
    assert start and end, err
    assert Path(start.group(2)).is_file() and Path(start.group(2)).parent == log.parent
    assert float(end.group(1)) >= 4.0  # the end line carries the build's own time
    assert "progress-marker-one" not in err  # the log itself stays in the log file


def test_off_a_terminal_a_long_build_says_now_and_then_that_it_is_still_building():
    """A 6-minute fftw in a CI log: a line per interval while its log grows (phase and latest line),
    never more often, none in its first interval."""
    import io
    from types import SimpleNamespace

    from pmpm.builder.progress import _Plain

    out = io.StringIO()
    reporter = _Plain(out, every=0.3)
    job = SimpleNamespace(name="fftw", label="fftw-3.3.10-h1f7db4a_0")
    reporter.planned([job])
    reporter.started(job, Path("/logs/fftw.log"))
    reporter.phase(job, "Running build script")
    reporter.output(job, "checking for gcc... gcc")  # within the first interval: nothing
    time.sleep(0.35)
    reporter.output(job, "libtool: compile  gcc -O3 -c n1_4.c")
    reporter.output(job, "libtool: compile  gcc -O3 -c n1_5.c")  # the same interval: nothing more
    assert out.getvalue().splitlines() == [
        "[1/1] fftw-3.3.10-h1f7db4a_0: building (log: /logs/fftw.log)",
        "[1/1] fftw-3.3.10-h1f7db4a_0: still building, 0:00 (Running build script; "
        "libtool: compile  gcc -O3 -c n1_4.c)",
    ]


def test_verbose_streams_the_build_log(tmp_path):
    _stack(tmp_path)
    err = pmpm("build", "stack.yml", "-v", cwd=tmp_path).stderr
    assert re.search(r"^slow\| .*progress-marker-one", err, re.M), err
    assert re.search(r"^slow\| .*progress-marker-two", err, re.M), err


def test_on_a_terminal_the_live_view_shows_phase_latest_line_log_and_elapsed(tmp_path):
    _stack(tmp_path)
    screen = _run_on_a_terminal([sys.executable, "-m", "pmpm", "build", "stack.yml"], tmp_path)
    assert re.search(r"pmpm build 0/1 done, 0:0\d elapsed", screen), screen
    assert "Running build script" in screen  # the phase
    assert "⠁" not in screen and "copying source" not in screen  # the engine's own spinners stay off
    # The latest log line while it sleeps. The engine reads a script's stdout and stderr on two
    # pipes, so their lines may interleave out of order: the marker goes to stderr with the
    # `set -x` trace, or under load it could arrive after "+ sleep 4" and stay the latest line.
    assert "+ sleep 4" in screen
    assert "log: " + str(tmp_path / ".pmpm" / "logs") in screen.replace("\r", "").replace("\n", "")
    assert "built slow-1.0-" in screen  # and a line when it is done


def _run_on_a_terminal(argv: list[str], cwd: Path, timeout: float = 120) -> str:
    """Run under a pseudo-terminal 200 columns wide and return everything it drew."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal is its stdio
        os.chdir(cwd)
        os.environ.update({"COLUMNS": "200", "LINES": "50", "TERM": "xterm"})
        os.execv(argv[0], argv)
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    os.waitpid(pid, 0)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode(errors="replace"))


OVERLINKED = """name: overlinked
channels: []
dependencies: []
_pmpm:
  packages:
    - name: squeeze
      version: "1.0"
      source: {path: .}
      kind: script
      script:
        - printf '#include <zlib.h>\\nint main(void){return zlibVersion()[0] == 0;}\\n' > squeeze.c
        - mkdir -p $PREFIX/bin && gcc squeeze.c -o $PREFIX/bin/squeeze -lz -lm
"""


def test_engine_warnings_reach_the_summary_and_the_json(tmp_path):
    """A program linked against the host's libz (no zlib among its requirements) works here and
    breaks on a host without it: the engine's overlinking warning must not stay in the log. The C
    library's own (libc, libm), which every system-mode build links, are not news."""
    import json

    (tmp_path / "stack.yml").write_text(OVERLINKED)
    proc = pmpm("build", "stack.yml", "--json", cwd=tmp_path)
    package = next(p for p in json.loads(proc.stdout)["packages"] if p["name"] == "squeeze")
    assert package["status"] == "built" and any('"libz.so.1"' in w for w in package["warnings"]), package
    assert not any("libc.so" in w or "libm.so" in w for w in package["warnings"]), package["warnings"]
    err = pmpm("build", "stack.yml", "--force", cwd=tmp_path).stderr
    assert re.search(r"squeeze-1\.0-\w+: built \(\d+\.\ds, 1 warning\(s\)", err), err
    assert "warnings from the engine" in err and 'Overlinking against "libz.so.1"' in err, err

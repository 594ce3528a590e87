"""The scheduler alone, over a fake engine and a fake channel: ordering, -j overlap, keep-going
and interrupts, in seconds. (The end-to-end builds are in test_build.py and test_parallel.py.)"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from pmpm.builder.plan import Job
from pmpm.builder.report import Status
from pmpm.builder.scheduler import Builder
from pmpm.engines.base import Cause, EngineFailure, PlannedBuild
from pmpm.options import BuildOptions


class FakeEngine:
    """Builds by sleeping; remembers when each build ran; fails the builds it is told to."""

    name = "fake"

    def __init__(self, seconds: float = 0.2, fail: dict[str, Cause] | None = None):
        self.seconds, self.fail = seconds, fail or {}
        self.spans: dict[str, tuple[float, float]] = {}
        self.started = threading.Event()
        self.lock = threading.Lock()

    def build(self, planned, request, log) -> list[Path]:
        start = time.monotonic()
        self.started.set()
        log.phase("Running build script")
        log.write(f"building {planned.name}")
        time.sleep(self.seconds)
        with self.lock:
            self.spans[planned.name] = (start, time.monotonic())
        if planned.name in self.fail:
            raise EngineFailure(f"{planned.name} broke", self.fail[planned.name])
        out = request.output_dir / "linux-64" / f"{planned.label}.conda"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(planned.name)
        return [out]


class FakeChannel:
    """Publishing is remembering: which files, in which order."""

    def __init__(self, root: Path):
        self.path = root / "channel"
        self.url = self.path.as_uri()
        self.published: list[str] = []
        self._fingerprints: dict[str, str] = {}

    def ensure(self) -> None:
        self.path.mkdir(exist_ok=True)

    def fingerprints(self) -> dict[str, str]:
        return dict(self._fingerprints)

    def publish_new(self, files, fingerprints=None, replace=False, origins=None):
        self.published += [Path(f).name for f in files]
        self._fingerprints.update(fingerprints or {})
        return [self.path / Path(f).name for f in files], False

    def clash(self, key, digest, origin):
        return None  # one stack here: nothing built elsewhere


def _jobs(tmp_path: Path, graph: dict[str, list[str]]) -> list[Job]:
    """One job per package, `graph` giving each one's local dependencies, in a valid order."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("fake")
    return [
        Job(
            PlannedBuild(
                name=name,
                version="1.0",
                build_string="h0_0",
                noarch=False,
                variant={},
                recipe=recipe,
                requirements={"build": [], "host": deps, "run": []},
                source_paths=[],
            ),
            deps,
        )
        for name, deps in graph.items()
    ]


def _run(tmp_path, graph, engine, channel=None, **options):
    recipe_set = SimpleNamespace(
        channels=[], variants=SimpleNamespace(values={}, zip_keys=[]), config=None, stack=None, caches=([], [])
    )
    options = BuildOptions.of(state_dir=tmp_path / ".pmpm", offline=True, **options)
    channel = channel or FakeChannel(tmp_path)
    # the fake engine's "packages" are not archives: there is no metadata to check them against
    builder = Builder(recipe_set, options, engine=engine, channel=channel, check=lambda files: None)
    report = builder.run(_jobs(tmp_path, graph))
    return report, channel


DIAMOND = {"base": [], "left": ["base"], "right": ["base"], "top": ["left", "right"]}


def test_dependencies_build_first_and_everything_is_published(tmp_path):
    engine = FakeEngine(0.05)
    report, channel = _run(tmp_path, DIAMOND, engine)
    assert [r.status for r in report.results] == [Status.BUILT] * 4
    spans = engine.spans
    assert spans["base"][1] <= min(spans["left"][0], spans["right"][0])
    assert max(spans["left"][1], spans["right"][1]) <= spans["top"][0]
    assert sorted(channel.published) == sorted(f"{n}-1.0-h0_0.conda" for n in DIAMOND)


def test_two_slots_overlap_independent_builds_and_one_slot_never_does(tmp_path):
    for jobs, overlapped in ((2, True), (1, False)):
        engine = FakeEngine(0.3)
        _run(tmp_path / str(jobs), DIAMOND, engine, jobs=jobs)
        left, right = engine.spans["left"], engine.spans["right"]
        assert (left[0] < right[1] and right[0] < left[1]) is overlapped, (jobs, engine.spans)


def test_a_failure_skips_its_dependents_and_keep_going_builds_the_rest(tmp_path):
    graph = {"base": [], "broken": ["base"], "needs-broken": ["broken"], "fine": ["base"]}
    report, channel = _run(tmp_path / "k", graph, FakeEngine(0.01, fail={"broken": Cause.SCRIPT}), keep_going=True)
    status = {r.job.name: r.status for r in report.results}
    assert status == {
        "base": Status.BUILT,
        "broken": Status.FAILED,
        "needs-broken": Status.SKIPPED,
        "fine": Status.BUILT,
    }
    failed = next(r for r in report.results if r.job.name == "broken")
    assert failed.message.startswith("broken broke")  # the engine's words, the log's tail after them
    assert "broken-1.0-h0_0.conda" not in channel.published
    assert not report.ok
    # without -k nothing after the failure starts
    report, _ = _run(tmp_path / "stop", graph, FakeEngine(0.01, fail={"broken": Cause.SCRIPT}))
    status = {r.job.name: r.status for r in report.results}
    assert status["broken"] is Status.FAILED and status["fine"] is Status.SKIPPED


def test_the_json_report_says_the_status_words(tmp_path):
    report, _ = _run(tmp_path, {"only": []}, FakeEngine(0.01))
    assert report.to_json()["packages"][0]["status"] == "built" and report.to_json()["ok"] is True


def test_an_interrupt_starts_nothing_new_and_publishes_nothing_half_done(tmp_path, monkeypatch):
    engine = FakeEngine(0.5)
    graph = {"first": [], "second": ["first"]}
    done: dict = {}
    stopped = []  # the real one stops every child of this process: pytest's too
    monkeypatch.setattr("pmpm.builder.scheduler.stop_children", lambda: stopped.append(True))

    def interrupt():
        engine.started.wait(5)
        import _thread

        _thread.interrupt_main()  # what Ctrl-C does to the main thread

    threading.Thread(target=interrupt, daemon=True).start()
    start = time.monotonic()
    channel = FakeChannel(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        done["report"] = _run(tmp_path, graph, engine, channel)
    assert time.monotonic() - start < 2  # left without waiting for the running build
    assert stopped == [True]  # the running builds' processes are stopped
    time.sleep(0.6)  # the interrupted build's thread ends meanwhile: its package is not published
    assert "second" not in engine.spans and "report" not in done and channel.published == []

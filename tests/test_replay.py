"""No-op builds are replayed from the last run's record, and any changed input falls back to a real build."""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import pytest
from conftest import STACKS, pmpm

REPLAYED = "nothing changed since the last build"
GATE = "_x86_64-microarch-level"


@pytest.fixture
def demo(tmp_path) -> Path:
    shutil.copytree(STACKS / "demo", tmp_path / "demo")
    shutil.copy(STACKS / "demo.yml", tmp_path / "demo.yml")
    return tmp_path


def build(root: Path, *args: str) -> tuple[dict[str, str], bool]:
    proc = pmpm("build", "demo.yml", "--json", *args, cwd=root)
    statuses = {p["name"]: p["status"] for p in json.loads(proc.stdout)["packages"] if p["name"] != GATE}
    return statuses, json.loads(proc.stdout).get("replayed", False)


def test_unchanged_inputs_replay_and_every_kind_of_change_builds_for_real(demo):
    assert build(demo) == ({"libkern": "built", "kern-cli": "built"}, False)
    assert build(demo) == ({"libkern": "up to date", "kern-cli": "up to date"}, True)

    source = demo / "demo" / "libkern" / "src" / "kern.c"  # a source edit
    source.write_text(source.read_text().replace("y[i] = a * x[i] + y[i];", "y[i] = a * x[i] + y[i] + 1.0f;"))
    assert build(demo) == ({"libkern": "built", "kern-cli": "built"}, False)
    assert build(demo)[1]

    stack = demo / "demo.yml"  # a stack edit
    stack.write_text(stack.read_text() + "\n# a comment changes the file, not the packages\n")
    assert build(demo) == ({"libkern": "up to date", "kern-cli": "up to date"}, False)
    assert build(demo)[1]

    published = next((demo / "local-channel" / "linux-64").glob("kern-cli-*.conda"))
    published.unlink()  # a package gone from the channel
    assert build(demo) == ({"libkern": "up to date", "kern-cli": "built"}, False)

    assert build(demo, "--variant", "march=x86-64-v3")[1] is False  # other options: another record
    assert build(demo, "--force") == ({"libkern": "built", "kern-cli": "built"}, False)


def test_a_replay_loads_neither_engine_nor_validator(demo):
    pmpm("build", "demo.yml", cwd=demo)
    code = (
        "import sys, runpy; sys.argv = ['pmpm', 'build', 'demo.yml']\n"
        "try:\n    runpy.run_module('pmpm', run_name='__main__')\nexcept SystemExit:\n    pass\n"
    )
    probe = (
        code.replace(
            "runpy.run_module('pmpm', run_name='__main__')",
            "from pmpm.cli.main import cli; cli.main(standalone_mode=False)",
        )
        + "print(sorted(m for m in ('rattler_build', 'rattler', 'pydantic', 'jinja2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=demo, capture_output=True, text=True, check=True)
    assert REPLAYED in out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


RENDERS = (
    "import sys\nfrom pathlib import Path\nfrom pmpm import api\n"
    "recipes = api.recipe_set([Path('demo.yml')])\n"
    "import json\nprint(json.dumps(['jinja2' in sys.modules, 'pydantic' in sys.modules, list(map(str, recipes.recipes))]))"
)


def recipe_set(root: Path) -> tuple[bool, list[str]]:
    """What `pmpm build demo.yml` builds from: whether it rendered (loaded Jinja and pydantic) and the recipes."""
    out = subprocess.run([sys.executable, "-c", RENDERS], cwd=root, capture_output=True, text=True, check=True)
    jinja, pydantic, recipes = json.loads(out.stdout.strip().splitlines()[-1])
    assert jinja == pydantic
    return jinja, recipes


def test_a_build_that_runs_reads_an_unchanged_render_back_and_renders_any_change(demo):
    """--dirty and --force builds skip the replay, not the render record: an unchanged render is read back."""
    rendered, recipes = recipe_set(demo)
    assert rendered
    assert recipe_set(demo) == (False, recipes)

    recipe = demo / "recipes" / "libkern" / "recipe.yaml"
    as_written = recipe.read_text()
    recipe.write_text(as_written + "# edited by hand\n")  # a rendered file not as pmpm wrote it
    assert recipe_set(demo) == (True, recipes) and recipe.read_text() == as_written
    assert recipe_set(demo)[0] is False

    stack = demo / "demo.yml"  # a stack edit
    stack.write_text(stack.read_text().replace("Vectorizable saxpy kernel", "Saxpy kernel"))
    assert recipe_set(demo) == (True, recipes) and "summary: Saxpy kernel" in recipe.read_text()

    (demo / "conda_build_config.yaml").write_text("cflags:\n  - -g\n")  # a config file beside the stack
    assert recipe_set(demo)[0] is True
    assert "-g" in (demo / "recipes" / "conda_build_config.yaml").read_text()

    shutil.move(demo / "demo" / "libkern", demo / "libkern-moved")  # a path source gone: render reports it
    proc = subprocess.run([sys.executable, "-c", RENDERS], cwd=demo, capture_output=True, text=True)
    assert proc.returncode != 0 and "demo/libkern" in proc.stderr


def test_a_remote_upstream_channel_is_never_replayed(demo, tmp_path):
    """Only a solve can tell whether a channel served over HTTP changed: such builds take the full path."""
    empty = tmp_path / "www" / "empty"
    for subdir in ("noarch", "linux-64"):
        (empty / subdir).mkdir(parents=True)
        (empty / subdir / "repodata.json").write_text(json.dumps({"info": {"subdir": subdir}, "packages": {}}))
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "www"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/empty"
        assert build(demo, "-c", url) == ({"libkern": "built", "kern-cli": "built"}, False)
        assert build(demo, "-c", url) == ({"libkern": "up to date", "kern-cli": "up to date"}, False)
    finally:
        httpd.shutdown()

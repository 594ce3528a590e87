"""Sources as users have them: paths with spaces, patches, git revs, PyPI behind a mirror.

Every test builds real packages with the host's gcc through pmpm and runs the result.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from conftest import STACKS, pmpm


def _copy_demo(directory: Path) -> Path:
    directory.mkdir(parents=True)
    shutil.copy(STACKS / "demo.yml", directory / "demo.yml")
    shutil.copytree(STACKS / "demo", directory / "demo")
    return directory / "demo.yml"


def test_spaces_and_non_ascii_in_stack_and_env_paths(tmp_path):
    work = tmp_path / "my stack é"
    stack = _copy_demo(work)
    pmpm("render", stack, cwd=work)
    pmpm("build", cwd=work)
    pmpm("create", stack, "-p", "env dir ü", cwd=work)
    prefix = work / "env dir ü"
    out = subprocess.run([prefix / "bin" / "kern", "1000"], capture_output=True, text=True, check=True).stdout
    assert f"prefix={prefix}\n" in out
    assert f"installed-in {prefix}\n" in out
    assert "sum=2498.5" in pmpm("run", "-p", prefix, "kern", "1000", cwd=work).stdout


def _one_package_stack(directory: Path, source: str, kind: str = "make") -> Path:
    stack = directory / "stack.yml"
    stack.write_text(
        f"name: s\n_pmpm:\n  packages:\n    - name: p\n      version: '1.0'\n"
        f"      source: {source}\n      kind: {kind}\n"
    )
    return stack


def test_path_that_loops_or_dangles_is_a_load_time_error(tmp_path):
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "gone").symlink_to("nowhere")
    for name, what in (("loop", "is a symlink loop"), ("gone", "is a broken symlink to 'nowhere'")):
        stack = _one_package_stack(tmp_path, f"{{path: {name}}}")
        proc = pmpm("render", stack, "-o", "out", cwd=tmp_path, check=False)
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.strip() == (
            f"{stack}:6: _pmpm.packages[p].source.path: path {name!r} {what} "
            "(paths are relative to the stack file's directory)"
        )
    assert not (tmp_path / "out").exists()


def test_patches_are_relative_to_the_stack_and_change_the_program(tmp_path):
    stack = _copy_demo(tmp_path / "stacks")  # rendered from tmp_path: recipes/ is not beside the stack
    main_c = stack.parent / "demo" / "kern-cli" / "main.c"
    original = main_c.read_text()
    patched = original.replace(
        'printf("prefix=%s\\n", KERN_PREFIX);',
        'printf("prefix=%s\\n", KERN_PREFIX);\n    printf("patched by the stack\\n");',
    )
    assert patched != original
    diff = difflib.unified_diff(original.splitlines(True), patched.splitlines(True), "a/main.c", "b/main.c")
    (stack.parent / "patches").mkdir()
    (stack.parent / "patches" / "kern-cli.patch").write_text("".join(diff))
    text = stack.read_text().replace(
        "        path: demo/kern-cli\n", "        path: demo/kern-cli\n        patches: [patches/kern-cli.patch]\n"
    )
    stack.write_text(text)
    pmpm("render", stack, cwd=tmp_path)
    pmpm("build", cwd=tmp_path)
    assert main_c.read_text() == original  # the engine patched its copy, not the user's tree
    pmpm("create", stack, "-p", "env", cwd=tmp_path)
    out = subprocess.run([tmp_path / "env" / "bin" / "kern", "100"], capture_output=True, text=True, check=True).stdout
    assert "patched by the stack\n" in out

    # The patch decides the content as much as the source: editing it rebuilds the package.
    patch = stack.parent / "patches" / "kern-cli.patch"
    patch.write_text(patch.read_text().replace("patched by the stack", "patched again"))
    report = json.loads(pmpm("build", "--json", cwd=tmp_path).stdout)
    status = {p["name"]: p["status"] for p in report["packages"]}
    assert status["kern-cli"] == "built" and status["libkern"] == "up to date", status


GREET_MAKEFILE = """greet: main.c
\t$(CC) $(CFLAGS) main.c -o greet $(LDFLAGS)
install: greet
\tinstall -d "$(PREFIX)/bin"
\tinstall -m 755 greet "$(PREFIX)/bin/$(NAME)"
"""


def _greet_source(directory: Path, word: str) -> None:
    (directory / "Makefile").write_text(GREET_MAKEFILE)
    (directory / "main.c").write_text(f'#include <stdio.h>\nint main(void) {{ puts("{word}"); return 0; }}\n')


def _git(repo: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
        "PATH": "/usr/bin:/bin",
        "HOME": str(repo),
    }
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True).stdout.strip()


def test_git_source_builds_the_chosen_tag_or_commit(tmp_path):
    repo = tmp_path / "greet repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    commits = {}
    for word, tag in (("one", "v1"), ("two", None), ("three", "v3")):
        _greet_source(repo, word)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", word)
        commits[word] = _git(repo, "rev-parse", "HEAD")
        if tag:
            _git(repo, "tag", tag)
    url = repo.as_uri()
    packages = "".join(
        f"    - name: {name}\n      version: '1.0'\n      source: {{git: '{url}', rev: {rev}}}\n"
        f"      kind: make\n      make_args: [NAME={name}]\n"
        for name, rev in (("greet-tag", "v1"), ("greet-commit", commits["two"]), ("greet-head", "main"))
    )
    (tmp_path / "stack.yml").write_text(f"name: g\n_pmpm:\n  packages:\n{packages}")
    pmpm("build", "stack.yml", cwd=tmp_path)
    pmpm("create", "stack.yml", "-p", "env", cwd=tmp_path)
    said = {
        name: subprocess.run(
            [tmp_path / "env" / "bin" / name], capture_output=True, text=True, check=True
        ).stdout.strip()
        for name in ("greet-tag", "greet-commit", "greet-head")
    }
    assert said == {"greet-tag": "one", "greet-commit": "two", "greet-head": "three"}


# An sdist pip can inspect offline: its build backend is in the tree and needs nothing installed.
_BACKEND = '''import os
def prepare_metadata_for_build_wheel(directory, config_settings=None):
    os.makedirs(os.path.join(directory, "greet_mirror-1.0.dist-info"))
    with open(os.path.join(directory, "greet_mirror-1.0.dist-info", "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\\nName: greet-mirror\\nVersion: 1.0\\n")
    return "greet_mirror-1.0.dist-info"
def get_requires_for_build_wheel(config_settings=None):
    return []
'''


def _mirror_with_sdist(root: Path) -> tuple[Path, str]:
    """A PEP 503 index on disk holding one sdist PyPI has never seen; returns its directory and sha256."""
    tree = root / "greet_mirror-1.0"
    tree.mkdir(parents=True)
    _greet_source(tree, "from the mirror")
    (tree / "_backend.py").write_text(_BACKEND)
    (tree / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "_backend"\nbackend-path = ["."]\n'
    )
    (tree / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: greet-mirror\nVersion: 1.0\n")
    project = root / "simple" / "greet-mirror"
    project.mkdir(parents=True)
    sdist = project / "greet_mirror-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        tar.add(tree, arcname=tree.name)
    (project / "index.html").write_text(f'<a href="{sdist.name}">{sdist.name}</a>\n')
    return root / "simple", hashlib.sha256(sdist.read_bytes()).hexdigest()


def test_a_render_that_asked_pip_is_never_read_back(tmp_path):
    """A `pypi:` source resolves through the user's index, which only pip can check: no render record."""
    index, _ = _mirror_with_sdist(tmp_path / "mirror")
    env = {**os.environ, "PIP_INDEX_URL": index.as_uri(), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    _one_package_stack(tmp_path, "{pypi: greet-mirror==1.0}")
    probe = "from pathlib import Path\nfrom pmpm import api\napi.recipe_set([Path('stack.yml')])"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, check=True)
    assert (tmp_path / "recipes" / "p" / "recipe.yaml").is_file()
    assert not list((tmp_path / ".pmpm").glob("render/*.json"))


def test_pypi_source_comes_through_pips_index_configuration(tmp_path):
    index, digest = _mirror_with_sdist(tmp_path / "mirror")
    env = {"PIP_INDEX_URL": index.as_uri(), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    make_args = "\n      make_args: [NAME=greet]"
    _one_package_stack(tmp_path, "{pypi: greet-mirror==1.0}" + make_args)
    pmpm("render", "stack.yml", "-o", "recipes", cwd=tmp_path, env=env)
    cached = tmp_path / "cache" / "pmpm" / "sdists" / "sha256" / digest / "greet_mirror-1.0.tar.gz"
    recipe = (tmp_path / "recipes" / "p" / "recipe.yaml").read_text()
    assert f'url: "{cached.as_uri()}"\n' in recipe and f"sha256: {digest}\n" in recipe
    pmpm("build", "recipes", cwd=tmp_path, env=env)
    pmpm("create", "stack.yml", "-p", "env", cwd=tmp_path)
    assert (
        subprocess.run([tmp_path / "env" / "bin" / "greet"], capture_output=True, text=True, check=True).stdout
        == "from the mirror\n"
    )

    # The stack's sha256 serves the sdist from the cache by digest; pip is not asked (its index is gone).
    offline = {**env, "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_NO_INDEX": "1"}
    _one_package_stack(tmp_path, f"{{pypi: greet-mirror==1.0, sha256: {digest.upper()}}}" + make_args)
    pmpm("render", "stack.yml", "-o", "again", cwd=tmp_path, env=offline)
    assert (tmp_path / "again" / "p" / "recipe.yaml").read_text() == recipe

    wrong = "0" * 64
    stack = _one_package_stack(tmp_path, f"{{pypi: greet-mirror==1.0, sha256: '{wrong}'}}")
    proc = pmpm("render", stack, "-o", "bad", cwd=tmp_path, env=env, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        f"pypi source greet-mirror==1.0: the stack gives sha256 {wrong} but the sdist pip "
        f"fetched (greet_mirror-1.0.tar.gz) has {digest} (correct sha256 in the stack, or "
        "check which index pip uses: pip config list)"
    )


def test_concurrent_renders_share_one_cached_sdist(tmp_path):
    index, digest = _mirror_with_sdist(tmp_path / "mirror")
    env = {**os.environ, "PIP_INDEX_URL": index.as_uri(), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    _one_package_stack(tmp_path, "{pypi: greet-mirror==1.0}")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "pmpm", "render", "stack.yml", "-o", f"out{i}"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0] * 4, [p.stderr.read() for p in procs]
    recipes = {(tmp_path / f"out{i}" / "p" / "recipe.yaml").read_text() for i in range(4)}
    assert len(recipes) == 1 and f"sha256: {digest}\n" in recipes.pop()
    store = tmp_path / "cache" / "pmpm" / "sdists"
    assert [p.name for p in (store / "sha256").iterdir()] == [digest]
    assert list((store / "tmp").iterdir()) == []

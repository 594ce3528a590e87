"""Fast rebuilds: up-to-date skipping, --force, --dirty, pmpm clean."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import STACKS, install_env, pmpm

from pmpm.builder.rebuild import DirtyWorkspace, sync_tree

pytestmark = pytest.mark.slow
V3 = ("--variant", "march=x86-64-v3")


@pytest.fixture()
def demo(tmp_path) -> Path:
    """A private copy of the demo stack and its sources, free to edit."""
    shutil.copytree(STACKS / "demo", tmp_path / "demo")
    shutil.copy(STACKS / "demo.yml", tmp_path / "demo.yml")
    return tmp_path


GATE = "_x86_64-microarch-level"  # its builds are published alongside the stack's own packages


def statuses(proc) -> dict[str, str]:
    return {p["name"]: p["status"] for p in json.loads(proc.stdout)["packages"] if p["name"] != GATE}


def edit_kernel(root: Path) -> None:
    src = root / "demo" / "libkern" / "src" / "kern.c"
    src.write_text(src.read_text().replace("y[i] = a * x[i] + y[i];", "y[i] = a * x[i] + y[i] + 1.0f;"))


def run_kern(prefix: Path) -> float:
    out = subprocess.run([prefix / "bin" / "kern", "1000", "2"], capture_output=True, text=True, check=True).stdout
    return float(out.split("sum=")[1].split()[0])


def test_unchanged_packages_are_up_to_date_and_dependency_changes_propagate(demo):
    assert statuses(pmpm("build", "demo.yml", *V3, "--json", cwd=demo)) == {"libkern": "built", "kern-cli": "built"}
    assert statuses(pmpm("build", "demo.yml", *V3, "--json", cwd=demo)) == {
        "libkern": "up to date",
        "kern-cli": "up to date",
    }
    cli_main = demo / "demo" / "kern-cli" / "main.c"
    cli_main.write_text(cli_main.read_text().replace("sum=%.1f", "total=%.1f"))
    assert statuses(pmpm("build", "demo.yml", *V3, "--json", cwd=demo)) == {
        "libkern": "up to date",
        "kern-cli": "built",
    }
    edit_kernel(demo)  # a change in a local dependency rebuilds its dependents
    assert statuses(pmpm("build", "demo.yml", *V3, "--json", cwd=demo)) == {"libkern": "built", "kern-cli": "built"}
    assert statuses(pmpm("build", "demo.yml", *V3, "--json", "--force", cwd=demo)) == {
        "libkern": "built",
        "kern-cli": "built",
    }


def test_dirty_picks_up_an_edit_and_recompiles_only_that_file(demo):
    pmpm("build", "demo.yml", *V3, "--dirty", cwd=demo)
    before = run_kern(install_env(demo / "local-channel", demo / "env1", ["kern-cli"]))
    edit_kernel(demo)
    pmpm("build", "demo.yml", *V3, "--dirty", cwd=demo)
    after = run_kern(install_env(demo / "local-channel", demo / "env2", ["kern-cli"]))
    assert after == pytest.approx(before + 2 * 1000 * 1.0)  # +1 per element per repetition
    # Republished under the same names: the listing (re-read for the replaced files only) is the new files'.
    for subdir in ("linux-64", "noarch"):
        listed = json.loads((demo / "local-channel" / subdir / "repodata.json").read_text())["packages.conda"]
        for name, record in listed.items():
            data = (demo / "local-channel" / subdir / name).read_bytes()
            assert (record["sha256"], record["size"]) == (hashlib.sha256(data).hexdigest(), len(data)), name
    log = next((demo / ".pmpm" / "logs").glob("libkern-*.log")).read_text()
    compiled = [line for line in log.splitlines() if "Building C object" in line]
    assert len(compiled) == 1 and "kern.c.o" in compiled[0], compiled
    workspace = next((demo / ".pmpm" / "dirty" / "libkern").iterdir())
    assert not (workspace / "src").exists()  # CMake builds straight from the user's tree: nothing copied


def _without_build_id(path: Path) -> bytes:
    """ELF bytes minus the GNU build-id: a hash the linker takes over its inputs, which include
    the build prefix, so two clean builds in different directories differ there too."""
    stripped = path.with_name(path.name + ".nobuildid")
    subprocess.run(["objcopy", "--remove-section=.note.gnu.build-id", path, stripped], check=True)
    return stripped.read_bytes()


def _contents(conda: Path, scratch: Path) -> dict[str, bytes]:
    """Every file of a .conda; timestamps, the recipe copy and ELF build-ids left out."""
    from rattler.package_streaming import extract

    out = scratch / conda.stem
    extract(conda, out)
    # Files that embed the install prefix carry the build's own host prefix, rewritten at install time.
    placeholders = {
        e.get("prefix_placeholder") for e in json.loads((out / "info" / "paths.json").read_text())["paths"]
    } - {None}
    files = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = str(path.relative_to(out))
        if rel.startswith("info/recipe/"):
            continue
        data = path.read_bytes()
        if data.startswith(b"\x7fELF"):
            data = _without_build_id(path)
        if rel == "info/index.json":
            data = json.dumps({k: v for k, v in json.loads(data).items() if k != "timestamp"}, sort_keys=True).encode()
        elif rel == "info/paths.json":
            entries = json.loads(data.decode())["paths"]
            for entry in entries:  # digests cover build-ids and placeholders; the bytes are compared above
                if "prefix_placeholder" in entry or (out / entry["_path"]).read_bytes().startswith(b"\x7fELF"):
                    entry.pop("sha256", None)
                    entry.pop("size_in_bytes", None)
            data = json.dumps(entries, sort_keys=True).encode()
        for placeholder in placeholders:
            data = data.replace(placeholder.encode(), b"P" * len(placeholder))
        files[rel] = data
    return files


def test_dirty_package_equals_a_clean_build_of_the_same_sources(demo):
    pmpm("build", "demo.yml", *V3, "--dirty", cwd=demo)
    edit_kernel(demo)
    dirty = json.loads(pmpm("build", "demo.yml", *V3, "--dirty", "--json", cwd=demo).stdout)
    kept = demo / "dirty-packages"
    kept.mkdir()
    dirty_files = {
        p["name"]: _contents(Path(shutil.copy(p["files"][0], kept)), demo / "xd")
        for p in dirty["packages"]
        if p["name"] != GATE
    }
    clean = json.loads(pmpm("build", "demo.yml", *V3, "--force", "--json", cwd=demo).stdout)
    for package in (p for p in clean["packages"] if p["name"] != GATE):
        assert package["status"] == "built"
        clean_files = _contents(Path(package["files"][0]), demo / "xc")
        mine = dirty_files[package["name"]]
        assert sorted(mine) == sorted(clean_files)
        assert [n for n in mine if mine[n] != clean_files[n]] == [], package["name"]


def test_sync_copies_only_changed_files(tmp_path):
    src, mirror = tmp_path / "src", tmp_path / "mirror"
    (src / "sub").mkdir(parents=True)
    for i in range(20):
        (src / "sub" / f"f{i}.c").write_text(f"int f{i};\n")
    assert sync_tree(src, mirror) == 20
    assert sync_tree(src, mirror) == 0
    (src / "sub" / "f3.c").write_text("int f3 = 3;\n")
    assert sync_tree(src, mirror) == 1
    assert (mirror / "sub" / "f3.c").read_text() == "int f3 = 3;\n"


def test_dirty_workspace_rewrites_its_recipe_only_when_the_recipe_changes(tmp_path):
    recipe = tmp_path / "recipes" / "pkg" / "recipe.yaml"
    recipe.parent.mkdir(parents=True)
    recipe.write_text(
        "package: {name: pkg, version: '1'}\nsource:\n  - path: ../../src\nbuild:\n  script:\n    content: [make]\n"
    )
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.c").write_text("int a;\n")
    workspace = DirtyWorkspace(tmp_path / "ws")
    derived = workspace.prepare(recipe, [src], "autotools")
    assert "source" not in derived.read_text() and str(workspace.mirror) in derived.read_text()
    written = derived.stat().st_mtime_ns
    (src / "a.c").write_text("int a = 1;\n")  # a source edit: same derived recipe, mirror synced
    assert workspace.prepare(recipe, [src], "autotools") == derived
    assert derived.stat().st_mtime_ns == written
    assert (workspace.mirror / "a.c").read_text() == "int a = 1;\n"
    recipe.write_text(recipe.read_text().replace("[make]", "[make, make install]"))  # a recipe edit
    assert "make install" in workspace.prepare(recipe, [src], "autotools").read_text()


def test_clean_reports_space_freed_per_package_and_all(demo):
    pmpm("build", "demo.yml", *V3, "--dirty", cwd=demo)
    out = pmpm("clean", "libkern", cwd=demo).stdout
    assert "dirty/libkern" in out and "freed" in out and "freed 0 B" not in out
    assert not (demo / ".pmpm" / "dirty" / "libkern").exists() and (demo / ".pmpm" / "dirty" / "kern-cli").exists()
    out = pmpm("clean", "--logs", cwd=demo).stdout
    assert not (demo / ".pmpm" / "dirty").exists() and not (demo / ".pmpm" / "logs").exists()
    assert (demo / "local-channel" / "linux-64" / "repodata.json").is_file()  # the channel is never touched

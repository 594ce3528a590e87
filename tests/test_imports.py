"""Import budgets: what each command loads before it does anything. Module-level imports are
the rule; the heavy libraries (the engine, the solver, the stack model, templates, the live
view) are loaded only by the code that needs them, and these tests say so per command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO

from pmpm.commands import COMMAND_MODULES

HEAVY = ("rattler_build", "rattler", "pydantic", "jinja2", "rich", "ruamel", "archspec", "filelock", "conda_pack")
# pmpm's own modules any start-up may load: the CLI's, and the small ones it is made of.
STARTUP = {
    "pmpm",
    "pmpm.cli",
    "pmpm.cli.main",
    "pmpm.cli.build",
    "pmpm.cli.envs",
    "pmpm.cli.legacy",
    "pmpm.cli.params",
    "pmpm.api",  # its names load on first use
    "pmpm.options",
    "pmpm.commands",
    "pmpm.commands.build",
    "pmpm.commands.envs",
    "pmpm.commands.legacy",
    "pmpm.manual",
    "pmpm.errors",
    "pmpm.__main__",
}


def _modules_after(statement: str) -> set[str]:
    """The modules loaded in a fresh interpreter once `statement` has run."""
    probe = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(proc.stdout.splitlines()[-1]))  # the statement may print first (--help)


def _loaded(argv: list[str]) -> dict[str, list[str]]:
    modules = _modules_after(
        f"from pmpm.cli import cli\ntry:\n    cli.main({argv!r}, standalone_mode=False)\n"
        "except (SystemExit, Exception):\n    pass"
    )
    return {
        "heavy": sorted(m for m in HEAVY if m in modules),
        "own": sorted(m for m in modules if m.startswith("pmpm")),
    }


@pytest.mark.parametrize("command", sorted(COMMAND_MODULES))
def test_help_of_every_command_loads_nothing_heavy(command):
    loaded = _loaded([command, "--help"])
    assert loaded["heavy"] == [], loaded["heavy"]
    assert set(loaded["own"]) <= STARTUP, sorted(set(loaded["own"]) - STARTUP)
    # Only its own family's module and option declarations (legacy reuses envs' install).
    families = {COMMAND_MODULES[command]} | ({"envs"} if COMMAND_MODULES[command] == "legacy" else set())
    others = {
        f"pmpm.{layer}.{family}" for layer in ("cli", "commands") for family in {"build", "envs", "legacy"} - families
    }
    assert others.isdisjoint(loaded["own"]), sorted(others & set(loaded["own"]))


def test_the_command_table_names_each_command_of_each_module():
    probe = (
        "from pmpm.cli import cli, build, envs, legacy\n"
        "print({name: c.callback.__module__ for name, c in sorted(cli.commands.items())})"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == str({name: f"pmpm.cli.{module}" for name, module in sorted(COMMAND_MODULES.items())})


def test_the_overview_lists_every_command():
    proc = subprocess.run([sys.executable, "-m", "pmpm", "--help"], capture_output=True, text=True, check=True)
    listed = proc.stdout.split("Commands:")[1].split()
    assert set(COMMAND_MODULES) <= set(listed)


def test_a_bad_option_is_refused_before_anything_heavy_loads():
    loaded = _loaded(["build", "--jobs", "0"])
    assert loaded["heavy"] == []


def test_a_build_starts_its_engine_workers_before_loading_the_engine():
    # `--dirty`/`--force` start the workers first thing: the module that does it loads no engine
    loaded = _modules_after("from pmpm.engines.spawn import prestart")
    assert not {"rattler_build", "rattler", "pmpm.engines.base"} & loaded
    # and pmpm's own process hands builds to workers without py-rattler (~30 ms with asyncio):
    # it is loaded while the first build runs, for the package check and the publish after it
    loaded = _modules_after("import pmpm.engines.registry, pmpm.builder.scheduler")
    assert "rattler_build" in loaded
    assert "rattler" not in loaded


# The layers, lowest first: a module may import its own layer's and lower layers' modules only.
LAYERS = [
    "foundation",
    "variants",
    "stack",
    "recipes",
    "channel",
    "envs",
    "engines",
    "builder",
    "executors",
    "api",
    "cli",
]


def _layer(module: str) -> str:
    part = module.split(".")[1] if "." in module else ""
    return part if part in LAYERS else "cli" if part == "__main__" else "foundation"


def _imports() -> set[tuple[str, str]]:
    """(importer, imported) for every import of a pmpm module inside pmpm, function-level ones too."""
    import ast

    root = REPO / "pmpm"
    edges = set()
    for path in root.rglob("*.py"):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
                for name in [None, *(a.name for a in node.names)]:
                    candidate = f"{target}.{name}" if name else target
                    if (REPO / f"{candidate.replace('.', '/')}.py").exists() or (
                        REPO / candidate.replace(".", "/") / "__init__.py"
                    ).exists():
                        edges.add((module, candidate))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                edges |= {(module, name) for name in names if name.startswith("pmpm.")}
    return edges


def test_no_module_imports_a_higher_layer():
    upward = [
        f"{a} -> {b}"
        for a, b in sorted(_imports())
        if b != "pmpm" and LAYERS.index(_layer(b)) > LAYERS.index(_layer(a))
    ]
    assert upward == []


def test_no_module_is_over_350_lines_and_the_cli_is_small():
    sizes = {p: len(p.read_text().splitlines()) for p in (REPO / "pmpm").rglob("*.py")}
    assert {str(p.relative_to(REPO)): n for p, n in sizes.items() if n > 350} == {}
    cli = sum(n for p, n in sizes.items() if p.parent.name == "cli")
    assert cli < 500, f"pmpm/cli/ has {cli} lines: parsing, calling the API and printing only"

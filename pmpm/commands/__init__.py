"""The commands' own options and their help, declared as data beside the build options of
`pmpm.options`: `pmpm.cli` derives its click commands from them, and the API's functions take
the same names as keywords. One module per module of `pmpm.cli`, so that a command's start-up
builds only its own family's dataclasses (each costs ~0.5 ms to create); like `options`,
nothing here imports anything heavy."""

JSON_HELP = "Print the result as JSON on stdout (progress and messages go to stderr)."
PREFIX_HELP = "Environment path."

# Which module of `pmpm.cli` (and of this package) defines each command. `pmpm.cli` imports a
# command's module only when it runs (or when `pmpm --help` lists them all), so a start-up
# builds its own options and no other command's. tests/test_imports.py checks the table.
COMMAND_MODULES = {
    **dict.fromkeys(("render", "build", "ci", "init", "add-pypi", "index", "status", "clean"), "build"),
    **dict.fromkeys(("create", "lock", "bundle", "pack", "verify", "run", "install"), "envs"),
    **dict.fromkeys(("conda_install", "system_install", "fetch"), "legacy"),
}

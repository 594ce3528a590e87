"""The commands' own options and their help, declared as data beside the build options of
`pmpm.options`: `pmpm.cli` derives its click commands from them, and the API's functions take
the same names as keywords. One module per module of `pmpm.cli`, so that a command's start-up
builds only its own family's dataclasses (each costs ~0.5 ms to create); like `options`,
nothing here imports anything heavy."""

JSON_HELP = "Print the result as JSON on stdout (progress and messages go to stderr)."
PREFIX_HELP = "Environment path."

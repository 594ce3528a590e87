"""The original python-pmpm's stack keys, read unchanged.

python-pmpm's `_pmpm:` section held build and install settings next to `dependencies`.
This module owns translating them before validation: `arch`/`tune` become the `march`/`mtune`
variants and `python_version` pins python (a variant and a conda spec). Keys that were
command-line behaviour in the original are errors whose message names pmpm's equivalent,
unless they ask for pmpm's default anyway (`skip_test: false`).
"""

from __future__ import annotations

import re
from typing import Any, Callable

# key -> (what it was, pmpm's equivalent); a falsy value asks for pmpm's default and is accepted.
REJECTED = {
    "skip_test": "pmpm runs each recipe's tests at build time; skip them with `pmpm build --no-test` "
    "or `pmpm conda_install --skip-test`",
    "fast_update": "pmpm rebuilds only what changed; reuse build trees with `pmpm build --dirty` "
    "or `pmpm conda_install --fast-update`",
    "conda": "pmpm solves and installs with py-rattler, no conda or mamba executable is used; remove it "
    "(`mamba create -c ./local-channel ...` still works on the built channel)",
    "update": "`pmpm build` rebuilds changed packages and `pmpm create` makes the environment afresh; remove it",
    "skip_conda": "pmpm always installs into one conda prefix; to build without creating it run `pmpm build`; remove it",
    "sub_platform": "pmpm builds linux-64 packages; choose the CPU with arch/march instead; remove it",
}
PREFIX_NAME = re.compile(r"^\w+_prefix_name$")
PREFIX_FIX = (
    "pmpm keeps downloads in ~/.cache/pmpm, build trees in .pmpm/ and packages in ./local-channel; "
    "the environment is `-p PREFIX`; remove it"
)
RENAMED = {"arch": "march", "tune": "mtune"}

Error = Callable[[str, str, str], Exception]  # (key under _pmpm, what, fix) -> the error to raise


def translate(doc: Any, error: Error) -> None:
    """Rewrite the original keys of `doc['_pmpm']` in place into pmpm's own, or raise `error(...)`."""
    section = doc.get("_pmpm") if isinstance(doc, dict) else None
    if not isinstance(section, dict):
        return
    for key in list(section):
        if key in REJECTED or PREFIX_NAME.match(str(key)):
            if section[key] in (False, None) and key in REJECTED and key != "conda":
                del section[key]  # asks for what pmpm does anyway
                continue
            raise error(key, f"python-pmpm's {key} has no place in a pmpm stack", REJECTED.get(key, PREFIX_FIX))
    for old, new in RENAMED.items():
        if old in section:
            _set_variant(section, new, section[old], old, error)
            del section[old]  # only now: an error above still finds its line
    if "python_version" in section:
        version = str(section["python_version"])
        _set_variant(section, "python", version, "python_version", error)
        del section["python_version"]
        _pin_python(doc, version)


def _set_variant(section: dict, key: str, value: Any, old: str, error: Error) -> None:
    variants = section.get("variants")
    if variants is None:
        variants = section["variants"] = {}
    if not isinstance(variants, dict):
        return  # the model reports the malformed variants itself
    if key in variants:
        raise error(old, f"{old} and variants.{key} are both given", f"keep only variants.{key}")
    variants[key] = value


def _pin_python(doc: dict, version: str) -> None:
    """The environment's python follows python_version unless the stack already names python."""
    deps = doc.get("dependencies")
    if deps is None:
        deps = doc["dependencies"] = []
    if not isinstance(deps, list):
        return
    named = any(isinstance(d, str) and re.split(r"[\s=<>!~]", d.strip(), 1)[0] == "python" for d in deps)
    if not named:
        deps.append(f"python {version}.*")  # appended: existing items keep their line numbers

"""Every option declared once (pmpm.options): the command line, the API, the replay key and the
command line of every Slurm or CI job derive from the same declarations."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import click
import pytest

from pmpm.cli import cli
from pmpm.cli.params import take
from pmpm.executors.units import Invocation, Unit
from pmpm.options import BuildOptions, BuildSettings, ChannelOptions, EngineOptions, RecipeOptions, flags, key, to_argv

GROUPS = (RecipeOptions, ChannelOptions, BuildSettings, EngineOptions)


def _not_default(group: type, root: Path):
    """An instance of `group` with every field set to something other than its default."""
    values = {}
    for f, flag in flags(group):
        if flag.choices:
            values[f.name] = next(c for c in flag.choices if c != f.default)
        elif isinstance(f.default, bool):
            values[f.name] = not f.default
        elif isinstance(f.default, int):
            values[f.name] = f.default + 2
        elif isinstance(f.default, tuple):
            values[f.name] = (root / "a.yaml", root / "b.yaml") if flag.path else ("x=1", "y=a,b")
        elif flag.path:
            values[f.name] = root / "elsewhere"
        else:
            values[f.name] = "/srv/mirror"
    return group(**values)


def _parse(argv: list[str]) -> dict:
    """`pmpm build ARGV` as click parses it, without running it."""
    return dict(cli.get_command(click.Context(cli), "build").make_context("build", ["stack.yml", *argv]).params)


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.__name__)
def test_every_option_round_trips_through_the_command_line(group, tmp_path):
    options = _not_default(group, tmp_path)
    argv = to_argv(options)
    assert len(argv) >= len(list(flags(group))), argv  # every field is spelled
    assert take(group, _parse(argv)) == options
    assert take(group, _parse([])) == group()  # and the defaults are the declared ones


def test_a_unit_job_repeats_every_option_of_the_submitting_command(tmp_path):
    recipes = _not_default(RecipeOptions, tmp_path)
    options = BuildOptions(
        **{
            name: _not_default(type(getattr(BuildOptions(), name)), tmp_path)
            for name in ("channels", "settings", "engine")
        }
    )
    unit = Unit("libkern", {"march": "x86-64-v3"})
    argv = Invocation((tmp_path / "stack.yml",), recipes, options).argv(unit, program=["pmpm"])
    assert argv[:5] == ["pmpm", "build", str(tmp_path / "stack.yml"), "--only-package", "libkern"]
    params = dict(cli.get_command(click.Context(cli), "build").make_context("build", argv[2:]).params)
    assert params["only"] == ("libkern",)
    assert take(RecipeOptions, params) == dataclasses.replace(recipes, variants=(*recipes.variants, "march=x86-64-v3"))
    for name, group in (("channels", ChannelOptions), ("settings", BuildSettings), ("engine", EngineOptions)):
        assert take(group, params) == getattr(options, name)
    # The four the Slurm executor used to drop (issue 23):
    for flag in ("--force", "--no-ccache", "--keep-going", "--no-test"):
        assert flag in argv


def test_the_replay_key_changes_with_every_option(tmp_path):
    base = key(*(group() for group in GROUPS))
    for group in GROUPS:
        changed = key(*(_not_default(g, tmp_path) if g is group else g() for g in GROUPS))
        differing = {k for k in base if base[k] != changed[k]}
        assert differing == {f"{group.__name__}.{f.name}" for f, _ in flags(group)}


def test_build_options_from_flat_keywords():
    options = BuildOptions.of(jobs=3, force=True, channel=Path("ch"), engine="conda-build")
    assert options.settings == BuildSettings(jobs=3, force=True)
    assert options.channels == ChannelOptions(channel=Path("ch"))
    assert options.engine == EngineOptions(engine="conda-build")
    assert options.replace(force=False).settings == BuildSettings(jobs=3)
    assert options.replace(state_dir=Path("elsewhere")).state_dir == Path("elsewhere")
    with pytest.raises(TypeError):
        BuildOptions.of(no_such_option=1)


ORDERS = {
    "build first": "pmpm.build",
    "another name first": "pmpm.recipe_set; pmpm.build",
    "the api module first": "pmpm.api; pmpm.build",
    "a subpackage first": "import pmpm.builder.scheduler; pmpm.build",
    "the cli first": "import pmpm.cli; pmpm.build",
}


@pytest.mark.parametrize("order", ORDERS.values(), ids=list(ORDERS))
def test_the_public_api_is_one_surface_in_every_access_order(order):
    code = (
        "import pmpm\n" + order.replace("; ", "\n") + "\n"
        "import pmpm.api\n"
        "assert pmpm.build is pmpm.api.build, pmpm.build\n"
        "assert all(getattr(pmpm, n) is getattr(pmpm.api, n) for n in pmpm.api.__all__)\n"
        "assert pmpm.read_lock is pmpm.api.read_lock\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    "command, given, missing",
    [("verify", ["-p", "env"], "--lock"), ("pack", ["-p", "env"], "--output"), ("bundle", ["s.yml"], "--output")],
)
def test_a_required_option_left_out_is_a_usage_error(command, given, missing):
    """click 8.3 takes an explicit default of None as a given value: `required` must still fire."""

    with pytest.raises(click.MissingParameter) as caught:
        cli.get_command(click.Context(cli), command).make_context(command, list(given))
    assert missing in caught.value.format_message()


def test_an_s3_channel_reaches_a_job_as_written():
    """A Path would fold `s3://b/p` into `s3:/b/p`: the URL travels to Slurm and CI jobs intact."""
    options = ChannelOptions(channel="s3://team-bucket/stack", upstream=("conda-forge",))
    argv = to_argv(options)
    assert argv == ["--channel=s3://team-bucket/stack", "--upstream=conda-forge"]
    assert take(ChannelOptions, _parse(argv)) == options


def test_a_mistyped_s3_url_is_refused_not_taken_for_a_directory(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pmpm", "build", "--channel", "s3:/bucket/stack", "stack.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "'s3:/bucket/stack' is not an S3 channel URL" in proc.stderr
    assert "s3://BUCKET/PREFIX" in proc.stderr
    assert list(tmp_path.iterdir()) == []  # no directory named s3: made

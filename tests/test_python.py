"""Compiled Python packages: a pmpm-built python channel, numpy with march flags, the demo extension.

The fixture channel (tests/python_fixture.py) is built once and kept between runs by
pmpm's own fingerprints; a clean CI run builds it from scratch (about 3 minutes).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import STACKS, pmpm
from python_fixture import cache_root, numpy_package, objdump_ymm, write_stack

# A clean run builds CPython (~2.5 min) and numpy twice (~9 min) inside the first tests' fixtures.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]
FIXTURES = Path(__file__).parent / "fixtures"
V3 = {"CONDA_OVERRIDE_ARCHSPEC": "x86_64_v3"}
BASE = {"CONDA_OVERRIDE_ARCHSPEC": "x86_64"}


@pytest.fixture(scope="session")
def python_channel() -> Path:
    root = cache_root()
    stack = write_stack(root)
    pmpm("build", stack, "--channel", root / "channel", cwd=stack.parent, timeout=2400)
    return root / "channel"


def upstream(channel: Path) -> list:
    return ["--override-channels", "-c", channel]


def env_python(prefix: Path, code: str, env: dict | None = None) -> str:
    return subprocess.run(
        [prefix / "bin" / "python", "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout


def test_fixture_python_runs_with_its_stdlib(python_channel, tmp_path):
    (tmp_path / "s.yml").write_text("name: s\nchannels: []\ndependencies: [python 3.11.*, pip]\n")
    pmpm("create", "s.yml", "-p", tmp_path / "env", *upstream(python_channel), cwd=tmp_path)
    out = env_python(tmp_path / "env", "import ssl, sqlite3, ctypes, sys; print(sys.version.split()[0], sys.prefix)")
    assert out.split() == ["3.11.2", str(tmp_path / "env")]


def test_noarch_python_package_with_entry_points(python_channel, tmp_path):
    shutil.copytree(FIXTURES / "pyhello", tmp_path / "pyhello")
    (tmp_path / "s.yml").write_text("""\
name: s
channels: []
dependencies: [python 3.11.*]
_pmpm:
  packages:
    - name: pyhello
      version: "1.0"
      source: {path: pyhello}
      kind: python
      noarch: python
      entry_points: ["pyhello = pyhello:main"]
      tests: {imports: [pyhello], commands: [pyhello]}
""")
    report = json.loads(pmpm("build", "s.yml", *upstream(python_channel), "--json", cwd=tmp_path).stdout)
    package = Path(report["packages"][0]["files"][0])
    assert package.parent.name == "noarch" and "-pyh" in package.name
    from rattler.package_streaming import extract

    extract(package, tmp_path / "x")
    index = json.loads((tmp_path / "x" / "info" / "index.json").read_text())
    assert index["noarch"] == "python" and not any(d.startswith("python ") and "<" in d for d in index["depends"])
    assert (tmp_path / "x" / "site-packages" / "pyhello" / "__init__.py").is_file()
    assert not (tmp_path / "x" / "bin").exists()  # scripts are made at install time
    prefix = tmp_path / "env"
    pmpm("create", "s.yml", "-p", prefix, *upstream(python_channel), cwd=tmp_path)
    out = subprocess.run([prefix / "bin" / "pyhello"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"hello from pyhello on python 3.11 at {prefix}"


def test_pip_list_is_applied_with_the_envs_own_pip(python_channel, tmp_path):
    (tmp_path / "s.yml").write_text(
        "name: s\nchannels: []\ndependencies:\n  - python 3.11.*\n  - pip\n  - pip:\n      - six==1.16.0\n"
    )
    prefix = tmp_path / "env"
    pmpm("create", "s.yml", "-p", prefix, *upstream(python_channel), cwd=tmp_path)
    assert env_python(prefix, "import six; print(six.__version__, six.__file__)").split()[0] == "1.16.0"
    assert str(prefix) in env_python(prefix, "import six; print(six.__file__)")


@pytest.fixture(scope="session")
def numpy_channel(python_channel) -> Path:
    """numpy from its sdist for the baseline and x86-64-v3 (cached like the python fixture)."""
    root = cache_root()
    stack = root / "numpy" / "numpy.yml"
    stack.parent.mkdir(exist_ok=True)
    stack.write_text("name: numpy\nchannels: []\ndependencies: []\n_pmpm:\n  packages:\n" + numpy_package(root))
    pmpm(
        "build",
        stack,
        "--variant",
        "march=x86-64,x86-64-v3",
        *upstream(python_channel),
        "--channel",
        root / "numpy-channel",
        cwd=stack.parent,
        timeout=3000,
    )
    return root / "numpy-channel"


@pytest.mark.parametrize("archspec, march", [("x86_64", "x86-64"), ("x86_64_v3", "x86-64-v3")])
def test_numpy_built_with_march_flags(numpy_channel, python_channel, tmp_path, archspec, march):
    (tmp_path / "s.yml").write_text("name: s\nchannels: []\ndependencies: [numpy, python 3.11.*]\n")
    prefix = tmp_path / "env"
    pmpm(
        "create",
        "s.yml",
        "-p",
        prefix,
        "--channel",
        numpy_channel,
        *upstream(python_channel),
        cwd=tmp_path,
        env={"CONDA_OVERRIDE_ARCHSPEC": archspec},
    )
    tag = march.replace("-", "_")
    meta = json.loads(next((prefix / "conda-meta").glob("numpy-*.json")).read_text())
    assert meta["build"].startswith("py311h") and meta["build"].endswith(f"_{tag}_0")
    config = json.loads(env_python(prefix, "import json, numpy; print(json.dumps(numpy.show_config(mode='dicts')))"))
    c_args = config["Compilers"]["c"]["args"]
    assert f"-march={march}" in c_args and "-O3" in c_args, c_args
    check = "import numpy as np; a = np.arange(1, 10001, dtype=np.float64); print(float(a @ a), float(np.linalg.norm(a) ** 2))"
    dot, norm2 = map(float, env_python(prefix, check).split())
    assert dot == 10000 * 10001 * 20001 / 6 and abs(norm2 - dot) / dot < 1e-12


@pytest.fixture(scope="module")
def demo_python(python_channel, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo-python")
    pmpm(
        "build", STACKS / "demo-python.yml", "--variant", "march=x86-64,x86-64-v3", *upstream(python_channel), cwd=root
    )
    return root


@pytest.mark.parametrize("env, isa, build_tag", [(BASE, "sse2", "_x86_64_0"), (V3, "avx2", "_x86_64_v3_0")])
def test_demo_extension_per_variant(demo_python, python_channel, tmp_path, env, isa, build_tag):
    prefix = tmp_path / "env"
    pmpm(
        "create",
        STACKS / "demo-python.yml",
        "-p",
        prefix,
        "--channel",
        demo_python / "local-channel",
        *upstream(python_channel),
        cwd=demo_python,
        env=env,
    )
    meta = json.loads(next((prefix / "conda-meta").glob("pykern-*.json")).read_text())
    assert meta["build"].startswith("py311h") and meta["build"].endswith(build_tag)
    assert env_python(prefix, "import pykern; print(*pykern.isa())").split() == [isa, isa]
    expected = 1000 * 2.0 + sum(0.5 * (i % 7) for i in range(1000)) * 3
    assert float(env_python(prefix, "import pykern; print(pykern.saxpy(1000, 3))")) == expected
    extension = next((prefix / "lib" / "python3.11" / "site-packages").glob("pykern*.so"))
    assert (objdump_ymm(extension) > 0) == (isa == "avx2")  # the variant's flags reached setuptools


def test_pypi_c_extension_through_pips_configuration(python_channel, tmp_path):
    """A real C extension from its PyPI sdist, fetched through pip's own index configuration."""
    (tmp_path / "s.yml").write_text("""\
name: s
channels: []
dependencies: [python 3.11.*, bitarray]
_pmpm:
  variants: {march: [x86-64-v3]}
  packages:
    - name: bitarray
      version: "3.0.0"
      source: {pypi: bitarray==3.0.0}
      kind: python
      tests: {imports: [bitarray]}
""")
    pmpm("build", "s.yml", *upstream(python_channel), cwd=tmp_path)
    recipe = (tmp_path / "recipes" / "bitarray" / "recipe.yaml").read_text()
    assert "file://" in recipe and "pypi.org" not in recipe  # the sdist pip fetched, wherever pip fetched it
    pmpm("create", "s.yml", "-p", tmp_path / "env", *upstream(python_channel), cwd=tmp_path, env=V3)
    out = env_python(
        tmp_path / "env",
        "import bitarray; a = bitarray.bitarray('1011' * 1000); "
        "print(a.count(1), bitarray.__version__, bitarray._bitarray.__file__)",
    )
    count, version, library = out.split()
    assert (count, version) == ("3000", "3.0.0") and library.startswith(str(tmp_path / "env"))
    assert objdump_ymm(Path(library)) > 0  # built for x86-64-v3, not conda-forge's baseline


SETUPTOOLS_80 = """\
name: s
channels: []
dependencies: [python 3.11.*, setuptools]
_pmpm:
  packages:
    - name: setuptools
      version: "80.9.0"
      source: {{pypi: setuptools==80.9.0}}
      kind: python
      noarch: python
{extra}"""


def test_a_package_built_while_an_older_copy_could_sit_in_its_host_env_comes_out_whole(python_channel, tmp_path):
    """setuptools 80.9.0 over the channel's 75.1.0 (issues 29 and 30): pmpm no longer puts the
    package into its own host env, and every file its RECORD lists is in the package."""
    from pmpm.engines.contents import missing_from_record

    (tmp_path / "s.yml").write_text(SETUPTOOLS_80.format(extra=""))
    report = json.loads(pmpm("build", "s.yml", *upstream(python_channel), "--json", cwd=tmp_path).stdout)
    [package] = [Path(f) for p in report["packages"] if p["name"] == "setuptools" for f in p["files"]]
    missing, listed = asyncio.run(missing_from_record(package))
    assert listed > 400 and missing == []  # top-level distribution only: not its vendored dist-infos
    prefix = tmp_path / "env"
    pmpm("create", "s.yml", "-p", prefix, *upstream(python_channel), cwd=tmp_path)
    assert env_python(prefix, "from setuptools import build_meta; import setuptools; print(setuptools.__version__)")
    assert env_python(prefix, "import setuptools; print(setuptools.__version__)").strip() == "80.9.0"


def test_a_package_missing_files_its_record_lists_is_not_published(python_channel, tmp_path):
    """Asked for explicitly, the old copy in the host env makes the engine leave out every file
    the build overwrote: the build fails, naming the cause, and the channel gets nothing."""
    (tmp_path / "s.yml").write_text(
        SETUPTOOLS_80.format(extra="      requirements: {host: [python, pip, setuptools]}\n")
    )
    proc = pmpm("build", "s.yml", *upstream(python_channel), cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert "of the" in proc.stderr + proc.stdout and "files its wheel's RECORD lists" in proc.stderr + proc.stdout
    assert "setuptools/__init__.py" in proc.stderr + proc.stdout
    assert not list((tmp_path / "local-channel").glob("*/setuptools-80*"))

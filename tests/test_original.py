"""The original python-pmpm's users: their stack files, commands, packages and offline clusters (issue 12).

The 14 example stacks of python-pmpm are read from ../shared/orig-pmpm-examples (data of that
project, never copied here; skipped when absent). tests/fixtures/original/ holds stacks of
our own in their shape.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import shutil
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest
from conftest import REPO, pmpm
from ruamel.yaml import YAML


def _load(text: str):
    return YAML(typ="safe").load(text)


ORIGINALS = REPO.parent / "shared" / "orig-pmpm-examples"
ORIGINAL_FILES = sorted(ORIGINALS.glob("*.yml"))
OWN = REPO / "tests" / "fixtures" / "original"


@pytest.mark.skipif(not ORIGINAL_FILES, reason=f"python-pmpm's examples are not at {ORIGINALS}")
@pytest.mark.parametrize("name", [p.name for p in ORIGINAL_FILES] or ["none"])
def test_original_example_renders_unchanged(name: str, tmp_path: Path):
    # The macOS files render too: recipes are the same, pmpm builds them for linux-64 (its only platform).
    out = tmp_path / "recipes"
    proc = pmpm("render", ORIGINALS / name, "-o", out, "--json", cwd=tmp_path)
    result = json.loads(proc.stdout)
    pmpm_section = _load((ORIGINALS / name).read_text())["_pmpm"]
    expected = [entry.split("=")[0] for entry in pmpm_section["dependencies"]]
    assert sorted(result["order"]) == sorted(expected)
    toast = (out / "toast" / "recipe.yaml").read_text()
    assert "toast-3.0.6.tar.gz" in toast and "scikit-build-core" in toast
    if "libmadam" in expected:
        assert (
            "git: \"https://github.com/hpc4cmb/libmadam\"" in (out / "libmadam" / "recipe.yaml").read_text()
            or "git: https://github.com/hpc4cmb/libmadam" in (out / "libmadam" / "recipe.yaml").read_text()
        )


def test_own_fixtures_translate_original_keys(tmp_path: Path):
    from pmpm.api import load_stack, stack_variants

    stack = load_stack(OWN / "linux.yml")
    assert stack.model.pmpm.variants == {"march": "x86-64-v3", "mtune": "generic", "python": "3.11"}
    assert "python 3.11.*" in stack.conda_specs
    assert [p.name for p in stack.packages] == ["libmadam", "toast"]
    assert stack.package("toast").source.pypi == "toast==3.0.6"  # toast3 is the TOAST 3 release
    variants = stack_variants(stack)
    assert variants.values["march"] == ["x86-64-v3"] and variants.values["mtune"] == ["generic"]
    for name in ("macos.yml", "nompi-nomkl.yml"):
        out = tmp_path / name
        pmpm("render", OWN / name, "-o", out, cwd=tmp_path)
        assert (out / "toast" / "recipe.yaml").is_file()


def test_nodefaults_is_not_a_channel(tmp_path: Path):
    from pmpm.channel.layout import search_order
    from pmpm.channel.local import LocalChannel

    order = search_order(LocalChannel(tmp_path / "ch"), ["conda-forge", "nodefaults"])
    assert order == [(tmp_path / "ch").as_uri(), "conda-forge"]


def test_toast_recipe_accepted_by_the_engine(tmp_path: Path):
    import rattler_build  # the engine's own parser and renderer

    pmpm("render", OWN / "linux.yml", "-o", tmp_path / "r", cwd=tmp_path)
    config = rattler_build.VariantConfig.from_conda_build_config(
        str(tmp_path / "r" / "conda_build_config.yaml"),
        rattler_build.JinjaConfig(platform=rattler_build.PlatformConfig(target_platform="linux-64")),
    )
    variants = rattler_build.Stage0Recipe.from_file(tmp_path / "r" / "toast" / "recipe.yaml").render(config)
    assert [v.recipe.build.string for v in variants] == ["py311h" + variants[0].recipe.build.string[6:]]
    assert variants[0].recipe.build.string.endswith("_x86_64_v3_0")


@pytest.mark.parametrize("mode", ["conda", "system"])
def test_catalogue_toast_takes_conda_forge_s_blas_only_in_conda_mode(mode: str, tmp_path: Path):
    """catalogue/toast.yml's `conda:` part: conda-forge's BLAS/LAPACK, SuiteSparse, cmake and ninja with
    CMake pointed at them in conda mode; in system mode none of them (CMake finds the host's BLAS)."""
    from pmpm.api import load_stack

    stack = tmp_path / "stack.yml"
    stack.write_text(f"channels: [nodefaults]\n_pmpm:\n  compiler: {mode}\n  dependencies: [toast]\n")
    pmpm("render", stack, "-o", tmp_path / "r", cwd=tmp_path)
    recipe = (tmp_path / "r" / "toast" / "recipe.yaml").read_text()
    conda_only = ("- libblas", "- liblapack", "- suitesparse", "- cmake", "BLAS_LIBRARIES", "SUITESPARSE_INCLUDE")
    assert [word in recipe for word in conda_only] == [mode == "conda"] * len(conda_only), recipe
    assert "backport.find-python=0" in recipe and "- fftw" in recipe and "- scikit-build-core >=0.11" in recipe
    forced = load_stack(stack, compiler="system").package("toast")  # pmpm system_install of a conda stack
    assert "libblas" not in forced.requirements.host and forced.requirements.build == []


# --- source mirror ----------------------------------------------------------------------

MAKEFILE = """\
all: libgreet.so greet
libgreet.so: greet.c
\t$(CC) $(CFLAGS) -shared -fPIC -o $@ $< $(LDFLAGS)
greet: main.c libgreet.so
\t$(CC) $(CFLAGS) -o $@ main.c -L. -lgreet $(LDFLAGS)
install:
\tmkdir -p $(PREFIX)/lib $(PREFIX)/bin
\tcp libgreet.so $(PREFIX)/lib/ && cp greet $(PREFIX)/bin/
"""


def _git_repo(path: Path, message: str) -> str:
    """An upstream stand-in: a repository with a tag v1.0 and a branch main."""
    path.mkdir(parents=True)
    (path / "Makefile").write_text(MAKEFILE)
    (path / "greet.c").write_text(f'const char *greet(void) {{ return "{message}"; }}\n')
    (path / "main.c").write_text(
        '#include <stdio.h>\nconst char *greet(void);\nint main(void) { puts(greet()); return 0; }\n'
    )
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "HOME": str(path),
        "PATH": "/usr/bin:/bin",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "one"], ["tag", "v1.0"]):
        subprocess.run(["git", *args], cwd=path, check=True, env=env)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=path, check=True, capture_output=True, text=True
    ).stdout.strip()


def _greet_stack(root: Path, repo: Path) -> Path:
    stack = root / "stack.yml"
    stack.write_text(f"""\
channels: [nodefaults]
_pmpm:
  arch: x86-64
  packages:
    - name: greet
      version: "1.0"
      source: {{git: "{repo.as_uri()}", rev: v1.0}}
      kind: make
      make_args: []
      tests: {{commands: ["greet | grep -q hello"]}}
""")
    return stack


def test_mirror_round_trip_builds_without_the_git_url(tmp_path: Path):
    repo = tmp_path / "upstream" / "greet"
    commit = _git_repo(repo, "hello from git")
    stack = _greet_stack(tmp_path, repo)
    fetched = pmpm("fetch", stack, "--to", tmp_path / "mirror", cwd=tmp_path)
    assert "fetched  greet: git source" in fetched.stdout
    record = json.loads((tmp_path / "mirror" / "sources.json").read_text())[f"git {repo.as_uri()}@v1.0"]
    assert record["commit"] == commit and (tmp_path / "mirror" / record["path"]).is_file()
    assert "present" in pmpm("fetch", stack, "--to", tmp_path / "mirror", cwd=tmp_path).stdout

    shutil.move(tmp_path / "upstream", tmp_path / "gone")  # the git URL no longer works
    without = pmpm("build", stack, "--offline", cwd=tmp_path, check=False)
    assert without.returncode != 0
    prefix = tmp_path / "env"
    pmpm("conda_install", prefix, "--file", stack, "--offline", "--source-mirror", tmp_path / "mirror", cwd=tmp_path)
    assert subprocess.run([prefix / "bin" / "greet"], capture_output=True, text=True).stdout == "hello from git\n"
    recipe = (tmp_path / "recipes" / "greet" / "recipe.yaml").read_text()
    assert "git:" not in recipe and (tmp_path / "mirror").as_uri() in recipe


def test_fetch_tries_every_source_before_it_names_the_one_it_could_not_fetch(tmp_path: Path):
    repo = tmp_path / "upstream" / "greet"
    _git_repo(repo, "hi")
    gone = (tmp_path / "upstream" / "gone").as_uri()
    stack = _greet_stack(tmp_path, repo)
    text = stack.read_text().replace(
        "  packages:\n",
        "  packages:\n"
        + "".join(
            f"    - name: {name}\n      version: '1.0'\n      source: {{git: '{gone}', rev: {rev}}}\n      kind: make\n"
            for name, rev in (("lost", "v1.0"), ("lost-too", "v2.0"))
        ),
    )
    stack.write_text(text)
    proc = pmpm("fetch", stack, "--to", tmp_path / "mirror", cwd=tmp_path, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "fetched  greet: git source" in proc.stdout  # listed after the unreachable one, fetched all the same
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"lost: git source {gone}: fatal: ") and "does not appear to be a git repository" in line
    assert line.endswith(f" (and 1 more: lost-too); every other source is in {tmp_path / 'mirror'}/")
    assert [k for k in json.loads((tmp_path / "mirror" / "sources.json").read_text())] == [f"git {repo.as_uri()}@v1.0"]


def test_a_source_missing_from_the_mirror_fails_only_its_package(tmp_path: Path):
    """A partial mirror: the package whose source is not in it fails, with one line naming source
    and mirror; with -k every other package still builds."""
    repo = tmp_path / "upstream" / "greet"
    _git_repo(repo, "hi")
    stack = _greet_stack(tmp_path, repo)
    (tmp_path / "local").mkdir()
    stack.write_text(
        stack.read_text()
        + """    - name: local-tool
      version: "1.0"
      source: {path: local}
      kind: script
      script: ["mkdir -p $PREFIX/share && echo ok > $PREFIX/share/local-tool"]
"""
    )
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "sources.json").write_text("{}")
    rendered = pmpm("render", stack, "--source-mirror", tmp_path / "mirror", cwd=tmp_path)
    assert "rendered 2 recipe(s)" in rendered.stdout
    proc = pmpm("build", stack, "--source-mirror", tmp_path / "mirror", "-k", "--json", cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    status = {p["name"]: p for p in json.loads(proc.stdout)["packages"]}
    assert status["local-tool"]["status"] == "built"
    assert status["greet"]["status"] == "failed"
    assert status["greet"]["message"].splitlines()[0] == (
        f"git source {repo.as_uri()}@v1.0 is not in the source mirror {tmp_path / 'mirror'} (run `pmpm fetch STACK "
        "--to MIRROR` where the network is reachable, or `pmpm fetch --add URL@REV FILE --to MIRROR`)"
    )


@pytest.fixture
def http_server():
    servers = []

    def serve(directory: Path) -> str:
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()


def test_mirror_served_over_http_with_an_imported_tarball(tmp_path: Path, http_server):
    """A site that got a tarball on a disk: `fetch --add`, served by a static HTTP server, built from there."""
    repo = tmp_path / "upstream" / "greet"
    _git_repo(repo, "hello over http")
    tarball = tmp_path / "greet-v1.0.tar.gz"
    subprocess.run(
        ["git", "archive", "--format=tar.gz", "--prefix=greet-1.0/", "-o", tarball, "v1.0"], cwd=repo, check=True
    )
    stack = _greet_stack(tmp_path, repo)
    shutil.move(tmp_path / "upstream", tmp_path / "gone")
    pmpm("fetch", "--add", f"{repo.as_uri()}@v1.0", tarball, "--to", tmp_path / "mirror", cwd=tmp_path)
    url = http_server(tmp_path / "mirror")
    proc = pmpm("build", stack, "--json", cwd=tmp_path, env={"PMPM_SOURCE_MIRROR": url})
    report = json.loads(proc.stdout)["packages"]
    assert [r["status"] for r in report if r["name"] == "greet"] == ["built"], report
    recipe = (tmp_path / "recipes" / "greet" / "recipe.yaml").read_text()
    assert f"{url}/files/" in recipe and "git:" not in recipe


# --- an autotools + MPI Fortran package in the style of libmadam, system mode -----------

MINI_CONFIGURE_AC = """\
AC_INIT([minimadam], [0.1])
AM_INIT_AUTOMAKE([foreign])
AC_CONFIG_MACRO_DIR([m4])
dnl As libmadam: the MPI Fortran wrapper comes in as MPIFC (system mode finds it on PATH).
if test -n "$MPIFC"; then FC="$MPIFC"; fi
AC_PROG_CC
AC_PROG_FC
LT_INIT
AC_ARG_WITH([fftw], [AS_HELP_STRING([--with-fftw=DIR], [FFTW prefix])], [], [with_fftw=/usr])
AC_SUBST([FFTW_DIR], [$with_fftw])
AC_CONFIG_FILES([Makefile])
AC_OUTPUT
"""

MINI_MAKEFILE_AM = """\
ACLOCAL_AMFLAGS = -I m4
lib_LTLIBRARIES = libminimadam.la
libminimadam_la_SOURCES = minimadam.f90
libminimadam_la_FCFLAGS = -I$(FFTW_DIR)/include
libminimadam_la_LIBADD = -lfftw3 -lcfitsio -llapack -lblas
"""

MINI_F90 = """\
! FFTW through its Fortran 2003 interface, BLAS, LAPACK, CFITSIO (C, bound) and MPI.
module minimadam
  use, intrinsic :: iso_c_binding
  use mpi
  implicit none
  include 'fftw3.f03'
  interface
    function ffvers(v) bind(c, name="ffvers")
      import :: c_float
      real(c_float) :: v, ffvers
    end function
  end interface
contains
  function minimadam_check() result(ok) bind(c, name="minimadam_check")
    integer(c_int) :: ok
    real(c_double) :: x(8), a(2,2), b(2,2), c(2,2), rhs(2)
    complex(c_double_complex) :: y(5)
    integer :: ipiv(2), info, ierr, nproc
    real(c_float) :: version
    type(c_ptr) :: plan
    x = 1.0d0
    plan = fftw_plan_dft_r2c_1d(8, x, y, FFTW_ESTIMATE)
    call fftw_execute_dft_r2c(plan, x, y)
    call fftw_destroy_plan(plan)
    a = reshape([2d0, 0d0, 0d0, 4d0], [2, 2]); b = reshape([1d0, 1d0, 1d0, 1d0], [2, 2])
    call dgemm('N', 'N', 2, 2, 2, 1d0, a, 2, b, 2, 0d0, c, 2)
    rhs = [2d0, 4d0]
    call dgesv(2, 1, a, 2, ipiv, rhs, 2, info)
    version = ffvers(version)
    call MPI_Comm_size(MPI_COMM_WORLD, nproc, ierr)
    ok = 0
    if (abs(real(y(1)) - 8d0) < 1d-12 .and. c(2, 1) == 4d0 .and. info == 0 .and. all(abs(rhs - 1d0) < 1d-12) &
        .and. version > 3.0 .and. nproc == 1) ok = 1
  end function
end module
"""

MINI_PROGRAM = """\
program check
  use, intrinsic :: iso_c_binding
  use mpi
  implicit none
  interface
    function minimadam_check() bind(c, name="minimadam_check")
      import :: c_int
      integer(c_int) :: minimadam_check
    end function
  end interface
  integer :: ierr
  call MPI_Init(ierr)
  if (minimadam_check() == 1) then
    print '(a)', 'minimadam ok'
  else
    print '(a)', 'minimadam FAILED'
  end if
  call MPI_Finalize(ierr)
end program
"""

NEEDS = {"mpifort": "openmpi-bin", "autoreconf": "autoconf", "libtoolize": "libtool"}
HEADERS = {"/usr/include/fftw3.f03": "libfftw3-dev", "/usr/include/fitsio.h": "libcfitsio-dev"}


def _missing_host_packages() -> list[str]:
    return [pkg for exe, pkg in NEEDS.items() if not shutil.which(exe)] + [
        pkg for path, pkg in HEADERS.items() if not Path(path).is_file()
    ]


@pytest.mark.slow
@pytest.mark.skipif(bool(_missing_host_packages()), reason=f"apt packages missing: {_missing_host_packages()}")
def test_libmadam_style_package_with_system_mpi(tmp_path: Path):
    src = tmp_path / "minimadam"
    (src / "m4").mkdir(parents=True)
    (src / "configure.ac").write_text(MINI_CONFIGURE_AC)
    (src / "Makefile.am").write_text(MINI_MAKEFILE_AM)
    (src / "minimadam.f90").write_text(MINI_F90)
    (src / "autogen.sh").write_text("#!/bin/sh\nset -e\nautoreconf -fi\n")  # libmadam's way in
    stack = tmp_path / "stack.yml"
    stack.write_text("""\
channels: [nodefaults]
_pmpm:
  packages:
    - name: minimadam
      version: "0.1"
      source: {path: minimadam}
      kind: autotools
      compilers: [c, fortran]
      configure_args: [--with-fftw=/usr, --enable-static]  # pmpm passes --disable-static first: the last wins
      tests: {commands: ['test -f "$PREFIX/lib/libminimadam.so"', 'test -f "$PREFIX/lib/libminimadam.a"']}
""")
    prefix = tmp_path / "env"
    pmpm(
        "system_install",
        prefix,
        "--file",
        stack,
        "--arch",
        "x86-64-v2",
        "--tune",
        "generic",
        cwd=tmp_path,
        timeout=1200,
    )
    library = prefix / "lib" / "libminimadam.so"
    needed = subprocess.run(["readelf", "-d", library], capture_output=True, text=True, check=True).stdout
    assert "libmpi_mpifh" in needed or "libmpi_usempif08" in needed or "libmpi" in needed, needed
    assert all(lib in needed for lib in ("libfftw3", "libcfitsio", "liblapack", "libblas")), needed
    (tmp_path / "check.f90").write_text(MINI_PROGRAM)
    subprocess.run(
        [
            "mpifort",
            "-o",
            tmp_path / "check",
            tmp_path / "check.f90",
            f"-L{prefix / 'lib'}",
            "-lminimadam",
            f"-Wl,-rpath,{prefix / 'lib'}",
        ],
        check=True,
    )
    env = {
        "OMPI_ALLOW_RUN_AS_ROOT": "1",
        "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
        "PATH": "/usr/bin:/bin",
        "OMPI_MCA_plm": "isolated",
        "OMPI_MCA_btl_vader_single_copy_mechanism": "none",
    }
    run = subprocess.run(
        ["mpirun", "-n", "1", tmp_path / "check"], capture_output=True, text=True, env=env, timeout=120
    )
    assert run.stdout.strip() == "minimadam ok", run.stdout + run.stderr


# --- a Debian source package through the mirror: fftw3's orig tarball for the catalogue's fftw --

FFTW = ("fftw3", "3.3.10")  # Debian bookworm's fftw3 3.3.10-1; catalogue/fftw.yml pins the same release
DEAD_PROXY = {
    name: "http://127.0.0.1:9"
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
}
DFT_INPUT = [1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0]
DFT_C = """\
#include <stdio.h>
#include <fftw3.h>
int main(void) {
    double in[8] = {1, 2, 3, 4, 0, 0, 0, 0};
    fftw_complex out[5];
    fftw_plan plan = fftw_plan_dft_r2c_1d(8, in, out, FFTW_ESTIMATE);
    fftw_execute(plan);
    for (int k = 0; k < 5; k++) printf("%d %.9f %.9f\\n", k, out[k][0] + 0.0, out[k][1] + 0.0);
    fftw_destroy_plan(plan);
    printf("%s\\n", fftw_version);
    return 0;
}
"""


@pytest.mark.slow
def test_debian_orig_tarball_through_the_mirror_builds_catalogue_fftw(tmp_path: Path):
    """A site given Debian's fftw3 orig tarball on a disk: `fetch --add` it under the catalogue's upstream URL, build
    the catalogue's fftw unchanged with --offline and every proxy dead, `pmpm create`, link an 8-point DFT to it."""
    import cmath

    from python_fixture import cache_root
    from sources_fixture import debian_orig_tarball

    from pmpm import resources
    from pmpm.yamlio import read_yaml

    tarball = debian_orig_tarball(cache_root(), *FFTW)
    entry = read_yaml(resources.catalogue_dir() / "fftw.yml")
    assert entry["version"] == FFTW[1]
    assert hashlib.sha256(tarball.read_bytes()).hexdigest() == entry["source"]["sha256"]  # byte-identical upstream
    upstream_url = entry["source"]["url"]
    stack = tmp_path / "stack.yml"
    stack.write_text("channels: [nodefaults]\n_pmpm:\n  arch: x86-64\n  dependencies: [fftw]\n")
    mirror = tmp_path / "mirror"
    added = pmpm("fetch", "--add", upstream_url, tarball, "--to", mirror, cwd=tmp_path)
    assert added.stdout.strip() == f"added url source {upstream_url} to {mirror}/"
    # The stack's own fetch finds it under the catalogue's source: nothing is downloaded.
    assert f"present  fftw: url source {upstream_url}" in pmpm("fetch", stack, "--to", mirror, cwd=tmp_path).stdout

    without = pmpm("build", stack, "--offline", cwd=tmp_path, check=False, env=DEAD_PROXY)
    assert without.returncode != 0 and upstream_url in without.stdout + without.stderr
    built = pmpm(
        "build", stack, "--offline", "--source-mirror", mirror, "--json", cwd=tmp_path, env=DEAD_PROXY, timeout=1800
    )
    assert [r["status"] for r in json.loads(built.stdout)["packages"] if r["name"] == "fftw"] == ["built"]
    recipe = (tmp_path / "recipes" / "fftw" / "recipe.yaml").read_text()
    assert "fftw.org" not in recipe.split("build:")[0] and mirror.as_uri() in recipe
    assert "--enable-openmp" in recipe  # the catalogue's options, unchanged

    prefix = tmp_path / "env"
    pmpm("create", stack, "-p", prefix, "--offline", cwd=tmp_path, env=DEAD_PROXY)
    (tmp_path / "dft.c").write_text(DFT_C)
    subprocess.run(
        [
            "gcc",
            "-o",
            tmp_path / "dft",
            tmp_path / "dft.c",
            f"-I{prefix / 'include'}",
            f"-L{prefix / 'lib'}",
            "-lfftw3",
            f"-Wl,-rpath,{prefix / 'lib'}",
        ],
        check=True,
    )
    run = subprocess.run([tmp_path / "dft"], capture_output=True, text=True, check=True)
    *rows, version = run.stdout.strip().splitlines()
    assert version.startswith("fftw-3.3.10"), run.stdout
    for row, k in zip(rows, range(5), strict=True):
        expected = sum(x * cmath.exp(-2j * cmath.pi * k * n / 8) for n, x in enumerate(DFT_INPUT))
        index, re, im = row.split()
        assert int(index) == k and abs(float(re) - expected.real) < 1e-9 and abs(float(im) - expected.imag) < 1e-9
    ldd = subprocess.run(["ldd", tmp_path / "dft"], capture_output=True, text=True, check=True).stdout
    assert f"{prefix / 'lib'}/libfftw3.so.3" in ldd, ldd


# --- a catalogue git: package, offline from the mirror: the catalogue's zlib-ng ------------------

ZLIB_NG = ("zlib-ng==1.1.0", "2.3.3")  # PyPI's python-zlib-ng 1.1.0 vendors the zlib-ng 2.3.3 source tree

ZLIB_NG_PROGRAM = r"""
#include <stdio.h>
#include <string.h>
#include <zlib-ng.h>
int main(void) {
    const char *text = "pmpm pmpm pmpm pmpm pmpm pmpm pmpm pmpm";
    unsigned char packed[256], back[256];
    size_t packed_len = sizeof packed, back_len = sizeof back;
    if (zng_compress(packed, &packed_len, (const unsigned char *)text, strlen(text)) != Z_OK) return 1;
    if (zng_uncompress(back, &back_len, packed, packed_len) != Z_OK) return 2;
    printf("zlib-ng %s %zu->%zu %s\n", zlibng_version(), strlen(text), packed_len,
           back_len == strlen(text) && !memcmp(back, text, back_len) ? "roundtrip" : "MISMATCH");
    return 0;
}
"""


def _zlib_ng_tree_tarball(tmp_path: Path) -> Path:
    """zlib-ng's source at tag 2.3.3 as a site would receive it on a disk: a tarball of the tree.

    github.com is out of reach here; PyPI's python-zlib-ng sdist carries the same tree (its
    submodule at that tag), so the test repacks it under the directory name a git archive uses."""
    from python_fixture import cache_root, sdist

    requirement, version = ZLIB_NG
    with tarfile.open(sdist(cache_root(), requirement)) as archive:
        members = [m for m in archive.getmembers() if "/src/zlib_ng/zlib-ng/" in m.name + "/"]
        archive.extractall(tmp_path / "sdist", members=members, filter="data")
    tree = next((tmp_path / "sdist").glob("*/src/zlib_ng/zlib-ng"))
    tarball = tmp_path / f"zlib-ng-{version}.tar.gz"
    with tarfile.open(tarball, "w:gz") as out:
        out.add(tree, arcname=f"zlib-ng-{version}")
    return tarball


@pytest.mark.slow
def test_catalogue_git_package_conda_install_offline_from_the_mirror(tmp_path: Path):
    """The catalogue's zlib-ng entry (a git: source on GitHub) unchanged: `fetch --add` its tag's
    tarball, then `pmpm conda_install --offline --source-mirror` with the network path unusable."""
    version = ZLIB_NG[1]
    tarball = _zlib_ng_tree_tarball(tmp_path)
    stack = tmp_path / "stack.yml"
    stack.write_text(
        f"channels: [conda-forge, nodefaults]\ndependencies: []\n"
        f"_pmpm:\n  arch: x86-64-v3\n  dependencies: [zlib-ng={version}]\n"
    )
    mirror = tmp_path / "mirror"
    pmpm("fetch", "--to", mirror, "--add", f"https://github.com/zlib-ng/zlib-ng@{version}", tarball, cwd=tmp_path)
    dead = {k: "http://127.0.0.1:9" for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy")}
    prefix = tmp_path / "env"
    pmpm(
        "conda_install",
        prefix,
        "--file",
        stack,
        "--offline",
        "--source-mirror",
        mirror,
        cwd=tmp_path,
        env=dead,
        timeout=1200,
    )
    recipe = (tmp_path / "recipes" / "zlib-ng" / "recipe.yaml").read_text()
    assert "github.com" not in recipe.split("about:")[0] and mirror.as_uri() in recipe
    assert "-DZLIB_COMPAT=OFF" in recipe  # the catalogue's own options
    program = tmp_path / "zcheck"
    (tmp_path / "zcheck.c").write_text(ZLIB_NG_PROGRAM)
    subprocess.run(
        [
            "gcc",
            tmp_path / "zcheck.c",
            f"-I{prefix}/include",
            f"-L{prefix}/lib",
            "-lz-ng",
            f"-Wl,-rpath,{prefix}/lib",
            "-o",
            program,
        ],
        check=True,
    )
    out = subprocess.run([program], capture_output=True, text=True, check=True).stdout.split()
    assert out[:2] == ["zlib-ng", version] and out[-1] == "roundtrip", out

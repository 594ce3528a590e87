"""What each command's `--help` says, declared beside its options (`pmpm.commands`): the
manual of the command line, kept out of the code that parses it."""

MANUAL = {
    "add-pypi": """Add PyPI requirements to the stack's _pmpm.pypi, after pip resolves them.

pmpm render and build turn each requirement, and each of its dependencies and build tools
that the stack's channels lack, into a conda package: pure-Python distributions from their
wheel (noarch: python, console scripts in bin/), the others compiled from their sdist for
the stack's march variants. pip resolves through its own configuration (pip config list).

\b
Example:
  pmpm add-pypi aiohttp 'requests[socks]>=2.31'
  pmpm add-pypi --wheel some-binary-only-package
""",
    "init": """Write a starter stack into DIRECTORY (default: here): stack.yml and its sources.

A C library with a vectorizable kernel (CMake) and a program linking it (make), built by the
host's compilers, with no channel needed; then add packages of your own.

\b
Example:
  pmpm init hello && cd hello
  pmpm build stack.yml --variant march=native && pmpm create stack.yml -p ./env
  ./env/bin/kern 1000000
""",
    "render": """Render STACK into conda recipes and a merged conda_build_config.yaml.

\b
Variant keys: march (any gcc -march name such as znver3, x86-64-v3 or
icelake-server, any archspec name such as zen3, or native), mtune, opt,
cflags, cxxflags, fflags, ldflags, conda-build's keys (python, numpy,
c_compiler_version ...), any key the stack's packages use, and keys declared
in _pmpm.variant_keys. Any other key is reported as a typo.
Sources, later winning: the repo's conda_build_config.yaml, one beside STACK,
the stack's _pmpm.variants, each -m FILE, then --variant.

\b
Example:
  pmpm render stacks/demo.yml --variant march=x86-64,x86-64-v3
""",
    "build": """Build recipes × variants, in dependency order, into a local conda channel.

\b
TARGETS are a stack file (rendered into ./recipes first), a directory written by
`pmpm render` (rendered again from its stack when --variant or -m is given), or
hand-written recipe directories. With none, builds ./recipes.

A package whose recipe, variant, sources and resolved dependencies are unchanged
since it was published is reported "up to date" and skipped (--force rebuilds);
a rebuilt local dependency rebuilds its dependents.

\b
Examples:
  pmpm render stacks/demo.yml && pmpm build --variant march=x86-64,x86-64-v3
  pmpm build stacks/demo.yml --variant march=znver3 -j 2
  pmpm build recipes/libkern --override-channels -c ./mirror --offline
  pmpm build --dirty          # after editing a source file: recompile just that
  pmpm build --engine conda-build --solver libmamba

Logs: .pmpm/logs/<package>-<version>-<build>.log. Nothing is published for a
build whose script or tests fail.
""",
    "ci": """Write a CI workflow that builds STACK as one job per package × variant.

\b
Dependencies become `needs:` (and, on GitLab, one stage per dependency level); the
channel passes between jobs as artifacts, is cached per job across runs (unchanged
packages are up to date) and is published by a final `channel` job. Paths in the
workflow are as given here: run pmpm ci from the repository root.

\b
Examples:
  pmpm ci stacks/demo.yml --github --variant march=x86-64,x86-64-v3
  pmpm ci stack.yml --gitlab -o .gitlab-ci.yml
""",
    "index": """Re-index CHANNEL after package files were copied in (e.g. CI artifacts merged).

CHANNEL is a directory, or an S3 channel (s3://BUCKET/PREFIX, credentials from the standard AWS
variables), indexed with py-rattler's S3 indexer.""",
    "status": """Show the Slurm jobs of the last `pmpm build --executor slurm` from here: id, state, log.

States come from squeue while the controller remembers a job, then from sacct.
""",
    "clean": """Remove --dirty build trees and leftover build outputs (of PACKAGES, or all).

The local channel is never touched. Reports the space freed.
""",
    "create": """Create the stack's environment: its conda dependencies plus its locally built packages.

\b
The local channel comes first with strict priority, so a local build always wins
over a package of the same name upstream; builds for a CPU this host lacks are
never chosen (set CONDA_OVERRIDE_ARCHSPEC=x86_64_v3 to solve for another host).
The stack's pip: list is then installed with the environment's own pip.

\b
Examples:
  pmpm create stacks/demo.yml -p ./env
  pmpm create stack.yml -n hpc -c ./mirror --override-channels
  pmpm lock stack.yml && pmpm create stack.yml -p ./env --locked
  pmpm create --from-bundle ./bundle -p ./env      # offline, from `pmpm bundle`
""",
    "lock": """Solve the stack and write a lock file plus @EXPLICIT package lists.

\b
STACK.lock uses rattler's lock format (as pixi.lock does): the conda packages and the
pip: list resolved by pip to exact wheels with their sha256 (for the locked python's
version), plus a hash of the stack's inputs so a stale lock is reported.
STACK-linux-64.txt is an @EXPLICIT list with md5s for `conda create --file` (any conda);
STACK-linux-64.sha256.txt the same with sha256 (conda >= 24.9). Install exactly these
packages later with `pmpm create STACK --locked`, or carry them with `pmpm bundle`.
Each --platform is solved with that platform's virtual packages (CONDA_OVERRIDE_GLIBC,
_OSX, _LINUX, _ARCHSPEC, _CUDA override them) into the same lock, with its own lists.
""",
    "bundle": """Write everything STACK's lock needs into a directory that installs with no network.

\b
OUTPUT/channel is an indexed conda channel with every locked package (local builds
and upstream), OUTPUT/wheels every locked pip wheel, beside the lock files and STACK.
Re-running copies or downloads only what is missing.

\b
Examples:
  pmpm lock stack.yml && pmpm bundle stack.yml -o ./bundle
  pmpm create --from-bundle ./bundle -p ./env                 # on the offline machine
  conda create --offline -p ./env -c ./bundle/channel --override-channels kern-cli
""",
    "pack": """A relocatable archive of an environment, made by conda-pack.

\b
Unpack it anywhere and run bin/conda-unpack (a python script) to rewrite the prefix:
  mkdir env && tar xzf env.tar.gz -C env && (cd env && python bin/conda-unpack)
""",
    "verify": """Check that an environment is exactly what a lock froze: records and file hashes.

Conda packages must match the lock by name, version, build and sha256, pip packages
by name and version; every installed file must have the hash its package recorded.
Exit 1 with one line per difference otherwise. Files in bin/, lib/ and include/ that no
package installed are listed as `unowned:` (bytecode caches aside); --strict fails on them.
""",
    "run": """Run COMMAND inside an environment, activated (PATH, CONDA_PREFIX, activate.d scripts).

\b
Example:
  pmpm run -p ./env kern 1000000 100
""",
    "install": """Render, build and create in one go: `pmpm install stack.yml -p ./env`.""",
    "conda_install": """python-pmpm's conda_install: render, build and create STACK's environment in PREFIX.

\b
The stack's own _pmpm.compiler applies (conda: conda-forge's compilers, as the original
used; system: the host's). Same as `pmpm install STACK -p PREFIX`.
Example:
  pmpm conda_install ~/pmpm-test --file examples/linux.yml --arch x86-64-v3
""",
    "system_install": """python-pmpm's system_install: build with the host's compilers and the MPI on PATH.

\b
Forces `_pmpm.compiler: system`: gcc/g++/gfortran from PATH, and MPICC, MPICXX, MPIFC,
MPIF90 set to the mpicc/mpicxx/mpifort/mpif90 found on PATH (a vendor MPI: load its
module first). The packages still land in PREFIX as conda packages.
Example:
  module load cray-mpich && pmpm system_install ~/stack --file examples/linux.yml
""",
    "fetch": """Download every remote source of STACK into a source mirror, for builds without the internet.

\b
git sources at their rev (as a `git archive` tarball), url sources (checked against
their sha256), pypi sdists, and the sdists and wheels of what `_pmpm.pypi` generates
(resolved by pip, as a render does) land in DIR/files/<sha256>/, recorded in DIR/sources.json.
Build elsewhere with `--source-mirror DIR` (or serve DIR over HTTP and pass its URL):
catalogue entries resolve through the mirror by repository and rev, unchanged.
A source that cannot be fetched (e.g. its host is unreachable) does not stop the
others: fetch tries them all, then names it and exits 1. `--add` puts in a copy got elsewhere.
Examples:
  pmpm fetch examples/linux.yml --to /shared/sources
  pmpm fetch --add https://github.com/hpc4cmb/libmadam@v1.0.2 libmadam.tar.gz --to /shared/sources
  pmpm fetch --add https://www.fftw.org/fftw-3.3.10.tar.gz fftw3_3.3.10.orig.tar.gz --to /shared/sources
  pmpm build examples/linux.yml --source-mirror /shared/sources
""",
}

"""A real upstream C library through pmpm: Debian's libyaml orig tarball, built with `kind:
autotools` for two marches, and a small local program that links it, run from the environment.

libyaml's orig tarball is a git export without `configure`, so this also exercises the
autotools kind's `autoreconf -fi` step.
"""

from __future__ import annotations

import hashlib
import subprocess
import textwrap
from pathlib import Path

import pytest
from conftest import install_env, pmpm, repodata
from python_fixture import cache_root
from sources_fixture import debian_orig_tarball

pytestmark = pytest.mark.slow

LIBYAML = ("libyaml", "0.2.5")

YAML_COUNT_C = r"""
#include <stdio.h>
#include <string.h>
#include <yaml.h>

int main(void) {
    const char *doc = "name: pmpm\nmarches: [x86-64, x86-64-v3]\nnested: {a: 1, b: [2, 3]}\n";
    yaml_parser_t parser;
    yaml_event_t event;
    int events = 0, scalars = 0, done = 0;
    if (!yaml_parser_initialize(&parser)) return 2;
    yaml_parser_set_input_string(&parser, (const unsigned char *)doc, strlen(doc));
    while (!done) {
        if (!yaml_parser_parse(&parser, &event)) { fprintf(stderr, "parse error\n"); return 1; }
        events++;
        if (event.type == YAML_SCALAR_EVENT) scalars++;
        done = event.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&event);
    }
    yaml_parser_delete(&parser);
    printf("libyaml %s events=%d scalars=%d\n", yaml_get_version_string(), events, scalars);
    return 0;
}
"""

MAKEFILE = """\
PREFIX ?= /usr/local
CC ?= cc

yaml-count: main.c
\t$(CC) $(CFLAGS) -I"$(PREFIX)/include" main.c -o yaml-count -L"$(PREFIX)/lib" -lyaml $(LDFLAGS)

install: yaml-count
\tinstall -d "$(PREFIX)/bin"
\tinstall -m 755 yaml-count "$(PREFIX)/bin/yaml-count"

.PHONY: install
"""

# 11 scalars (name pmpm marches x86-64 x86-64-v3 nested a 1 b 2 3) + 12 start/end events (stream,
# document, the outer mapping, [x86-64, ...], {a: ...}, [2, 3]).
EXPECTED = "libyaml 0.2.5 events=23 scalars=11\n"


def objdump_registers(library: Path) -> dict[str, int]:
    text = subprocess.run(["objdump", "-d", str(library)], capture_output=True, text=True, check=True).stdout
    return {reg: text.count(f"%{reg}") for reg in ("xmm", "ymm", "zmm")}


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    """The stack written, built for x86-64 and x86-64-v3, and `pmpm create`d into ./env."""
    root = tmp_path_factory.mktemp("upstream")
    tarball = debian_orig_tarball(cache_root(), *LIBYAML)
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    (root / "yaml-count").mkdir()
    (root / "yaml-count" / "main.c").write_text(YAML_COUNT_C)
    (root / "yaml-count" / "Makefile").write_text(MAKEFILE)
    stack = root / "stack.yml"
    stack.write_text(
        textwrap.dedent(f"""\
        name: upstream
        channels: []
        dependencies: []
        _pmpm:
          compiler: system
          variants:
            march: [x86-64, x86-64-v3]
          packages:
            - name: libyaml
              version: "{LIBYAML[1]}"
              source: {{url: "{tarball.as_uri()}", sha256: {digest}}}
              kind: autotools
              about: {{summary: YAML parser and emitter in C, license: MIT}}
              tests:  # shared libraries only, as conda-forge ships them: pmpm passes --disable-static
                commands: ['test -f "$PREFIX/lib/libyaml.so"', 'test -f "$PREFIX/include/yaml.h"',
                           'test ! -e "$PREFIX/lib/libyaml.a"']
            - name: yaml-count
              version: "1.0"
              source: {{path: yaml-count}}
              kind: make
              depends: [libyaml]
              tests:
                commands: [yaml-count]
        """)
    )
    pmpm("build", stack, cwd=root, timeout=900)
    pmpm("create", stack, "-p", "env", cwd=root)
    return root


def test_program_linking_the_upstream_library_runs_from_the_env(upstream):
    prefix = upstream / "env"
    out = subprocess.run([prefix / "bin" / "yaml-count"], capture_output=True, text=True, check=True).stdout
    assert out == EXPECTED
    ldd = subprocess.run(["ldd", prefix / "bin" / "yaml-count"], capture_output=True, text=True, check=True).stdout
    line = next(l for l in ldd.splitlines() if "libyaml" in l)
    resolved = Path(line.split("=>")[1].split("(")[0].strip()).resolve()
    assert resolved == (prefix / "lib" / "libyaml-0.so.2").resolve(), line  # the env's build, not a host libyaml
    assert (
        "run ok" in pmpm("run", "-p", prefix, "sh", "-c", "yaml-count >/dev/null && echo run ok", cwd=upstream).stdout
    )


def test_both_marches_built_with_their_build_strings(upstream):
    records = repodata(upstream / "local-channel")
    for name in ("libyaml", "yaml-count"):
        builds = [r["build"] for r in records.values() if r["name"] == name]
        assert len(builds) == 2 and all(b.startswith("h") for b in builds), builds
        assert sorted(b.split("_", 1)[1] for b in builds) == ["x86_64_0", "x86_64_v3_0"], builds
        assert all(
            r["version"] == (LIBYAML[1] if name == "libyaml" else "1.0") for r in records.values() if r["name"] == name
        )


def test_v3_library_uses_ymm_and_baseline_does_not(upstream, tmp_path):
    """libyaml has vectorizable loops (gcc -O3 -march=x86-64-v3 turns them into AVX2)."""
    envs = {
        level: install_env(upstream / "local-channel", tmp_path / f"env-{level}", ["yaml-count"], archspec=level)
        for level in ("x86_64", "x86_64_v3")
    }
    regs = {level: objdump_registers(prefix / "lib" / "libyaml-0.so.2") for level, prefix in envs.items()}
    assert regs["x86_64_v3"]["ymm"] > 0, regs
    assert regs["x86_64"]["ymm"] == 0 and regs["x86_64"]["zmm"] == 0 and regs["x86_64"]["xmm"] > 0, regs
    for level, prefix in envs.items():
        meta = next((prefix / "conda-meta").glob("libyaml-*.json")).read_text()
        assert ("_x86_64_v3_0" in meta) == (level == "x86_64_v3"), level
        out = subprocess.run([prefix / "bin" / "yaml-count"], capture_output=True, text=True, check=True).stdout
        assert out == EXPECTED


ZLIB = ("zlib", "1.2.13.dfsg")
ZPIPE_MAKEFILE = """\
PREFIX ?= /usr/local
CC ?= cc

zpipe: zpipe.c
\t$(CC) $(CFLAGS) -I"$(PREFIX)/include" zpipe.c -o zpipe -L"$(PREFIX)/lib" -lz $(LDFLAGS)

install: zpipe
\tinstall -d "$(PREFIX)/bin"
\tinstall -m 755 zpipe "$(PREFIX)/bin/zpipe"
"""


def test_zlib_with_its_own_configure_builds_with_the_default_flags(tmp_path):
    """zlib's hand-written configure refuses options it does not know (`--disable-static`, which
    autoconf scripts take): pmpm passes it only when `configure --help` offers it. zlib's own
    example program, zpipe, then compresses and restores data from the environment."""
    import tarfile

    tarball = debian_orig_tarball(cache_root(), *ZLIB)
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    (tmp_path / "zpipe").mkdir()
    with tarfile.open(tarball) as tar:
        source = tar.extractfile(f"zlib-{ZLIB[1]}/examples/zpipe.c")
        (tmp_path / "zpipe" / "zpipe.c").write_bytes(source.read())
    (tmp_path / "zpipe" / "Makefile").write_text(ZPIPE_MAKEFILE)
    stack = tmp_path / "stack.yml"
    stack.write_text(
        textwrap.dedent(f"""\
        name: zlib-stack
        channels: []
        dependencies: []
        _pmpm:
          compiler: system
          variants: {{march: [x86-64-v3]}}
          packages:
            - name: zlib
              version: "1.2.13"
              source: {{url: "{tarball.as_uri()}", sha256: {digest}}}
              kind: autotools
              tests: {{commands: ['test -f "$PREFIX/lib/libz.so"']}}
            - name: zpipe
              version: "1.0"
              source: {{path: zpipe}}
              kind: make
              depends: [zlib]
        """)
    )
    pmpm("build", stack, cwd=tmp_path, timeout=900)
    log = next((tmp_path / ".pmpm" / "logs").glob("zlib-1.2.13-*.log")).read_text()
    configured = [line for line in log.splitlines() if "configure --prefix=" in line]
    assert configured and not any("--disable-static" in line for line in configured), configured
    pmpm("create", stack, "-p", "env", cwd=tmp_path)
    data = b"pmpm " * 20000
    packed = subprocess.run([tmp_path / "env" / "bin" / "zpipe"], input=data, capture_output=True, check=True).stdout
    assert len(packed) < len(data) // 50
    restored = subprocess.run([tmp_path / "env" / "bin" / "zpipe", "-d"], input=packed, capture_output=True, check=True)
    assert restored.stdout == data
    ldd = subprocess.run(["ldd", tmp_path / "env" / "bin" / "zpipe"], capture_output=True, text=True).stdout
    libz = next(line for line in ldd.splitlines() if "libz.so" in line)
    assert f"{tmp_path / 'env'}/" in libz, ldd  # the environment's zlib, not the host's

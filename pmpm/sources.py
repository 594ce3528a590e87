"""PyPI sources: `pypi: NAME==VERSION` pinned to the real sdist file and its sha256.

A recipe's url source must carry a checksum, and an sdist's file name is not always
`NAME-VERSION.tar.gz` (PEP 625 normalizes it, some projects ship .zip). When the stack
gives no sha256, pmpm asks pip, which honours the user's index configuration and
mirrors, downloads the sdist once into `~/.cache/pmpm/sdists/` and records its digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import user_cache
from .errors import StackError


@dataclass(frozen=True)
class Sdist:
    filename: str
    sha256: str
    path: Path

    def url(self, project: str) -> str:
        return f"https://pypi.org/packages/source/{project[0]}/{project}/{self.filename}"


def resolve_sdist(requirement: str) -> Sdist:
    """The sdist of `name==version`, from the cache or downloaded with pip."""
    cache = user_cache("sdists")
    index_path = cache / "index.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    known = index.get(requirement)
    if known and (cache / known["filename"]).is_file():
        return Sdist(known["filename"], known["sha256"], cache / known["filename"])
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        # --no-binary NAME, not :all:, which would build the sdist's build backend from source too.
        name = requirement.split("==")[0]
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", name, "--no-deps",
                               "--disable-pip-version-check", "-q", "-d", tmp, requirement],
                              capture_output=True, text=True)
        files = list(Path(tmp).iterdir())
        if proc.returncode or len(files) != 1:
            lines = [l.strip() for l in proc.stderr.splitlines() if l.strip()]
            reason = next((l for l in lines if l.lower().startswith("error")), lines[-1] if lines else "no sdist downloaded")
            raise StackError(f"cannot fetch the sdist of {requirement} from PyPI: {reason}",
                             fix="check the name and version, or give sha256 in the stack")
        sdist = files[0]
        digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
        target = cache / sdist.name
        os.replace(sdist, target)
    index[requirement] = {"filename": target.name, "sha256": digest}
    tmp_index = index_path.with_suffix(f".{os.getpid()}.tmp")
    tmp_index.write_text(json.dumps(index, indent=1, sort_keys=True))
    os.replace(tmp_index, index_path)
    return Sdist(target.name, digest, target)

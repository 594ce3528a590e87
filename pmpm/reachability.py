"""Why a URL cannot be reached, in words a user can act on.

The engine reports a failed download as "Request failed after 3 retries" and an unreachable
channel as a dependency that cannot be resolved. When a build fails that way, pmpm asks once
more itself and names the cause: the DNS lookup, the HTTP status, a refused connection or
a timeout. Used only after a failure, so a healthy build never loads urllib for it.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

TIMEOUT = 10.0  # for the diagnosis after a failure, not for the work itself
CONDA_HOST = "https://conda.anaconda.org"  # how conda and rattler expand a bare channel name


def problem(url: str, timeout: float = TIMEOUT) -> str | None:
    """None when `url` can be read, else the cause in a few words."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        path = Path(urllib.request.url2pathname(parsed.path))
        return None if path.exists() else f"{path} does not exist"
    if parsed.scheme not in ("http", "https"):
        return None  # git+ssh and friends: the engine's own message stands
    try:
        request = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError as exc:
        if exc.code == 405:  # some servers refuse HEAD
            return None
        return f"HTTP {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        return _reason(exc.reason, parsed.hostname or "", timeout)
    except (TimeoutError, socket.timeout):
        return f"timed out after {timeout:.0f}s"
    except OSError as exc:
        return _reason(exc, parsed.hostname or "", timeout)


def _reason(reason: object, host: str, timeout: float) -> str:
    if isinstance(reason, socket.gaierror):
        return f"DNS lookup of {host} failed"
    if isinstance(reason, ConnectionRefusedError):
        return f"connection to {host} refused"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"timed out after {timeout:.0f}s"
    return str(getattr(reason, "strerror", None) or reason)


def channel_problem(channel: str) -> str | None:
    """None when a channel's `noarch/repodata.json` (which every channel has) can be read."""
    base = channel if "://" in channel else f"{CONDA_HOST}/{channel}"
    return problem(base.rstrip("/") + "/noarch/repodata.json")

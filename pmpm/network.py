"""How long pmpm waits on the network, and why a URL cannot be reached, in words a user can act on.

Every network read pmpm makes or starts is bounded: pip's (sdists, wheels) and urllib's
(mirrors) by a socket timeout, so a connection or a stalled transfer gives up after
`timeout()` seconds without a byte; py-rattler's (channels, packages) by its client's
per-request limit, which for a package download grows with its size (`SLOW_RATE`), so a
slow link still finishes what a black hole never would. Transient errors (refused, reset,
5xx) are retried `RETRIES` times with back-off by pip and by rattler's retry middleware.

The engine reports a failed download as "Request failed after 3 retries" and an unreachable
channel as a dependency that cannot be resolved. When a build fails that way, pmpm asks once
more itself and names the cause: the DNS lookup, the HTTP status, a refused connection or
a timeout. Used only after a failure, so a healthy build never pays for it.
"""

from __future__ import annotations

import os
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterable

from .errors import UsageError

TIMEOUT = 10.0  # for the diagnosis after a failure, not for the work itself
DEFAULT_TIMEOUT = 60  # seconds without an answer: a slow VPN lives with it, a dead server does not hang pmpm
RETRIES = 3
SLOW_RATE = 256 * 1024  # bytes/s a download is allowed to crawl at before its size counts against it
TIMEOUT_ENV = "PMPM_NETWORK_TIMEOUT"
CONDA_HOST = "https://conda.anaconda.org"  # how conda and rattler expand a bare channel name


def timeout() -> int:
    """Seconds a network read may wait for an answer ($PMPM_NETWORK_TIMEOUT, default 60)."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"{TIMEOUT_ENV}={text!r} is not a number of seconds", fix=f"e.g. {TIMEOUT_ENV}=120")
    return int(text)


def rattler_client(size: int = 0):
    """py-rattler's standard client (retries, authentication, mirrors), each request bounded by
    the network timeout plus the time a `size`-byte download takes at `SLOW_RATE`."""
    from rattler.networking import Client  # the network stack only for network work

    return Client.default_client(max_retries=RETRIES, timeout=timeout() + size // SLOW_RATE)


def client_for(urls: Iterable[str], size: int = 0):
    """`rattler_client` when any of `urls` is remote; None (rattler's own default) for local
    files only, which need no time limit and not the ~10 ms a configured client costs to make."""
    return rattler_client(size) if any(not str(url).startswith("file:") for url in urls) else None


def pip_args() -> list[str]:
    """pip's own bounds: a socket timeout (connect, and each read) and retries."""
    return ["--timeout", str(timeout()), "--retries", str(RETRIES)]


def timed_out(text: str) -> bool:
    return "timed out" in text.lower() or "timeout" in text.lower()


def waited(url: str) -> str:
    """The one line for a network read that ran out of time."""
    return (
        f"{url}: no answer within {timeout()} s (the network timeout; set {TIMEOUT_ENV} to wait longer, "
        "or use --offline with local channels and a --source-mirror)"
    )


def pip_timed_out(stderr: str) -> str | None:
    """The one line for a pip run that gave up on an index or a download, from its warnings."""
    found = re.search(r"host='([^']+)', port=(\d+)\): (?:Read|Connect)[^)]*timed out[^:]*:\s*(\S+)", stderr)
    if found is None:
        return waited("the package index") if "timed out" in stderr else None
    host, port, path = found.groups()
    return waited(f"http://{host}:{port}{path}")


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

"""How long pmpm waits on the network (light: every solve and download reads it; `reachability`
says why a URL cannot be reached, after a failure).

Every network read pmpm makes or starts is bounded: pip's (sdists, wheels) and urllib's
(mirrors) by a socket timeout, so a connection or a stalled transfer gives up after
`timeout()` seconds without a byte; py-rattler's (channels, packages) by its client's
per-request limit, which for a package download grows with its size (`SLOW_RATE`), so a
slow link still finishes what a black hole never would. Transient errors (refused, reset,
5xx) are retried `RETRIES` times with back-off by pip and by rattler's retry middleware.
"""

from __future__ import annotations

import os
import re
from typing import Iterable

from .errors import UsageError

DEFAULT_TIMEOUT = 60  # seconds without an answer: a slow VPN lives with it, a dead server does not hang pmpm
RETRIES = 3
SLOW_RATE = 256 * 1024  # bytes/s a download is allowed to crawl at before its size counts against it
TIMEOUT_ENV = "PMPM_NETWORK_TIMEOUT"


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


def url_in(error: Exception) -> str | None:
    """The URL a py-rattler network error names ("error sending request for url (URL)")."""
    found = re.search(r"for url \((\S+?)\)", str(error))
    return found.group(1) if found else None


def pip_timed_out(stderr: str) -> str | None:
    """The one line for a pip run that gave up on an index or a download, from its warnings."""
    found = re.search(r"host='([^']+)', port=(\d+)\): (?:Read|Connect)[^)]*timed out[^:]*:\s*(\S+)", stderr)
    if found is None:
        return waited("the package index") if "timed out" in stderr else None
    host, port, path = found.groups()
    return waited(f"http://{host}:{port}{path}")

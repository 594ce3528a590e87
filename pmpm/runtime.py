"""The one object that holds process state: what lives as long as the pmpm process does.

Everything else in pmpm is passed as data. What is here is state by nature: locks held until
exit, engine workers started before their first job, a warm-up done once per process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Runtime:
    held: list[Any] = field(default_factory=list)  # locks held until the process ends
    prestarted: list[Any] = field(default_factory=list)  # engine workers started ahead of their jobs
    _once: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def hold(self, lock: Any) -> None:
        """Keep `lock` (acquired) until the process ends."""
        self.held.append(lock)

    def once(self, name: str, action: Callable[[], None]) -> None:
        """Run `action` the first time `name` is asked for, in a daemon thread, never again: several
        pool threads may ask at the same moment, and only one gets through."""
        with self._guard:
            lock = self._once.setdefault(name, threading.Lock())
        if lock.acquire(blocking=False):  # taken once, never released
            threading.Thread(target=action, daemon=True, name=f"pmpm-{name}").start()


RUNTIME = Runtime()

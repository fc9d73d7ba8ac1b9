"""Sliding-window request limits kept in memory (per user and per API key)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["SlidingWindow"]

# Above this many tracked names, idle ones are dropped on the next hit.
PRUNE_ABOVE = 10_000


class SlidingWindow:
    """At most `limit` hits per name in any `window` seconds; refused hits do not count."""

    def __init__(
        self, limit: int, *, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, name: str) -> int | None:
        """Count a hit for `name`; return None when allowed, else the seconds to wait (≥ 1)."""
        now = self.clock()
        with self._lock:
            if len(self._hits) > PRUNE_ABOVE:
                self._prune(now)
            hits = self._hits.setdefault(name, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(1, math.ceil(hits[0] + self.window - now))
            hits.append(now)
            return None

    def _prune(self, now: float) -> None:
        idle = [n for n, hits in self._hits.items() if not hits or hits[-1] <= now - self.window]
        for name in idle:
            del self._hits[name]

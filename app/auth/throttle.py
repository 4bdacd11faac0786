"""Failed authentications per client address, per worker: a brake on token guessing and on
floods of unknown tokens, each of which costs a database lookup (the credential cache keeps
only tokens that resolved).

A fixed window of ``window_s`` seconds per address. An address that has failed ``limit``
times in its window is refused (429, ``Retry-After``) for the rest of that window *before*
any lookup: a token this worker has resolved recently (the credential cache) still works from
that address, an unknown or uncached one waits. Counts are per worker, so with N workers an
address can fail up to N x ``limit`` times per window. The address is the ASGI client (with
uvicorn's proxy headers, the one a trusted proxy forwarded).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class FailedAuthThrottle:
    def __init__(
        self,
        limit: int,
        window_s: float = 60.0,
        *,
        max_tracked: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit <= 0 or window_s <= 0:
            raise ValueError("limit and window_s must be positive")
        self.limit = limit
        self.window_s = window_s
        self.max_tracked = max_tracked
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # address -> (window start, failures)
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try an unknown token again, or None if it may now."""
        entry = self._windows.get(address)
        if entry is None or entry[1] < self.limit:
            return None
        left = entry[0] + self.window_s - self._clock()
        return math.ceil(left) if left > 0 else None

    def failed(self, address: str) -> None:
        """Count one failed authentication of ``address``."""
        now = self._clock()
        with self._lock:
            windows = self._windows
            start, count = windows.get(address, (now, 0))
            if now - start >= self.window_s:
                start, count = now, 0
            elif address not in windows and len(windows) >= self.max_tracked:
                self._forget_expired(now)
            windows[address] = (start, count + 1)

    def _forget_expired(self, now: float) -> None:
        windows = self._windows
        for address in [a for a, (start, _) in windows.items() if now - start >= self.window_s]:
            del windows[address]
        if len(windows) >= self.max_tracked:  # all current: drop the oldest windows
            for address in list(windows)[: len(windows) // 2]:
                del windows[address]

    def clear(self) -> None:
        with self._lock:
            self._windows.clear()

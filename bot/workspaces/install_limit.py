"""At most a few install starts per client address a minute: every ``GET /slack/install``
writes an OAuth state to Redis, and it needs no authentication.  Kept in the process
(nothing is written for a refused request), a bounded table of recent addresses."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from typing import Callable

WINDOW_SECONDS = 60.0
MAX_ADDRESSES = 10_000


class InstallLimit:
    def __init__(self, per_minute: int = 5, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._recent: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, address: str) -> bool:
        now = self.clock()
        times = self._recent.pop(address, None) or deque()
        while times and now - times[0] >= WINDOW_SECONDS:
            times.popleft()
        allowed = len(times) < self.per_minute
        if allowed:
            times.append(now)
        self._recent[address] = times  # the newest address last
        while len(self._recent) > MAX_ADDRESSES:
            self._recent.popitem(last=False)
        return allowed

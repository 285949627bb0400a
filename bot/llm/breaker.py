"""A circuit breaker for the model: after repeated failures, fail at once.

``failures`` failures in a row open it: for ``cooldown`` seconds every request
is refused without waiting on the model (the user is told at once).  Then one
request is let through as a probe: success closes the breaker, failure opens
it for another cooldown.  Per process: each process learns on its own.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

log = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitBreaker:
    def __init__(self, *, failures: int, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = failures
        self.cooldown = cooldown
        self.clock = clock
        self._state = CLOSED
        self.on_change: Callable[[str], None] | None = None  # told every new state (the metrics' gauge)
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False

    @property
    def state(self) -> str:
        return self._state

    @state.setter
    def state(self, value: str) -> None:
        changed, self._state = value != self._state, value
        if changed and self.on_change is not None:
            self.on_change(value)

    def allow(self) -> bool:
        """Whether a request may go to the model now (a probe counts as let through)."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN and self.clock() - self._opened_at >= self.cooldown:
            self.state = HALF_OPEN
            self._probing = False
        if self.state == HALF_OPEN and not self._probing:
            self._probing = True
            log.info("model circuit half-open: probing with one request")
            return True
        return False

    def succeeded(self) -> None:
        if self.state != CLOSED:
            log.info("model circuit closed: the model answers again")
        self.state, self._failures, self._probing = CLOSED, 0, False

    def failed(self) -> None:
        self._failures += 1
        if self.state == HALF_OPEN or self._failures >= self.threshold:
            if self.state != OPEN:
                log.warning("model circuit open after %d failures: refusing for %.0fs", self._failures, self.cooldown)
            self.state, self._opened_at, self._probing = OPEN, self.clock(), False

    def finished_without_verdict(self) -> None:
        """A request ended neither way (cancelled): let another probe go."""
        if self.state == HALF_OPEN:
            self._probing = False

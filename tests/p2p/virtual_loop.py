"""An asyncio event loop on virtual time: sleeps and timeouts take no real time.

When nothing is ready, the loop's selector jumps the clock to the next timer instead of
waiting, so a simulation of minutes of timeouts, leases and delays runs in milliseconds, and
the same program with the same random choices replays the same schedule.
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        ready: list[tuple[Any, int]] = super().select(0)
        if ready:
            return ready
        if timeout is None:
            raise RuntimeError("virtual loop: nothing is scheduled and nothing can wake it (deadlock)")
        self.now += max(timeout, 0.0)
        return ready


class VirtualLoop(asyncio.SelectorEventLoop):
    """`time()` is virtual; it starts at 0 and moves only when every task waits on a timer."""

    def __init__(self) -> None:
        self._selector_clock = _JumpingSelector()
        super().__init__(self._selector_clock)

    def time(self) -> float:
        return self._selector_clock.now

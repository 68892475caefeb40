"""How far behind the event loop has fallen: the evidence that a timeout was the client's own doing.

A timer that fires late (attempt.py's `OVERLOAD_LATE_S`) catches one long block of the loop. A loop saturated
by many streams at once is different: every callback runs a little late, the timer itself fires nearly on time,
and yet the answer's bytes sat unread for most of the wait (issue 12 item 9: at concurrency 100 the healthy
fallback "missed" its first-token deadline with no timer late by more than 0.1 s). `LagMonitor` samples the
loop every `PERIOD_S` and adds up how late each sample ran; `behind_since(t)` is that total since `t` — how much
of a wait the loop spent unable to serve anything. One monitor per loop, shared by the engines on it, started by
the first and stopped with the last (`acquire` / `release`); a sample costs one timer callback.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections import deque

#: the sampling period; a sample running later than this adds the excess to the loop's lag
PERIOD_S = 0.05
#: samples kept: a few minutes at PERIOD_S, longer than any first-token or idle wait needs
KEEP = 4096


class LagMonitor:
    __slots__ = ("loop", "users", "total", "times", "totals", "_expected", "_handle")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.users = 0
        self.total = 0.0  # seconds of lateness summed over every sample so far
        self.times: deque[float] = deque(maxlen=KEEP)  # when each sample ran (loop clock)
        self.totals: deque[float] = deque(maxlen=KEEP)  # `total` after it
        self._expected = loop.time() + PERIOD_S
        self._handle: asyncio.TimerHandle | None = loop.call_at(self._expected, self._tick)

    def _tick(self) -> None:
        now = self.loop.time()
        late = now - self._expected
        if late > 0:
            self.total += late
        self.times.append(now)
        self.totals.append(self.total)
        self._expected = now + PERIOD_S
        self._handle = self.loop.call_at(self._expected, self._tick)

    def behind_since(self, t: float) -> float:
        """Seconds the loop has fallen behind since loop time `t` (including a sample overdue right now)."""
        now = self.loop.time()
        overdue = max(now - self._expected, 0.0)  # the loop is late for the next sample as we speak
        times = self.times
        if not times or times[-1] < t:
            return overdue
        i = bisect_left(times, t)
        before = self.totals[i - 1] if i > 0 else self.totals[0]  # (older samples were forgotten: a lower bound)
        return self.total - before + overdue

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


_monitors: dict[asyncio.AbstractEventLoop, LagMonitor] = {}


def acquire() -> LagMonitor:
    """The running loop's monitor, started if needed; pair with `release()`."""
    loop = asyncio.get_running_loop()
    monitor = _monitors.get(loop)
    if monitor is None or monitor._handle is None:
        monitor = _monitors[loop] = LagMonitor(loop)
    monitor.users += 1
    return monitor


def release(monitor: LagMonitor) -> None:
    monitor.users -= 1
    if monitor.users <= 0:
        monitor.stop()
        if _monitors.get(monitor.loop) is monitor:
            del _monitors[monitor.loop]


def behind_since(loop: asyncio.AbstractEventLoop, t: float) -> float:
    """Seconds the loop fell behind since `t`; 0.0 when no engine monitors it."""
    monitor = _monitors.get(loop)
    return 0.0 if monitor is None else monitor.behind_since(t)

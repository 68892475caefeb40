"""How long the event loop was unable to run what was due: the time an attempt's wait was ours, not the provider's.

`LagMonitor` samples the loop every `PERIOD_S`. A sample due at `d` that runs at `r > d` says the loop was busy
(blocked by one long callback, or saturated by many short ones: issue 12 item 9) over `[d, r]`. `busy_at(t)` is
the total of those busy spans up to loop time `t`, the current overdue sample included — a monotone clock of the
loop's lag, so `busy_at(b) - busy_at(a)` is exactly the lag inside `[a, b]` and nothing before it (issue 20 item
16: a block just before an attempt started, while tokenizer tables loaded, used to count toward its wait).
An attempt subtracts the lag inside its wait from that wait (attempt.py): the provider is given its whole timeout
of time the loop could have served it. One monitor per loop, shared by the engines on it, started by the first and
stopped with the last (`acquire` / `release`); a sample costs one timer callback.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections import deque

#: the sampling period; a sample running later than this marks the loop busy from its due time until it ran
PERIOD_S = 0.05
#: samples kept: a few minutes at PERIOD_S; `busy_at` of an older time is a lower bound
KEEP = 4096


class LagMonitor:
    __slots__ = ("loop", "users", "total", "ran", "due", "totals", "_expected", "_handle")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.users = 0
        self.total = 0.0  # seconds of lateness summed over every sample so far
        self.ran: deque[float] = deque(maxlen=KEEP)  # when each sample ran (loop clock)
        self.due: deque[float] = deque(maxlen=KEEP)  # when it was due
        self.totals: deque[float] = deque(maxlen=KEEP)  # `total` after it
        self._expected = loop.time() + PERIOD_S
        self._handle: asyncio.TimerHandle | None = loop.call_at(self._expected, self._tick)

    def _tick(self) -> None:
        now = self.loop.time()
        due = self._expected
        if now > due:
            self.total += now - due
        self.ran.append(now)
        self.due.append(due)
        self.totals.append(self.total)
        self._expected = now + PERIOD_S
        self._handle = self.loop.call_at(self._expected, self._tick)

    def busy_at(self, t: float) -> float:
        """Seconds the loop had been busy (unable to run a due sample) up to loop time `t` (at most now)."""
        ran = self.ran
        if not ran or t >= ran[-1]:
            return self.total + max(t - self._expected, 0.0)  # the sample due next may be overdue right now
        i = bisect_right(ran, t)  # the first sample that ran after t: busy from its due time, if that was before t
        due = self.due[i]
        before = self.totals[i] - max(ran[i] - due, 0.0)
        return before + max(t - due, 0.0)

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


def monitor(loop: asyncio.AbstractEventLoop) -> LagMonitor | None:
    """The loop's monitor; None when no engine monitors it (then no lag is subtracted)."""
    return _monitors.get(loop)

"""A thread-safe request-rate ceiling shared by every download thread.

``RateLimiter(rate_per_s, burst)`` is a token bucket (in its GCRA form: each caller reserves the
next start time under a lock, then sleeps until it, so waiters are served in order without a
thundering herd) plus a sliding one-second window that makes the ceiling hard: no more than
``rate`` calls to :meth:`acquire` return within any one-second span, whatever the burst.
``burst=1`` spaces starts evenly, ``1 / rate`` seconds apart. ``rate <= 0`` means unlimited.

:meth:`pause_until` stops *all* callers until a monotonic time, e.g. when the server answers 429
with ``Retry-After``; a caller that had already reserved a slot inside the pause waits it out too.
"""
from __future__ import annotations

import collections
import math
import threading
import time


class RateLimiter:
    def __init__(self, rate_per_s: float, burst: int = 1, *, clock=time.monotonic, sleep=time.sleep):
        self.rate = float(rate_per_s or 0.0)
        self.burst = max(1, int(burst))
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._paused_until = float("-inf")
        if self.rate > 0:
            self._interval = 1.0 / self.rate
            self._tolerance = (self.burst - 1) * self._interval
            self._tat = float("-inf")  # theoretical arrival time of the next request
            self._window = collections.deque(maxlen=max(1, math.floor(self.rate)))

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    @property
    def paused_until(self) -> float:
        return self._paused_until

    def pause_until(self, monotonic_time: float) -> None:
        """Hold every caller of :meth:`acquire` until ``monotonic_time`` (never shortens a pause)."""
        with self._lock:
            self._paused_until = max(self._paused_until, float(monotonic_time))

    def _reserve(self) -> float:
        with self._lock:
            now = self._clock()
            slot = max(now, self._paused_until)
            if self.rate > 0:
                slot = max(slot, self._tat - self._tolerance)
                if len(self._window) == self._window.maxlen:
                    slot = max(slot, self._window[0] + 1.0)
                self._tat = max(self._tat, slot) + self._interval
                self._window.append(slot)
            return slot

    def acquire(self) -> float:
        """Block until this caller may start a request; returns the monotonic start time."""
        while True:
            slot = self._reserve()
            delay = slot - self._clock()
            if delay > 0:
                self._sleep(delay)
            with self._lock:
                if self._paused_until <= slot:
                    return slot
            # a pause arrived while we slept: take a fresh slot after it

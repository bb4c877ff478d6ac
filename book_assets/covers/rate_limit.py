"""A thread-safe request-rate ceiling shared by every download thread.

``RateLimiter(rate_per_s, burst)`` is a token bucket (in its GCRA form: each caller reserves the
next start time under a lock, then sleeps until it, so waiters are served in order without a
thundering herd) plus a sliding one-second window that makes the ceiling hard: no more than
``rate`` calls to :meth:`acquire` return within any one-second span, whatever the burst.
``burst=1`` spaces starts evenly, ``1 / rate`` seconds apart. ``rate <= 0`` means unlimited.

The window is checked against the moment each caller is actually released (not the moment it was
scheduled for), so a thread that wakes late cannot squeeze ``rate + 1`` starts into a second.
``margin_s`` widens the window a little (1 s + margin): a request reaches the server some
milliseconds after it is released, and that jitter must not push the *server's* count over.

:meth:`pause_until` stops *all* callers until a monotonic time, e.g. when the server answers 429
with ``Retry-After``; a caller that had already reserved a slot inside the pause waits it out too.
"""
from __future__ import annotations

import collections
import math
import threading
import time


class RateLimiter:
    def __init__(self, rate_per_s: float, burst: int = 1, *, margin_s: float = 0.0,
                 clock=time.monotonic, sleep=time.sleep):
        self.rate = float(rate_per_s or 0.0)
        self.burst = max(1, int(burst))
        self.window_s = 1.0 + max(0.0, float(margin_s))
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
                    slot = max(slot, self._window[0] + self.window_s)
                self._tat = max(self._tat, slot) + self._interval
            return slot

    def _commit(self) -> tuple[bool, float]:
        """``(True, now)`` if the pause and the window let the caller go now, else ``(False, wait_until)``."""
        with self._lock:
            now = self._clock()
            if self._paused_until > now:
                return False, self._paused_until
            if self.rate > 0:
                if len(self._window) == self._window.maxlen and now < self._window[0] + self.window_s:
                    return False, self._window[0] + self.window_s
                self._window.append(now)
            return True, now

    def acquire(self) -> float:
        """Block until this caller may start a request; returns the monotonic start time."""
        slot = self._reserve()
        while True:
            delay = slot - self._clock()
            if delay > 0:
                self._sleep(delay)
            released, when = self._commit()
            if released:
                return when
            wait_until = when
            if self._paused_until >= wait_until:
                # a pause arrived while we waited: queue again behind it
                slot = self._reserve()
            else:
                slot = wait_until

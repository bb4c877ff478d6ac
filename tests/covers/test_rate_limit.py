"""RateLimiter: a hard ceiling per one-second window, even spacing, bursts, unlimited, global pauses."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from book_assets.covers.rate_limit import RateLimiter


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


class FakeClock:
    """A monotonic clock that only moves when the limiter sleeps (single-threaded use)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, seconds
        self.sleeps.append(seconds)
        self.now += seconds


def test_burst_one_is_evenly_spaced():
    limiter = RateLimiter(20)
    t0 = time.monotonic()
    starts = [limiter.acquire() for _ in range(10)]
    # slot i is t0 + i/20; a release can be late by the OS's wake-up jitter, never early
    assert all(start >= t0 + i * 0.05 - 1e-9 for i, start in enumerate(starts))


def test_schedule_on_a_fake_clock_is_exactly_the_rate():
    """Not slower than the rate either: on a clock that only the limiter's sleeps move, start i
    is exactly t0 + i/rate (burst 1), and the limiter sleeps only between starts."""
    clock = FakeClock()
    t0 = clock.now
    limiter = RateLimiter(20, clock=clock, sleep=clock.sleep)
    starts = [limiter.acquire() for _ in range(10)]
    assert starts == pytest.approx([t0 + i * 0.05 for i in range(10)], abs=1e-9)
    assert clock.sleeps == pytest.approx([0.05] * 9, abs=1e-9)

    clock = FakeClock()
    t0 = clock.now
    limiter = RateLimiter(50, clock=clock, sleep=clock.sleep)
    starts = [limiter.acquire() for _ in range(80)]  # past the one-second window: no extra wait
    assert starts == pytest.approx([t0 + i / 50 for i in range(80)], abs=1e-9)
    assert max_in_window(starts) == 50


def test_threads_never_exceed_the_ceiling():
    limiter = RateLimiter(50)
    starts: list[float] = []
    lock = threading.Lock()

    def work(_):
        for _ in range(10):
            started = limiter.acquire()
            with lock:
                starts.append(started)

    t0 = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    assert len(starts) == 80
    assert max_in_window(starts) <= 50
    assert time.monotonic() - t0 >= 79 / 50 - 0.05  # never released early


def test_burst_still_respects_the_one_second_ceiling():
    limiter = RateLimiter(5, burst=5)
    starts = [limiter.acquire() for _ in range(12)]
    assert max_in_window(starts) <= 5
    assert starts[5] - starts[0] >= 1.0 - 1e-6


def test_burst_goes_at_once_then_waits_for_the_window():
    clock = FakeClock()
    t0 = clock.now
    limiter = RateLimiter(5, burst=5, clock=clock, sleep=clock.sleep)
    burst = [limiter.acquire() for _ in range(5)]
    # five permits at once: no (fake) time passes, up to float rounding in the bucket arithmetic
    assert burst == pytest.approx([t0] * 5, abs=1e-9) and sum(clock.sleeps) == pytest.approx(0.0, abs=1e-9)
    sixth = limiter.acquire()
    assert sixth == pytest.approx(t0 + 1.0, abs=1e-9)  # the window, not the token bucket, holds it
    assert sum(clock.sleeps) == pytest.approx(1.0, abs=1e-9)


def test_unlimited():
    def no_sleep(seconds):
        raise AssertionError(f"an unlimited limiter slept {seconds} s")

    clock = FakeClock()
    limiter = RateLimiter(0, clock=clock, sleep=no_sleep)
    assert limiter.unlimited
    assert [limiter.acquire() for _ in range(10_000)] == [clock.now] * 10_000


def test_pause_holds_every_thread():
    limiter = RateLimiter(0)
    until = time.monotonic() + 0.3
    limiter.pause_until(until)
    limiter.pause_until(until - 0.2)  # never shortens a pause
    with ThreadPoolExecutor(4) as pool:
        starts = list(pool.map(lambda _: (limiter.acquire(), time.monotonic())[1], range(4)))
    assert min(starts) >= until


def test_pause_arriving_while_a_caller_waits_for_its_slot():
    limiter = RateLimiter(2)  # slots 0.5 s apart
    limiter.acquire()
    result = {}
    waiter = threading.Thread(target=lambda: result.setdefault("t", (limiter.acquire(), time.monotonic())[1]))
    waiter.start()
    time.sleep(0.1)
    until = time.monotonic() + 0.8
    limiter.pause_until(until)
    waiter.join(5)
    assert result["t"] >= until

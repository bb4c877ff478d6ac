"""RateLimiter: a hard ceiling per one-second window, even spacing, bursts, unlimited, global pauses."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from book_assets.covers.rate_limit import RateLimiter


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_burst_one_is_evenly_spaced():
    limiter = RateLimiter(20)
    t0 = time.monotonic()
    starts = [limiter.acquire() for _ in range(10)]
    # slot i is t0 + i/20; a release can be late by the OS's wake-up jitter, never early
    assert all(start >= t0 + i * 0.05 - 1e-9 for i, start in enumerate(starts))
    assert starts[-1] - t0 < 0.45 + 0.25


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
    assert 79 / 50 - 0.05 <= time.monotonic() - t0 < 79 / 50 + 0.5


def test_burst_still_respects_the_one_second_ceiling():
    limiter = RateLimiter(5, burst=5)
    t0 = time.monotonic()
    starts = [limiter.acquire() for _ in range(12)]
    assert starts[4] - t0 < 0.05  # the burst goes at once
    assert max_in_window(starts) <= 5
    assert starts[5] - starts[0] >= 1.0 - 1e-6


def test_unlimited():
    limiter = RateLimiter(0)
    t0 = time.monotonic()
    for _ in range(10_000):
        limiter.acquire()
    assert time.monotonic() - t0 < 1.0


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

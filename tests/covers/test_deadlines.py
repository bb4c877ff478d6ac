"""DeadlineWatch: one thread runs every due call in deadline order, skips cancelled ones, stops."""
from __future__ import annotations

import threading
import time

import pytest

from book_assets.covers.deadlines import DeadlineWatch


def test_calls_run_in_deadline_order_and_cancelled_ones_never_run():
    watch = DeadlineWatch()
    calls, done = [], threading.Event()
    now = time.monotonic()
    late = watch.schedule(now + 0.30, lambda: (calls.append("late"), done.set()))
    cancelled = watch.schedule(now + 0.05, lambda: calls.append("cancelled"))
    early = watch.schedule(now + 0.10, lambda: calls.append("early"))  # earlier than "late": re-arms
    cancelled.cancel()
    assert done.wait(5)
    assert calls == ["early", "late"]
    assert early.fired.is_set() and late.fired.is_set() and not cancelled.fired.is_set()
    assert time.monotonic() - now >= 0.30
    watch.close()


def test_one_thread_serves_many_deadlines():
    watch = DeadlineWatch(name="dw-test")
    before = threading.active_count()
    handles = [watch.schedule(time.monotonic() + 0.05, lambda: None) for _ in range(200)]
    assert threading.active_count() <= before + 1
    for h in handles:
        assert h.fired.wait(5)
    watch.close()
    assert not any(t.name == "dw-test" for t in threading.enumerate())


def test_close_drops_pending_calls_and_refuses_new_ones():
    watch = DeadlineWatch()
    calls = []
    pending = watch.schedule(time.monotonic() + 0.2, lambda: calls.append(1))
    watch.close()
    time.sleep(0.3)
    assert calls == [] and not pending.fired.is_set()
    with pytest.raises(RuntimeError):
        watch.schedule(time.monotonic(), lambda: None)

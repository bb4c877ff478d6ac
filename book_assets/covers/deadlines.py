"""One timer thread for many deadlines: calls a function when its deadline passes unless cancelled.

The downloader needs a hard deadline on every HTTP response body (a server that trickles bytes
would otherwise hold a worker forever). ``threading.Timer`` starts a new thread per request,
which at hundreds of requests a second cost more client CPU than parsing the responses; a
:class:`DeadlineWatch` serves all of them from one daemon thread and a heap.
"""
from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable


class Deadline:
    """One scheduled call; ``fired`` is set just before the call is made."""

    __slots__ = ("fn", "fired", "cancelled")

    def __init__(self, fn: Callable[[], None]):
        self.fn = fn
        self.fired = threading.Event()
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True  # the watch thread skips it (and drops it when its time comes)


class DeadlineWatch:
    """Runs each scheduled function at its ``time.monotonic()`` deadline, on one daemon thread."""

    def __init__(self, name: str = "deadline-watch"):
        self._name = name
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def schedule(self, at: float, fn: Callable[[], None]) -> Deadline:
        deadline = Deadline(fn)
        with self._cond:
            if self._closed:
                raise RuntimeError("DeadlineWatch is closed")
            heapq.heappush(self._heap, (at, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            if self._heap[0][2] is deadline:
                self._cond.notify()  # a new earliest deadline: re-arm the wait
        return deadline

    def close(self) -> None:
        """Stop the thread; pending deadlines are dropped without being called."""
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    while self._heap and self._heap[0][2].cancelled:
                        heapq.heappop(self._heap)
                    if not self._heap:
                        self._cond.wait()
                        continue
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                if self._closed:
                    return
                _, _, due = heapq.heappop(self._heap)
            due.fired.set()  # before the call: whoever sees its effect can already tell it fired
            try:
                due.fn()
            except Exception:  # pragma: no cover - the callbacks are best effort
                pass

"""Polite, cached, bounded bulk download of cover images.

:class:`CoverDownloader` fetches ``(cover_id, url)`` pairs with a thread pool of
``max_concurrency`` workers behind one shared :class:`RateLimiter` at ``settings.rps`` (the
covers service rate-limits anonymous clients to ~400/min and answers 429 beyond that). Per cover:

1. the :class:`CoverCache` is consulted first; a hit (image or permanent failure) makes no request.
   A verdict that depends on a threshold follows the *current* settings: a cached image smaller
   than ``min_bytes`` and a cached ``too_small`` failure are judged again from their kept bytes
   (:meth:`CoverDownloader._from_cache`); a ``too_small`` entry without kept bytes is fetched again;
2. each HTTP attempt (urllib3, no automatic retries or redirects) takes a limiter slot per request,
   has connect/read timeouts and a total per-request deadline (``timeout_s`` from the moment the
   request got its rate slot: the wait for a slot never counts). The deadline covers the
   exchange - connect, status line and headers, body (a TLS handshake is bounded by the socket
   timeout, which CPython applies to the whole handshake): the connection registers its socket
   with the attempt as soon as it exists (:class:`_WatchedConnection`), and a watchdog shuts that
   socket down at the deadline (plus ``WATCHDOG_GRACE_S``, so that a silent server still ends on
   the read timeout that names it), so a server that trickles bytes, headers included, cannot
   hang a worker; the body is streamed and abandoned past ``max_bytes``;
3. redirects are followed by hand, at most 5, only to allowed hosts, with loop detection; each hop
   is a request of its own (rate slot, then deadline), so an attempt ends within 6 deadlines;
4. 5xx, timeouts and connection errors are retried with exponential backoff (tenacity); a 429
   pauses *every* worker for its ``Retry-After`` (seconds or HTTP date, capped) before retrying;
5. a 200 answer that is no image at all - an empty body, or a ``text/*`` or ``application/json``
   Content-Type (the service's own error page) - is a transient ``not_an_image``: retried, and
   never cached. Any other body is judged by :func:`inspect_image`; good images and permanent
   failures (404 and the image reasons) are cached, transient failures are not, so the next run
   retries them. Cache entries record the URL they came from: a cover asked for under another
   URL (a new ``BOOK_ASSETS_COVER_URL_TEMPLATE``) is fetched again;
   ``too_small`` bytes are cached with the failure, to be judged again if the threshold changes.

No per-cover problem raises: each distinct cover id yields one :class:`DownloadOutcome`.
"""
from __future__ import annotations

import concurrent.futures as cf
import email.utils
import logging
import queue
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import tenacity
import urllib3

from book_assets.covers.cache import OK, PERMANENT_REASONS, THRESHOLD_REASONS, CacheEntry, CoverCache
from book_assets.covers.deadlines import DeadlineWatch
from book_assets.covers.images import (  # noqa: F401  (re-exported: all reasons in one place)
    DECOMPRESSION_BOMB,
    NOT_AN_IMAGE,
    PLACEHOLDER,
    TOO_SMALL,
    TRUNCATED,
    inspect_image,
)
from book_assets.covers.rate_limit import RateLimiter

log = logging.getLogger(__name__)

HTTP_404 = "http_404"
HTTP_ERROR = "http_error"
SERVER_ERROR = "server_error"
RATE_LIMITED = "rate_limited"
TIMEOUT = "timeout"
CONNECTION_ERROR = "connection_error"
TOO_LARGE = "too_large"
REDIRECT_NOT_ALLOWED = "redirect_not_allowed"
REDIRECT_LOOP = "redirect_loop"
CACHE_ERROR = "cache_error"
UNEXPECTED_ERROR = "unexpected_error"

TRANSIENT_REASONS = frozenset({SERVER_ERROR, RATE_LIMITED, TIMEOUT, CONNECTION_ERROR})
MAX_REDIRECTS = 5
MAX_BACKOFF_S = 30.0
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
#: The watchdog stops an exchange this long after its deadline: a server that says nothing ends on
#: its read timeout first (named as such in the outcome), one that keeps trickling on the watchdog.
WATCHDOG_GRACE_S = 0.5
#: The rate ceiling is what the *server* sees; leave room for the jitter between release and arrival.
RATE_WINDOW_MARGIN_S = 0.05


@dataclass
class DownloadSettings:
    rps: float = 6.0
    max_concurrency: int = 8
    timeout_s: float = 10.0
    retries: int = 4
    backoff_s: float = 0.5
    max_retry_after_s: float = 60.0
    user_agent: str = "book_assets/0.1 (+https://github.com/book-assets; covers bulk embedding)"
    max_bytes: int = 20_000_000
    allowed_hosts: tuple[str, ...] | None = None
    min_bytes: int = 1000
    min_side: int = 32
    max_pixels: int = 40_000_000


@dataclass
class DownloadOutcome:
    cover_id: int
    url: str
    status: str  # "ok" | "failed"
    sha256: str | None
    reason: str | None
    detail: str
    from_cache: bool
    attempts: int


class _AttemptFailed(Exception):
    """One failed attempt; ``transient`` ones are retried and never cached (default: by reason)."""

    def __init__(self, reason: str, detail: str, transient: bool | None = None):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.transient = reason in TRANSIENT_REASONS if transient is None else transient


def _error_page(body: bytes, content_type: str) -> str | None:
    """Why a 200 answer is a one-off error rather than the cover's bytes (None if it may be a cover)."""
    if not body:
        return "empty body"
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind.startswith("text/") or kind == "application/json":
        return f"{kind} answer ({len(body)} bytes) instead of an image"
    return None


class _Exchange:
    """The socket of one HTTP request, for the watchdog to shut down when the request runs late.

    The socket is registered by :class:`_WatchedConnection` the moment it is connected (before any
    TLS handshake or header byte), or when a pooled connection is reused; one registered after
    :meth:`expire` is shut down at once.
    """

    _current = threading.local()  # the exchange the calling thread is opening, if any

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._expired = False

    @classmethod
    def register(cls, sock: socket.socket | None) -> None:
        exchange = getattr(cls._current, "exchange", None)
        if exchange is None or sock is None:
            return
        with exchange._lock:
            exchange._sock = sock
            if exchange._expired:
                _shutdown(sock)

    def expire(self) -> None:
        with self._lock:
            self._expired = True
            if self._sock is not None:
                _shutdown(self._sock)


def _shutdown(sock: socket.socket) -> None:
    """Wake any thread blocked on ``sock`` (plain ``socket.shutdown``, also under an SSL socket)."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class _Watched:
    """Connection mixin: register the socket with the current :class:`_Exchange`."""

    def _new_conn(self):  # the raw TCP socket, before TLS wraps it
        sock = super()._new_conn()
        _Exchange.register(sock)
        return sock

    def request(self, *args, **kwargs):  # a reused connection never calls _new_conn
        _Exchange.register(self.sock)
        return super().request(*args, **kwargs)


class _WatchedConnection(_Watched, urllib3.connection.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
    pass


class _WatchedPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date); None if unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _host_allowed(url: str, origin: str, allowed: tuple[str, ...] | None) -> bool:
    """Whether a redirect may go to ``url``: always to the origin's own host, and to a host (or
    ``host:port``) in ``allowed``; an entry starting with a dot (``.archive.org``) allows that
    domain and every host under it (archive.org serves files from ``ia*.us.archive.org``).
    ``allowed`` adds hosts: naming archive.org must not refuse an http -> https hop on the
    cover host itself."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.hostname == urlsplit(origin).hostname:
        return True
    if not allowed:
        return False
    names = {h.strip().lower() for h in allowed}
    if parts.hostname in names or parts.netloc.lower() in names:
        return True
    return any(n.startswith(".") and len(n) > 1 and (parts.hostname == n[1:] or parts.hostname.endswith(n))
               for n in names)


class CoverDownloader:
    """Download covers into a :class:`CoverCache`; see the module docstring.

    ``stats`` holds the counters of the latest :meth:`download_all` call: ``requests`` (HTTP
    requests started, redirects and retries included), ``cache_hits``, ``downloaded``, ``failed``,
    ``retries``, ``rate_limited`` (429 answers seen), ``bytes`` (body bytes received).
    """

    def __init__(self, cache: CoverCache, settings: DownloadSettings | None = None):
        self.cache = cache
        self.settings = settings or DownloadSettings()
        self.stats: dict[str, int] = {}
        self._stats_lock = threading.Lock()
        self._reset_stats()
        self.limiter = RateLimiter(self.settings.rps, margin_s=RATE_WINDOW_MARGIN_S)
        self._http: urllib3.PoolManager | None = None

    # -- bookkeeping ---------------------------------------------------------------------------
    def _reset_stats(self) -> None:
        with self._stats_lock:
            self.stats = {k: 0 for k in ("requests", "cache_hits", "downloaded", "failed", "retries",
                                         "rate_limited", "bytes")}

    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += n

    # -- public API ----------------------------------------------------------------------------
    def download_all(
        self,
        items: Iterable[tuple[int, str]],
        progress: Callable[[int, int, float], None] | None = None,
    ) -> list[DownloadOutcome]:
        """One outcome per distinct cover id, in input order (first URL wins for repeated ids)."""
        unique: dict[int, str] = {}
        for cover_id, url in items:
            unique.setdefault(int(cover_id), url)
        work = list(unique.items())
        total = len(work)
        results: list[DownloadOutcome | None] = [None] * total
        self._reset_stats()
        s = self.settings
        self.limiter = RateLimiter(s.rps, margin_s=RATE_WINDOW_MARGIN_S)
        workers = max(1, int(s.max_concurrency))
        self._http = urllib3.PoolManager(
            num_pools=16,
            maxsize=workers,
            retries=False,
            headers={"User-Agent": s.user_agent, "Accept": "image/*", "Accept-Encoding": "identity"},
        )
        self._http.pool_classes_by_scheme = {"http": _WatchedPool, "https": _WatchedHTTPSPool}
        self._deadlines = DeadlineWatch("covers-deadlines")
        started = time.monotonic()
        done = 0
        try:
            with cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="covers") as pool:
                todo = iter(enumerate(work))
                # Finished futures arrive on a queue (O(1) each); cf.wait(FIRST_COMPLETED) over
                # the in-flight set locked and unlocked every future on each call (18% of the
                # client's CPU in a profile of the download benchmark).
                finished: queue.SimpleQueue[cf.Future] = queue.SimpleQueue()
                in_flight = 0

                def fill() -> None:
                    nonlocal in_flight
                    while in_flight < workers * 2:
                        try:
                            index, (cover_id, url) = next(todo)
                        except StopIteration:
                            return
                        pool.submit(self._safe_fetch, index, cover_id, url).add_done_callback(finished.put)
                        in_flight += 1

                fill()
                while in_flight:
                    future = finished.get()
                    in_flight -= 1
                    index, outcome = future.result()
                    results[index] = outcome
                    done += 1
                    if progress is not None:
                        elapsed = max(time.monotonic() - started, 1e-9)
                        progress(done, total, done / elapsed)
                    fill()
        finally:
            self._deadlines.close()
            self._http.clear()
            self._http = None
        return results  # type: ignore[return-value]

    # -- one cover -----------------------------------------------------------------------------
    def _safe_fetch(self, index: int, cover_id: int, url: str) -> tuple[int, DownloadOutcome]:
        try:
            outcome = self._fetch(cover_id, url)
        except Exception as exc:  # never let one cover take the batch down
            log.exception("cover %s: unexpected error", cover_id)
            outcome = DownloadOutcome(cover_id, url, "failed", None, UNEXPECTED_ERROR,
                                      f"{type(exc).__name__}: {exc}", False, 0)
        if outcome.from_cache:
            self._count("cache_hits")
        elif outcome.status == "ok":
            self._count("downloaded")
        if outcome.status != "ok":
            self._count("failed")
        return index, outcome

    def _lookup(self, cover_id: int, url: str) -> CacheEntry | None:
        try:
            return self.cache.lookup(cover_id, url)
        except Exception as exc:
            log.warning("cover %s: cache lookup failed (%s); downloading", cover_id, exc)
            return None

    def _from_cache(self, entry: CacheEntry, cover_id: int, url: str) -> DownloadOutcome | None:
        """The outcome of a cache hit under the current settings, or None to download again.

        Entries whose verdict could change with ``min_bytes`` (an image smaller than it, a
        ``too_small`` failure) are judged again from their kept bytes; when the verdict changes the
        index is rewritten, so the next run is a plain hit again.
        """
        s = self.settings
        if entry.status == OK and entry.size >= s.min_bytes:
            return DownloadOutcome(cover_id, url, OK, entry.sha256, None, entry.detail, True, 0)
        if entry.status != OK and entry.reason not in THRESHOLD_REASONS:
            return DownloadOutcome(cover_id, url, entry.status, None, entry.reason, entry.detail, True, 0)
        if not entry.sha256:
            return None  # a threshold verdict stored without its bytes: judge a fresh download
        try:
            data = self.cache.read_blob(entry.sha256)
        except Exception as exc:  # blob gone or unreadable: judge a fresh download instead
            log.warning("cover %s: cached bytes unreadable (%s); downloading", cover_id, exc)
            return None
        verdict = inspect_image(data, min_bytes=s.min_bytes, min_side=s.min_side, max_pixels=s.max_pixels)
        if verdict.ok:
            if entry.status != OK:
                self._remember(lambda: self.cache.store_image(cover_id, data, "", url=url), cover_id)
            return DownloadOutcome(cover_id, url, OK, entry.sha256, None, verdict.detail, True, 0)
        reason = verdict.reason or NOT_AN_IMAGE
        if entry.status == OK or entry.reason != reason:
            kept = data if reason in THRESHOLD_REASONS else None
            self._remember(lambda: self.cache.store_failure(cover_id, reason, verdict.detail, kept, url=url),
                           cover_id)
        return DownloadOutcome(cover_id, url, "failed", None, reason, verdict.detail, True, 0)

    @staticmethod
    def _remember(write: Callable[[], object], cover_id: int) -> None:
        """Rewrite an index entry; a failure only costs a re-judgement next run, so it is logged."""
        try:
            write()
        except Exception as exc:
            log.warning("cover %s: could not update the cache entry: %s", cover_id, exc)

    def _fetch(self, cover_id: int, url: str) -> DownloadOutcome:
        entry = self._lookup(cover_id, url)
        if entry is not None:
            outcome = self._from_cache(entry, cover_id, url)
            if outcome is not None:
                return outcome

        s = self.settings
        attempts = 0
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(max(0, int(s.retries)) + 1),
            wait=self._wait,
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, _AttemptFailed) and e.transient),
            before_sleep=lambda state: self._count("retries"),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    data, content_type = self._attempt(url)
        except _AttemptFailed as failure:
            detail = failure.detail
            if failure.transient and attempts > 1:
                detail = f"{detail} (after {attempts} attempts)"
            return self._failed(cover_id, url, failure.reason, detail, attempts, permanent=not failure.transient)

        verdict = inspect_image(data, min_bytes=s.min_bytes, min_side=s.min_side, max_pixels=s.max_pixels)
        if not verdict.ok:
            return self._failed(cover_id, url, verdict.reason or NOT_AN_IMAGE, verdict.detail, attempts, data)
        try:
            entry = self.cache.store_image(cover_id, data, content_type, url=url)
        except Exception as exc:
            log.warning("cover %s: could not store image: %s", cover_id, exc)
            return DownloadOutcome(cover_id, url, "failed", None, CACHE_ERROR, f"{type(exc).__name__}: {exc}",
                                   False, attempts)
        return DownloadOutcome(cover_id, url, "ok", entry.sha256, None, verdict.detail, False, attempts)

    def _failed(self, cover_id: int, url: str, reason: str, detail: str, attempts: int,
                data: bytes | None = None, permanent: bool = True) -> DownloadOutcome:
        if permanent and reason in PERMANENT_REASONS:
            try:
                self.cache.store_failure(cover_id, reason, detail, data if reason in THRESHOLD_REASONS else None,
                                         url=url)
            except Exception as exc:
                log.warning("cover %s: could not cache failure %s: %s", cover_id, reason, exc)
        return DownloadOutcome(cover_id, url, "failed", None, reason, detail, False, attempts)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _AttemptFailed) and exc.reason == RATE_LIMITED:
            return 0.0  # the limiter pause already holds every worker until Retry-After
        return self._backoff(state.attempt_number)

    def _backoff(self, attempt_number: int) -> float:
        base = self.settings.backoff_s * (2 ** max(0, attempt_number - 1))
        return min(MAX_BACKOFF_S, base) * random.uniform(0.8, 1.2)

    # -- one HTTP attempt (following redirects) ------------------------------------------------
    def _attempt(self, url: str) -> tuple[bytes, str]:
        s = self.settings
        visited = {url}
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            self.limiter.acquire()
            # each request's own deadline, from its rate slot: waiting for a slot never counts
            deadline = time.monotonic() + s.timeout_s
            self._count("requests")
            response, watchdog = self._open(current, deadline)
            complete = False
            try:
                status = response.status
                if status in _REDIRECT_STATUSES:
                    location = response.headers.get("Location")
                    if not location:
                        raise _AttemptFailed(HTTP_ERROR, f"HTTP {status} without Location from {current}")
                    target = urljoin(current, location)
                    if not _host_allowed(target, url, s.allowed_hosts):
                        raise _AttemptFailed(REDIRECT_NOT_ALLOWED, f"HTTP {status} to {target}: host not allowed")
                    if target in visited:
                        raise _AttemptFailed(REDIRECT_LOOP, f"HTTP {status} back to {target}")
                    visited.add(target)
                    current = target
                    continue
                if status == 200:
                    body = self._read_body(response, watchdog, deadline, current)
                    complete = True
                    content_type = response.headers.get("Content-Type", "")
                    error_page = _error_page(body, content_type)
                    if error_page:  # a one-off error answer, not the cover's bytes: retry later
                        raise _AttemptFailed(NOT_AN_IMAGE, f"{error_page} from {current}", transient=True)
                    return body, content_type
                if status == 404:
                    raise _AttemptFailed(HTTP_404, f"HTTP 404 from {current}")
                if status == 429:
                    self._count("rate_limited")
                    self._pause_for(response.headers.get("Retry-After"))
                    raise _AttemptFailed(RATE_LIMITED, f"HTTP 429 from {current}")
                if status >= 500:
                    raise _AttemptFailed(SERVER_ERROR, f"HTTP {status} from {current}")
                raise _AttemptFailed(HTTP_ERROR, f"HTTP {status} from {current}")
            finally:
                watchdog.cancel()
                if not complete:  # unread or abandoned body: drop the connection, not reuse it
                    response.close()
                response.release_conn()
        raise _AttemptFailed(REDIRECT_LOOP, f"more than {MAX_REDIRECTS} redirects from {url}")

    def _pause_for(self, retry_after: str | None) -> None:
        delay = parse_retry_after(retry_after)
        if delay is None:
            delay = self._backoff(1)
        delay = min(delay, self.settings.max_retry_after_s)
        self.limiter.pause_until(time.monotonic() + delay)

    def _open(self, url: str, deadline: float):
        """Send the request; the watchdog guards it from before the connection exists to the body's end."""
        s = self.settings
        remaining = max(0.05, deadline - time.monotonic())
        timeout = urllib3.Timeout(connect=min(s.timeout_s, remaining), read=min(s.timeout_s, remaining))
        exchange = _Exchange()
        watchdog = self._deadlines.schedule(deadline + WATCHDOG_GRACE_S, exchange.expire)
        late = _AttemptFailed(TIMEOUT, f"no response within {s.timeout_s}s from {url} "
                                       f"(connection, TLS or headers too slow)")
        _Exchange._current.exchange = exchange
        try:
            response = self._http.request(
                "GET", url, preload_content=False, redirect=False, retries=False, timeout=timeout
            )
        except Exception as exc:
            watchdog.cancel()
            raise (late if watchdog.fired.is_set() else self._translate(exc, url)) from exc
        finally:
            _Exchange._current.exchange = None
        if watchdog.fired.is_set():  # cut off mid-headers, http.client may take the rest for a response
            response.close()
            response.release_conn()
            raise late
        return response, watchdog

    def _read_body(self, response, watchdog, deadline: float, url: str) -> bytes:
        s = self.settings
        length = response.headers.get("Content-Length")
        if length and length.strip().isdigit() and int(length) > s.max_bytes:
            raise _AttemptFailed(TOO_LARGE, f"Content-Length {length} > {s.max_bytes}")
        body = bytearray()
        try:
            while True:
                chunk = response.read1(_CHUNK)
                if not chunk:
                    break
                body += chunk
                self._count("bytes", len(chunk))
                if len(body) > s.max_bytes:
                    raise _AttemptFailed(TOO_LARGE, f"body exceeds {s.max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise _AttemptFailed(TIMEOUT, f"body not complete within {s.timeout_s}s "
                                                  f"({len(body)} bytes received)")
        except _AttemptFailed:
            raise
        except Exception as exc:
            if watchdog.fired.is_set() or time.monotonic() > deadline:
                raise _AttemptFailed(TIMEOUT, f"body not complete within {s.timeout_s}s "
                                              f"({len(body)} bytes received)") from exc
            raise self._translate(exc, url) from exc
        if watchdog.fired.is_set() or time.monotonic() > deadline:
            raise _AttemptFailed(TIMEOUT, f"body not complete within {s.timeout_s}s ({len(body)} bytes received)")
        return bytes(body)

    @staticmethod
    def _translate(exc: Exception, url: str) -> _AttemptFailed:
        name = type(exc).__name__
        if isinstance(exc, urllib3.exceptions.NewConnectionError):
            return _AttemptFailed(CONNECTION_ERROR, f"{name} for {url}: {exc}")
        if isinstance(exc, (urllib3.exceptions.TimeoutError, TimeoutError)):
            return _AttemptFailed(TIMEOUT, f"{name} for {url}: {exc}")
        if isinstance(exc, urllib3.exceptions.LocationValueError):
            return _AttemptFailed(HTTP_ERROR, f"invalid URL {url!r}: {exc}")
        if isinstance(exc, (urllib3.exceptions.HTTPError, OSError)):
            return _AttemptFailed(CONNECTION_ERROR, f"{name} for {url}: {exc}")
        return _AttemptFailed(CONNECTION_ERROR, f"{name} for {url}: {exc}")

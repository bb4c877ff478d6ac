"""A loopback stand-in for covers.openlibrary.org, for tests and benchmarks.

``CoverServer`` is a threaded HTTP/1.1 server on ``127.0.0.1`` (random port) that serves
``/b/id/<cover_id>-<S|M|L>.jpg`` from the real cover files in ``shared/data/covers``: cover id N is
``files[N % len(files)]`` over the sorted real JPEGs (the two 43-byte GIF placeholders excluded).
Any cover id can be given a :class:`Behaviour` (404, 429, 500s, slow, trickle, trickled headers,
truncated, HTML, empty body, non-image bytes, placeholder GIF, decompression-bomb PNG, reset
mid-body, redirects). The server counts requests
(total and per id) and records their arrival times and User-Agent headers.

    with CoverServer(covers_dir) as server:
        server.set_behaviour(7, Behaviour.server_error(times=2))
        url = server.url_template.format(cover_id=7)
"""
from __future__ import annotations

import email.utils
import http.server
import re
import socket
import struct
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

DEFAULT_COVERS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "covers"
_PATH = re.compile(r"^/b/id/(\d+)-([SML])\.jpg$")
PLACEHOLDER_SIZE = 43


def is_placeholder(data: bytes) -> bool:
    """The covers service's "missing cover" answer: a tiny 1x1 GIF."""
    return len(data) <= 100 and data[:4] == b"GIF8"


def real_cover_files(covers_dir: Path | str = DEFAULT_COVERS_DIR) -> list[Path]:
    """All real cover JPEGs, sorted, placeholders excluded."""
    files = sorted(Path(covers_dir).resolve().glob("*/*.jpg"))
    return [f for f in files if not (f.stat().st_size <= 100 and is_placeholder(f.read_bytes()))]


def placeholder_files(covers_dir: Path | str = DEFAULT_COVERS_DIR) -> list[Path]:
    files = sorted(Path(covers_dir).resolve().glob("*/*.jpg"))
    return [f for f in files if f.stat().st_size <= 100 and is_placeholder(f.read_bytes())]


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` greyscale pixels."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1) * 4, 9)  # a few rows; the rest is "missing"
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@dataclass(frozen=True)
class Behaviour:
    """How the server answers one cover id. Build with the class methods."""

    kind: str = "ok"
    times: int | None = None  # misbehave this many times, then serve the cover (None: always)
    retry_after: str | None = None
    delay_s: float = 0.0
    chunk: int = 64
    target: str | int | None = None
    status: int = 302
    extra: dict = field(default_factory=dict)

    @classmethod
    def ok(cls) -> "Behaviour":
        return cls("ok")

    @classmethod
    def not_found(cls) -> "Behaviour":
        return cls("status", extra={"code": 404})

    @classmethod
    def status_code(cls, code: int, times: int | None = None) -> "Behaviour":
        return cls("status", times=times, extra={"code": code})

    @classmethod
    def rate_limited(cls, times: int | None = 1, retry_after: str | float | None = "1") -> "Behaviour":
        """429 with ``Retry-After`` (seconds, or pass an HTTP date string) ``times`` times."""
        return cls("status", times=times, retry_after=None if retry_after is None else str(retry_after),
                   extra={"code": 429})

    @classmethod
    def server_error(cls, times: int | None = 1) -> "Behaviour":
        return cls("status", times=times, extra={"code": 500})

    @classmethod
    def always_500(cls) -> "Behaviour":
        return cls("status", times=None, extra={"code": 500})

    @classmethod
    def slow(cls, delay_s: float, times: int | None = None) -> "Behaviour":
        """Sleep ``delay_s`` before answering at all (past the client's read timeout)."""
        return cls("slow", times=times, delay_s=delay_s)

    @classmethod
    def trickle(cls, delay_s: float = 0.05, chunk: int = 64, times: int | None = None) -> "Behaviour":
        """Send headers at once, then ``chunk`` body bytes every ``delay_s`` seconds."""
        return cls("trickle", times=times, delay_s=delay_s, chunk=chunk)

    @classmethod
    def trickle_headers(cls, delay_s: float = 0.3, for_s: float = 20.0) -> "Behaviour":
        """Send the status line, then one header byte every ``delay_s`` seconds for ``for_s`` seconds
        (each byte resets a client's read timeout), then the cover."""
        return cls("trickle_headers", delay_s=delay_s, extra={"for_s": for_s})

    @classmethod
    def truncated(cls, fraction: float = 0.6) -> "Behaviour":
        """A complete HTTP response whose body is the first ``fraction`` of the JPEG."""
        return cls("truncated", extra={"fraction": fraction})

    @classmethod
    def html(cls, times: int | None = None) -> "Behaviour":
        """The service's HTML error page, with status 200."""
        return cls("html", times=times)

    @classmethod
    def empty(cls, times: int | None = None) -> "Behaviour":
        """Status 200, ``Content-Type: image/jpeg`` and an empty body."""
        return cls("empty", times=times)

    @classmethod
    def not_an_image(cls) -> "Behaviour":
        """Status 200, ``Content-Type: image/jpeg``, and bytes that are no image format at all."""
        return cls("garbage")

    @classmethod
    def placeholder(cls) -> "Behaviour":
        return cls("placeholder")

    @classmethod
    def bomb(cls, width: int = 20000, height: int = 20000) -> "Behaviour":
        return cls("bomb", extra={"width": width, "height": height})

    @classmethod
    def reset_mid_body(cls, times: int | None = None) -> "Behaviour":
        """Announce the full Content-Length, send half the body, then reset the connection."""
        return cls("reset", times=times)

    @classmethod
    def redirect_to_cover(cls, cover_id: int, status: int = 302) -> "Behaviour":
        return cls("redirect", target=int(cover_id), status=status)

    @classmethod
    def redirect_to_url(cls, url: str, status: int = 302) -> "Behaviour":
        return cls("redirect", target=url, status=status)

    @classmethod
    def redirect_loop(cls) -> "Behaviour":
        """/b/id/N-M.jpg -> ?hop=1 -> /b/id/N-M.jpg -> ..."""
        return cls("redirect_loop")

    @classmethod
    def redirect_chain(cls, hops: int = 10) -> "Behaviour":
        """?hop=1 -> ?hop=2 -> ... -> ?hop=hops, then the cover: a long chain without a loop."""
        return cls("redirect_chain", extra={"hops": hops})


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 overflows when 8+ workers connect at once on a loaded
    # machine: the kernel drops the handshake, the client times out before the server ever sees the
    # request, and per-cover request counts come out short (a CI flake, reproduced under CPU load).
    request_queue_size = 128

    def handle_error(self, request, client_address):  # clients hang up on purpose in many tests
        pass


class CoverServer:
    """Threaded loopback covers service; a context manager (``start``/``stop`` also work)."""

    def __init__(self, covers_dir: Path | str = DEFAULT_COVERS_DIR, *, latency_s: float = 0.0,
                 host: str = "127.0.0.1"):
        self.covers_dir = Path(covers_dir).resolve()
        self.files = real_cover_files(self.covers_dir)
        if not self.files:
            raise FileNotFoundError(f"no cover files under {self.covers_dir}")
        placeholders = placeholder_files(self.covers_dir)
        self.placeholder_bytes = placeholders[0].read_bytes() if placeholders else (
            b"GIF89a\x01\x00\x01\x00\xf0\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x05\x00\x00\x00\x00,"
            b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
        self.latency_s = latency_s
        self.host = host
        self._behaviours: dict[int, Behaviour] = {}
        self._lock = threading.Lock()
        self._bytes_cache: dict[Path, bytes] = {}
        self._stop = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.reset_counts()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> "CoverServer":
        self._stop.clear()
        handler = type("Handler", (_Handler,), {"cover_server": self})
        self._httpd = _Server((self.host, 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="cover-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # wakes sleeping / trickling handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "CoverServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url_template(self) -> str:
        return f"{self.base_url}/b/id/{{cover_id}}-M.jpg"

    def url_for(self, cover_id: int) -> str:
        return self.url_template.format(cover_id=cover_id)

    # -- content -------------------------------------------------------------------------------
    def file_for(self, cover_id: int) -> Path:
        return self.files[int(cover_id) % len(self.files)]

    def bytes_for(self, cover_id: int) -> bytes:
        path = self.file_for(cover_id)
        with self._lock:
            data = self._bytes_cache.get(path)
        if data is None:
            data = path.read_bytes()
            with self._lock:
                self._bytes_cache[path] = data
        return data

    def cover_id_for_file(self, path: Path | str) -> int:
        """The smallest cover id served from ``path`` (add k*len(files) for more ids)."""
        return self.files.index(Path(path).resolve())

    # -- behaviour -----------------------------------------------------------------------------
    def set_behaviour(self, cover_id: int, behaviour: Behaviour) -> None:
        with self._lock:
            self._behaviours[int(cover_id)] = behaviour
            self._misbehaved[int(cover_id)] = 0

    def clear_behaviour(self, cover_id: int) -> None:
        with self._lock:
            self._behaviours.pop(int(cover_id), None)

    def _behaviour_for_request(self, cover_id: int) -> Behaviour:
        with self._lock:
            behaviour = self._behaviours.get(cover_id, Behaviour.ok())
            if behaviour.times is not None:
                if self._misbehaved[cover_id] >= behaviour.times:
                    return Behaviour.ok()
                self._misbehaved[cover_id] += 1
            return behaviour

    # -- counters ------------------------------------------------------------------------------
    def reset_counts(self) -> None:
        with self._lock:
            self.requests: list[tuple[float, str, str]] = []  # (monotonic time, path, user agent)
            self.per_cover: Counter[int] = Counter()
            self._misbehaved: Counter[int] = Counter()

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def requests_for(self, cover_id: int) -> int:
        with self._lock:
            return self.per_cover[int(cover_id)]

    @property
    def timestamps(self) -> list[float]:
        with self._lock:
            return [t for t, _, _ in self.requests]

    @property
    def user_agents(self) -> list[str]:
        with self._lock:
            return [ua for _, _, ua in self.requests]

    def max_requests_in_window(self, window_s: float = 1.0) -> int:
        """Most request arrivals within any half-open window [t, t + window_s)."""
        times = sorted(self.timestamps)
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= window_s:
                start += 1
            best = max(best, end - start + 1)
        return best

    def _record(self, path: str, cover_id: int | None, user_agent: str) -> None:
        with self._lock:
            self.requests.append((time.monotonic(), path, user_agent))
            if cover_id is not None:
                self.per_cover[cover_id] += 1

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops first; True if it stopped."""
        return self._stop.wait(seconds) if seconds > 0 else self._stop.is_set()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cover_server: CoverServer

    def log_message(self, format, *args):  # quiet
        pass

    def finish(self):
        try:
            super().finish()
        except (OSError, ValueError):  # the socket was reset or closed on purpose
            pass

    def _send(self, code: int, body: bytes, content_type: str = "image/jpeg", headers: dict | None = None):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str, status: int = 302):
        self._send(status, b"", "text/plain", {"Location": location})

    def do_GET(self):  # noqa: C901 - one branch per behaviour
        server = self.cover_server
        parts = urlsplit(self.path)
        match = _PATH.match(parts.path)
        cover_id = int(match.group(1)) if match else None
        server._record(self.path, cover_id, self.headers.get("User-Agent", ""))
        if server._sleep(server.latency_s):
            self.close_connection = True
            return
        if cover_id is None:
            return self._send(404, b"not found", "text/plain")
        b = server._behaviour_for_request(cover_id)
        data = server.bytes_for(cover_id)
        try:
            if b.kind == "ok":
                return self._send(200, data)
            if b.kind == "status":
                code = b.extra["code"]
                headers = {"Retry-After": b.retry_after} if b.retry_after is not None else {}
                return self._send(code, f"<html><body>HTTP {code}</body></html>".encode(), "text/html", headers)
            if b.kind == "slow":
                if server._sleep(b.delay_s):
                    self.close_connection = True  # stopping: hang up instead of answering
                    return
                return self._send(200, data)
            if b.kind == "trickle":
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                for i in range(0, len(data), b.chunk):
                    self.wfile.write(data[i:i + b.chunk])
                    self.wfile.flush()
                    if server._sleep(b.delay_s):
                        break
                self.close_connection = True
                return
            if b.kind == "trickle_headers":
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Pad: ")
                self.wfile.flush()
                until = time.monotonic() + b.extra["for_s"]
                while time.monotonic() < until:
                    self.wfile.write(b"a")
                    self.wfile.flush()
                    if server._sleep(b.delay_s):
                        self.close_connection = True
                        return
                self.wfile.write(b"\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(data))
                self.wfile.write(data)
                return
            if b.kind == "empty":
                return self._send(200, b"")
            if b.kind == "garbage":
                return self._send(200, bytes(range(256)) * 20)
            if b.kind == "truncated":
                return self._send(200, data[: int(len(data) * b.extra["fraction"])])
            if b.kind == "html":
                page = (b"<!DOCTYPE html><html><head><title>Open Library</title></head><body>"
                        + b"<p>Sorry, something went wrong.</p>" * 60 + b"</body></html>")
                return self._send(200, page, "text/html; charset=utf-8")
            if b.kind == "placeholder":
                return self._send(200, server.placeholder_bytes, "image/gif")
            if b.kind == "bomb":
                return self._send(200, bomb_png(b.extra["width"], b.extra["height"]), "image/png")
            if b.kind == "reset":
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()  # SO_LINGER 0: the client sees a reset
                return
            if b.kind == "redirect":
                if isinstance(b.target, int):
                    return self._redirect(f"/b/id/{b.target}-M.jpg", b.status)
                return self._redirect(str(b.target), b.status)
            if b.kind == "redirect_loop":
                hop = parse_qs(parts.query).get("hop")
                return self._redirect(parts.path if hop else f"{parts.path}?hop=1")
            if b.kind == "redirect_chain":
                hop = int(parse_qs(parts.query).get("hop", ["0"])[0])
                if hop >= b.extra["hops"]:
                    return self._send(200, data)
                return self._redirect(f"{parts.path}?hop={hop + 1}")
            return self._send(500, f"unknown behaviour {b.kind}".encode(), "text/plain")
        except OSError:
            self.close_connection = True


def http_date(seconds_from_now: float) -> str:
    """An HTTP date ``seconds_from_now`` in the future, for ``Retry-After``."""
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)

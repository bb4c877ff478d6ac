"""A loopback HTTP server for dump downloads: one "latest" URL whose content and ETag can change,
with ``Range`` / ``If-Range`` as RFC 9110 says (a Range request whose If-Range validator is not the
current one gets 200 and the whole current file), and faults: cut bodies, ignored ranges, 416
before If-Range, a HEAD that lies about the size."""
from __future__ import annotations

import http.server
import threading
from pathlib import Path

NAME = "ol_dump_editions_latest.txt.gz"


def leave_part(raw: Path, data: bytes, validator: str | None = None) -> None:
    """What an interrupted download leaves in ``raw``: ``NAME.part`` and, if given, its validator."""
    raw.mkdir(parents=True, exist_ok=True)
    (raw / f"{NAME}.part").write_bytes(data)
    if validator is not None:
        (raw / f"{NAME}.part.validator").write_text(validator)


class DumpServer:
    """One file at ``/<NAME>``; its version can change; every GET's headers and status are recorded."""

    def __init__(self, payload: bytes, etag: str | None = '"v1"', last_modified: str | None = None,
                 ignore_range: bool = False, range_first: bool = False, lie_about_size: bool = False):
        self.version = (payload, etag, last_modified)
        self.ignore_range = ignore_range
        self.range_first = range_first  # answer 416 to an unsatisfiable range before looking at If-Range
        self.lie_about_size = lie_about_size  # HEAD announces 10 bytes more than GET sends
        self.cut_at: int | None = None  # cut GET bodies after this many bytes...
        self.cuts_left: int | None = None  # ...this many times (None: every GET while cut_at is set)
        self.next_version: tuple | None = None  # the URL moves to this version after the next GET
        self.gets: list[dict] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _head(self, status: int, length: int, etag, last_modified, extra: dict | None = None):
                self.send_response(status)
                self.send_header("Content-Length", str(length))
                if etag is not None:
                    self.send_header("ETag", etag)
                if last_modified is not None:
                    self.send_header("Last-Modified", last_modified)
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()

            def do_HEAD(self):
                payload, etag, last_modified = outer.version
                self._head(200, len(payload) + (10 if outer.lie_about_size else 0), etag, last_modified)

            def do_GET(self):
                payload, etag, last_modified = outer.version
                if outer.next_version is not None:
                    outer.version, outer.next_version = outer.next_version, None
                rng, if_range = self.headers.get("Range"), self.headers.get("If-Range")
                strong = etag if etag is not None and not etag.startswith("W/") else None
                matches = if_range is None or if_range in (strong, last_modified)
                honour = rng is not None and not outer.ignore_range and matches
                asked = int(rng.split("=")[1].split("-")[0]) if rng else 0
                start = asked if honour else 0
                status = 206 if honour else 200
                if (honour or (outer.range_first and rng)) and asked >= len(payload):
                    status = 416
                outer.gets.append({"range": rng, "if_range": if_range, "status": status})
                if status == 416:
                    self._head(416, 0, etag, last_modified, {"Content-Range": f"bytes */{len(payload)}"})
                    return
                body = payload[start:]
                extra = {"Content-Range": f"bytes {start}-{len(payload) - 1}/{len(payload)}"} if status == 206 else {}
                self._head(status, len(body), etag, last_modified, extra)
                if outer.cut_at is not None and outer.cuts_left != 0:
                    if outer.cuts_left is not None:
                        outer.cuts_left -= 1
                    self.wfile.write(body[: outer.cut_at])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_port}/{NAME}"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

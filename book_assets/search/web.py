"""A small Starlette web app over :class:`SearchService`: a search page and two JSON endpoints.

* ``GET /`` — the page (``book_assets/web/index.html`` + ``app.js``/``app.css``); results are
  rendered client-side with ``textContent`` only, and a strict Content-Security-Policy forbids
  inline scripts, so data can never run as code.
* ``GET /api/search?q=…&years=2018-2020&top_k=10`` and ``GET /api/like?edition_key=…&years=…&top_k=…``
  — JSON ``{"results": [...]}``; bad parameters give 400 ``{"error": "..."}``, an unknown edition 404,
  and a failing search backend (Milvus down, a vector width that does not match the collection, any
  other error from the service) 503 ``{"error": "search backend unavailable"}``: the details are
  logged here, never sent to the browser.

``serve()`` binds 127.0.0.1:8008 by default and builds the service (CLIP loaded once per process)
from the environment unless one is given. ``BackgroundServer`` runs the app in a thread (tests).
"""
from __future__ import annotations

import argparse
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from book_assets.search import validation
from book_assets.search.api import SearchResult, SearchService, UnknownEdition

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
STATIC_FILES = {"app.js": "text/javascript", "app.css": "text/css"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src http: https: data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
MAX_PARAM_LENGTH = 2_000


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=SECURITY_HEADERS)


def _backend_unavailable(what: str) -> JSONResponse:
    """503 for an error raised by the search service; call from an ``except`` block (logs the traceback)."""
    log.exception("%s failed", what)
    return _error("search backend unavailable", status=503)


def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Last resort for anything else: JSON and the security headers instead of Starlette's plain 500."""
    log.error("unhandled error on %s", request.url.path, exc_info=exc)
    return _error("internal server error", status=500)


def _results(results: list[SearchResult], **extra) -> JSONResponse:
    body = {**extra, "count": len(results), "results": [r.to_dict() for r in results]}
    return JSONResponse(body, headers=SECURITY_HEADERS)


def _common_params(request: Request) -> tuple[tuple[int, int] | None, int]:
    params = request.query_params
    for key, value in params.multi_items():
        if len(value) > MAX_PARAM_LENGTH:
            raise ValueError(f"parameter {key[:20]!r} is too long")
    years_spec = params.get("years", "").strip()
    years = validation.parse_year_range(years_spec) if years_spec else None
    top_k = validation.check_top_k(params.get("top_k", "10"))
    return years, top_k


def create_app(service_provider: Callable[[], SearchService]) -> Starlette:
    """The ASGI app; ``service_provider()`` returns the (process-wide) ``SearchService``."""

    def index(request: Request) -> Response:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html", headers=SECURITY_HEADERS)

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            return Response("not found", status_code=404)
        return FileResponse(WEB_DIR / name, media_type=STATIC_FILES[name], headers=SECURITY_HEADERS)

    def api_search(request: Request) -> Response:
        try:
            years, top_k = _common_params(request)
            query = validation.check_query(request.query_params.get("q", ""))
        except ValueError as exc:
            return _error(str(exc))
        try:
            results = service_provider().search(query, years=years, top_k=top_k)
        except Exception:
            return _backend_unavailable("search")
        return _results(results, query=query, years=list(years) if years else None, top_k=top_k)

    def api_like(request: Request) -> Response:
        try:
            years, top_k = _common_params(request)
            key = validation.check_edition_key(request.query_params.get("edition_key", ""))
        except ValueError as exc:
            return _error(str(exc))
        try:
            results = service_provider().more_like_this(key, years=years, top_k=top_k)
        except UnknownEdition as exc:  # any other error (KeyError, MissingCollection...) is not a 404
            return _error(str(exc.args[0] if exc.args else exc), status=404)
        except Exception:
            return _backend_unavailable("more like this")
        return _results(results, edition_key=key, years=list(years) if years else None, top_k=top_k)

    def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    routes = [
        Route("/", index),
        Route("/static/{name}", static),
        Route("/api/search", api_search),
        Route("/api/like", api_like),
        Route("/healthz", health),
    ]
    return Starlette(routes=routes, exception_handlers={Exception: _internal_error})


def _lazy_service(service: SearchService | None) -> Callable[[], SearchService]:
    holder: dict[str, SearchService] = {}
    lock = threading.Lock()
    if service is not None:
        holder["s"] = service

    def provider() -> SearchService:
        with lock:
            if "s" not in holder:
                holder["s"] = SearchService.from_settings()
            return holder["s"]

    return provider


def serve(host: str = "127.0.0.1", port: int = 8008, service: SearchService | None = None) -> None:
    """Run the app in the foreground (blocking) with uvicorn."""
    import uvicorn

    provider = _lazy_service(service)
    provider()  # load CLIP and connect to Milvus before accepting requests
    log.info("book search on http://%s:%d/", host, port)
    uvicorn.run(create_app(provider), host=host, port=port, log_level="info")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class BackgroundServer:
    """Run the app on ``host:port`` (a free loopback port by default) in a daemon thread."""

    def __init__(self, service: SearchService, host: str = "127.0.0.1", port: int | None = None) -> None:
        import uvicorn

        self.host = host
        self.port = port or free_port(host)
        config = uvicorn.Config(
            create_app(_lazy_service(service)), host=host, port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="book-search-web", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "BackgroundServer":
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("web server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> "BackgroundServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="book-assets serve", description="Serve the cover search web page.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8008)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(args.host, args.port)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

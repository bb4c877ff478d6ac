"""Benchmark 4: cover download throughput against a loopback server with 50 ms latency.

    .venv/bin/python benchmarks/bench_download.py [--covers 3000] [--concurrency 64] \
        [--polite-rps 6] [--polite-covers 90] [--latency 0.05]
    .venv/bin/python benchmarks/bench_download.py --smoke

Runs the real :class:`book_assets.covers.download.CoverDownloader` (urllib3 pool, rate limiter,
image validation with a full decode, content-addressed cache writes) against
``tests/support/cover_server.CoverServer`` serving the real covers in ``../shared/data/covers``
with ``latency_s`` added to every answer, each run into a fresh cache (no hits). The server runs
in its own process (``--same-process`` puts it back in the client's): a real covers service does
not share the downloader's interpreter and GIL, and in one process the server's request handling
took CPU the client is being measured on.

* ``unthrottled``: no rate ceiling, ``--concurrency`` workers -- target >= 500 covers/s here
  (verdict ``met`` / ``NOT met``; the tiny ``--smoke`` run may well say NOT met);
* ``polite``: the pipeline's ceiling (``--polite-rps``, default 6/s like ``DownloadSettings``)
  -- target within 5% of the ceiling and never above it. The rate is measured from the
  server's arrival times (first to last request); ``max in 1 s`` is the most arrivals the
  server saw in any one-second window. Verdict ``met`` only if the arrival rate is >= 95% of
  the ceiling AND ``max in 1 s`` <= the ceiling; otherwise it names the part that failed
  (``rate below 95%`` and/or ``ABOVE CEILING``).

Every cover id gets distinct bytes (:class:`UniqueCoverServer`: the real JPEG with a comment
segment naming the id inserted after its SOI marker), so each download writes its own blob into
the content-addressed cache -- with the plain server, ids N and N + len(files) are the same file
and most blob writes were skipped as duplicates. The ``blobs`` column counts the blobs written.
"""
from __future__ import annotations

import argparse
import shutil
import struct
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import COVERS_DIR, REPO, Timer, log, print_table  # noqa: E402

sys.path.insert(0, str(REPO))
from tests.support.cover_server import CoverServer  # noqa: E402

UNTHROTTLED_TARGET = 500.0  # covers/s
POLITE_MIN_SHARE = 0.95  # of the ceiling


class UniqueCoverServer(CoverServer):
    """``CoverServer`` whose every cover id has distinct bytes (still a valid JPEG).

    The base server maps id N to ``files[N % len(files)]``, so thousands of ids share a few hundred
    byte strings and the downloader's content-addressed cache skips most blob writes. Here a JPEG
    comment segment (``FF FE``) naming the id goes right after the SOI marker: decoders ignore it,
    the image is unchanged, the sha256 differs per id.
    """

    def bytes_for(self, cover_id: int) -> bytes:
        data = super().bytes_for(cover_id)
        if data[:2] != b"\xff\xd8":  # not a JPEG: serve it as is
            return data
        tag = f"book_assets bench cover {int(cover_id)}".encode()
        return data[:2] + b"\xff\xfe" + struct.pack(">H", len(tag) + 2) + tag + data[2:]


class ServerProcess:
    """A ``CoverServer`` in a child process, driven over a pipe; the same methods ``run`` uses."""

    def __init__(self, covers_dir: Path, latency_s: float):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, str(covers_dir), latency_s), daemon=True)
        self._proc.start()
        child.close()  # only the child holds its end now: if it dies, recv() sees EOF instead of waiting forever
        try:
            self.base_url, self.files_count = self._conn.recv()
        except EOFError:
            self._proc.join(timeout=10)
            raise RuntimeError(f"the cover server process exited ({self._proc.exitcode}) before serving "
                               f"{covers_dir}; its traceback is above") from None

    def _ask(self, *request):
        self._conn.send(request)
        return self._conn.recv()

    def url_for(self, cover_id: int) -> str:
        return f"{self.base_url}/b/id/{cover_id}-M.jpg"

    def reset_counts(self) -> None:
        self._ask("reset_counts")

    @property
    def timestamps(self) -> list[float]:
        return self._ask("timestamps")

    def max_requests_in_window(self, window_s: float) -> int:
        return self._ask("max_requests_in_window", window_s)

    def stop(self) -> None:
        self._ask("stop")
        self._proc.join(timeout=10)


def _serve(conn, covers_dir: str, latency_s: float) -> None:
    with UniqueCoverServer(covers_dir, latency_s=latency_s) as server:
        conn.send((server.base_url, len(server.files)))
        while True:
            name, *args = conn.recv()
            if name == "stop":
                conn.send(None)
                return
            value = getattr(server, name)
            conn.send(value(*args) if callable(value) else value)


def run(server, n: int, rps: float, concurrency: int, first_id: int) -> dict:
    from book_assets.covers.cache import CoverCache
    from book_assets.covers.download import CoverDownloader, DownloadSettings

    cache_dir = tempfile.mkdtemp(prefix="bench_covers_")
    try:
        downloader = CoverDownloader(CoverCache(cache_dir), DownloadSettings(
            rps=rps, max_concurrency=concurrency, timeout_s=30.0, retries=2))
        items = [(cid, server.url_for(cid)) for cid in range(first_id, first_id + n)]
        server.reset_counts()
        with Timer() as t:
            outcomes = downloader.download_all(items)
        ok = sum(o.status == "ok" for o in outcomes)
        times = sorted(server.timestamps)
        blobs = sum(1 for p in Path(cache_dir, "blobs").rglob("*") if p.is_file())
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        return {
            "covers": n, "ok": ok, "seconds": t.seconds, "covers_per_s": ok / t.seconds,
            "arrival_rate": (len(times) - 1) / span if span > 0 else None,
            "max_in_1s": server.max_requests_in_window(1.0), "requests": len(times),
            "blobs": blobs, "mb": downloader.stats.get("bytes", 0) / 1e6,
        }
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)


def unthrottled_verdict(covers_per_s: float) -> str:
    share = covers_per_s / UNTHROTTLED_TARGET
    return f"{'met' if share >= 1 else 'NOT met'} ({share:.2f}x of {UNTHROTTLED_TARGET:.0f}/s)"


def polite_verdict(arrival_rate: float | None, max_in_1s: int, ceiling: float) -> str:
    """``met`` only if the arrival rate is >= 95% of the ceiling and no 1 s window exceeds it."""
    failed = []
    if arrival_rate is None or arrival_rate < POLITE_MIN_SHARE * ceiling:
        failed.append(f"rate below {POLITE_MIN_SHARE:.0%}")
    if max_in_1s > ceiling:
        failed.append(f"ABOVE CEILING ({max_in_1s} in 1 s)")
    return "met" if not failed else "NOT met: " + ", ".join(failed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--covers", type=int, default=3000, help="covers fetched unthrottled")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--polite-rps", type=float, default=6.0)
    parser.add_argument("--polite-covers", type=int, default=90)
    parser.add_argument("--polite-concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--covers-dir", type=Path, default=COVERS_DIR)
    parser.add_argument("--same-process", action="store_true",
                        help="run the loopback server in the client's process (the old set-up)")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        args.covers, args.polite_rps, args.polite_covers, args.concurrency = 60, 20.0, 30, 16

    if args.same_process:
        server = UniqueCoverServer(args.covers_dir, latency_s=args.latency).start()
        files_count, where = len(server.files), "in this process"
    else:
        server = ServerProcess(args.covers_dir, args.latency)
        files_count, where = server.files_count, "in its own process"
    try:
        log(f"loopback server {server.base_url} ({where}), {files_count} cover files, latency {args.latency}s")
        run(server, min(50, args.covers), 0, args.concurrency, 10_000_000)  # warm up: imports, pools
        fast = run(server, args.covers, 0, args.concurrency, 1)
        log(f"unthrottled: {fast}")
        polite = run(server, args.polite_covers, args.polite_rps, args.polite_concurrency, 5_000_000)
        log(f"polite: {polite}")
    finally:
        server.stop()
    ceiling = args.polite_rps
    rows = [
        [f"unthrottled ({args.concurrency} workers)", fast["ok"], fast["blobs"], fast["seconds"], fast["covers_per_s"],
         fast["arrival_rate"], fast["max_in_1s"], "-", unthrottled_verdict(fast["covers_per_s"])],
        [f"polite ({ceiling:g}/s ceiling, {args.polite_concurrency} workers)", polite["ok"], polite["blobs"],
         polite["seconds"], polite["covers_per_s"], polite["arrival_rate"], polite["max_in_1s"],
         f"{polite['arrival_rate'] / ceiling:.1%}" if polite["arrival_rate"] else "-",
         polite_verdict(polite["arrival_rate"], polite["max_in_1s"], ceiling)],
    ]
    print_table(
        f"Download throughput: loopback server, {args.latency * 1000:.0f} ms latency, real covers",
        ["run", "covers ok", "blobs", "seconds", "covers/s", "server arrivals/s", "max in 1 s", "of ceiling",
         "target"],
        rows,
        notes=["covers/s = successful downloads / wall time (validation with a full decode and cache "
               "writes included); arrivals/s = requests seen by the server, first to last",
               f"targets: unthrottled >= {UNTHROTTLED_TARGET:.0f} covers/s; polite arrivals >= "
               f"{POLITE_MIN_SHARE:.0%} of the ceiling and never more than the ceiling in any 1 s window",
               "blobs = distinct blobs written to the fresh cache (every cover id is served distinct bytes)",
               f"unthrottled payload: {fast['mb']:.0f} MB; server {where}"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

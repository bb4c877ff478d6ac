"""A real Milvus 2.3.5 standalone server (PyPI package ``milvus``) in a private network namespace.

The embedded server listens on ~11 ports on all interfaces, so it runs inside ``unshare --net``
(loopback up) where nobody else can see them. The test process stays in the normal namespace and
reaches the server's gRPC port through a relay: the parent binds one listening socket on
``127.0.0.1:<free port>`` and hands its file descriptor to the launcher, which runs *inside* the
namespace; a socket keeps the namespace it was created in, so the launcher accepts there and
connects to ``127.0.0.1:19530`` in its own namespace. Only that one loopback port is visible.

    with MilvusServerProcess(tmp_dir) as server:
        client = MilvusClient(uri=server.uri)

Stopping is SIGKILL of the launcher's process group (SIGTERM makes Milvus 2.3 hang), then the
data folder is removed. The decompressed server binaries are cached in ``~/.cache`` so that a
start costs ~5-8 s, not a re-extraction.

``python -m tests.support.milvus_server launch ...`` is the launcher (internal);
``python -m tests.support.milvus_server serve`` runs a server until Ctrl+C (manual use).
"""
from __future__ import annotations

import argparse
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

SERVER_PORT = 19530
BIN_CACHE = Path(os.environ.get("BOOK_ASSETS_MILVUS_SERVER_BIN", Path.home() / ".cache" / "book_assets" / "milvus-server-bin"))
READY = "MILVUS-READY"


def server_available() -> str | None:
    """``None`` if a namespaced server can be started here, else the reason it cannot."""
    try:
        import milvus  # noqa: F401  (PyPI ``milvus``: the embedded standalone server)
    except ImportError:
        return "the `milvus` package (embedded Milvus 2.3.5 server) is not installed: pip install milvus==2.3.5"
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (util-linux / iproute2)"
    if sys.platform != "linux":
        return "network namespaces need Linux"
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot create a network namespace: {probe.stderr.strip()[:200]}"
    return None


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    return env


class MilvusServerProcess:
    """Start/stop one namespaced Milvus server; ``uri`` is reachable from this process."""

    def __init__(self, data_dir: str | Path, start_timeout: float = 120.0) -> None:
        self.data_dir = Path(data_dir)
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self._listener: socket.socket | None = None
        self.startup_seconds: float | None = None

    @property
    def uri(self) -> str:
        if self.port is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "MilvusServerProcess":
        reason = server_available()
        if reason:
            raise RuntimeError(reason)
        t0 = time.perf_counter()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self._listener = listener
        self.port = listener.getsockname()[1]
        log_path = self.data_dir / "launcher.log"
        cmd = [
            "unshare", "--net", "--", sys.executable, "-m", "tests.support.milvus_server", "launch",
            "--data", str(self.data_dir), "--listen-fd", str(listener.fileno()),
        ]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=open(log_path, "w"), text=True,
            pass_fds=[listener.fileno()], start_new_session=True, env=_clean_env(),
            cwd=str(Path(__file__).resolve().parents[2]),
        )
        deadline = time.monotonic() + self.start_timeout
        line = ""
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line or READY in line:
                break
        if READY not in line:
            self.stop()
            tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
            raise RuntimeError(f"Milvus server did not start: {line!r}\n{tail}")
        self._wait_serving(deadline)
        self.startup_seconds = time.perf_counter() - t0
        return self

    def _wait_serving(self, deadline: float) -> None:
        from pymilvus import MilvusClient

        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                client = MilvusClient(uri=self.uri, timeout=10)
                client.list_collections()
                client.close()
                return
            except Exception as exc:  # noqa: BLE001 - still starting
                last = exc
                time.sleep(0.3)
        raise RuntimeError(f"Milvus server not answering on {self.uri}: {last}")

    def stop(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # our own launcher's group only
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)
            if self.proc.stdout:
                self.proc.stdout.close()
            self.proc = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> "MilvusServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()


# ----------------------------------------------------------------------- inside the namespace


def _cached_bin_dir() -> Path:
    """Decompress the server binaries once (``milvus`` ships them as .lzma) into BIN_CACHE."""
    import milvus

    BIN_CACHE.parent.mkdir(parents=True, exist_ok=True)
    base = BIN_CACHE.parent / (BIN_CACHE.name + "-base")
    lock = BIN_CACHE.parent / ".milvus-bin.lock"
    import fcntl

    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        milvus._initialize_data_files(str(base))  # skips files whose .md5 matches
    return base / "bin"


def _pump(a: socket.socket, b: socket.socket) -> None:
    sel = selectors.DefaultSelector()
    sel.register(a, selectors.EVENT_READ, b)
    sel.register(b, selectors.EVENT_READ, a)
    try:
        while True:
            for key, _ in sel.select():
                data = key.fileobj.recv(262144)
                if not data:
                    return
                key.data.sendall(data)
    except OSError:
        return
    finally:
        for s in (a, b):
            try:
                s.close()
            except OSError:
                pass


def _relay(listen_fd: int, port: int) -> None:
    listener = socket.socket(fileno=listen_fd)  # created in the parent's namespace
    while True:
        conn, _ = listener.accept()
        try:
            upstream = socket.create_connection(("127.0.0.1", port))  # this namespace
        except OSError:
            conn.close()
            continue
        for s in (conn, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_pump, args=(conn, upstream), daemon=True).start()


def _launch(data_dir: str, listen_fd: int | None) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    import milvus

    bin_dir = _cached_bin_dir()
    data = Path(data_dir).resolve()
    server_dir = data / "server"
    server_dir.mkdir(parents=True, exist_ok=True)
    link = server_dir / "bin"
    if not link.exists():
        link.symlink_to(bin_dir, target_is_directory=True)
    server = milvus.MilvusServer(milvus.MilvusServerConfig(), wait_for_started=False)
    server.set_base_dir(str(server_dir))
    server.start()
    server.wait_started(timeout=120_000)
    print(f"{READY} {server.listen_port}", flush=True)
    if listen_fd is not None:
        threading.Thread(target=_relay, args=(listen_fd, server.listen_port), daemon=True).start()
    server.server_proc.wait()
    print("milvus exited", file=sys.stderr, flush=True)
    sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    launch = sub.add_parser("launch")
    launch.add_argument("--data", required=True)
    launch.add_argument("--listen-fd", type=int)
    serve = sub.add_parser("serve")
    serve.add_argument("--data", default="/tmp/book_assets_milvus_server")
    args = parser.parse_args(argv)
    if args.cmd == "launch":
        _launch(args.data, args.listen_fd)
    else:
        with MilvusServerProcess(args.data) as server:
            print(f"Milvus 2.3.5 at {server.uri} (started in {server.startup_seconds:.1f} s); Ctrl+C stops it")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass


if __name__ == "__main__":
    main()

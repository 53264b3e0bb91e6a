"""Servers on 127.0.0.1 for the tests: pytest-httpserver bound to loopback only, and a raw TCP
server for what a misbehaving peer does (hangs, trickles, dribbles its headers), bounded in
connections and time."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pytest_httpserver import HTTPServer

WAIT = 10  # seconds to wait for a server's threads when it closes


@contextmanager
def http_server() -> Iterator[HTTPServer]:
    """pytest-httpserver on 127.0.0.1 only (the plugin's default is 'localhost'), one thread a request."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        if server.is_running():
            server.stop()


class LoopbackServer:
    """Accepts at most ``most`` connections for ``life`` seconds and hands each to ``serve`` on a
    thread of its own (the base class holds a connection open, answering nothing); everything is
    closed when the ``with`` block ends."""

    def __init__(self, life: float = 60.0, most: int = 20):
        self.life, self.most = life, most
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.stop = threading.Event()
        self.conns: list[socket.socket] = []
        self.threads: list[threading.Thread] = []

    @property
    def accepted(self) -> int:
        return len(self.conns)

    def serve(self, conn: socket.socket, until: float) -> None:
        """What a connection gets: by default nothing, until the server stops."""
        self.stop.wait(max(0.0, until - time.monotonic()))

    def _run(self) -> None:
        until = time.monotonic() + self.life
        while not self.stop.is_set() and time.monotonic() < until and len(self.conns) < self.most:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # includes socket.timeout: look at the bounds again
                continue
            self.conns.append(conn)
            t = threading.Thread(target=self.serve, args=(conn, until), daemon=True)
            self.threads.append(t)
            t.start()

    def __enter__(self) -> LoopbackServer:
        self.main = threading.Thread(target=self._run, daemon=True)
        self.main.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.main.join(timeout=WAIT)
        for t in self.threads:
            t.join(timeout=WAIT)
        for conn in self.conns:
            conn.close()
        self.sock.close()

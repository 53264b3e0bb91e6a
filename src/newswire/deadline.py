"""One limit on a whole HTTP exchange: connect, headers and answer together.

requests' timeout bounds each socket read, so a server that sends a byte just inside
it (its headers, or its answer) can hold a request for ever; the headers arrive before
requests returns, so checking the clock between chunks of the answer is not enough.
While a ``Deadline`` is active in a thread, every connection opened there through
``session()`` connects within the time left and is then watched: when time runs out,
its socket is shut down, the read in progress returns at once and the request fails.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

USER_AGENT = "newswire (+feed publisher)"
_ACTIVE = threading.local()  # the deadline of the exchange running in this thread, if any


class Deadline:
    """``seconds`` from now for everything done in this thread while it is entered."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False
        self._closed = False
        self._watched: list[HTTPConnection] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._outer: Deadline | None = None

    def left(self) -> float:
        """Seconds left (never quite 0, which sockets would take as 'do not wait at all')."""
        return max(self.end - time.monotonic(), 0.001)

    def watch(self, conn: HTTPConnection) -> None:
        with self._lock:
            self._watched.append(conn)
            if self.expired:
                _shut(conn)

    def _expire(self) -> None:
        with self._lock:
            if self._closed:
                return
            self.expired = True
            for conn in self._watched:
                _shut(conn)

    def __enter__(self) -> Deadline:
        self._outer = getattr(_ACTIVE, "deadline", None)
        _ACTIVE.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:  # from here on the watchdog touches no socket: it may be closed and its number reused
            self._closed = True
        self._timer.cancel()
        _ACTIVE.deadline = self._outer


def _shut(conn: HTTPConnection) -> None:
    sock = conn.sock
    if sock is None:
        return
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's: under TLS too, without unwrapping
    except OSError:  # already closed
        pass


class _Watched:
    """A connection that connects within the thread's deadline, which then watches it."""

    timeout: Any

    def connect(self) -> None:
        deadline: Deadline | None = getattr(_ACTIVE, "deadline", None)
        if deadline is not None:
            self.timeout = deadline.left()
        super().connect()  # type: ignore[misc]
        if deadline is not None:
            deadline.watch(self)  # type: ignore[arg-type]


class _WatchedHTTP(_Watched, HTTPConnection):
    pass


class _WatchedHTTPS(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTP


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPS


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools are their own
            manager.pool_classes_by_scheme = _POOLS
        return manager


def session(max_redirects: int) -> requests.Session:
    """A session whose connections a ``Deadline`` can cut."""
    s = requests.Session()
    s.max_redirects = max_redirects
    s.headers["User-Agent"] = USER_AGENT
    adapter = _Adapter()
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    return s

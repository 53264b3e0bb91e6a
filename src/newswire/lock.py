"""One publish at a time per journal: an OS file lock beside a SQLite store, released by the kernel if
the holder dies; for a PostgreSQL store, an advisory lock in its database, released by the server when
the holder's connection ends (``store.postgres.journal_lock``), so hosts sharing the store take turns;
and the leases by which runs sharing a store (on several hosts) take work from it."""

from __future__ import annotations

import fcntl
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from .errors import STORE_PLACE, LockedError, StoreError, os_trouble


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 32).decode().strip() or "unknown"
    except (OSError, UnicodeDecodeError):
        return "unknown"


_HELD: set[int] = set()
_SOCKETS: set[int] = set()  # the connections holding a PostgreSQL store's lock


def forget_inherited_locks() -> None:
    """In a forked child: close the inherited lock descriptors, so the lock dies with the parent.

    (flock belongs to the open file, and an advisory lock to the server's connection: a child
    that kept either open would hold the journal's lock after a ``kill -9`` of its parent.) A
    lock connection's socket is replaced by /dev/null rather than closed, so that its number
    is never reused for a file its connection object might yet write to.
    """
    for fd in list(_HELD):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()
    for fd in list(_SOCKETS):
        try:
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, fd)
            os.close(null)
        except OSError:
            pass
    _SOCKETS.clear()


@contextmanager
def journal_lock(path: Path | str, wait: float = 0.0) -> Iterator[None]:
    """Hold the journal's lock (``Config.lock_path``: a file, or a PostgreSQL store's URL); wait up
    to ``wait`` seconds for it, else raise ``LockedError``."""
    if isinstance(path, str):
        from .store import postgres_backend

        with postgres_backend().journal_lock(path, wait) as sock:
            _SOCKETS.add(sock)
            try:
                yield
            finally:
                _SOCKETS.discard(sock)
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot make the journal's lock file beside the store: {os_trouble(exc)} "
                         f"({STORE_PLACE})") from None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockedError(f"another publish is running (pid {_holder(fd)})") from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _HELD.add(fd)
        try:
            yield
        finally:
            _HELD.discard(fd)
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def lease(work: float, store_wait: float) -> timedelta:
    """How long a run holds what it claimed in the store (notifications, a source to pull) against
    other runs: the ``work``'s own time limit and the wait for the store to record its outcome,
    and as much again for the hosts' clocks to differ by and the run to be late; whole seconds, as
    the store keeps times. What a run that died claimed goes to the first run after it."""
    return timedelta(seconds=math.ceil(2 * (work + store_wait)))

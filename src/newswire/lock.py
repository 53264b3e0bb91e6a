"""One publish at a time per journal: an OS file lock, released by the kernel if the holder dies; and
the leases by which runs sharing a store (on several hosts) take work from it."""

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


def forget_inherited_locks() -> None:
    """In a forked child: close the inherited lock descriptors, so the lock dies with the parent.

    (flock belongs to the open file; a child that kept it open would hold the journal's
    lock after a ``kill -9`` of its parent.)
    """
    for fd in list(_HELD):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


@contextmanager
def journal_lock(path: Path, wait: float = 0.0) -> Iterator[None]:
    """Hold the journal's lock; wait up to ``wait`` seconds for it, else raise ``LockedError``."""
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

"""Reading a file that someone else put in place: only a regular file, and no more than a limit.

A path may name a named pipe (reading waits for a writer for ever), a device (``/dev/zero``
never ends; opening some devices acts on them), a folder, or a file larger than anything a
post or a feed should be. So the path's type and size are looked at before it is opened, and
such a file is refused unopened. The file is then opened without blocking and the open
descriptor looked at again (the path may have been replaced in between), and no more than
the limit is read (the file may grow while it is read).
"""

from __future__ import annotations

import errno
import os
import stat

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class Refused(Exception):
    """Why a file was not read: the rest of a line that starts with the file's name."""


def read_limited(path: str | os.PathLike[str], max_bytes: int, limit_name: str) -> bytes:
    """The bytes of the regular file at ``path`` (links followed), or ``Refused`` saying what is wrong.

    ``limit_name`` names the setting that holds ``max_bytes``, so the message says what to change.
    """
    try:
        _check(os.stat(path), max_bytes, limit_name)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise Refused(_trouble(exc)) from None
    try:  # straight from the descriptor: no buffered file object (a sync reads every file of a journal)
        size = os.fstat(fd)
        _check(size, max_bytes, limit_name)
        data = os.read(fd, size.st_size + 1)  # the file as fstat saw it, and a byte more if it grew since
        while size.st_size < len(data) <= max_bytes and (more := os.read(fd, max_bytes + 1 - len(data))):
            data += more  # it grew: on, up to a byte past the limit
    except OSError as exc:
        raise Refused(_trouble(exc)) from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise Refused(f"grew past the {limit_name} limit of {_size(max_bytes)} while it was read")
    return data


def _check(st: os.stat_result, max_bytes: int, limit_name: str) -> None:
    if stat.S_ISREG(st.st_mode) and st.st_size <= max_bytes:
        return  # as good as always
    for test, kind in _KINDS:
        if test(st.st_mode):
            raise Refused(f"is {kind}, not a regular file")
    if not stat.S_ISREG(st.st_mode):
        raise Refused("is not a regular file")
    if st.st_size > max_bytes:
        raise Refused(f"is {_size(st.st_size)}, more than the {limit_name} limit of {_size(max_bytes)}")


def _trouble(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "is a link that leads back to itself (a loop)"
    return f"cannot be read: {exc.strerror}"


def _size(n: int) -> str:
    """Exact, as a setting is written, and also readable: '16777216 bytes (16 MB)'."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            return f"{n} bytes ({n / scale:.1f} {unit})".replace(".0 ", " ")
    return f"{n} bytes"

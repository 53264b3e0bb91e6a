"""Errors that reach the user as one line and an exit code, never as a traceback."""

from __future__ import annotations

import errno
import re
from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 75


class NewswireError(Exception):
    """An expected failure: the message is for the user, the code is the exit status."""

    exit_code = EXIT_FAILED


class ConfigError(NewswireError):
    """The configuration file is missing or wrong; the message names file, line and key."""

    exit_code = EXIT_USAGE


class UsageError(NewswireError):
    """The command line asked for something that cannot be done (unknown post id ...)."""

    exit_code = EXIT_USAGE


class StoreError(NewswireError):
    """The store cannot be opened, is busy beyond the timeout, or is damaged."""

    exit_code = EXIT_FAILED


# Where the store (and the lock beside it) must be: what to do when it cannot be made there.
STORE_PLACE = "paths.store must name a file in a folder you can write"


class LockedError(NewswireError):
    """Another publish holds the journal's lock."""

    exit_code = EXIT_LOCKED


def os_trouble(exc: OSError) -> str:
    """An operating system error as the path it concerns and what is wrong with it."""
    where = f"{exc.filename}: " if exc.filename else ""
    if exc.errno == errno.ENOTDIR or (exc.errno == errno.EEXIST and exc.filename and Path(exc.filename).is_file()):
        return f"{where}a part of this path is a file, not a folder"
    return f"{where}{exc.strerror or exc}"


# What would break a line of output or forge another: C0 and C1 controls (newline, carriage
# return, escape ...), Unicode's line and paragraph separators, the marks that reorder text on
# screen, and lone surrogates (bytes that were not UTF-8).
_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
MAX_LINE = 2000


def _escaped(m: re.Match[str]) -> str:
    code = ord(m.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape): shown as that byte
        return f"\\x{code - 0xDC00:02x}"
    return m.group().encode("unicode_escape").decode("ascii")


def printable(text: object, limit: int = MAX_LINE) -> str:
    """``text`` as one line of output, whatever came from outside in it: the characters that
    could break the line or forge another backslash-escaped, and at most ``limit`` characters."""
    line = _BREAKS.sub(_escaped, str(text))
    return line if len(line) <= limit else line[:limit - 1] + "…"


def json_printable(document: str) -> str:
    """JSON text whose lines are its own: json.dumps escapes C0 controls in strings (the newlines
    left are its layout) but not the others that break or reorder lines, which can only stand
    inside its strings, where \\uXXXX is valid."""
    return _BREAKS.sub(lambda m: m.group() if m.group() < " " else f"\\u{ord(m.group()):04x}", document)

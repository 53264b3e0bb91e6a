"""One SQLite connection: opening it, its transactions, what its failures mean, and how times are kept.

Times are stored as UTC text ('2009-11-06T15:00:00Z', sortable) with the offset the author wrote
kept beside them for display.
"""

from __future__ import annotations

import enum
import functools
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

from ..errors import STORE_PLACE, StoreError, os_trouble

T = TypeVar("T")


def to_utc_text(when: datetime) -> str:
    """Sortable UTC text to the second, its year in four digits (``isoformat`` pads years below 1000,
    where strftime's %Y does not; and is quick: a sync makes two for every post)."""
    return when.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def from_utc_text(text: str, offset_minutes: int = 0) -> datetime:
    """The instant ``to_utc_text`` wrote, shown in the offset the author used (read per post: kept fast)."""
    return datetime.fromisoformat(text).astimezone(_zone(offset_minutes))


@functools.lru_cache(maxsize=256)
def _zone(offset_minutes: int) -> timezone:
    return timezone(timedelta(minutes=offset_minutes))


def offset_minutes(when: datetime) -> int:
    delta = when.utcoffset()
    return int(delta.total_seconds() // 60) if delta is not None else 0


class Trouble(enum.Enum):
    """What kind of failure SQLite reported, read from its result code (never from its message)."""

    FULL = "full"          # SQLITE_FULL: the disk (or the store's page limit) is full; the store is sound
    BUSY = "busy"          # SQLITE_BUSY, SQLITE_LOCKED: another process held it past the timeout
    READONLY = "readonly"  # SQLITE_READONLY: the file or its folder cannot be written
    DAMAGED = "damaged"    # SQLITE_CORRUPT, SQLITE_NOTADB: the file is not a sound store
    IO = "io"              # SQLITE_IOERR, SQLITE_CANTOPEN: the operating system failed a read or write
    OTHER = "other"


_TROUBLES = {sqlite3.SQLITE_FULL: Trouble.FULL, sqlite3.SQLITE_BUSY: Trouble.BUSY, sqlite3.SQLITE_LOCKED: Trouble.BUSY,
             sqlite3.SQLITE_READONLY: Trouble.READONLY, sqlite3.SQLITE_CORRUPT: Trouble.DAMAGED,
             sqlite3.SQLITE_NOTADB: Trouble.DAMAGED, sqlite3.SQLITE_IOERR: Trouble.IO,
             sqlite3.SQLITE_CANTOPEN: Trouble.IO}


def classify(exc: sqlite3.Error) -> Trouble:
    """The kind of ``exc`` by its primary result code (the low byte: SQLITE_BUSY_SNAPSHOT is a busy)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return Trouble.OTHER if code is None else _TROUBLES.get(code & 0xFF, Trouble.OTHER)


def store_trouble(path: Path | None, exc: sqlite3.Error) -> StoreError:
    """What to tell the user when SQLite fails: busy means wait, full means free space, anything else damage."""
    where = f"{path}: " if path else "the store: "
    text = str(exc)
    if path is not None and not path.exists():  # nothing to damage: the file cannot be made where it is named
        return StoreError(f"{where}cannot create the store there ({text}): {STORE_PLACE}")
    trouble = classify(exc)
    if trouble is Trouble.FULL:
        return StoreError(f"{where}the disk holding the store is full ({text}); nothing was changed: "
                          "free some space and run the command again")
    if trouble is Trouble.BUSY:
        return StoreError(f"{where}the store is busy: another process kept it locked longer than paths.store_wait "
                          "allows; try again, or raise paths.store_wait")
    return StoreError(f"{where}cannot read the store: {text} (run 'newswire store check'; to recover, "
                      "'newswire store restore' your latest backup)")


def failure(exc: BaseException, path: Path | None) -> StoreError | None:
    """``store_trouble`` for a failure of SQLite's; None for any other exception."""
    return store_trouble(path, exc) if isinstance(exc, sqlite3.Error) else None


class Connection:
    """The store's one connection, in autocommit mode: every write goes through ``transaction``."""

    def __init__(self, path: Path, *, timeout: float = 10.0):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = FULL")
        except sqlite3.DatabaseError as exc:
            raise store_trouble(self.path, exc) from None
        except OSError as exc:  # its folder cannot be made: a part of the path is a file, or not writable
            raise StoreError(f"{self.path}: cannot create the store there: {os_trouble(exc)} "
                             f"({STORE_PLACE})") from None

    def close(self) -> None:
        self.db.close()

    def trouble(self, exc: sqlite3.Error) -> StoreError:
        return store_trouble(self.path, exc)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; nested use joins the outer one, so a batch commits once."""
        if self.db.in_transaction:
            yield self.db
            return
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self.trouble(exc) from None
        try:
            yield self.db
        except BaseException:
            if self.db.in_transaction:  # SQLITE_FULL, IOERR and NOMEM have rolled it back already
                self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    @contextmanager
    def undoable(self) -> Iterator[None]:
        """A write transaction (or, inside one, a savepoint) that an exception undoes, and only it:
        a sync refused inside a dry run's transaction leaves nothing behind for the dry run to show."""
        with self.transaction() as db:
            db.execute("SAVEPOINT undoable")
            try:
                yield
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK TO undoable")
                    db.execute("RELEASE undoable")
                raise
            db.execute("RELEASE undoable")

    @contextmanager
    def roomy(self, cache_mb: int = 64) -> Iterator[None]:
        """A larger page cache while a big write runs (a first sync writes every post, and keeps its
        indexes in pages SQLite's default 2 MB would read again and again), then the default again."""
        (before,) = self.db.execute("PRAGMA cache_size").fetchone()
        self.db.execute(f"PRAGMA cache_size = {-1024 * cache_mb}")
        try:
            yield
        finally:
            self.db.execute(f"PRAGMA cache_size = {int(before)}")

    @contextmanager
    def scratch(self) -> Iterator[None]:
        """A transaction that is always rolled back: for dry runs, which may change nothing."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            self.db.execute("ROLLBACK")


def new_id(cursor: sqlite3.Cursor) -> int:
    """The row id an INSERT gave (sqlite3 types it optional: it is None only before any insert)."""
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def first_free(base: str, is_free: Callable[[str], bool]) -> str:
    """``base``, or ``base-2``, ``base-3`` ...: the first that ``is_free``."""
    candidate, n = base, 1
    while not is_free(candidate):
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def chunks(items: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    """``items`` in slices small enough for one statement's parameters."""
    for i in range(0, len(items), size):
        yield items[i:i + size]

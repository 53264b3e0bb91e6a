"""One SQLite connection: opening it, what its failures mean, and how times are kept (by every backend).

Times are stored as UTC text ('2009-11-06T15:00:00Z', sortable) with the offset the author wrote
kept beside them for display.
"""

from __future__ import annotations

import enum
import functools
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar, cast

from ..errors import STORE_PLACE, StoreError, os_trouble
from .backend import Backend, Database, Dialect

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
    """What kind of failure the store reported, read from its result code (never from its message)."""

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
    if path is not None and not path.exists():  # nothing to damage: the file cannot be made where it is named
        return StoreError(f"{path}: cannot create the store there ({exc}): {STORE_PLACE}")
    return trouble_message(f"{path}: " if path else "the store: ", classify(exc), str(exc))


def trouble_message(where: str, trouble: Trouble, text: str) -> StoreError:
    """The message for a store failure of this kind, whichever backend reported it."""
    if trouble is Trouble.FULL:
        return StoreError(f"{where}the disk holding the store is full ({text}); nothing was changed: "
                          "free some space and run the command again")
    if trouble is Trouble.BUSY:
        return StoreError(f"{where}the store is busy: another process kept it locked longer than paths.store_wait "
                          "allows; try again, or raise paths.store_wait")
    return StoreError(f"{where}cannot read the store: {text} (run 'newswire store check'; to recover, "
                      "'newswire store restore' your latest backup)")


def failure(exc: BaseException, where: Path | str | None) -> StoreError | None:
    """What to tell the user about a failure of the store's backend (a SQLite file, or the PostgreSQL
    store at the URL ``where``); None for any other exception."""
    if isinstance(exc, sqlite3.Error):
        return store_trouble(where if isinstance(where, Path) else None, exc)
    if "psycopg" in sys.modules:  # only a PostgreSQL store loads it
        from .postgres import trouble

        return trouble(exc, where if isinstance(where, str) else None)
    return None


class SqliteDialect(Dialect):
    def insert_id(self, db: Database, sql: str, parameters: Sequence[Any]) -> int:
        """The row id the INSERT gave (sqlite3 types it optional: it is None only before any insert)."""
        row_id = cast(sqlite3.Cursor, db.execute(sql, parameters)).lastrowid
        assert row_id is not None
        return row_id

    def bulk_insert(self, db: Database, posts: int, authors: Iterable[str],
                    labels: Sequence[int]) -> AbstractContextManager[None]:
        from .schema import inserted_in_bulk

        return inserted_in_bulk(cast(sqlite3.Connection, db), posts, authors, labels)


class Connection(Backend):
    """The store's one SQLite connection."""

    db: sqlite3.Connection
    dialect = SqliteDialect()
    begin = "BEGIN IMMEDIATE"

    def __init__(self, path: Path, *, timeout: float = 10.0):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self.timeout = timeout
            self.db.execute("PRAGMA foreign_keys = ON")
            # A new store's pages hold 16 KiB, not 4: a post's HTML (5 KB is common) then fits in its
            # table's page rather than spilling into pages of its own: a first sync of 50,000 posts took
            # 8% less time, a full publish 10%. (A store keeps the page size it was made with.)
            self.db.execute("PRAGMA page_size = 16384")
            self._journal("WAL", wait=timeout)
            self.db.execute("PRAGMA synchronous = FULL")
        except sqlite3.DatabaseError as exc:
            raise store_trouble(self.path, exc) from None
        except OSError as exc:  # its folder cannot be made: a part of the path is a file, or not writable
            raise StoreError(f"{self.path}: cannot create the store there: {os_trouble(exc)} "
                             f"({STORE_PLACE})") from None

    def close(self) -> None:
        self.db.close()

    def trouble(self, exc: BaseException) -> StoreError | None:
        return store_trouble(self.path, exc) if isinstance(exc, sqlite3.Error) else None

    @contextmanager
    def roomy(self, cache_mb: int = 64, *, first: bool = False) -> Iterator[None]:
        """A larger page cache while a big write runs (a first sync writes every post, and keeps its
        indexes in pages SQLite's default 2 MB would read again and again), then the default again.

        A ``first`` write, into a store that holds no post yet, goes through a rollback journal
        rather than the WAL, if this is the store's one connection: the WAL would take every new
        page once and the checkpoint again (a 50,000-post first sync commits in 0.1 s, not 1.7 s),
        while a rollback journal keeps only the few pages that were there. A kill meanwhile leaves
        that journal for the next opening to roll back; a connection opened meanwhile waits for the
        write to end (``_journal``); the WAL is back after it.
        """
        (before,) = self.db.execute("PRAGMA cache_size").fetchone()
        self.db.execute(f"PRAGMA cache_size = {-1024 * cache_mb}")
        loading = first and not self.db.in_transaction and self._journal("DELETE", wait=0)
        try:
            yield
        finally:
            self.db.execute(f"PRAGMA cache_size = {int(before)}")
            if loading:
                self._journal("WAL", wait=self.timeout)

    def _journal(self, mode: str, wait: float) -> bool:
        """Whether the store now keeps its journal in ``mode``. Changing it needs the store to
        itself, and SQLite refuses at once while another connection holds it: asked again
        until ``wait`` seconds have passed, as SQLite itself waits for a lock."""
        deadline = time.monotonic() + wait
        while True:
            try:
                return bool(self.db.execute(f"PRAGMA journal_mode = {mode}").fetchone()[0].upper() == mode)
            except sqlite3.OperationalError as exc:
                if classify(exc) is not Trouble.BUSY:
                    raise
                if time.monotonic() >= deadline:
                    if wait:
                        raise
                    return False
            time.sleep(0.02)


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

"""What the repositories need of a backend: a database to run SQL on, its transactions, and the few
places where SQLite's SQL and PostgreSQL's differ (a ``Dialect``).

The repositories are written once, in SQL both accept (``?`` and ``:name`` parameters, ``ON CONFLICT
... DO UPDATE``); a backend that takes another spelling translates it as it runs (see ``postgres``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Protocol

from ..errors import StoreError


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    @property
    def description(self) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Executes(Protocol):
    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...


class Database(Executes, Protocol):
    """The calls the repositories make: sqlite3's ``Connection`` has them, and so does the PostgreSQL adapter."""

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor: ...
    def cursor(self) -> Executes: ...
    @property
    def in_transaction(self) -> bool: ...
    @property
    def total_changes(self) -> int: ...


class Dialect:
    """Where the backends' SQL differs, kept in one object rather than in branches through every repository."""

    greatest = "max"  # the largest of its arguments
    same = "IS"  # equal, NULL being equal to NULL
    no_limit: int | None = -1  # a LIMIT that limits nothing
    utf8_text = "CAST(? AS TEXT)"  # text given as its UTF-8 bytes, stored as the text it is (not decoded on the way)

    def insert_id(self, db: Database, sql: str, parameters: Sequence[Any]) -> int:
        """Run the INSERT ``sql`` of one row and return its new id."""
        raise NotImplementedError

    def bulk_insert(self, db: Database, posts: int, authors: Iterable[str],
                    labels: Sequence[int]) -> AbstractContextManager[None]:
        """Around a bulk insert of new posts and their labels (see ``schema.inserted_in_bulk``)."""
        return nullcontext()

    def ids_taken(self, db: Database) -> None:
        """After rows came in with their ids (a copy of a store): new rows are numbered after them."""


class Backend:
    """One connection to the store, in autocommit mode: every write goes through ``transaction``."""

    db: Database
    dialect: Dialect
    begin = "BEGIN"
    begin_read = "BEGIN"  # a read-only transaction that sees one moment of the store throughout

    def trouble(self, exc: BaseException) -> StoreError | None:
        """What to tell the user about ``exc``, a failure of this backend's (None for any other exception)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """One write transaction; nested use joins the outer one, so a batch commits once."""
        if self.db.in_transaction:
            yield self.db
            return
        try:
            self.db.execute(self.begin)
        except Exception as exc:
            problem = self.trouble(exc)
            if problem is None:
                raise
            raise problem from None
        try:
            yield self.db
        except BaseException:
            if self.db.in_transaction:  # SQLite has rolled back already after SQLITE_FULL, IOERR and NOMEM
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

    def roomy(self, *, first: bool = False) -> AbstractContextManager[None]:
        """More memory while a big write runs, where the backend is told so per connection; ``first``:
        the write fills a store that holds no post yet."""
        return nullcontext()

    def snapshot(self) -> AbstractContextManager[None]:
        """Reads that all see the store as it was at their first, while others go on writing."""
        return self._rolled_back(self.begin_read)

    def scratch(self) -> AbstractContextManager[None]:
        """A transaction that is always rolled back: for dry runs, which may change nothing."""
        return self._rolled_back(self.begin)

    @contextmanager
    def _rolled_back(self, begin: str) -> Iterator[None]:
        self.db.execute(begin)
        try:
            yield
        finally:
            self.db.execute("ROLLBACK")

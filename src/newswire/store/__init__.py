"""The content store: posts, authors and labels, plus what was published, as small repositories.

``Store`` (in ``protocol``) is the interface library code uses. Each concern is one repository:
``store.posts``, ``store.feeds``, ``store.documents``, ``store.outbox`` ..., written once in SQL both
backends accept (``backend``): ``SqliteStore``, one SQLite file, whose schema ``schema`` builds and
whose connection and time encoding ``connection`` holds; and ``postgres.PostgresStore``, a
PostgreSQL database. ``open_at`` picks one.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path
from types import ModuleType
from typing import Self

from ..errors import StoreError
from .authors import SqliteAuthors, SqliteLabels
from .backend import Backend, Database
from .connection import (
    Connection,
    Trouble,
    classify,
    failure,
    from_utc_text,
    offset_minutes,
    store_trouble,
    to_utc_text,
)
from .documents import SqliteDocuments
from .feeds import SqliteFeeds
from .outbox import SqliteOutbox
from .posts import SqlitePosts, new_post
from .protocol import (
    AuthorStore,
    DocumentStore,
    FeedStore,
    LabelStore,
    OutboxStore,
    PostStore,
    SourceStore,
    StateStore,
    Store,
)
from .schema import MIGRATIONS, migrate
from .sources import SqliteSources
from .state import SqliteState

__all__ = ["MIGRATIONS", "AuthorStore", "DocumentStore", "FeedStore", "LabelStore", "OutboxStore", "PostStore",
           "SourceStore", "SqliteStore", "StateStore", "Store", "Trouble", "classify", "failure", "from_utc_text",
           "new_post", "offset_minutes", "open_at", "store_trouble", "to_utc_text"]


class Repositories:
    """A store made of the repositories, over one backend's connection (SQLite's or PostgreSQL's):
    each backend opens and migrates its connection, and the rest is this, the same for both."""

    def __init__(self, conn: Backend, where: str):
        self.conn = conn
        self.where = where  # the file or URL, as messages name it
        self.state = SqliteState(conn)
        self.authors = SqliteAuthors(conn, self.state.generation)
        self.labels = SqliteLabels(conn)
        self.posts = SqlitePosts(conn, self.authors, self.labels)
        self.feeds = SqliteFeeds(conn)
        self.outbox = SqliteOutbox(conn)
        self.documents = SqliteDocuments(conn, self.outbox)
        self.sources = SqliteSources(conn)

    @property
    def db(self) -> Database:
        return self.conn.db

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def transaction(self) -> AbstractContextManager[Database]:
        return self.conn.transaction()

    def undoable(self) -> AbstractContextManager[None]:
        return self.conn.undoable()

    def roomy(self) -> AbstractContextManager[None]:
        return self.conn.roomy(first=self.posts.none_yet())

    def scratch(self) -> AbstractContextManager[None]:
        return self.conn.scratch()


class SqliteStore(Repositories):
    """One SQLite database. Use as a context manager; every write is its own transaction."""

    def __init__(self, path: Path, *, timeout: float = 10.0):
        conn = Connection(path, timeout=timeout)
        try:
            migrate(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise store_trouble(conn.path, exc) from None
        super().__init__(conn, str(conn.path))
        self.path = conn.path


def open_at(where: Path | str, *, timeout: float = 10.0) -> Repositories:
    """The store at ``where``: a PostgreSQL URL (see ``config.STORE_SCHEMES``), or a SQLite file.
    The one place a backend is chosen (psycopg is loaded only for PostgreSQL)."""
    if isinstance(where, str):
        return postgres_backend().PostgresStore(where, timeout=timeout)
    return SqliteStore(where, timeout=timeout)


def postgres_backend() -> ModuleType:
    """The PostgreSQL backend, loaded now (it imports psycopg, which only such a store needs)."""
    try:
        from . import postgres as module
    except ImportError as exc:
        raise StoreError(f"paths.store is a PostgreSQL URL, but {exc.name or 'psycopg'} cannot be loaded ({exc}): "
                         "install newswire with its postgresql extra (pip install 'newswire[postgresql]')") from None
    return module

"""The content store: posts, authors and labels, plus what was published, as small repositories.

``Store`` (in ``protocol``) is the interface library code uses; ``SqliteStore`` is the one
backend: one SQLite file, whose schema ``schema`` builds and whose connection, transactions
and time encoding ``connection`` holds. Each concern is one repository: ``store.posts``,
``store.feeds``, ``store.documents``, ``store.outbox`` ...
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path

from .authors import SqliteAuthors, SqliteLabels
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
           "new_post", "offset_minutes", "store_trouble", "to_utc_text"]


class SqliteStore:
    """One SQLite database. Use as a context manager; every write is its own transaction."""

    def __init__(self, path: Path, *, timeout: float = 10.0):
        self.conn = Connection(path, timeout=timeout)
        self.db = self.conn.db
        try:
            migrate(self.conn)
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise store_trouble(self.conn.path, exc) from None
        self.state = SqliteState(self.conn)
        self.authors = SqliteAuthors(self.conn, self.state.generation)
        self.labels = SqliteLabels(self.conn)
        self.posts = SqlitePosts(self.conn, self.authors, self.labels)
        self.feeds = SqliteFeeds(self.conn)
        self.outbox = SqliteOutbox(self.conn)
        self.documents = SqliteDocuments(self.conn, self.outbox)
        self.sources = SqliteSources(self.conn)

    @property
    def path(self) -> Path:
        return self.conn.path

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return self.conn.transaction()

    def undoable(self) -> AbstractContextManager[None]:
        return self.conn.undoable()

    def roomy(self) -> AbstractContextManager[None]:
        return self.conn.roomy()

    def scratch(self) -> AbstractContextManager[None]:
        return self.conn.scratch()

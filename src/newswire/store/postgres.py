"""The store in a PostgreSQL database (``paths.store: postgresql://...``), through psycopg 3.

The repositories are the SQLite store's, unchanged: their SQL is translated as it runs (``?`` and
``:name`` parameters become psycopg's, SQLite's ``INDEXED BY`` hints go), and the few differences
left are this backend's ``Dialect``. The schema is made by the same migrations, translated step by
step (``pg_statements``), and its triggers are PL/pgSQL functions made from the same ``TRIGGERS``.
Text columns compare byte by byte (``COLLATE "C"``), as SQLite's do, so every ordering is the same.

The password is never in the config: libpq reads it from PGPASSWORD or ~/.pgpass. psycopg is
imported only here, and this module only for a PostgreSQL store.
"""

from __future__ import annotations

import functools
import os
import re
import socket
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.pq import TransactionStatus

from ..errors import LockedError, StoreError
from . import Repositories
from .backend import Backend, Database, Dialect, Executes
from .connection import Trouble, trouble_message
from .schema import MIGRATIONS, POST_COLUMNS, TRIGGERS, _statements, _touch, bulk_effect

# One SQL token the translation changes, or a string literal, which it keeps as it is.
_TOKEN = re.compile(r"'(?:[^']|'')*'|\?|(?<![:\w]):(?!:)([A-Za-z_]\w*)|%|\bINDEXED BY \w+|\bCROSS JOIN\b")


def _token(m: re.Match[str]) -> str:
    text = m.group(0)
    if text.startswith("'"):
        return text.replace("%", "%%")
    if text == "?":
        return "%s"
    if m.group(1):
        return f"%({m.group(1)})s"
    if text == "%":
        return "%%"
    return "" if text.startswith("INDEXED") else "JOIN"  # (PostgreSQL's CROSS JOIN takes no ON)


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """The repositories' SQL as psycopg takes it."""
    return _TOKEN.sub(_token, sql)


class _Cursor:
    """A cursor that takes the repositories' SQL (see ``translate``)."""

    def __init__(self, db: PgDatabase):
        self.db = db

    def execute(self, sql: str, parameters: Any = (), /) -> psycopg.Cursor[Any]:
        return self.db.execute(sql, parameters)


class PgDatabase:
    """A psycopg connection with the calls sqlite3's ``Connection`` offers the repositories."""

    def __init__(self, raw: psycopg.Connection[Any]):
        self.raw = raw
        self.total_changes = 0  # rows written through this connection (as sqlite3 counts them)

    def execute(self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] | None = None, /) -> psycopg.Cursor[Any]:
        cursor = self.raw.execute(translate(sql), parameters if parameters is not None else ())
        self._count(cursor)
        return cursor

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> psycopg.Cursor[Any]:
        cursor = self.raw.cursor()
        cursor.executemany(translate(sql), parameters)
        self._count(cursor)
        return cursor

    def _count(self, cursor: psycopg.Cursor[Any]) -> None:
        if (cursor.statusmessage or "").startswith(("INSERT", "UPDATE", "DELETE")) and cursor.rowcount > 0:
            self.total_changes += cursor.rowcount

    def cursor(self) -> Executes:
        return _Cursor(self)

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE


# A transaction-local setting that the INSERT triggers of posts and post_labels heed (see ``bulk_insert``).
_BULK = "newswire.bulk"


class PgDialect(Dialect):
    greatest = "GREATEST"
    same = "IS NOT DISTINCT FROM"
    no_limit = None
    utf8_text = "convert_from(?, 'UTF8')"

    def insert_id(self, db: Database, sql: str, parameters: Sequence[Any]) -> int:
        return int(db.execute(sql + " RETURNING id", parameters).fetchone()[0])

    def ids_taken(self, db: Database) -> None:
        for table, column in db.execute("SELECT table_name, column_name FROM information_schema.columns "
                                        "WHERE is_identity = 'YES' AND table_schema = current_schema()").fetchall():
            db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                       f"coalesce(max({column}), 0) + 1, false) FROM {table}")

    @contextmanager
    def bulk_insert(self, db: Database, posts: int, authors: Iterable[str], labels: Sequence[int]) -> Iterator[None]:
        """New posts inserted with their INSERT triggers told to stand aside, their effect then had once
        (``bulk_effect``): row by row, every trigger would update the one row of the generation, and
        each update must walk past all the versions the transaction left of it before."""
        db.execute(f"SELECT set_config('{_BULK}', 'on', true)")
        yield
        db.execute(f"SELECT set_config('{_BULK}', '', true)")
        bulk_effect(db, posts, authors, labels)


_TROUBLES = {"53100": Trouble.FULL, "40P01": Trouble.BUSY, "55P03": Trouble.BUSY, "40001": Trouble.BUSY,
             "57014": Trouble.BUSY, "53300": Trouble.BUSY, "25006": Trouble.READONLY, "42501": Trouble.READONLY,
             "XX001": Trouble.DAMAGED, "XX002": Trouble.DAMAGED, "58030": Trouble.IO}
_CLASSES = {"08": Trouble.IO, "57": Trouble.IO, "58": Trouble.IO, "XX": Trouble.DAMAGED}


def classify(exc: psycopg.Error) -> Trouble:
    """The kind of ``exc`` by its SQLSTATE (never by its message): the code, else its class."""
    state = exc.sqlstate or ""
    return _TROUBLES.get(state) or _CLASSES.get(state[:2], Trouble.OTHER)


def shown(url: str) -> str:
    """``url`` as messages show it: never a password (a URL given on the command line may hold one)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def trouble(exc: BaseException, url: str | None) -> StoreError | None:
    """What to tell the user when PostgreSQL fails (None for any other exception)."""
    if not isinstance(exc, psycopg.Error):
        return None
    where = f"{shown(url)}: " if url else "the store: "
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None or classify(exc) is Trouble.IO \
            or (exc.sqlstate or "").startswith(("28", "3D")):
        return StoreError(f"{where}cannot reach the store: {text} (is the server running and the database made? "
                          "the password comes from PGPASSWORD or ~/.pgpass)")
    if classify(exc) is Trouble.READONLY:
        return StoreError(f"{where}the store cannot be written: {text}; nothing was changed")
    return trouble_message(where, classify(exc), text)


def connect(url: str, *, timeout: float = 10.0, purpose: str = "store") -> psycopg.Connection[Any]:
    """A connection in autocommit mode (transactions are begun by hand, as with SQLite), named for
    ``pg_stat_activity``, that waits at most ``timeout`` seconds for a row another holds."""
    try:
        raw = psycopg.connect(url, autocommit=True, connect_timeout=max(2, int(timeout)),
                              application_name=f"newswire {purpose} pid {os.getpid()} on {socket.gethostname()}"[:63])
        raw.execute(f"SET lock_timeout = {max(1, int(timeout * 1000))}")
    except psycopg.Error as exc:
        raise trouble(exc, url) or exc from None
    return raw


class PgConnection(Backend):
    """The store's one PostgreSQL connection."""

    db: PgDatabase
    dialect = PgDialect()
    begin_read = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

    def __init__(self, url: str, *, timeout: float = 10.0):
        self.url = url
        self.db = PgDatabase(connect(url, timeout=timeout))

    def close(self) -> None:
        self.db.raw.close()

    def trouble(self, exc: BaseException) -> StoreError | None:
        return trouble(exc, self.url)


# What a migration written for SQLite says in PostgreSQL's words: 64-bit integers (ids, mtime_ns),
# ids numbered by the database, bytes, text compared byte by byte, and the state table's one untyped
# column (a number or JSON text, kept as text: see ``bulk_effect``).
_TYPES = ((re.compile(r"\bvalue NOT NULL\b"), "value TEXT NOT NULL"),
          (re.compile(r"\bINTEGER PRIMARY KEY\b"), "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
          (re.compile(r"\bINTEGER\b"), "BIGINT"), (re.compile(r"\bBLOB\b"), "BYTEA"),
          (re.compile(r"\bTEXT\b"), 'TEXT COLLATE "C"'))
_TRIGGER = re.compile(r"\s*CREATE TRIGGER (\w+) AFTER (\w+)(?: OF (.*?))? ON (\w+)", re.S)
# SQLite functions of newswire's own that fixed rows a store written by an older newswire held; a
# PostgreSQL store never held such rows (it is made at the newest schema), so those steps do nothing.
_SQLITE_ONLY = re.compile(r"\b(label_fold|slugify)\(")


def pg_statements(script: str) -> list[str]:
    """One migration of ``schema.MIGRATIONS`` as PostgreSQL statements."""
    out = []
    for statement in _statements(script):
        trigger = _TRIGGER.match(statement)
        if trigger:
            out += _pg_trigger(*trigger.groups())
        elif not _SQLITE_ONLY.search(statement):
            for pattern, replacement in _TYPES:
                statement = pattern.sub(replacement, statement)
            out.append(statement)
    return out


def _pg_trigger(name: str, event: str, columns: str | None, table: str) -> list[str]:
    """The SQLite trigger ``name`` as a PL/pgSQL function and its trigger, made from ``TRIGGERS``."""
    [touches] = [t for tb, ev, t in TRIGGERS if (tb, ev) == (table, event)]
    if name.endswith("_bumps"):
        body = "UPDATE state SET value = CAST(value AS BIGINT) + 1 WHERE key = 'generation';"
    else:
        seq = "(SELECT CAST(value AS BIGINT) FROM state WHERE key = 'dirty_seq')"
        body = " ".join(_touch(what, seq) for what in touches)
    if event == "INSERT" and table in ("posts", "post_labels"):  # see PgDialect.bulk_insert
        body = f"IF current_setting('{_BULK}', true) = 'on' THEN RETURN NULL; END IF; {body}"
    assert columns is None or " ".join(columns.split()) == " ".join(POST_COLUMNS.split())
    of = f" OF {columns}" if columns else ""
    return [f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NULL; END $$",
            f"CREATE TRIGGER {name} AFTER {event}{of} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"]


_MIGRATING = 1852143474  # the advisory lock two hosts opening a new store at once take in turn
_JOURNAL = 1852143475  # the journal's lock: one publish at a time (see ``journal_lock``)


def migrate(db: PgDatabase, url: str) -> None:
    """Bring the schema to the newest version, one recorded step at a time (in ``newswire_schema``,
    as SQLite's in ``PRAGMA user_version``). A store at the newest is only read (it may be read-only)."""
    raw = db.raw
    version = schema_version(raw)
    if version > len(MIGRATIONS):
        raise StoreError(f"{shown(url)}: the store was written by a newer newswire "
                         f"(schema {version}, this one knows {len(MIGRATIONS)})")
    while version < len(MIGRATIONS):
        with raw.transaction():
            raw.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATING,))
            raw.execute("CREATE TABLE IF NOT EXISTS newswire_schema (version INTEGER NOT NULL)")
            raw.execute("INSERT INTO newswire_schema (version) SELECT 0 WHERE NOT EXISTS (SELECT FROM newswire_schema)")
            version = schema_version(raw)
            if version >= len(MIGRATIONS):  # another host migrated it meanwhile
                break
            for statement in pg_statements(MIGRATIONS[version]):
                raw.execute(statement)  # as written: no parameters, so its '%' stays
            raw.execute("UPDATE newswire_schema SET version = %s", (version + 1,))
        version += 1


def schema_version(raw: psycopg.Connection[Any]) -> int:
    """The schema's version (0 for a database newswire has not made a store in)."""
    if _one(raw.execute("SELECT to_regclass('newswire_schema')")) is None:
        return 0
    return int(_one(raw.execute("SELECT version FROM newswire_schema")))


def _one(cursor: psycopg.Cursor[Any]) -> Any:
    """The one value a query of one row gives."""
    row = cursor.fetchone()
    assert row is not None
    return row[0]


class PostgresStore(Repositories):
    """One PostgreSQL database. Use as a context manager; every write is its own transaction."""

    def __init__(self, url: str, *, timeout: float = 10.0):
        conn = PgConnection(url, timeout=timeout)
        try:
            migrate(conn.db, url)
        except psycopg.Error as exc:
            conn.close()
            raise trouble(exc, url) or exc from None
        except BaseException:
            conn.close()
            raise
        super().__init__(conn, shown(url))
        self.url = url


@contextmanager
def journal_lock(url: str, wait: float = 0.0) -> Iterator[int]:
    """Hold the journal's lock, a session advisory lock in its database, for one publish at a time
    across hosts; wait up to ``wait`` seconds for it, else raise ``LockedError``. The server lets it
    go when the holder's connection ends, however it ends (a killed process, a host gone: TCP
    keepalives notice that). Yields the lock connection's socket (a forked child must not keep it)."""
    raw = connect(url, purpose="lock")
    try:
        raw.execute("SET tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10; SET tcp_keepalives_count = 3")
        deadline = time.monotonic() + wait
        while not _one(raw.execute("SELECT pg_try_advisory_lock(%s)", (_JOURNAL,))):
            if time.monotonic() >= deadline:
                raise LockedError(f"another publish is running ({_holder(raw)})")
            time.sleep(0.05)
        try:
            yield raw.fileno()
        finally:
            if not raw.closed:
                raw.execute("SELECT pg_advisory_unlock(%s)", (_JOURNAL,))
    except psycopg.Error as exc:
        raise trouble(exc, url) or exc from None
    finally:
        raw.close()


def _holder(raw: psycopg.Connection[Any]) -> str:
    """Who holds the journal's lock, as its connection named itself (``connect``)."""
    row = raw.execute("SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                      "WHERE l.locktype = 'advisory' AND l.granted AND l.objid = %s AND l.classid = 0 "
                      "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                      (_JOURNAL,)).fetchone()
    name = row[0] if row else ""
    return name.removeprefix("newswire lock ") if name.startswith("newswire lock ") else "unknown"

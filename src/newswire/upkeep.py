"""Looking after the store: an integrity check, an online backup, a restore, and a copy between backends.

On SQLite, check and backup work on the file directly, without the migrations or the journal
lock, so they can run beside a publish (SQLite's backup API copies a consistent snapshot while
others write) and on a store too damaged for ``Store`` to open. A PostgreSQL store is checked
through its catalogue, and backed up by a ``copy`` of one snapshot of it into a new SQLite file,
which ``restore`` copies back; ``copy`` moves a journal from one backend to the other.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .errors import StoreError, UsageError
from .store import MIGRATIONS, open_at
from .store.backend import Database
from .store.schema import TRIGGERS


@dataclass(frozen=True)
class Health:
    """What ``check`` found: no problems means the store is sound."""

    path: Path | str
    problems: tuple[str, ...] = ()
    version: int = 0
    posts: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _probe(db: sqlite3.Connection) -> tuple[list[str], int, dict[str, int]]:
    problems = [row[0] for row in db.execute("PRAGMA integrity_check") if row[0] != "ok"]
    problems += [f"{table} row {rowid} points at a missing {parent} row"
                 for table, rowid, parent, _ in db.execute("PRAGMA foreign_key_check")]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        problems.append(f"schema {version} was written by a newer newswire (this one knows {len(MIGRATIONS)})")
    counts: dict[str, int] = {}
    if not problems and version:
        for table in ("posts", "authors", "labels", "documents", "outbox"):
            if version >= 2 or table != "outbox":
                counts[table] = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return problems, version, counts


def check(path: Path | str) -> Health:
    """Read the whole store read-only and report every inconsistency SQLite finds (or, for a
    PostgreSQL store, the URL ``path``, every table, trigger and fact of the schema missing)."""
    if isinstance(path, str):
        return _check_postgres(path)
    if not path.is_file():
        raise UsageError(f"{path}: no store here (the first 'newswire sync' or 'publish' creates it)")
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            problems, version, counts = _probe(db)
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return Health(path, (str(exc),))
    return Health(path, tuple(problems), version, counts.get("posts", 0), counts)


def backup(path: Path | str, dest: Path, now: datetime | None = None) -> Path:
    """Copy the store to ``dest`` (a new file, or a folder to put a dated copy in) while it stays in use.

    The copy is made with SQLite's online backup API (or from a PostgreSQL store, by ``copy``
    from one snapshot of it) into a temporary file beside the destination, checked, switched to
    a single self-contained file (no WAL), flushed, and only then given its name, so a backup
    that exists is a whole one.
    """
    if isinstance(path, Path) and not path.is_file():
        raise UsageError(f"{path}: no store here to back up")
    if dest.is_dir():
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        name = Path(path) if isinstance(path, Path) else Path("newswire.db")
        dest = dest / f"{name.stem}-{stamp}{name.suffix or '.db'}"
    if dest.exists():
        raise UsageError(f"{dest}: already exists; choose a new name (a backup never overwrites)")
    if not dest.parent.is_dir():
        raise UsageError(f"{dest.parent}: no such folder")
    tmp = dest.with_name(f".{dest.name}.partial")
    try:
        if isinstance(path, str):
            copy(path, tmp, into_new=False)
        else:
            src = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
            try:
                out = sqlite3.connect(tmp, isolation_level=None)
                try:
                    src.backup(out)
                finally:
                    out.close()
            finally:
                src.close()
        out = sqlite3.connect(tmp, isolation_level=None)
        try:
            out.execute("PRAGMA journal_mode = DELETE")
            problems, _, _ = _probe(out)
        finally:
            out.close()
        if problems:
            raise StoreError(f"{path}: the store is damaged, so no backup was made: {problems[0]} "
                             "(see 'newswire store check')")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.link(tmp, dest)  # unlike a rename, never replaces a file that appeared meanwhile
        dir_fd = os.open(dest.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot back up the store: {exc} (see 'newswire store check')") from None
    except FileExistsError:
        raise UsageError(f"{dest}: already exists; choose a new name (a backup never overwrites)") from None
    except OSError as exc:
        raise StoreError(f"{dest}: cannot write the backup: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def restore(backup_file: Path, path: Path | str) -> None:
    """Put a backup in the store's place (the caller holds the journal's lock). A PostgreSQL
    store (the URL ``path``) takes the backup's rows in place of its own, in one transaction.

    The backup is checked first; then copied beside the store and flushed; the
    store's ``-wal``, ``-shm`` and ``-journal`` files are removed (SQLite would
    otherwise replay a leftover WAL over the restored file); and the copy is
    renamed into place, so the store is at every moment either the old one or
    the whole backup.
    """
    health = check(backup_file)
    if not health.ok:
        raise UsageError(f"{backup_file}: not a sound store ({health.problems[0]}); choose another backup")
    if isinstance(path, str):
        with tempfile.TemporaryDirectory() as scratch:  # opened as a store, the backup itself is left as it is
            shutil.copyfile(backup_file, Path(scratch) / "backup.db")
            copy(Path(scratch) / "backup.db", path, replace=True)
        return
    tmp = path.with_name(f".{path.name}.restoring")
    try:
        with open(backup_file, "rb") as src, open(tmp, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        for suffix in ("-wal", "-shm", "-journal"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise StoreError(f"{path}: cannot restore: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


# The tables of the schema, each after those its rows point at; and those that triggers keep or
# that a new store holds a row of already, copied last (as they were, not as the copy's own inserts
# left them). tests/test_postgres.py checks that the two name every table the migrations make.
TABLES = ("authors", "labels", "posts", "post_labels", "documents", "publish_log", "outbox", "source_state",
          "announced", "content_scan", "shown")
KEPT_BY_TRIGGERS = ("state", "dirty", "content_revision")


@dataclass(frozen=True)
class Copied:
    """What ``copy`` copied: rows by table."""

    source: str
    dest: str
    rows: dict[str, int]

    def summary(self) -> str:
        counts = ", ".join(f"{self.rows[t]} {t}" for t in ("posts", "authors", "labels", "documents", "outbox"))
        return f"copied {self.source} to {self.dest}: {counts}"


def copy(src: Path | str, dest: Path | str, *, replace: bool = False, into_new: bool = True) -> Copied:
    """Copy a journal's store row for row, ids and all, from one backend to another (a SQLite file
    or a PostgreSQL URL each): read from one snapshot of ``src`` while it stays in use, and written
    in one transaction, so ``dest`` holds all of it or nothing. ``dest`` is a new file or an empty
    database (a fresh store), unless ``replace`` (a restore): its rows then give way to ``src``'s.
    A new file is written beside its name and given it when whole (unless not ``into_new``)."""
    if isinstance(src, Path) and not src.is_file():
        raise UsageError(f"{src}: no store here (the first 'newswire sync' or 'publish' creates it)")
    if str(src) == str(dest):
        raise UsageError(f"{dest}: the copy would be its own source; name another store")
    if isinstance(dest, Path) and into_new:
        if dest.exists():
            raise UsageError(f"{dest}: already exists; choose a new name (a copy never overwrites)")
        tmp = dest.with_name(f".{dest.name}.partial")
        tmp.unlink(missing_ok=True)
        try:
            copied = copy(src, tmp, into_new=False)
            os.link(tmp, dest)  # unlike a rename, never replaces a file that appeared meanwhile
        except FileExistsError:
            raise UsageError(f"{dest}: already exists; choose a new name (a copy never overwrites)") from None
        finally:
            tmp.unlink(missing_ok=True)
        return Copied(copied.source, str(dest), copied.rows)
    with open_at(src) as source, open_at(dest) as target:
        if not replace and any(target.db.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() for t in TABLES):
            raise UsageError(f"{target.where}: already holds a journal; copy into a new file or an empty database")
        rows: dict[str, int] = {}
        with source.conn.snapshot(), target.transaction() as db:
            for table in reversed(TABLES):
                db.execute(f"DELETE FROM {table}")
            with target.conn.dialect.bulk_insert(db, 0, (), ()):  # the triggers' own tables are copied after
                for table in TABLES:
                    rows[table] = _copy_table(source.db, db, table)
            for table in KEPT_BY_TRIGGERS:
                db.execute(f"DELETE FROM {table}")
                rows[table] = _copy_table(source.db, db, table)
            # SQLite keeps these two as numbers, PostgreSQL as text (state.value holds JSON text too)
            db.execute("UPDATE state SET value = CAST(value AS INTEGER) WHERE key IN ('generation', 'dirty_seq')")
            target.conn.dialect.ids_taken(db)
        return Copied(source.where, target.where, rows)


def _copy_table(source: Database, dest: Database, table: str) -> int:
    cursor = source.execute(f"SELECT * FROM {table}")
    names = [d[0] for d in cursor.description]
    data = cursor.fetchall()
    dest.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", data)
    return len(data)


def _check_postgres(url: str) -> Health:
    """A PostgreSQL store's health: its schema whole (tables, triggers, the facts the triggers keep)
    and every row readable. (Its own constraints keep every reference whole: no row can point at
    a missing one.)"""
    from .store.postgres import PgDatabase, connect, schema_version, trouble

    try:
        raw = connect(url)
    except StoreError as exc:
        return Health(url, (str(exc),))
    db: Database = PgDatabase(raw)
    try:
        version = schema_version(raw)
        problems = _postgres_problems(db, version)
        if problems:
            return Health(url, tuple(problems), version)
        counts = {t: int(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}
        for table in TABLES:  # every row read, as a damaged page would show
            db.execute(f"SELECT md5(CAST(array_agg(t) AS TEXT)) FROM {table} t").fetchone()
    except Exception as exc:
        problem = trouble(exc, url)
        if problem is None:
            raise
        return Health(url, (str(problem),))
    finally:
        raw.close()
    shown = ("posts", "authors", "labels", "documents", "outbox")
    return Health(url, (), version, counts["posts"], {t: counts[t] for t in shown})


def _postgres_problems(db: Database, version: int) -> list[str]:
    """What is missing from a PostgreSQL store's schema."""
    if version > len(MIGRATIONS):
        return [f"schema {version} was written by a newer newswire (this one knows {len(MIGRATIONS)})"]
    if version < len(MIGRATIONS):
        return [f"schema {version}: not yet brought to {len(MIGRATIONS)} (any command that opens the store does)"]
    tables = {r[0] for r in db.execute("SELECT table_name FROM information_schema.tables "
                                       "WHERE table_schema = current_schema()")}
    problems = [f"table {t} is missing" for t in (*TABLES, *KEPT_BY_TRIGGERS) if t not in tables]
    enabled = {r[0] for r in db.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled != 'D'")}
    problems += [f"trigger {name} is missing or disabled" for table, event, touches in TRIGGERS
                 for name in (f"{table}_{event.lower()}_bumps", f"{table}_{event.lower()}_touches")
                 if (touches or name.endswith("_bumps")) and name not in enabled]
    if not problems:
        keys = {r[0] for r in db.execute("SELECT key FROM state")}
        problems += [f"state has no {key}" for key in ("generation", "dirty_seq") if key not in keys]
    return problems

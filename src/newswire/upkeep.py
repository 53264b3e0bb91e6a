"""Looking after the store file: an integrity check, an online backup, and a restore.

Both work on the SQLite file directly, without the migrations or the journal lock, so
they can run beside a publish (SQLite's backup API copies a consistent snapshot while
others write) and on a store too damaged for ``Store`` to open.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .errors import StoreError, UsageError
from .store import MIGRATIONS


@dataclass(frozen=True)
class Health:
    """What ``check`` found: no problems means the store is sound."""

    path: Path
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


def check(path: Path) -> Health:
    """Read the whole store read-only and report every inconsistency SQLite finds."""
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


def backup(path: Path, dest: Path, now: datetime | None = None) -> Path:
    """Copy the store to ``dest`` (a new file, or a folder to put a dated copy in) while it stays in use.

    The copy is made with SQLite's online backup API into a temporary file beside the
    destination, checked, switched to a single self-contained file (no WAL), flushed,
    and only then given its name, so a backup that exists is a whole one.
    """
    if not path.is_file():
        raise UsageError(f"{path}: no store here to back up")
    if dest.is_dir():
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        dest = dest / f"{path.stem}-{stamp}{path.suffix or '.db'}"
    if dest.exists():
        raise UsageError(f"{dest}: already exists; choose a new name (a backup never overwrites)")
    if not dest.parent.is_dir():
        raise UsageError(f"{dest.parent}: no such folder")
    tmp = dest.with_name(f".{dest.name}.partial")
    try:
        src = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            out = sqlite3.connect(tmp, isolation_level=None)
            try:
                src.backup(out)
                out.execute("PRAGMA journal_mode = DELETE")
                problems, _, _ = _probe(out)
            finally:
                out.close()
        finally:
            src.close()
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


def restore(backup_file: Path, path: Path) -> None:
    """Put a backup in the store's place (the caller holds the journal's lock).

    The backup is checked first; then copied beside the store and flushed; the
    store's ``-wal``, ``-shm`` and ``-journal`` files are removed (SQLite would
    otherwise replay a leftover WAL over the restored file); and the copy is
    renamed into place, so the store is at every moment either the old one or
    the whole backup.
    """
    health = check(backup_file)
    if not health.ok:
        raise UsageError(f"{backup_file}: not a sound store ({health.problems[0]}); choose another backup")
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

"""What was published: each document as written, the entries announced, and the publish log."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from ..model import DocumentState, EntryRef, Notification, PublishRecord, PublishStatus
from .connection import Connection, chunks, from_utc_text, to_utc_text
from .outbox import SqliteOutbox


class SqliteDocuments:
    def __init__(self, conn: Connection, outbox: SqliteOutbox):
        self.conn = conn
        self.outbox = outbox

    def all(self) -> dict[str, DocumentState]:
        """Every published document by path (plain tuples: this reads every document of a journal)."""
        return {r[0]: DocumentState(*r) for r in self.conn.db.execute(
            "SELECT path, fingerprint, sha256, size, mtime_ns, etag FROM documents")}

    def record(self, states: Iterable[DocumentState], now: datetime,
               notifications: Iterable[Notification] = (), announced: Iterable[EntryRef] = ()) -> None:
        """Record documents now in place on disk (called only after their files are written),
        and queue the notifications they cause, in one transaction: a crash loses neither."""
        with self.conn.transaction() as db:
            for n in notifications:
                self.outbox.enqueue(n, now)
            db.executemany("INSERT INTO announced (post_id, digest) VALUES (?, ?) "
                           "ON CONFLICT (post_id) DO UPDATE SET digest = excluded.digest",
                           [(r.post_id, r.digest) for r in announced])
            db.executemany(
                """INSERT INTO documents (path, fingerprint, sha256, size, mtime_ns, etag, published_at)
                   VALUES (?,?,?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET fingerprint=excluded.fingerprint,
                   sha256=excluded.sha256, size=excluded.size, mtime_ns=excluded.mtime_ns, etag=excluded.etag,
                   published_at=excluded.published_at""",
                [(s.path, s.fingerprint, s.sha256, s.size, s.mtime_ns, s.etag, to_utc_text(now)) for s in states])

    def distrust(self, states: Iterable[DocumentState]) -> None:
        """Forget the ETag of documents found not to be as recorded (``verify``), unless a publish has
        recorded them again since: a sink that trusts the record (``sinks.s3``) then puts them again."""
        with self.conn.transaction() as db:
            db.executemany("UPDATE documents SET etag = NULL WHERE path = ? AND etag = ?",
                           [(s.path, s.etag) for s in states if s.etag is not None])

    def forget(self, paths: Iterable[str]) -> None:
        with self.conn.transaction() as db:
            db.executemany("DELETE FROM documents WHERE path = ?", ((p,) for p in paths))

    def unannounced(self, refs: Iterable[EntryRef]) -> list[EntryRef]:
        """Of these entries, those whose current state was never announced to subscribers."""
        refs = list(refs)
        seen: dict[int, str | None] = {}
        for chunk in chunks([r.post_id for r in refs]):
            marks = ",".join("?" * len(chunk))
            seen.update(self.conn.db.execute(f"SELECT post_id, digest FROM announced WHERE post_id IN ({marks})",
                                             chunk).fetchall())
        return [r for r in refs if seen.get(r.post_id) != r.digest]

    def log_publish(self, started: datetime, finished: datetime, status: PublishStatus, feeds_total: int, written: int,
                    failed: int, detail: object) -> None:
        with self.conn.transaction() as db:
            db.execute("""INSERT INTO publish_log (started_at, finished_at, status, feeds_total, written, failed,
                          detail) VALUES (?,?,?,?,?,?,?)""",
                       (to_utc_text(started), to_utc_text(finished), status, feeds_total, written, failed,
                        json.dumps(detail, ensure_ascii=False, sort_keys=True)))

    def last_publish(self) -> PublishRecord | None:
        row = self.conn.db.execute("SELECT started_at, finished_at, status, feeds_total, written, failed "
                                   "FROM publish_log ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return None
        started, finished, *rest = row
        return PublishRecord(from_utc_text(started), from_utc_text(finished), *rest)

"""What each pulled partner source last answered, for conditional GET and backoff; and which run
is pulling it, so that two hosts do not pull one source at once."""

from __future__ import annotations

from datetime import datetime

from ..model import SourceState
from .connection import Connection, from_utc_text, to_utc_text


class SqliteSources:
    def __init__(self, conn: Connection):
        self.conn = conn

    def get(self, url: str) -> SourceState | None:
        row = self.conn.db.execute("SELECT url, etag, last_modified, next_at, failures, last_status, last_pulled "
                                   "FROM source_state WHERE url = ?", (url,)).fetchone()
        if row is None:
            return None
        url, etag, last_modified, next_at, failures, last_status, last_pulled = row
        return SourceState(url, etag, last_modified, from_utc_text(next_at), failures, last_status,
                           from_utc_text(last_pulled) if last_pulled else None)

    def set(self, url: str, *, next_at: datetime, failures: int, status: str, now: datetime,
            etag: str | None = None, last_modified: str | None = None) -> None:
        with self.conn.transaction() as db:
            db.execute("""INSERT INTO source_state (url, etag, last_modified, next_at, failures, last_status,
                          last_pulled) VALUES (?,?,?,?,?,?,?) ON CONFLICT(url) DO UPDATE SET
                          etag = coalesce(excluded.etag, source_state.etag),
                          last_modified = coalesce(excluded.last_modified, source_state.last_modified),
                          next_at = excluded.next_at, failures = excluded.failures,
                          last_status = excluded.last_status, last_pulled = excluded.last_pulled""",
                       (url, etag, last_modified, to_utc_text(next_at), failures, status, to_utc_text(now)))

    def claim(self, url: str, now: datetime, until: datetime) -> bool:
        """Take ``url`` to pull it, if it is due by ``now`` (or never pulled): its next pull is put
        off to ``until``, so another run finds it not due, until the pull records what it found
        (``set``) or, if it died, until then. False if it is not due: another run took it first."""
        with self.conn.transaction() as db:
            return db.execute("""INSERT INTO source_state (url, next_at, failures) VALUES (?, ?, 0)
                                 ON CONFLICT(url) DO UPDATE SET next_at = excluded.next_at
                                 WHERE source_state.next_at <= ?""",
                              (url, to_utc_text(until), to_utc_text(now))).rowcount == 1

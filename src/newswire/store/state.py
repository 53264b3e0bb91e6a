"""Small facts the store keeps for the runs: key/value state, the generation, the last sync's scan
and the content revision it read."""

from __future__ import annotations

import json
from datetime import datetime

from ..model import ContentRevision
from .connection import Connection, to_utc_text


class SqliteState:
    def __init__(self, conn: Connection):
        self.conn = conn

    def generation(self) -> int:
        """Moves with every change to posts, labels or authors (see schema.TRIGGERS)."""
        return int(self.conn.db.execute("SELECT value FROM state WHERE key = 'generation'").fetchone()[0])

    def get(self, key: str) -> object:
        row = self.conn.db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set(self, key: str, value: object) -> None:
        with self.conn.transaction() as db:
            db.execute("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def content_scan(self, digest: str | None = None) -> tuple[str, bytes | None] | None:
        """The last sync's scan, if the store is still as that sync left it (same generation): its
        digest, and its listing unless ``digest`` is the one stored (the caller then needs no more)."""
        db = self.conn.db
        row = db.execute("SELECT digest, generation FROM content_scan").fetchone()
        if row is None or row[1] != self.generation():
            return None
        if row[0] == digest:
            return row[0], None
        return row[0], bytes(db.execute("SELECT listing FROM content_scan").fetchone()[0])

    def set_content_scan(self, digest: str, listing: bytes) -> None:
        """Remember a sync's scan (in the sync's transaction), true of the store as it is now."""
        with self.conn.transaction() as db:
            db.execute("INSERT OR REPLACE INTO content_scan (id, digest, generation, listing) VALUES (1, ?, ?, ?)",
                       (digest, self.generation(), listing))

    def content_revision(self) -> tuple[ContentRevision | None, int]:
        """The content revision the last sync read (None: not a git checkout, or never synced), and
        the sequence number that ``set_content_revision`` checks."""
        seq, commit, dirty, checkout = self.conn.db.execute(
            "SELECT seq, revision, dirty, checkout FROM content_revision WHERE id = 1").fetchone()
        return (ContentRevision(commit, bool(dirty), checkout) if commit is not None else None), int(seq)

    def set_content_revision(self, revision: ContentRevision | None, seq: int, now: datetime) -> bool:
        """Record the revision a sync read, in the sync's transaction, if no other sync recorded one
        since this one read ``seq``; False (and nothing recorded) if another did: the caller undoes
        its sync. (One conditional UPDATE: a second sync waits for the first's row and finds it moved.)"""
        with self.conn.transaction() as db:
            return db.execute("UPDATE content_revision SET seq = seq + 1, revision = ?, dirty = ?, checkout = ?, "
                              "synced_at = ? WHERE id = 1 AND seq = ?",
                              (revision.commit if revision else None, int(revision.dirty) if revision else 0,
                               revision.checkout if revision else None, to_utc_text(now), seq)).rowcount == 1

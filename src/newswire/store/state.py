"""Small facts the store keeps for the runs: key/value state, the generation, the last sync's scan."""

from __future__ import annotations

import json

from .backend import Backend


class SqliteState:
    def __init__(self, conn: Backend):
        self.conn = conn

    def generation(self) -> int:
        """Moves with every change to posts, labels or authors (see schema.TRIGGERS)."""
        return int(self.conn.db.execute("SELECT value FROM state WHERE key = 'generation'").fetchone()[0])

    def get(self, key: str) -> object:
        row = self.conn.db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set(self, key: str, value: object) -> None:
        with self.conn.transaction() as db:
            db.execute("INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) "
                       "DO UPDATE SET value = excluded.value", (key, json.dumps(value)))

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
            db.execute("INSERT INTO content_scan (id, digest, generation, listing) VALUES (1, ?, ?, ?) "
                       "ON CONFLICT (id) DO UPDATE SET digest = excluded.digest, generation = excluded.generation, "
                       "listing = excluded.listing", (digest, self.generation(), listing))

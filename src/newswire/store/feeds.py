"""What feeds hold: each feed's slots, live counts, the feeds touched since the last publish, and
what is scheduled. A publish plans from these alone, without reading posts' bodies."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..model import EntryRef, Label
from .backend import Backend
from .connection import from_utc_text, to_utc_text
from .posts import xml_safe


class SqliteFeeds:
    def __init__(self, conn: Backend):
        self.conn = conn
        self.db = conn.db

    _LIVE = "p.draft = 0 AND p.deleted_at IS NULL AND p.published <= :now"  # a post a feed shows at :now
    _REF = ("p.id, p.entry_id, p.published, p.content_hash, p.updated, p.slug, p.author_key, p.affiliation, "
            f"CASE WHEN {_LIVE} THEN NULL ELSE coalesce(s.hidden_at, p.deleted_at) END")
    # A feed's history: every post it has published, deleted ones included, and those it showed that
    # are hidden now (they keep their place, so deleting or withdrawing an old post changes only the
    # archive page that held it; one dated after the clock holds the newest place until it is due).
    _SLOT = "(p.draft = 0 AND p.published <= :now OR s.hidden_at IS NOT NULL)"
    _SHOWN = "LEFT JOIN shown s ON s.post_id = p.id"
    _WITHDRAWN = "SELECT post_id FROM shown WHERE hidden_at IS NOT NULL"

    def journal_slots(self, now: datetime, newest: int | None = None) -> list[EntryRef]:
        return self._refs(f"SELECT {self._REF} FROM posts p {self._SHOWN} WHERE {self._SLOT} "
                          "ORDER BY p.published DESC, p.id DESC", now, newest)

    def author_slots(self, key: str, now: datetime, newest: int | None = None) -> list[EntryRef]:
        return self._refs(f"SELECT {self._REF} FROM posts p {self._SHOWN} WHERE p.author_key = :key AND {self._SLOT} "
                          "ORDER BY p.published DESC, p.id DESC", now, newest, key=key)

    def label_slots(self, slug: str, now: datetime, newest: int | None = None) -> list[EntryRef]:
        return self._refs(
            f"""SELECT {self._REF} FROM post_labels pl JOIN posts p ON p.id = pl.post_id {self._SHOWN}
                WHERE pl.label_id = (SELECT id FROM labels WHERE slug = :key) AND {self._SLOT}
                ORDER BY pl.published DESC, pl.post_id DESC""", now, newest, key=slug)

    def note_shown(self, now: datetime, clock: datetime) -> None:
        """Bring the record of what the feeds show up to ``now``; a publish calls it before it plans.

        A post they showed that is hidden now (a draft, deleted, or dated after ``now``)
        has left them: its tombstone is dated by its deletion, or else at ``clock`` (the
        publish's, never behind the last one). A post live now is on record as shown, and
        one that had left is back.
        """
        at = {"now": to_utc_text(now), "clock": to_utc_text(clock)}
        with self.conn.transaction() as db:
            db.execute(
                """UPDATE shown SET hidden_at = coalesce((SELECT deleted_at FROM posts WHERE id = post_id), :clock)
                   WHERE hidden_at IS NULL AND post_id IN (
                     SELECT id FROM posts INDEXED BY posts_hidden WHERE draft != 0 OR deleted_at IS NOT NULL
                     UNION ALL SELECT id FROM posts WHERE published > :now)""", at)
            db.execute(f"""INSERT INTO shown (post_id) SELECT p.id FROM posts p WHERE {self._LIVE} ON CONFLICT (post_id)
                           DO UPDATE SET hidden_at = NULL WHERE shown.hidden_at IS NOT NULL""", at)

    def _refs(self, sql: str, now: datetime, newest: int | None, key: str | None = None) -> list[EntryRef]:
        """A feed's slots, oldest first: all of them, or only the ``newest`` (read newest first, by index)."""
        limit = self.conn.dialect.no_limit if newest is None else newest
        rows = self.db.execute(sql + " LIMIT :limit", {"now": to_utc_text(now), "key": key, "limit": limit})
        refs = [EntryRef(r[0], xml_safe(r[1]), r[2], r[4], f"{r[3]}:{r[4]}:{r[5]}:{r[6]}:{r[7]}", r[8]) for r in rows]
        refs.reverse()
        return refs

    def visible_counts(self, now: datetime) -> dict[tuple[str, str], int]:
        """How many live posts each feed holds, by (kind, author key or label slug); the journal is ('journal', '')."""
        live, at = self._LIVE, {"now": to_utc_text(now)}
        counts = {("journal", ""): self.db.execute(f"SELECT count(*) FROM posts p WHERE {live}", at).fetchone()[0]}
        counts.update((("author", r[0]), r[1]) for r in self.db.execute(
            f"SELECT p.author_key, count(*) FROM posts p WHERE {live} GROUP BY p.author_key", at))
        counts.update((("label", r[0]), r[1]) for r in self.db.execute(
            f"""SELECT l.slug, count(*) FROM post_labels pl JOIN posts p INDEXED BY posts_live_id ON p.id = pl.post_id
                JOIN labels l ON l.id = pl.label_id WHERE {live} GROUP BY l.slug""", at))
        return counts

    def feed_authors(self, now: datetime) -> list[str]:
        """Authors that have published: each gets a feed (it stays, emptied, if all their posts go).

        One indexed probe per author rather than a scan of every post."""
        return [r[0] for r in self.db.execute(
            f"""SELECT a.key FROM authors a WHERE EXISTS (SELECT 1 FROM posts p INDEXED BY posts_author
                 WHERE p.author_key = a.key AND (p.draft = 0 AND p.published <= :now OR p.id IN ({self._WITHDRAWN})))
               ORDER BY a.key""", {"now": to_utc_text(now)})]

    def live_count(self, kind: str, key: str, now: datetime) -> int:
        """How many live posts one feed holds (see ``visible_counts``, which counts them all at once)."""
        live = self._LIVE
        sql = {"journal": f"SELECT count(*) FROM posts p WHERE {live}",
               "author": f"SELECT count(*) FROM posts p WHERE p.author_key = :key AND {live}",
               # (an entry's published is its post's, see _set_labels)
               "label": """SELECT (SELECT count(*) FROM post_labels INDEXED BY post_labels_feed
                                   WHERE label_id = l.id AND published <= :now)
                                - (SELECT count(*) FROM posts p INDEXED BY posts_hidden CROSS JOIN post_labels pl
                                   ON pl.post_id = p.id AND pl.label_id = l.id
                                   WHERE pl.published <= :now AND (p.draft != 0 OR p.deleted_at IS NOT NULL))
                           FROM labels l WHERE l.slug = :key"""}[kind]
        row = self.db.execute(sql, {"key": key, "now": to_utc_text(now)}).fetchone()
        return int(row[0]) if row else 0

    def take_touched(self) -> tuple[int, set[tuple[str, str]]]:
        """The feeds touched since the last ``clear_touched``, as (kind, author or label slug; '' for
        the journal), ('all', '') for every feed, and a mark to clear them by; changes made after this
        call are kept past that clear."""
        with self.conn.transaction() as db:
            mark = int(db.execute("SELECT value FROM state WHERE key = 'dirty_seq'").fetchone()[0])
            db.execute("UPDATE state SET value = ? WHERE key = 'dirty_seq'", (mark + 1,))
            rows = db.execute(
                """SELECT d.kind, CASE d.kind WHEN 'author' THEN a.slug WHEN 'label' THEN l.slug ELSE '' END
                   FROM dirty d LEFT JOIN authors a ON d.kind = 'author' AND a.key = d.key
                                LEFT JOIN labels l ON d.kind = 'label' AND CAST(l.id AS TEXT) = d.key""").fetchall()
        return mark, {(r[0], r[1]) for r in rows if r[1] is not None}  # a feed whose author or label is gone

    def clear_touched(self, mark: int) -> None:
        with self.conn.transaction() as db:
            db.execute("DELETE FROM dirty WHERE seq <= ?", (mark,))

    def feed_labels(self, now: datetime) -> list[Label]:
        """Labels that have published (as ``feed_authors``)."""
        return [Label(name, slug) for name, slug in self.db.execute(
            f"""SELECT l.name, l.slug FROM labels l WHERE EXISTS (
                 SELECT 1 FROM post_labels pl JOIN posts p ON p.id = pl.post_id
                 WHERE pl.label_id = l.id AND (p.draft = 0 AND p.published <= :now OR p.id IN ({self._WITHDRAWN})))
               ORDER BY l.slug""", {"now": to_utc_text(now)})]

    def next_scheduled(self, now: datetime) -> datetime | None:
        row = self.db.execute("SELECT min(published) FROM posts WHERE draft = 0 AND deleted_at IS NULL "
                              "AND published > ?", (to_utc_text(now),)).fetchone()
        return from_utc_text(row[0]) if row and row[0] else None

    def next_tombstone_expiry(self, now: datetime, days: int) -> datetime | None:
        """When the oldest tombstone still shown leaves the feeds (dated as in ``_REF``)."""
        row = self.db.execute(
            """SELECT min(t) FROM (SELECT hidden_at AS t FROM shown WHERE hidden_at >= :keep
                 UNION ALL SELECT p.deleted_at FROM posts p INDEXED BY posts_hidden
                           LEFT JOIN shown s ON s.post_id = p.id
                           WHERE p.deleted_at >= :keep AND s.hidden_at IS NULL) AS tombstones""",
            {"keep": to_utc_text(now - timedelta(days=days))}).fetchone()
        return from_utc_text(row[0]) + timedelta(days=days) if row and row[0] else None

    def newest_live(self, now: datetime) -> str:
        """The date of the newest post live at ``now`` (UTC text, '' if none): while the clock is not
        behind it, every post live then is live still, unless the store changed."""
        row = self.db.execute(f"SELECT max(p.published) FROM posts p WHERE {self._LIVE}",
                              {"now": to_utc_text(now)}).fetchone()
        return row[0] or ""

"""Posts: written once per source change, marked deleted (never removed), and read back in full.

An entry id is written once, at first insert, and no code path updates it. Deletions are marks,
never row deletions, so a deleted post can be tombstoned and restored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from ..bounds import later, whole
from ..model import Label, NewPost, NotOwned, Post, PostInput, PostPlace, PostSummary, may_change
from ..text import clean_id, label_fold
from .authors import SqliteAuthors, SqliteLabels
from .backend import Backend
from .connection import chunks, first_free, from_utc_text, offset_minutes, to_utc_text

# What tells where a post's file went (see ``PostPlace``).
_PLACE = "id, source, published, content_hash, slug"
# The columns an upsert compares with what it would write.
_FIELDS = ("source, slug, title, body, summary, author_key, affiliation, published, published_offset, updated, "
           "updated_offset, content_hash, draft")
_END = "\U0010ffff"  # above every character: sources from ``prefix`` up to ``prefix + _END`` start with it


class SqlitePosts:
    def __init__(self, conn: Backend, authors: SqliteAuthors, labels: SqliteLabels):
        self.conn = conn
        self.authors = authors
        self.labels = labels

    def upsert(self, p: PostInput, now: datetime) -> str:
        """Insert or update one post; returns 'added', 'updated', 'restored' or 'unchanged'
        ('deleted' when the user deleted it: it stays so).

        The entry id is chosen once; ``updated`` moves only when the content hash
        changes and never goes backwards, even if the clock does. A post that ``p``'s
        origin may not change (``may_change``) raises ``NotOwned`` before anything is written.
        """
        digest = p.content_hash()
        with self.conn.transaction() as db:
            select = f"SELECT id, entry_id, origin, deleted_at, deleted_by, {_FIELDS} FROM posts WHERE"
            row = db.execute(f"{select} entry_id = ?", (p.entry_id,)).fetchone() if p.entry_id else None
            if row is None:
                row = db.execute(f"{select} source = ?", (p.source,)).fetchone()
            if row is not None and not may_change(row[2], p.origin):
                raise NotOwned(row[1], row[0], row[5], row[2])
            author_key = p.author_key
            if p.author_name is not None:
                author_key = self.authors.ensure(p.author_name, p.affiliation)
            published = p.published.replace(microsecond=0)
            if row is None:
                entry_id = p.entry_id or self._new_entry_id(p)
                updated = (p.updated or published).replace(microsecond=0)
                post_id = self.conn.dialect.insert_id(
                    db, """INSERT INTO posts (entry_id, source, slug, title, body, summary, author_key, affiliation,
                       published, published_offset, updated, updated_offset, content_hash, draft, origin)
                       VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                    (entry_id, p.source, p.slug, p.title, p.body, p.summary, author_key, p.affiliation,
                     to_utc_text(published), offset_minutes(published), to_utc_text(updated),
                     offset_minutes(updated), digest, int(p.draft), p.origin))
                self._set_labels(post_id, p.labels, to_utc_text(published))
                return "added"
            post_id, _, origin, deleted_at, deleted_by, *current = row
            if origin != p.origin:  # claimed (not a column feeds show: no generation moves)
                db.execute("UPDATE posts SET origin = ? WHERE id = ?", (p.origin, post_id))
            if deleted_at is not None and deleted_by == "user":
                return "deleted"
            restored = deleted_at is not None
            old_updated = from_utc_text(current[9], current[10])
            if p.updated is not None:
                updated = max(p.updated.replace(microsecond=0), old_updated)
            elif digest != current[11]:
                updated = max(now.replace(microsecond=0), later(old_updated, 1))
            else:
                updated = old_updated
            fields = [p.source, p.slug, p.title, p.body, p.summary, author_key, p.affiliation,
                      to_utc_text(published), offset_minutes(published), to_utc_text(updated),
                      offset_minutes(updated), digest, int(p.draft)]
            if fields == current and not restored:
                return "unchanged"
            db.execute(
                """UPDATE posts SET source=?, slug=?, title=?, body=?, summary=?, author_key=?, affiliation=?,
                   published=?, published_offset=?, updated=?, updated_offset=?, content_hash=?, draft=?,
                   deleted_at=NULL, deleted_by=NULL WHERE id=?""", (*fields, post_id))
            self._set_labels(post_id, p.labels, to_utc_text(published))
            return "restored" if restored else "updated"

    def add(self, posts: Sequence[NewPost]) -> None:
        """Insert posts that no stored post is (see ``NewPost``), in order, as ``upsert`` would one
        by one, with a few statements for the lot: a first sync of a large journal adds every post.
        Their entry ids, authors and labels are looked up together (a proposed id is asked of the
        store once, with the others), and the rows go in with ``executemany``; what their INSERT
        triggers do is done once for the lot (``Dialect.bulk_insert``)."""
        if not posts:
            return
        with self.conn.transaction() as db:
            authors: dict[tuple[str, str | None], str] = {}
            for p in posts:
                if p.author_name is not None and (p.author_name, p.affiliation) not in authors:
                    authors[p.author_name, p.affiliation] = self.authors.ensure(p.author_name, p.affiliation)
            taken = self._taken("SELECT entry_id FROM posts WHERE entry_id IN", [p.proposed_id for p in posts])

            def free(entry_id: str) -> bool:
                return entry_id not in taken and db.execute(
                    "SELECT 1 FROM posts WHERE entry_id = ?", (entry_id,)).fetchone() is None

            rows = []
            for p in posts:
                # (whether the store holds a proposed id is known from ``taken``; only ``-2``, ``-3``... are asked)
                entry_id = p.proposed_id if p.proposed_id not in taken else first_free(p.proposed_id, free)
                taken.add(entry_id)
                author_key = authors[p.author_name, p.affiliation] if p.author_name is not None else p.author_key
                rows.append((entry_id, p.source, p.slug, p.title, p.body, p.summary, author_key, p.affiliation,
                             p.published, p.published_offset, p.updated, p.updated_offset, p.content_hash,
                             int(p.draft), p.origin, p.stamp))
            labels = self._label_ids([label for p in posts for label in p.labels])
            positions = [self._positions(p.labels, labels) for p in posts]
            with self.conn.dialect.bulk_insert(db, len(rows), (row[6] for row in rows),
                                               [label_id for each in positions for _, label_id in each]):
                db.executemany(
                    f"""INSERT INTO posts (entry_id, source, slug, title, body, summary, author_key, affiliation,
                       published, published_offset, updated, updated_offset, content_hash, draft, origin,
                       source_stamp) VALUES (?,?,?,?,{self.conn.dialect.utf8_text},?,?,?,?,?,?,?,?,?,?,?)""", rows)
                ids = self.ids_of_sources([p.source for p in posts])
                db.executemany("INSERT INTO post_labels (post_id, label_id, position, published) VALUES (?,?,?,?)",
                               [(ids[p.source], label_id, position, p.published)
                                for p, each in zip(posts, positions) for position, label_id in each])

    def _taken(self, query: str, values: Sequence[str]) -> set[str]:
        """The ``values`` that ``query`` (ending in ``IN``) finds, asked in slices."""
        found: set[str] = set()
        for chunk in chunks(values):
            found.update(v for (v,) in self.conn.db.execute(f"{query} ({','.join('?' * len(chunk))})", chunk))
        return found

    def _label_ids(self, labels: Sequence[tuple[str, str]]) -> dict[str, int]:
        """The id of each label named, as (name, fold), by its fold; the unknown ones are added in the order named."""
        ids: dict[str, int] = {}
        for chunk in chunks(list(dict.fromkeys(fold for _, fold in labels))):
            ids.update(self.conn.db.execute(
                f"SELECT fold, id FROM labels WHERE fold IN ({','.join('?' * len(chunk))})", chunk).fetchall())
        for name, fold in labels:
            if fold not in ids:
                ids[fold] = self.labels.ensure(name)
        return ids

    @staticmethod
    def _positions(labels: Sequence[tuple[str, str]], ids: dict[str, int]) -> list[tuple[int, int]]:
        """(position, label id) of a post's labels, each label once, at its first position."""
        if len({fold for _, fold in labels}) == len(labels):  # as good as always: quicker
            return [(position, ids[fold]) for position, (_, fold) in enumerate(labels)]
        seen: dict[int, int] = {}
        for position, (_, fold) in enumerate(labels):
            seen.setdefault(ids[fold], position)
        return [(position, label_id) for label_id, position in seen.items()]

    def _new_entry_id(self, p: PostInput) -> str:
        return first_free(p.proposed_id, lambda i: self.conn.db.execute(
            "SELECT 1 FROM posts WHERE entry_id = ?", (i,)).fetchone() is None)

    def _set_labels(self, post_id: int, labels: Sequence[str], published: str) -> None:
        db = self.conn.db
        db.execute("DELETE FROM post_labels WHERE post_id = ?", (post_id,))
        seen: set[int] = set()
        for position, name in enumerate(labels):
            label_id = self.labels.ensure(name)
            if label_id not in seen:
                seen.add(label_id)
                db.execute("INSERT INTO post_labels (post_id, label_id, position, published) VALUES (?,?,?,?)",
                           (post_id, label_id, position, published))

    def mark_deleted(self, post_id: int, now: datetime, by: str) -> bool:
        with self.conn.transaction() as db:
            # Never dated before the post's last change nor the last publish, so with a clock that went
            # back no feed's date goes back, and the next publish still shows the tombstone.
            greatest = self.conn.dialect.greatest
            cur = db.execute(f"UPDATE posts SET deleted_at = {greatest}(?, updated, coalesce((SELECT started_at FROM "
                             "publish_log ORDER BY id DESC LIMIT 1), '')), deleted_by = ? "
                             "WHERE id = ? AND deleted_at IS NULL", (to_utc_text(now), by, post_id))
            return cur.rowcount == 1

    def restore(self, post_id: int) -> bool:
        """Undelete a post. Its file's stamp is forgotten, so that the next sync reads what the file
        says now (a draft, another date, new text): it was not taken while the user had deleted it."""
        with self.conn.transaction() as db:
            cur = db.execute("UPDATE posts SET deleted_at = NULL, deleted_by = NULL, source_stamp = NULL "
                             "WHERE id = ? AND deleted_at IS NOT NULL", (post_id,))
            return cur.rowcount == 1

    def source_stamps(self, prefix: str) -> dict[str, str | None]:
        """The stamp of every post whose source starts with ``prefix`` and that nobody deleted, by
        source less the prefix (read from an index, as plain pairs: this runs over every post)."""
        return dict(self.conn.db.execute(
            "SELECT substr(source, ?), source_stamp FROM posts INDEXED BY posts_source_stamp "
            "WHERE source >= ? AND source < ? AND deleted_by IS NULL",
            (len(prefix) + 1, prefix, prefix + _END)).fetchall())

    def set_source_stamp(self, source: str, stamp: str) -> None:
        """Remember the size and mtime of the file a post was read from, to skip it while unchanged."""
        self.conn.db.execute("UPDATE posts SET source_stamp = ? WHERE source = ?", (stamp, source))

    def count_sources(self, prefix: str) -> int:
        """How many posts whose source starts with ``prefix`` nobody deleted (counted in an index)."""
        return int(self.conn.db.execute("SELECT count(*) FROM posts INDEXED BY posts_source_stamp WHERE source >= ? "
                                        "AND source < ? AND deleted_by IS NULL", (prefix, prefix + _END)).fetchone()[0])

    def none_yet(self) -> bool:
        """Whether the store holds no post at all, deleted or not (one row looked at, not a count)."""
        return self.conn.db.execute("SELECT 1 FROM posts LIMIT 1").fetchone() is None

    def has_deleted(self, prefix: str) -> bool:
        """Whether a post from a source starting with ``prefix`` is deleted (looked up in an index)."""
        row = self.conn.db.execute("SELECT 1 FROM posts INDEXED BY posts_source_stamp WHERE source >= ? AND source < ? "
                                   "AND deleted_by IS NOT NULL LIMIT 1", (prefix, prefix + _END)).fetchone()
        return row is not None

    def place_at(self, source: str) -> PostPlace | None:
        """The post whose file is ``source``."""
        row = self.conn.db.execute(f"SELECT {_PLACE} FROM posts WHERE source = ?", (source,)).fetchone()
        return PostPlace(*row) if row else None

    def place_of(self, entry_id: str) -> PostPlace | None:
        """The post with this entry id."""
        row = self.conn.db.execute(f"SELECT {_PLACE} FROM posts WHERE entry_id = ?", (entry_id,)).fetchone()
        return PostPlace(*row) if row else None

    def places_dated(self, published: str, prefix: str) -> list[PostPlace]:
        """The posts from sources starting with ``prefix`` published at this instant (UTC text)."""
        return [PostPlace(*r) for r in self.conn.db.execute(
            f"SELECT {_PLACE} FROM posts WHERE published = ? AND source >= ? AND source < ?",
            (published, prefix, prefix + _END))]

    def move(self, post_id: int, source: str) -> str | None:
        """Give ``source`` to the post ``post_id`` (its file moved there). The post that held it
        gives it up for one no file can have (sources stay unique); that one is returned."""
        with self.conn.transaction() as db:
            holder = db.execute("SELECT id FROM posts WHERE source = ? AND id != ?", (source, post_id)).fetchone()
            if holder is not None:
                db.execute("UPDATE posts SET source = source || '#' || id WHERE id = ?", (holder[0],))
            db.execute("UPDATE posts SET source = ? WHERE id = ?", (source, post_id))
        return f"{source}#{holder[0]}" if holder is not None else None

    def ids_of_sources(self, sources: Sequence[str]) -> dict[str, int]:
        """The post id of each of these sources that a post has."""
        out: dict[str, int] = {}
        for chunk in chunks(sources):
            out.update(self.conn.db.execute(
                f"SELECT source, id FROM posts WHERE source IN ({','.join('?' * len(chunk))})", chunk).fetchall())
        return out

    def source_of(self, entry_id: str) -> str | None:
        row = self.conn.db.execute("SELECT source FROM posts WHERE entry_id = ?", (entry_id,)).fetchone()
        return str(row[0]) if row else None

    def find(self, ref: str) -> int | None:
        """A post by number, entry id, slug or source."""
        db = self.conn.db
        number = whole(ref, 2**63 - 1)  # ASCII digits, within SQLite's integers ('²'.isdigit() is true)
        if number is not None:
            row = db.execute("SELECT id FROM posts WHERE id = ?", (number,)).fetchone()
            if row:
                return int(row[0])
        row = db.execute(
            "SELECT id FROM posts WHERE entry_id = ? OR slug = ? OR source = ? OR source = ? ORDER BY id LIMIT 1",
            (ref, ref, ref, "md:" + ref)).fetchone()
        return int(row[0]) if row else None

    def summaries(self) -> list[PostSummary]:
        """Every post, newest first, as one line of a list."""
        return [PostSummary(id_, entry_id, slug, title, from_utc_text(published, offset), bool(draft),
                            from_utc_text(deleted_at) if deleted_at else None, author)
                for id_, entry_id, slug, title, published, offset, draft, deleted_at, author in self.conn.db.execute(
                    """SELECT p.id, p.entry_id, p.slug, p.title, p.published, p.published_offset, p.draft,
                              p.deleted_at, a.name FROM posts p JOIN authors a ON a.key = p.author_key
                       ORDER BY p.published DESC, p.id DESC""")]

    def load(self, ids: Iterable[int], entry_url: Callable[[str, datetime], str]) -> dict[int, Post]:
        """Full posts for the given ids; ``entry_url(slug, published)`` makes permalinks.

        Named columns are read as plain tuples (a publish reads every post its documents hold)."""
        ids = list(ids)
        out: dict[int, Post] = {}
        authors = {k: a for k, (a, _) in self.authors.all().items()}
        cursor = self.conn.db.cursor()
        for chunk in chunks(ids):
            marks = ",".join("?" * len(chunk))
            labels: dict[int, list[Label]] = {}
            for post_id, name, slug in cursor.execute(
                    f"""SELECT pl.post_id, l.name, l.slug FROM post_labels pl JOIN labels l ON l.id = pl.label_id
                        WHERE pl.post_id IN ({marks}) ORDER BY pl.post_id, pl.position""", chunk):
                labels.setdefault(post_id, []).append(Label(name, slug))
            for (post_id, entry_id, source, slug, title, body, summary, author_key, affiliation, published,
                 published_offset, updated, updated_offset, content_hash, draft, deleted_at) in cursor.execute(
                    f"""SELECT id, entry_id, source, slug, title, body, summary, author_key, affiliation, published,
                        published_offset, updated, updated_offset, content_hash, draft, deleted_at
                        FROM posts WHERE id IN ({marks})""", chunk):
                author = authors[author_key]
                if affiliation:
                    author = replace(author, affiliation=affiliation)
                when = from_utc_text(published, published_offset)
                out[post_id] = Post(
                    entry_id=xml_safe(entry_id), source=source, slug=slug, title=title, body_html=body,
                    summary=summary, author=author, labels=tuple(labels.get(post_id, ())), published=when,
                    updated=from_utc_text(updated, updated_offset), url=entry_url(slug, when),
                    content_hash=content_hash, draft=bool(draft),
                    deleted_at=from_utc_text(deleted_at) if deleted_at else None)
        return out


def new_post(p: PostInput, content_hash: str, stamp: str | None, body_utf8: bytes | None = None) -> NewPost:
    """``p`` as the row ``SqlitePosts.add`` stores, as ``upsert`` would store it (made where the post is
    read); ``body_utf8`` is ``p.body``'s UTF-8, if the caller has it already."""
    published = p.published.replace(microsecond=0)
    when, offset = to_utc_text(published), offset_minutes(published)
    if p.updated is not None:  # (most posts have no update: their dates are made once)
        updated = p.updated.replace(microsecond=0)
        when_updated, offset_updated = to_utc_text(updated), offset_minutes(updated)
    else:
        when_updated, offset_updated = when, offset
    body = p.body.encode("utf-8") if body_utf8 is None else body_utf8
    return NewPost(p.proposed_id, p.source, p.slug, p.title, body, p.summary, p.author_key, p.author_name,
                   p.affiliation, when, offset, when_updated, offset_updated, content_hash, p.draft, p.origin, stamp,
                   tuple((name, label_fold(name)) for name in p.labels))


def xml_safe(entry_id: str) -> str:
    """An entry id as documents show it. Ids are cleaned where they enter the store (``clean_id``),
    but one stored by an older version may hold a character no XML can carry: the feeds, their
    proofs and their fingerprints all see it cleaned, so no publish sticks on it. (Quick for the
    ids that need nothing, which are all of them but such old ones.)"""
    return entry_id if entry_id.isprintable() and entry_id.strip() == entry_id else clean_id(entry_id)

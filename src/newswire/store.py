"""The content store: posts, authors and labels in SQLite, plus what was published.

Times are stored as UTC text ('2009-11-06T15:00:00Z', sortable) with the offset the
author wrote kept beside them for display. An entry id is written once, at first
insert, and no code path updates it. Deletions are marks, never row deletions, so a
deleted post can be tombstoned and restored.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

from .bounds import later, whole
from .errors import STORE_PLACE, StoreError, os_trouble
from .model import Author, Label, OutboxState, Post, PublishStatus
from .text import clean_id, label_fold, slugify

UTC = UTC
T = TypeVar("T")


def _touches() -> str:
    """Migration 6: the table of feeds touched since the last good publish, and its triggers; and
    indexes that count one feed's live posts without reading rows (by author, and by id for labels).

    A post's change touches the journal, its author's feed (before and after) and its labels'
    feeds; a change to an author, or to a label's name, touches every feed ('all'). A publish
    takes the set and moves 'dirty_seq' on (``Store.take_touched``); when it succeeds it
    clears what it took, while changes made meanwhile carry the new 'dirty_seq' and stay.
    """
    def touch(kind: str, key: str, rows: str = "") -> str:
        seq = "(SELECT value FROM state WHERE key = 'dirty_seq')"
        values = f"SELECT {kind}, {key}, {seq} {rows}" if rows else f"VALUES ({kind}, {key}, {seq})"
        return f"INSERT INTO dirty (kind, key, seq) {values} ON CONFLICT (kind, key) DO UPDATE SET seq = excluded.seq;"

    def author(row: str) -> str:
        return touch("'author'", f"{row}.author_key")

    def label(row: str) -> str:
        return touch("'label'", f"{row}.label_id")

    def labels_of(post: str) -> str:
        return touch("'label'", "label_id", f"FROM post_labels WHERE post_id = {post}.id")

    def author_of(post_label: str) -> str:
        return touch("'author'", "author_key", f"FROM posts WHERE id = {post_label}.post_id")

    journal, everything = touch("'journal'", "''"), touch("'all'", "''")
    triggers = {
        ("INSERT", "posts", ""): [journal, author("NEW")],
        ("UPDATE", "posts", f" OF {POST_COLUMNS}"): [journal, author("OLD"), author("NEW"), labels_of("NEW")],
        ("DELETE", "posts", ""): [journal, author("OLD"), labels_of("OLD")],
        ("INSERT", "post_labels", ""): [journal, label("NEW"), author_of("NEW")],
        ("UPDATE", "post_labels", ""): [journal, label("OLD"), label("NEW"), author_of("NEW")],
        ("DELETE", "post_labels", ""): [journal, label("OLD"), author_of("OLD")],
        ("UPDATE", "labels", ""): [everything],
        ("DELETE", "labels", ""): [everything],
        ("INSERT", "authors", ""): [everything],
        ("UPDATE", "authors", ""): [everything],
        ("DELETE", "authors", ""): [everything],
    }
    return "\n".join(
        ["CREATE TABLE dirty (kind TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (kind, key));",
         "INSERT INTO state (key, value) VALUES ('dirty_seq', 0);",
         "CREATE INDEX posts_live_author ON posts(author_key, draft, deleted_at, published);",
         "CREATE INDEX posts_live_id ON posts(id, draft, deleted_at, published);"]
        + [f"CREATE TRIGGER {table}_{event.lower()}_touches AFTER {event}{columns} ON {table}\nBEGIN {' '.join(body)} END;"
           for (event, table, columns), body in triggers.items()])


# The columns whose change changes what a post looks like in a feed (see the triggers).
POST_COLUMNS = ("entry_id, source, slug, title, body, summary, author_key, affiliation, published, "
                "published_offset, updated, updated_offset, content_hash, draft, deleted_at")

# What tells where a post's file went (see content._Moves).
MOVE_COLUMNS = "id, source, published, content_hash, slug"

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema.
    """
    CREATE TABLE authors (
        key         TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        affiliation TEXT NOT NULL DEFAULT '',
        email       TEXT,
        uri         TEXT,
        slug        TEXT NOT NULL UNIQUE
    );
    CREATE TABLE posts (
        id           INTEGER PRIMARY KEY,
        entry_id     TEXT NOT NULL UNIQUE,
        source       TEXT NOT NULL UNIQUE,
        slug         TEXT NOT NULL,
        title        TEXT NOT NULL,
        body         TEXT NOT NULL,
        summary      TEXT NOT NULL DEFAULT '',
        author_key   TEXT NOT NULL REFERENCES authors(key),
        affiliation  TEXT,
        published    TEXT NOT NULL,
        published_offset INTEGER NOT NULL,
        updated      TEXT NOT NULL,
        updated_offset INTEGER NOT NULL,
        content_hash TEXT NOT NULL,
        draft        INTEGER NOT NULL DEFAULT 0,
        deleted_at   TEXT,
        deleted_by   TEXT,
        source_stamp TEXT
    );
    CREATE INDEX posts_published ON posts(published DESC, id DESC);
    CREATE INDEX posts_author ON posts(author_key, published DESC, id DESC);
    CREATE TABLE labels (
        id   INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        fold TEXT NOT NULL UNIQUE,
        slug TEXT NOT NULL UNIQUE
    );
    CREATE TABLE post_labels (
        post_id   INTEGER NOT NULL REFERENCES posts(id),
        label_id  INTEGER NOT NULL REFERENCES labels(id),
        position  INTEGER NOT NULL,
        published TEXT NOT NULL,
        PRIMARY KEY (post_id, label_id)
    );
    CREATE INDEX post_labels_feed ON post_labels(label_id, published DESC, post_id DESC);
    CREATE TABLE documents (
        path        TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        sha256      TEXT NOT NULL,
        size        INTEGER NOT NULL,
        mtime_ns    INTEGER NOT NULL,
        published_at TEXT NOT NULL
    );
    CREATE TABLE publish_log (
        id          INTEGER PRIMARY KEY,
        started_at  TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        status      TEXT NOT NULL,
        feeds_total INTEGER NOT NULL,
        written     INTEGER NOT NULL,
        failed      INTEGER NOT NULL,
        detail      TEXT NOT NULL
    );
    """,
    # 2: the notification outbox, and what each entry was last announced as.
    """
    CREATE TABLE outbox (
        id           INTEGER PRIMARY KEY,
        kind         TEXT NOT NULL,
        target       TEXT NOT NULL,
        topic        TEXT NOT NULL,
        payload      TEXT NOT NULL,
        state        TEXT NOT NULL,
        attempts     INTEGER NOT NULL DEFAULT 0,
        created_at   TEXT NOT NULL,
        next_at      TEXT NOT NULL,
        last_error   TEXT,
        finished_at  TEXT
    );
    CREATE UNIQUE INDEX outbox_pending ON outbox(kind, target, topic) WHERE state = 'pending';
    CREATE INDEX outbox_due ON outbox(state, next_at);
    ALTER TABLE posts ADD COLUMN announced TEXT;
    """,
    # 3: what each pulled source last answered, for conditional GET and backoff.
    """
    CREATE TABLE source_state (
        url           TEXT PRIMARY KEY,
        etag          TEXT,
        last_modified TEXT,
        next_at       TEXT NOT NULL,
        failures      INTEGER NOT NULL DEFAULT 0,
        last_status   TEXT,
        last_pulled   TEXT
    );
    """,
    # 4: labels are folded by Unicode compatibility form as well as by case, so NFC 'Café' and NFD
    # 'Cafe\u0301' are one label. A label whose new fold another row already holds keeps its old
    # fold (OR IGNORE): both rows stay, merging labels is out of scope. Years below 1000 were stored
    # without their leading zeros, which sorted them after 2009 and could not be read back: pad them.
    """
    UPDATE OR IGNORE labels SET fold = label_fold(name);
    UPDATE posts SET published = substr('000' || published, -20) WHERE length(published) < 20;
    UPDATE posts SET updated = substr('000' || updated, -20) WHERE length(updated) < 20;
    UPDATE post_labels SET published = substr('000' || published, -20) WHERE length(published) < 20;
    """,
    # 5: a generation number every change to what feeds show moves (kept by triggers), so a
    # publish can tell in one read that nothing changed since the last good one; and the
    # stamps sync compares and the columns that say which posts are live, in indexes of their
    # own (read without touching the rows, whose bodies make them large).
    """
    CREATE TABLE state (key TEXT PRIMARY KEY, value NOT NULL);
    INSERT INTO state (key, value) VALUES ('generation', 0);
    CREATE INDEX posts_source_stamp ON posts(source, id, deleted_by, source_stamp);
    CREATE INDEX posts_live ON posts(published, draft, deleted_at, author_key);
    CREATE TRIGGER posts_insert_bumps AFTER INSERT ON posts
    BEGIN UPDATE state SET value = value + 1 WHERE key = 'generation'; END;
    CREATE TRIGGER posts_delete_bumps AFTER DELETE ON posts
    BEGIN UPDATE state SET value = value + 1 WHERE key = 'generation'; END;
    CREATE TRIGGER posts_update_bumps AFTER UPDATE OF entry_id, source, slug, title, body, summary, author_key, affiliation, published, published_offset, updated, updated_offset, content_hash, draft, deleted_at ON posts
    BEGIN UPDATE state SET value = value + 1 WHERE key = 'generation'; END;
    CREATE TRIGGER post_labels_insert_bumps AFTER INSERT ON post_labels
    BEGIN UPDATE state SET value = value + 1 WHERE key = 'generation'; END;
    CREATE TRIGGER post_labels_delete_bumps AFTER DELETE ON post_labels
    BEGIN UPDATE state SET value = value + 1 WHERE key = 'generation'; END;
    CREATE TRIGGER post_labels_update_bumps AFTER UPDATE ON post_labels
    BEGIN UPDATE state SET value = value + 1 WHERE key = 'generation'; END;
    CREATE TRIGGER labels_insert_bumps AFTER INSERT ON labels
    BEGIN UPDATE state SET value = value + 1 WHERE key = 'generation'; END;
    CREATE TRIGGER labels_delete_bumps AFTER DELETE ON labels
    BEGIN UPDATE state SET value = value + 1 WHERE key = 'generation'; END;
    CREATE TRIGGER labels_update_bumps AFTER UPDATE ON labels
    BEGIN UPDATE state SET value = value + 1 WHERE key = 'generation'; END;
    CREATE TRIGGER authors_insert_bumps AFTER INSERT ON authors
    BEGIN UPDATE state SET value = value + 1 WHERE key = 'generation'; END;
    CREATE TRIGGER authors_delete_bumps AFTER DELETE ON authors
    BEGIN UPDATE state SET value = value + 1 WHERE key = 'generation'; END;
    CREATE TRIGGER authors_update_bumps AFTER UPDATE ON authors
    BEGIN UPDATE state SET value = value + 1 WHERE key = 'generation'; END;
    """,
    # 6: which feeds a change touches, kept by triggers (see _touches), so a publish plans only those.
    _touches(),
    # 7: what each entry was last announced as, in a narrow table of its own: marking it in posts
    # rewrote each post's whole row, body and all. (posts.announced is no longer read.)
    """
    CREATE TABLE announced (post_id INTEGER PRIMARY KEY, digest TEXT NOT NULL);
    INSERT INTO announced (post_id, digest) SELECT id, announced FROM posts WHERE announced IS NOT NULL;
    """,
    # 8: the content directory as the last sync left it, file by file (see ``Store.content_scan``),
    # so a sync after a small change compares the new scan with it rather than with every post's stamp.
    """
    CREATE TABLE content_scan (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        digest TEXT NOT NULL,
        generation INTEGER NOT NULL,
        listing BLOB NOT NULL
    );
    DELETE FROM state WHERE key = 'sync';
    """,
    # 9: the posts a feed does not show whatever the date (drafts, deleted), few in any journal: a
    # label's live posts are counted as its entries less these, without reading every entry's post.
    """
    CREATE INDEX posts_hidden ON posts(id) WHERE draft != 0 OR deleted_at IS NOT NULL;
    """,
    # 10: slugs fit in 100 bytes of UTF-8 (``text.MAX_SLUG_BYTES``). A label's or an author's slug made
    # longer before could not name its feed's folder ("File name too long" at every publish): made again.
    """
    UPDATE labels SET slug = slugify(slug) WHERE length(CAST(slug AS BLOB)) > 100;
    UPDATE authors SET slug = slugify(slug) WHERE length(CAST(slug AS BLOB)) > 100;
    """,
    # 11: where each post came from, so that an import or a pull changes only the posts its own source
    # brought (``PostInput.origin``): '' for content/; NULL for a post imported before this was kept.
    """
    ALTER TABLE posts ADD COLUMN origin TEXT;
    UPDATE posts SET origin = '' WHERE source LIKE 'md:%';
    """,
    # 12: the posts the feeds have shown (``Store.note_shown``), and when each that is hidden now (a
    # draft, deleted, dated after the clock) left them: its RFC 6721 tombstone. Taken as what the
    # posts said at the last publish.
    """
    CREATE TABLE shown (post_id INTEGER PRIMARY KEY REFERENCES posts(id), hidden_at TEXT);
    CREATE INDEX shown_hidden ON shown(post_id, hidden_at) WHERE hidden_at IS NOT NULL;
    INSERT INTO shown (post_id, hidden_at) SELECT id, deleted_at FROM posts
    WHERE draft = 0 AND published <= (SELECT started_at FROM publish_log ORDER BY id DESC LIMIT 1);
    """,
)


def to_utc_text(when: datetime) -> str:
    """Sortable UTC text; the year is zero-padded by hand, as strftime's %Y does not pad years below 1000."""
    u = when.astimezone(UTC)
    return f"{u.year:04d}-{u:%m-%dT%H:%M:%S}Z"


def from_utc_text(text: str, offset_minutes: int = 0) -> datetime:
    """The instant ``to_utc_text`` wrote, shown in the offset the author used (read per post: kept fast)."""
    return datetime.fromisoformat(text).astimezone(_zone(offset_minutes))


@functools.lru_cache(maxsize=256)
def _zone(offset_minutes: int) -> timezone:
    return timezone(timedelta(minutes=offset_minutes))


def offset_minutes(when: datetime) -> int:
    delta = when.utcoffset()
    return int(delta.total_seconds() // 60) if delta is not None else 0


@dataclass(frozen=True)
class PostInput:
    """A post as a source (a Markdown file, an imported feed) describes it.

    ``entry_id`` is an id the source fixes (matched and kept as is); otherwise the
    post is matched by ``source`` and, when new, gets ``proposed_id`` (made unique).
    ``origin`` is the feed or file an imported or pulled post came from ('' for content/):
    feed ids are public, so a post may be changed only from where it came (see ``upsert_post``).
    """

    source: str
    key: str
    title: str
    body: str
    author_key: str
    published: datetime
    labels: tuple[str, ...] = ()
    slug: str = ""
    summary: str = ""
    updated: datetime | None = None
    draft: bool = False
    entry_id: str | None = None
    proposed_id: str = ""
    author_name: str | None = None
    affiliation: str | None = None
    origin: str = ""

    def content_hash(self) -> str:
        """What counts as the post's content: a change here moves ``updated``."""
        data = json.dumps([self.title, self.body, self.summary, self.author_key, self.affiliation,
                           sorted({label_fold(label) for label in self.labels})], ensure_ascii=False)
        return hashlib.sha256(data.encode("utf-8")).hexdigest()


@dataclass
class Tally:
    """How many posts each ``upsert_post`` outcome had; 'deleted' means kept deleted by the user."""

    added: int = 0
    updated: int = 0
    restored: int = 0
    unchanged: int = 0
    kept_deleted: int = 0

    def count(self, outcome: str) -> None:
        field_name = "kept_deleted" if outcome == "deleted" else outcome
        setattr(self, field_name, getattr(self, field_name) + 1)

    @property
    def total(self) -> int:
        return self.added + self.updated + self.restored + self.unchanged + self.kept_deleted


class NotOwned(Exception):
    """An upsert from outside that would change a post another source brought; nothing was changed."""

    def __init__(self, entry_id: str, post_id: int, source: str, origin: str | None):
        super().__init__(f"{entry_id!r} is post {post_id}")
        self.entry_id, self.post_id, self.source, self.origin = entry_id, post_id, source, origin


def may_change(stored: str | None, origin: str) -> bool:
    """Whether a post from ``origin`` may replace one that came from ``stored``. content/ ('') may
    take any post (a file that states an imported entry's id adopts it); an outside source only its
    own, or one imported before origins were recorded (NULL), which it then claims."""
    return not origin or stored == origin or stored is None


@dataclass(frozen=True)
class EntryRef:
    """The little a plan needs to know about an entry: who, when, and a digest of it."""

    post_id: int
    entry_id: str
    published: str
    updated: str
    digest: str
    deleted_at: str | None = None


@dataclass(frozen=True)
class DocumentState:
    path: str
    fingerprint: str
    sha256: str
    size: int
    mtime_ns: int


def store_trouble(path: Path | None, exc: sqlite3.Error) -> StoreError:
    """What to tell the user when SQLite fails: busy means wait, anything else means damage."""
    where = f"{path}: " if path else "the store: "
    text = str(exc)
    if path is not None and not path.exists():  # nothing to damage: the file cannot be made where it is named
        return StoreError(f"{where}cannot create the store there ({text}): {STORE_PLACE}")
    if "full" in text:
        return StoreError(f"{where}the disk holding the store is full ({text}); nothing was changed: "
                          "free some space and run the command again")
    if "locked" in text or "busy" in text:
        return StoreError(f"{where}the store is busy: another process kept it locked longer than paths.store_wait "
                          "allows; try again, or raise paths.store_wait")
    return StoreError(f"{where}cannot read the store: {text} (run 'newswire store check'; to recover, "
                      "'newswire store restore' your latest backup)")


class Store:
    """One SQLite database. Use as a context manager; every write is its own transaction."""

    def __init__(self, path: Path, *, timeout: float = 10.0):
        self.path = Path(path)
        self._authors: tuple[tuple[int, int], dict[str, tuple[Author, str]]] | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = FULL")
            self.migrate()
        except sqlite3.DatabaseError as exc:
            raise store_trouble(self.path, exc) from None
        except OSError as exc:  # its folder cannot be made: a part of the path is a file, or not writable
            raise StoreError(f"{self.path}: cannot create the store there: {os_trouble(exc)} "
                             f"({STORE_PLACE})") from None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; nested use joins the outer one, so a batch commits once."""
        if self.db.in_transaction:
            yield self.db
            return
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise store_trouble(self.path, exc) from None
        try:
            yield self.db
        except BaseException:
            if self.db.in_transaction:  # SQLITE_FULL, IOERR and NOMEM have rolled it back already
                self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    @contextmanager
    def undoable(self) -> Iterator[None]:
        """A write transaction (or, inside one, a savepoint) that an exception undoes, and only it:
        a sync refused inside a dry run's transaction leaves nothing behind for the dry run to show."""
        with self.transaction() as db:
            db.execute("SAVEPOINT undoable")
            try:
                yield
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK TO undoable")
                    db.execute("RELEASE undoable")
                raise
            db.execute("RELEASE undoable")

    @contextmanager
    def scratch(self) -> Iterator[sqlite3.Connection]:
        """A transaction that is always rolled back: for dry runs, which may change nothing."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        finally:
            self.db.execute("ROLLBACK")

    @property
    def version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> None:
        """Bring the schema to the newest version, one recorded step at a time."""
        if self.version > len(MIGRATIONS):
            raise StoreError(f"{self.path}: the store was written by a newer newswire "
                             f"(schema {self.version}, this one knows {len(MIGRATIONS)})")
        self.db.create_function("label_fold", 1, label_fold, deterministic=True)  # for migration 4
        self.db.create_function("slugify", 1, slugify, deterministic=True)  # for migration 10
        while self.version < len(MIGRATIONS):
            step = self.version
            with self.transaction() as db:
                for statement in _statements(MIGRATIONS[step]):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {step + 1}")

    # --- authors ---------------------------------------------------------------------

    def sync_authors(self, authors: Iterable[Author]) -> None:
        """The config is the truth for the authors it names."""
        with self.transaction() as db:
            for a in authors:
                row = db.execute("SELECT slug FROM authors WHERE key = ?", (a.key,)).fetchone()
                if row is None:
                    db.execute("INSERT INTO authors (key, name, affiliation, email, uri, slug) VALUES (?,?,?,?,?,?)",
                               (a.key, a.name, a.affiliation, a.email, a.uri, self._free_author_slug(a.key)))
                else:  # written only when it differs, so an unchanged config moves no generation
                    values = (a.name, a.affiliation, a.email, a.uri)
                    db.execute("UPDATE authors SET name=?, affiliation=?, email=?, uri=? WHERE key=? AND "
                               "NOT (name IS ? AND affiliation IS ? AND email IS ? AND uri IS ?)",
                               (*values, a.key, *values))

    def _free_author_slug(self, key: str) -> str:
        base = slugify(key, fallback="author")
        return _first_free(base, lambda s: self.db.execute(
            "SELECT 1 FROM authors WHERE slug = ?", (s,)).fetchone() is None)

    def ensure_author(self, name: str, affiliation: str | None) -> str:
        """The key of the author with this display name, adding one if unknown."""
        row = self.db.execute("SELECT key FROM authors WHERE name = ? ORDER BY key LIMIT 1", (name,)).fetchone()
        if row is not None:
            return row["key"]
        key = _first_free(slugify(name, fallback="author"), lambda k: self.db.execute(
            "SELECT 1 FROM authors WHERE key = ?", (k,)).fetchone() is None)
        self.db.execute("INSERT INTO authors (key, name, affiliation, slug) VALUES (?,?,?,?)",
                        (key, name, affiliation or "", self._free_author_slug(key)))
        return key

    def authors(self) -> dict[str, tuple[Author, str]]:
        """Every author by key, with the slug that names its feed folder (read again only after a
        change to the store, here or elsewhere: a publish asks for them with every batch of posts)."""
        mark = (self.generation(), self.db.total_changes)
        if self._authors is None or self._authors[0] != mark:
            self._authors = mark, {r["key"]: (_author(r), r["slug"]) for r in self.db.execute("SELECT * FROM authors")}
        return self._authors[1]

    # --- labels ----------------------------------------------------------------------

    def _label_id(self, name: str) -> int:
        """Labels are matched without regard to case or Unicode form; the first spelling is kept."""
        fold = label_fold(name)
        row = self.db.execute("SELECT id FROM labels WHERE fold = ?", (fold,)).fetchone()
        if row is not None:
            return row["id"]
        slug = _first_free(slugify(name, fallback="label"), lambda s: self.db.execute(
            "SELECT 1 FROM labels WHERE slug = ?", (s,)).fetchone() is None)
        return _new_id(self.db.execute("INSERT INTO labels (name, fold, slug) VALUES (?,?,?)", (name, fold, slug)))

    # --- posts -----------------------------------------------------------------------

    def upsert_post(self, p: PostInput, now: datetime) -> str:
        """Insert or update one post; returns 'added', 'updated', 'restored' or 'unchanged'.

        The entry id is chosen once; ``updated`` moves only when the content hash
        changes and never goes backwards, even if the clock does. A post that ``p``'s
        origin may not change (``may_change``) raises ``NotOwned`` before anything is written.
        """
        digest = p.content_hash()
        with self.transaction() as db:
            row = None
            if p.entry_id:
                row = db.execute("SELECT * FROM posts WHERE entry_id = ?", (p.entry_id,)).fetchone()
            if row is None:
                row = db.execute("SELECT * FROM posts WHERE source = ?", (p.source,)).fetchone()
            if row is not None and not may_change(row["origin"], p.origin):
                raise NotOwned(row["entry_id"], row["id"], row["source"], row["origin"])
            author_key = p.author_key
            if p.author_name is not None:
                author_key = self.ensure_author(p.author_name, p.affiliation)
            published = p.published.replace(microsecond=0)
            if row is None:
                entry_id = p.entry_id or self._new_entry_id(p)
                updated = (p.updated or published).replace(microsecond=0)
                post_id = _new_id(db.execute(
                    """INSERT INTO posts (entry_id, source, slug, title, body, summary, author_key, affiliation,
                       published, published_offset, updated, updated_offset, content_hash, draft, origin)
                       VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                    (entry_id, p.source, p.slug, p.title, p.body, p.summary, author_key, p.affiliation,
                     to_utc_text(published), offset_minutes(published), to_utc_text(updated),
                     offset_minutes(updated), digest, int(p.draft), p.origin)))
                self._set_labels(post_id, p.labels, to_utc_text(published))
                return "added"
            if row["origin"] != p.origin:  # claimed (not a column feeds show: no generation moves)
                db.execute("UPDATE posts SET origin = ? WHERE id = ?", (p.origin, row["id"]))
            if row["deleted_at"] is not None and row["deleted_by"] == "user":
                return "deleted"
            restored = row["deleted_at"] is not None
            old_updated = from_utc_text(row["updated"], row["updated_offset"])
            if p.updated is not None:
                updated = max(p.updated.replace(microsecond=0), old_updated)
            elif digest != row["content_hash"]:
                updated = max(now.replace(microsecond=0), later(old_updated, 1))
            else:
                updated = old_updated
            fields = (p.source, p.slug, p.title, p.body, p.summary, author_key, p.affiliation,
                      to_utc_text(published), offset_minutes(published), to_utc_text(updated),
                      offset_minutes(updated), digest, int(p.draft))
            current = (row["source"], row["slug"], row["title"], row["body"], row["summary"], row["author_key"],
                       row["affiliation"], row["published"], row["published_offset"], row["updated"],
                       row["updated_offset"], row["content_hash"], row["draft"])
            if fields == current and not restored:
                return "unchanged"
            db.execute(
                """UPDATE posts SET source=?, slug=?, title=?, body=?, summary=?, author_key=?, affiliation=?,
                   published=?, published_offset=?, updated=?, updated_offset=?, content_hash=?, draft=?,
                   deleted_at=NULL, deleted_by=NULL WHERE id=?""", (*fields, row["id"]))
            self._set_labels(row["id"], p.labels, to_utc_text(published))
            return "restored" if restored else "updated"

    def _new_entry_id(self, p: PostInput) -> str:
        return _first_free(p.proposed_id, lambda i: self.db.execute(
            "SELECT 1 FROM posts WHERE entry_id = ?", (i,)).fetchone() is None)

    def _set_labels(self, post_id: int, labels: Sequence[str], published: str) -> None:
        self.db.execute("DELETE FROM post_labels WHERE post_id = ?", (post_id,))
        seen: set[int] = set()
        for position, name in enumerate(labels):
            label_id = self._label_id(name)
            if label_id not in seen:
                seen.add(label_id)
                self.db.execute("INSERT INTO post_labels (post_id, label_id, position, published) VALUES (?,?,?,?)",
                                (post_id, label_id, position, published))

    def mark_deleted(self, post_id: int, now: datetime, by: str) -> bool:
        with self.transaction() as db:
            # Never dated before the post's last change nor the last publish, so with a clock that went
            # back no feed's date goes back, and the next publish still shows the tombstone.
            cur = db.execute("UPDATE posts SET deleted_at = max(?, updated, coalesce((SELECT started_at FROM "
                             "publish_log ORDER BY id DESC LIMIT 1), '')), deleted_by = ? "
                             "WHERE id = ? AND deleted_at IS NULL", (to_utc_text(now), by, post_id))
            return cur.rowcount == 1

    def restore(self, post_id: int) -> bool:
        """Undelete a post. Its file's stamp is forgotten, so that the next sync reads what the file
        says now (a draft, another date, new text): it was not taken while the user had deleted it."""
        with self.transaction() as db:
            cur = db.execute("UPDATE posts SET deleted_at = NULL, deleted_by = NULL, source_stamp = NULL "
                             "WHERE id = ? AND deleted_at IS NOT NULL", (post_id,))
            return cur.rowcount == 1

    def source_stamps(self, prefix: str) -> dict[str, str | None]:
        """The stamp of every post whose source starts with ``prefix`` and that nobody deleted, by
        source less the prefix (read from an index, as plain pairs: this runs over every post)."""
        cursor = self.db.cursor()
        cursor.row_factory = None
        return dict(cursor.execute(
            "SELECT substr(source, ?), source_stamp FROM posts INDEXED BY posts_source_stamp "
            "WHERE source >= ? AND source < ? AND deleted_by IS NULL",
            (len(prefix) + 1, prefix, prefix + "\U0010ffff")).fetchall())

    def count_sources(self, prefix: str) -> int:
        """How many posts whose source starts with ``prefix`` nobody deleted (counted in an index)."""
        return self.db.execute("SELECT count(*) FROM posts INDEXED BY posts_source_stamp WHERE source >= ? AND "
                               "source < ? AND deleted_by IS NULL", (prefix, prefix + "\U0010ffff")).fetchone()[0]

    def post_at(self, source: str) -> sqlite3.Row | None:
        return self.db.execute(f"SELECT {MOVE_COLUMNS} FROM posts WHERE source = ?", (source,)).fetchone()

    def post_by_id(self, entry_id: str) -> sqlite3.Row | None:
        return self.db.execute(f"SELECT {MOVE_COLUMNS} FROM posts WHERE entry_id = ?", (entry_id,)).fetchone()

    def posts_dated(self, published: str, prefix: str) -> list[sqlite3.Row]:
        """The posts from sources starting with ``prefix`` published at this instant (UTC text)."""
        return self.db.execute(f"SELECT {MOVE_COLUMNS} FROM posts WHERE published = ? AND source >= ? AND source < ?",
                               (published, prefix, prefix + "\U0010ffff")).fetchall()

    def has_deleted(self, prefix: str) -> bool:
        """Whether a post from a source starting with ``prefix`` is deleted (looked up in an index)."""
        return self.db.execute("SELECT 1 FROM posts INDEXED BY posts_source_stamp WHERE source >= ? AND source < ? "
                               "AND deleted_by IS NOT NULL LIMIT 1", (prefix, prefix + "\U0010ffff")).fetchone() is not None

    def move_post(self, post_id: int, source: str) -> str | None:
        """Give ``source`` to the post ``post_id`` (its file moved there). The post that held it
        gives it up for one no file can have (sources stay unique); that one is returned."""
        with self.transaction() as db:
            holder = db.execute("SELECT id FROM posts WHERE source = ? AND id != ?", (source, post_id)).fetchone()
            if holder is not None:
                db.execute("UPDATE posts SET source = source || '#' || id WHERE id = ?", (holder[0],))
            db.execute("UPDATE posts SET source = ? WHERE id = ?", (source, post_id))
        return f"{source}#{holder[0]}" if holder is not None else None

    def source_ids(self, sources: Sequence[str]) -> dict[str, int]:
        """The post id of each of these sources that a post has."""
        out: dict[str, int] = {}
        for chunk in _chunks(sources, 500):
            out.update(self.db.execute(
                f"SELECT source, id FROM posts WHERE source IN ({','.join('?' * len(chunk))})", chunk).fetchall())
        return out

    def source_of(self, entry_id: str) -> str | None:
        row = self.db.execute("SELECT source FROM posts WHERE entry_id = ?", (entry_id,)).fetchone()
        return row["source"] if row else None

    def content_scan(self, digest: str | None = None) -> tuple[str, bytes | None] | None:
        """The last sync's scan, if the store is still as that sync left it (same generation): its
        digest, and its listing unless ``digest`` is the one stored (the caller then needs no more)."""
        row = self.db.execute("SELECT digest, generation FROM content_scan").fetchone()
        if row is None or row[1] != self.generation():
            return None
        if row[0] == digest:
            return row[0], None
        return row[0], bytes(self.db.execute("SELECT listing FROM content_scan").fetchone()[0])

    def set_content_scan(self, digest: str, listing: bytes) -> None:
        """Remember a sync's scan (in the sync's transaction), true of the store as it is now."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO content_scan (id, digest, generation, listing) VALUES (1, ?, ?, ?)",
                       (digest, self.generation(), listing))

    def set_source_stamp(self, source: str, stamp: str) -> None:
        """Remember the size and mtime of the file a post was read from, to skip it while unchanged."""
        self.db.execute("UPDATE posts SET source_stamp = ? WHERE source = ?", (stamp, source))

    def find_post(self, ref: str) -> int | None:
        """A post by number, entry id, slug or source."""
        number = whole(ref, 2**63 - 1)  # ASCII digits, within SQLite's integers ('²'.isdigit() is true)
        if number is not None:
            row = self.db.execute("SELECT id FROM posts WHERE id = ?", (number,)).fetchone()
            if row:
                return row["id"]
        row = self.db.execute(
            "SELECT id FROM posts WHERE entry_id = ? OR slug = ? OR source = ? OR source = ? ORDER BY id LIMIT 1",
            (ref, ref, ref, "md:" + ref)).fetchone()
        return row["id"] if row else None

    def list_posts(self) -> list[sqlite3.Row]:
        return self.db.execute(
            """SELECT p.id, p.entry_id, p.slug, p.title, p.published, p.published_offset, p.draft, p.deleted_at,
                      a.name AS author FROM posts p JOIN authors a ON a.key = p.author_key
               ORDER BY p.published DESC, p.id DESC""").fetchall()

    def posts(self, ids: Iterable[int], entry_url) -> dict[int, Post]:  # type: ignore[no-untyped-def]
        """Full posts for the given ids; ``entry_url(slug, published)`` makes permalinks.

        Rows are read as plain tuples (a publish reads every post its documents hold)."""
        ids = list(ids)
        out: dict[int, Post] = {}
        authors = {k: a for k, (a, _) in self.authors().items()}
        cursor = self.db.cursor()
        cursor.row_factory = None
        for chunk in _chunks(ids, 500):
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
                    entry_id=_xml_safe(entry_id), source=source, slug=slug, title=title, body_html=body,
                    summary=summary, author=author, labels=tuple(labels.get(post_id, ())), published=when,
                    updated=from_utc_text(updated, updated_offset), url=entry_url(slug, when),
                    content_hash=content_hash, draft=bool(draft),
                    deleted_at=from_utc_text(deleted_at) if deleted_at else None)
        return out

    # --- what feeds hold ---------------------------------------------------------------

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
        with self.transaction() as db:
            db.execute(
                """UPDATE shown SET hidden_at = coalesce((SELECT deleted_at FROM posts WHERE id = post_id), :clock)
                   WHERE hidden_at IS NULL AND post_id IN (
                     SELECT id FROM posts INDEXED BY posts_hidden WHERE draft != 0 OR deleted_at IS NOT NULL
                     UNION ALL SELECT id FROM posts WHERE published > :now)""", at)
            db.execute(f"""INSERT INTO shown (post_id) SELECT p.id FROM posts p WHERE {self._LIVE}
                           ON CONFLICT (post_id) DO UPDATE SET hidden_at = NULL WHERE hidden_at IS NOT NULL""", at)

    def _refs(self, sql: str, now: datetime, newest: int | None, key: str | None = None) -> list[EntryRef]:
        """A feed's slots, oldest first: all of them, or only the ``newest`` (read newest first, by index)."""
        rows = self.db.execute(sql + " LIMIT :limit", {"now": to_utc_text(now), "key": key,
                                                       "limit": -1 if newest is None else newest})
        refs = [EntryRef(r[0], _xml_safe(r[1]), r[2], r[4], f"{r[3]}:{r[4]}:{r[5]}:{r[6]}:{r[7]}", r[8]) for r in rows]
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
        with self.transaction() as db:
            mark = int(db.execute("SELECT value FROM state WHERE key = 'dirty_seq'").fetchone()[0])
            db.execute("UPDATE state SET value = ? WHERE key = 'dirty_seq'", (mark + 1,))
            rows = db.execute(
                """SELECT d.kind, CASE d.kind WHEN 'author' THEN a.slug WHEN 'label' THEN l.slug ELSE '' END
                   FROM dirty d LEFT JOIN authors a ON d.kind = 'author' AND a.key = d.key
                                LEFT JOIN labels l ON d.kind = 'label' AND l.id = d.key""").fetchall()
        return mark, {(r[0], r[1]) for r in rows if r[1] is not None}  # a feed whose author or label is gone

    def clear_touched(self, mark: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM dirty WHERE seq <= ?", (mark,))

    def feed_labels(self, now: datetime) -> list[Label]:
        """Labels that have published (as ``feed_authors``)."""
        return [Label(r["name"], r["slug"]) for r in self.db.execute(
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
                 UNION ALL SELECT p.deleted_at FROM posts p INDEXED BY posts_hidden LEFT JOIN shown s ON s.post_id = p.id
                           WHERE p.deleted_at >= :keep AND s.hidden_at IS NULL)""",
            {"keep": to_utc_text(now - timedelta(days=days))}).fetchone()
        return from_utc_text(row[0]) + timedelta(days=days) if row and row[0] else None

    def newest_live(self, now: datetime) -> str:
        """The date of the newest post live at ``now`` (UTC text, '' if none): while the clock is not
        behind it, every post live then is live still, unless the store changed."""
        row = self.db.execute(f"SELECT max(p.published) FROM posts p WHERE {self._LIVE}",
                              {"now": to_utc_text(now)}).fetchone()
        return row[0] or ""

    # --- what was published -----------------------------------------------------------

    def documents(self) -> dict[str, DocumentState]:
        cursor = self.db.cursor()
        cursor.row_factory = None  # plain tuples: this reads every document of a journal
        return {r[0]: DocumentState(*r) for r in cursor.execute(
            "SELECT path, fingerprint, sha256, size, mtime_ns FROM documents")}

    def record_documents(self, states: Iterable[DocumentState], now: datetime,
                         notifications: Iterable[Notification] = (), announced: Iterable[EntryRef] = ()) -> None:
        """Record documents now in place on disk (called only after their files are written),
        and queue the notifications they cause, in one transaction: a crash loses neither."""
        with self.transaction() as db:
            for n in notifications:
                self.enqueue(n, now)
            db.executemany("INSERT INTO announced (post_id, digest) VALUES (?, ?) "
                           "ON CONFLICT (post_id) DO UPDATE SET digest = excluded.digest",
                           [(r.post_id, r.digest) for r in announced])
            db.executemany(
                """INSERT INTO documents (path, fingerprint, sha256, size, mtime_ns, published_at)
                   VALUES (?,?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET fingerprint=excluded.fingerprint,
                   sha256=excluded.sha256, size=excluded.size, mtime_ns=excluded.mtime_ns,
                   published_at=excluded.published_at""",
                [(s.path, s.fingerprint, s.sha256, s.size, s.mtime_ns, to_utc_text(now)) for s in states])

    def log_publish(self, started: datetime, finished: datetime, status: PublishStatus, feeds_total: int, written: int,
                    failed: int, detail: object) -> None:
        with self.transaction() as db:
            db.execute("""INSERT INTO publish_log (started_at, finished_at, status, feeds_total, written, failed,
                          detail) VALUES (?,?,?,?,?,?,?)""",
                       (to_utc_text(started), to_utc_text(finished), status, feeds_total, written, failed,
                        json.dumps(detail, ensure_ascii=False, sort_keys=True)))

    def unannounced(self, refs: Iterable[EntryRef]) -> list[EntryRef]:
        """Of these entries, those whose current state was never announced to subscribers."""
        refs = list(refs)
        seen: dict[int, str | None] = {}
        for chunk in _chunks([r.post_id for r in refs], 500):
            marks = ",".join("?" * len(chunk))
            seen.update(self.db.execute(f"SELECT post_id, digest FROM announced WHERE post_id IN ({marks})",
                                        chunk).fetchall())
        return [r for r in refs if seen.get(r.post_id) != r.digest]

    # --- the outbox ---------------------------------------------------------------------

    def enqueue(self, n: Notification, now: datetime) -> None:
        """Queue the notification of a fresh change, due at once.

        One still pending for the same target and topic (perhaps backing off for hours) is
        folded in: the payloads are united and the old row, marked merged, gives way to a new
        one, due now, with a full budget of attempts and age, as the change it announces is
        new. (Had the old one been given up already, the change would have queued a new one
        just the same.) The new row's id is new, so an attempt that read the old one cannot
        settle it.
        """
        with self.transaction() as db:
            old = db.execute("SELECT id, payload, last_error FROM outbox WHERE kind = ? AND target = ? "
                             "AND topic = ? AND state = 'pending'", (n.kind, n.target, n.topic)).fetchone()
            payload, last_error = n.payload, None
            if old is not None:
                payload, last_error = _merge_payload(json.loads(old["payload"]), n.payload), old["last_error"]
                db.execute("UPDATE outbox SET state = 'merged', finished_at = ? WHERE id = ?",
                           (to_utc_text(now), old["id"]))
            db.execute("INSERT INTO outbox (kind, target, topic, payload, state, created_at, next_at, last_error) "
                       "VALUES (?,?,?,?, 'pending', ?, ?, ?)",
                       (n.kind, n.target, n.topic, json.dumps(payload, sort_keys=True), to_utc_text(now),
                        to_utc_text(now), last_error))

    def outbox(self, states: Sequence[OutboxState] = ("pending",), due_by: datetime | None = None) -> list[Notification]:
        marks = ",".join("?" * len(states))
        sql = f"SELECT * FROM outbox WHERE state IN ({marks})"
        args: list[object] = list(states)
        if due_by is not None:
            sql += " AND next_at <= ?"
            args.append(to_utc_text(due_by))
        return [_notification(r) for r in self.db.execute(sql + " ORDER BY id", args)]

    def next_due(self) -> datetime | None:
        """When the earliest pending notification is due."""
        row = self.db.execute("SELECT min(next_at) FROM outbox WHERE state = 'pending'").fetchone()
        return from_utc_text(row[0]) if row and row[0] else None

    def settle(self, n: Notification, state: OutboxState, now: datetime, *, error: str | None = None,
               next_at: datetime | None = None) -> bool:
        """Record one delivery attempt: delivered, failed for good, or pending until ``next_at``.

        False, and nothing recorded, when ``n`` is no longer pending: a fresh change replaced
        it while the attempt ran (the replacement stays due), or another delivery run settled it.
        """
        with self.transaction() as db:
            return db.execute("UPDATE outbox SET state = ?, attempts = attempts + 1, last_error = ?, next_at = ?, "
                              "finished_at = ? WHERE id = ? AND state = 'pending'",
                              (state, error, to_utc_text(next_at or now),
                               None if state == "pending" else to_utc_text(now), n.id)).rowcount == 1

    # --- pulled sources -------------------------------------------------------------------

    def source_state(self, url: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM source_state WHERE url = ?", (url,)).fetchone()

    def set_source_state(self, url: str, *, next_at: datetime, failures: int, status: str, now: datetime,
                         etag: str | None = None, last_modified: str | None = None) -> None:
        with self.transaction() as db:
            db.execute("""INSERT INTO source_state (url, etag, last_modified, next_at, failures, last_status,
                          last_pulled) VALUES (?,?,?,?,?,?,?) ON CONFLICT(url) DO UPDATE SET
                          etag = coalesce(excluded.etag, source_state.etag),
                          last_modified = coalesce(excluded.last_modified, source_state.last_modified),
                          next_at = excluded.next_at, failures = excluded.failures,
                          last_status = excluded.last_status, last_pulled = excluded.last_pulled""",
                       (url, etag, last_modified, to_utc_text(next_at), failures, status, to_utc_text(now)))

    def forget_documents(self, paths: Iterable[str]) -> None:
        with self.transaction() as db:
            db.executemany("DELETE FROM documents WHERE path = ?", ((p,) for p in paths))

    def generation(self) -> int:
        """Moves with every change to posts, labels or authors (see migration 5)."""
        return int(self.db.execute("SELECT value FROM state WHERE key = 'generation'").fetchone()[0])

    def state(self, key: str) -> object:
        row = self.db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_state(self, key: str, value: object) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def last_publish(self) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM publish_log ORDER BY id DESC LIMIT 1").fetchone()


@dataclass(frozen=True)
class Notification:
    """One message to one target: a hub (topic = feed URL), a ping service, a webhook."""

    kind: str
    target: str
    topic: str
    payload: dict[str, object]
    id: int = 0
    state: OutboxState = "pending"
    attempts: int = 0
    created_at: datetime | None = None
    next_at: datetime | None = None
    last_error: str | None = None


def _notification(r: sqlite3.Row) -> Notification:
    return Notification(kind=r["kind"], target=r["target"], topic=r["topic"], payload=json.loads(r["payload"]),
                        id=r["id"], state=r["state"], attempts=r["attempts"],
                        created_at=from_utc_text(r["created_at"]), next_at=from_utc_text(r["next_at"]),
                        last_error=r["last_error"])


def _merge_payload(old: dict[str, object], new: dict[str, object]) -> dict[str, object]:
    """Coalesce two payloads: lists are united (order kept), other values take the newest."""
    out = dict(old)
    for key, value in new.items():
        if isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = list(dict.fromkeys([*out[key], *value]))  # type: ignore[misc]
        else:
            out[key] = value
    return out


def _xml_safe(entry_id: str) -> str:
    """An entry id as documents show it. Ids are cleaned where they enter the store (``clean_id``),
    but one stored by an older version may hold a character no XML can carry: the feeds, their
    proofs and their fingerprints all see it cleaned, so no publish sticks on it. (Quick for the
    ids that need nothing, which are all of them but such old ones.)"""
    return entry_id if entry_id.isprintable() and entry_id.strip() == entry_id else clean_id(entry_id)


def _author(r: sqlite3.Row) -> Author:
    return Author(key=r["key"], name=r["name"], affiliation=r["affiliation"], email=r["email"], uri=r["uri"])


def _new_id(cursor: sqlite3.Cursor) -> int:
    """The row id an INSERT gave (sqlite3 types it optional: it is None only before any insert)."""
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _statements(script: str) -> Iterator[str]:
    """The statements of a script, one at a time (a trigger's body holds semicolons of its own)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""


def _first_free(base: str, is_free) -> str:  # type: ignore[no-untyped-def]
    """``base``, or ``base-2``, ``base-3`` ...: the first that ``is_free``."""
    candidate, n = base, 1
    while not is_free(candidate):
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]

"""The store's schema: the migrations that build it, one recorded step each (``PRAGMA user_version``).

The triggers that keep the generation number and the touched feeds are made from one table,
``TRIGGERS``, rather than written out one by one; they are exactly the SQL the migrations always
ran (a store made fresh and one migrated long ago hold the same schema, see tests/test_store.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from ..errors import StoreError
from ..text import label_fold, slugify
from .connection import Connection

# The columns whose change changes what a post looks like in a feed (see the triggers).
POST_COLUMNS = ("entry_id, source, slug, title, body, summary, author_key, affiliation, published, "
                "published_offset, updated, updated_offset, content_hash, draft, deleted_at")

# Every change to what feeds show, as (table, event), and the feeds it touches (migration 6): the
# journal; the feed of the row's author ('author:NEW', 'author:OLD'), of its post's author
# ('author_of:'), of its label ('label:'), of each label of its post ('labels_of:'); or 'all' feeds.
# Each also moves the generation (migration 5). A new label has no posts yet: it touches none.
TRIGGERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("posts", "INSERT", ("journal", "author:NEW")),
    ("posts", "UPDATE", ("journal", "author:OLD", "author:NEW", "labels_of:NEW")),
    ("posts", "DELETE", ("journal", "author:OLD", "labels_of:OLD")),
    ("post_labels", "INSERT", ("journal", "label:NEW", "author_of:NEW")),
    ("post_labels", "UPDATE", ("journal", "label:OLD", "label:NEW", "author_of:NEW")),
    ("post_labels", "DELETE", ("journal", "label:OLD", "author_of:OLD")),
    ("labels", "INSERT", ()),
    ("labels", "UPDATE", ("all",)),
    ("labels", "DELETE", ("all",)),
    ("authors", "INSERT", ("all",)),
    ("authors", "UPDATE", ("all",)),
    ("authors", "DELETE", ("all",)),
)


def _trigger(table: str, event: str, name: str, body: str, indent: str = "") -> str:
    """One trigger; a post's update fires only when a column feeds show changes (not its stamp, say)."""
    columns = f" OF {POST_COLUMNS}" if (table, event) == ("posts", "UPDATE") else ""
    return (f"{indent}CREATE TRIGGER {table}_{event.lower()}_{name} AFTER {event}{columns} ON {table}\n"
            f"{indent}BEGIN {body} END;")


def _bumps() -> str:
    """Migration 5's triggers: every change in ``TRIGGERS`` moves the generation."""
    bump = "UPDATE state SET value = value + 1 WHERE key = 'generation';"
    return "\n".join(_trigger(table, event, "bumps", bump, indent="    ") for table, event, _ in TRIGGERS)


def _touch(what: str) -> str:
    """The statement that marks touched the feed ``what`` names (see ``TRIGGERS``)."""
    kind, _, row = what.partition(":")
    feed, key, rows = {
        "journal": ("'journal'", "''", ""),
        "all": ("'all'", "''", ""),
        "author": ("'author'", f"{row}.author_key", ""),
        "label": ("'label'", f"{row}.label_id", ""),
        "labels_of": ("'label'", "label_id", f"FROM post_labels WHERE post_id = {row}.id"),
        "author_of": ("'author'", "author_key", f"FROM posts WHERE id = {row}.post_id"),
    }[kind]
    seq = "(SELECT value FROM state WHERE key = 'dirty_seq')"
    values = f"SELECT {feed}, {key}, {seq} {rows}" if rows else f"VALUES ({feed}, {key}, {seq})"
    return f"INSERT INTO dirty (kind, key, seq) {values} ON CONFLICT (kind, key) DO UPDATE SET seq = excluded.seq;"


def _touches() -> str:
    """Migration 6: the table of feeds touched since the last good publish, and its triggers; and
    indexes that count one feed's live posts without reading rows (by author, and by id for labels).

    A publish takes the set and moves 'dirty_seq' on (``Feeds.take_touched``); when it succeeds it
    clears what it took, while changes made meanwhile carry the new 'dirty_seq' and stay.
    """
    return "\n".join(
        ["CREATE TABLE dirty (kind TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (kind, key));",
         "INSERT INTO state (key, value) VALUES ('dirty_seq', 0);",
         "CREATE INDEX posts_live_author ON posts(author_key, draft, deleted_at, published);",
         "CREATE INDEX posts_live_id ON posts(id, draft, deleted_at, published);"]
        + [_trigger(table, event, "touches", " ".join(_touch(what) for what in touches))
           for table, event, touches in TRIGGERS if touches])


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
    """ + _bumps(),
    # 6: which feeds a change touches, kept by triggers (see _touches), so a publish plans only those.
    _touches(),
    # 7: what each entry was last announced as, in a narrow table of its own: marking it in posts
    # rewrote each post's whole row, body and all. (posts.announced is no longer read.)
    """
    CREATE TABLE announced (post_id INTEGER PRIMARY KEY, digest TEXT NOT NULL);
    INSERT INTO announced (post_id, digest) SELECT id, announced FROM posts WHERE announced IS NOT NULL;
    """,
    # 8: the content directory as the last sync left it, file by file (see ``StateStore.content_scan``),
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
    # 12: the posts the feeds have shown (``FeedStore.note_shown``), and when each that is hidden now (a
    # draft, deleted, dated after the clock) left them: its RFC 6721 tombstone. Taken as what the
    # posts said at the last publish.
    """
    CREATE TABLE shown (post_id INTEGER PRIMARY KEY REFERENCES posts(id), hidden_at TEXT);
    CREATE INDEX shown_hidden ON shown(post_id, hidden_at) WHERE hidden_at IS NOT NULL;
    INSERT INTO shown (post_id, hidden_at) SELECT id, deleted_at FROM posts
    WHERE draft = 0 AND published <= (SELECT started_at FROM publish_log ORDER BY id DESC LIMIT 1);
    """,
    # 13: the ETag an object store gave each document's PUT (``sinks.s3``), which a LIST shows for what is
    # there now, so ``verify`` finds an object deleted or edited by hand; NULL for a file on disk.
    """
    ALTER TABLE documents ADD COLUMN etag TEXT;
    """,
    # 14: several hosts on one store. A delivery round claims the notifications it sends until a lease
    # runs out (``OutboxStore.claim``), so two never send one; and the store keeps the content revision
    # the last sync read (``StateStore.content_revision``), one row whose ``seq`` moves with each sync,
    # so a sync from an older checkout changes nothing.
    """
    ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
    ALTER TABLE outbox ADD COLUMN claimed_until TEXT;
    CREATE TABLE content_revision (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        seq        INTEGER NOT NULL,
        revision   TEXT,
        dirty      INTEGER NOT NULL DEFAULT 0,
        checkout   TEXT,
        synced_at  TEXT
    );
    INSERT INTO content_revision (id, seq) VALUES (1, 0);
    """,
)

# The triggers a bulk insert of new posts stands in for (see ``inserted_in_bulk``).
_INSERT_TRIGGERS = tuple(f"{table}_insert_{name}" for table in ("posts", "post_labels") for name in ("bumps", "touches"))


@contextmanager
def inserted_in_bulk(db: sqlite3.Connection, posts: int, authors: Iterable[str], labels: Sequence[int]) -> Iterator[None]:
    """New rows of ``posts`` and ``post_labels`` inserted without their per-row INSERT triggers,
    whose effect is then had once, as ``TRIGGERS`` says: the generation moves by one a row, and
    the journal, the feeds of the posts' ``authors`` and of the ``labels`` (one a post_labels row)
    are touched. Set-wise is much quicker than row by row; the triggers are dropped and made again
    from their own SQL inside the caller's transaction, so a failure (or a kill) leaves them as they were.
    """
    marks = ",".join("?" * len(_INSERT_TRIGGERS))
    saved = db.execute(f"SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name IN ({marks})",
                       _INSERT_TRIGGERS).fetchall()
    for name in _INSERT_TRIGGERS:
        db.execute(f"DROP TRIGGER {name}")
    yield
    for (sql,) in saved:
        db.execute(sql)
    db.execute("UPDATE state SET value = value + ? WHERE key = 'generation'", (posts + len(labels),))
    touched = [("journal", "")] if posts else []
    touched += [("author", key) for key in dict.fromkeys(authors)] + [("label", str(i)) for i in dict.fromkeys(labels)]
    db.executemany("INSERT INTO dirty (kind, key, seq) VALUES (?, ?, (SELECT value FROM state WHERE key = 'dirty_seq')) "
                   "ON CONFLICT (kind, key) DO UPDATE SET seq = excluded.seq", touched)


def migrate(conn: Connection) -> None:
    """Bring the schema to the newest version, one recorded step at a time."""
    version = conn.db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise StoreError(f"{conn.path}: the store was written by a newer newswire "
                         f"(schema {version}, this one knows {len(MIGRATIONS)})")
    conn.db.create_function("label_fold", 1, label_fold, deterministic=True)  # for migration 4
    conn.db.create_function("slugify", 1, slugify, deterministic=True)  # for migration 10
    for step in range(version, len(MIGRATIONS)):
        with conn.transaction() as db:
            if db.execute("PRAGMA user_version").fetchone()[0] > step:  # another process took this step meanwhile
                continue
            for statement in _statements(MIGRATIONS[step]):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {step + 1}")


def _statements(script: str) -> Iterator[str]:
    """The statements of a script, one at a time (a trigger's body holds semicolons of its own)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""

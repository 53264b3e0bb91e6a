"""Authors and labels: who writes, and what posts are filed under (each names a feed's folder)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..model import Author
from ..text import label_fold, slugify
from .backend import Backend
from .connection import first_free


class SqliteAuthors:
    def __init__(self, conn: Backend, generation: Callable[[], int]):
        self.conn = conn
        self._generation = generation
        self._cache: tuple[tuple[int, int], dict[str, tuple[Author, str]]] | None = None

    def sync(self, authors: Iterable[Author]) -> None:
        """The config is the truth for the authors it names."""
        with self.conn.transaction() as db:
            for a in authors:
                row = db.execute("SELECT slug FROM authors WHERE key = ?", (a.key,)).fetchone()
                if row is None:
                    # another process opening the store may add it first: then it is there, as the config says
                    db.execute("INSERT INTO authors (key, name, affiliation, email, uri, slug) VALUES (?,?,?,?,?,?) "
                               "ON CONFLICT (key) DO NOTHING",
                               (a.key, a.name, a.affiliation, a.email, a.uri, self._free_slug(a.key)))
                else:  # written only when it differs, so an unchanged config moves no generation
                    values = (a.name, a.affiliation, a.email, a.uri)
                    same = self.conn.dialect.same
                    db.execute("UPDATE authors SET name=?, affiliation=?, email=?, uri=? WHERE key=? AND "
                               f"NOT (name {same} ? AND affiliation {same} ? AND email {same} ? AND uri {same} ?)",
                               (*values, a.key, *values))

    def _free_slug(self, key: str) -> str:
        return first_free(slugify(key, fallback="author"), lambda s: self.conn.db.execute(
            "SELECT 1 FROM authors WHERE slug = ?", (s,)).fetchone() is None)

    def ensure(self, name: str, affiliation: str | None) -> str:
        """The key of the author with this display name, adding one if unknown."""
        db = self.conn.db
        row = db.execute("SELECT key FROM authors WHERE name = ? ORDER BY key LIMIT 1", (name,)).fetchone()
        if row is not None:
            return str(row[0])
        key = first_free(slugify(name, fallback="author"), lambda k: db.execute(
            "SELECT 1 FROM authors WHERE key = ?", (k,)).fetchone() is None)
        db.execute("INSERT INTO authors (key, name, affiliation, slug) VALUES (?,?,?,?)",
                   (key, name, affiliation or "", self._free_slug(key)))
        return key

    def all(self) -> dict[str, tuple[Author, str]]:
        """Every author by key, with the slug that names its feed folder (read again only after a
        change to the store, here or elsewhere: a publish asks for them with every batch of posts)."""
        mark = (self._generation(), self.conn.db.total_changes)
        if self._cache is None or self._cache[0] != mark:
            self._cache = mark, {key: (Author(key=key, name=name, affiliation=affiliation, email=email, uri=uri), slug)
                                 for key, name, affiliation, email, uri, slug in self.conn.db.execute(
                                     "SELECT key, name, affiliation, email, uri, slug FROM authors")}
        return self._cache[1]


class SqliteLabels:
    def __init__(self, conn: Backend):
        self.conn = conn

    def ensure(self, name: str) -> int:
        """The id of the label named ``name``, adding one if unknown. Labels are matched without
        regard to case or Unicode form; the first spelling is kept."""
        db, fold = self.conn.db, label_fold(name)
        row = db.execute("SELECT id FROM labels WHERE fold = ?", (fold,)).fetchone()
        if row is not None:
            return int(row[0])
        slug = first_free(slugify(name, fallback="label"), lambda s: db.execute(
            "SELECT 1 FROM labels WHERE slug = ?", (s,)).fetchone() is None)
        return self.conn.dialect.insert_id(db, "INSERT INTO labels (name, fold, slug) VALUES (?,?,?)",
                                           (name, fold, slug))

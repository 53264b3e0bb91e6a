"""The store package: its schema is the one it always was, its triggers come from one table, its
failures are told apart by SQLite's result codes, it hands out dataclasses, and it satisfies the
backend-neutral Protocol (checked by mypy)."""

from __future__ import annotations

import ast
import dataclasses
import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mypy import api as mypy_api

from newswire.errors import StoreError
from newswire.model import Author, PostInput, PostSummary, PublishRecord, SourceState
from newswire.store import MIGRATIONS, SqliteStore, Store, Trouble, classify, from_utc_text, store_trouble
from newswire.store.schema import TRIGGERS, _statements

FIXTURES = Path(__file__).parent / "fixtures"
SRC = Path(__file__).parent.parent / "src" / "newswire"
NOW = datetime(2010, 1, 15, 12, 0, 0, tzinfo=UTC)


def _schema(path: Path) -> list[list[object]]:
    with closing(sqlite3.connect(path)) as db:
        return [list(r) for r in db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")]


def test_a_fresh_store_has_exactly_the_schema_it_always_had(tmp_path: Path) -> None:
    """store_schema.json was dumped from a store made before the migrations generated their triggers:
    every table, index and trigger, as SQLite keeps its text, is the same, and so is the version."""
    SqliteStore(tmp_path / "s.db").close()
    assert _schema(tmp_path / "s.db") == json.loads((FIXTURES / "store_schema.json").read_text())
    with closing(sqlite3.connect(tmp_path / "s.db")) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 14


@pytest.mark.parametrize("version", [1, 4, 5, 6, 11])
def test_a_store_left_at_an_older_version_migrates_to_the_same_schema(tmp_path: Path, version: int) -> None:
    """A store an older newswire wrote (its migrations run up to ``version``, with a post in it) opens
    and ends with the fresh store's schema and keeps its post."""
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.create_function("label_fold", 1, str.casefold)
        db.create_function("slugify", 1, str)
        for step in range(version):
            for statement in _statements(MIGRATIONS[step]):
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {version}")
        db.execute("INSERT INTO authors (key, name, slug) VALUES ('a', 'A', 'a')")
        db.execute("INSERT INTO posts (entry_id, source, slug, title, body, author_key, published, published_offset, "
                   "updated, updated_offset, content_hash) VALUES ('e', 'md:a.md', 'a', 'T', 'B', 'a', "
                   "'2009-11-06T15:00:00Z', 0, '2009-11-06T15:00:00Z', 0, 'h')")
    with SqliteStore(path) as store:
        assert store.posts.find("e") == 1
    assert _schema(path) == json.loads((FIXTURES / "store_schema.json").read_text())


def test_every_trigger_comes_from_the_table(tmp_path: Path) -> None:
    """Each (table, event) of TRIGGERS moves the generation; those that touch feeds have a trigger for it."""
    SqliteStore(tmp_path / "s.db").close()
    names = {name for kind, name, _, _ in _schema(tmp_path / "s.db") if kind == "trigger"}
    expected = {f"{table}_{event.lower()}_bumps" for table, event, _ in TRIGGERS}
    expected |= {f"{table}_{event.lower()}_touches" for table, event, touches in TRIGGERS if touches}
    assert names == expected and len(names) == 23


def test_a_post_moves_the_generation_only_when_a_column_feeds_show_changes(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db") as store:
        store.authors.sync([Author("a", "A")])
        store.posts.upsert(PostInput("md:a.md", "a", "T", "<p>B</p>", "a", NOW, labels=("x",)), NOW)
        before = store.state.generation()
        store.posts.set_source_stamp("md:a.md", "1:2")  # a file's stamp is no part of any feed
        assert store.state.generation() == before
        assert store.feeds.take_touched()[1] == {("all", ""), ("journal", ""), ("author", "a"), ("label", "x")}
        store.posts.upsert(PostInput("md:a.md", "a", "T2", "<p>B</p>", "a", NOW, labels=("x",)), NOW)
        assert store.state.generation() > before
        assert store.feeds.take_touched()[1] == {("all", ""), ("journal", ""), ("author", "a"), ("label", "x")}


# --- failures, by result code -------------------------------------------------------------


def test_a_store_locked_by_another_process_is_busy(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SqliteStore(path).close()
    with closing(sqlite3.connect(path, isolation_level=None)) as other, SqliteStore(path, timeout=0.05) as store:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match="the store is busy: another process kept it locked"), store.transaction():
            pass
        with pytest.raises(sqlite3.OperationalError) as caught:
            store.db.execute("INSERT INTO state (key, value) VALUES ('x', 1)")
        assert classify(caught.value) is Trouble.BUSY


def test_a_file_that_is_not_a_database_is_damage(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"this is no SQLite database, whatever its name says\n" * 100)
    with pytest.raises(StoreError, match=r"cannot read the store: file is not a database \(run 'newswire store check'"):
        SqliteStore(path)
    with closing(sqlite3.connect(path)) as db, pytest.raises(sqlite3.DatabaseError) as caught:
        db.execute("SELECT 1 FROM sqlite_master")
    assert classify(caught.value) is Trouble.DAMAGED


def test_a_store_damaged_inside_is_damage(tmp_path: Path) -> None:
    """A sound header over pages of garbage: SQLITE_CORRUPT."""
    path = tmp_path / "s.db"
    with SqliteStore(path) as store:
        store.authors.sync([Author(f"a{i}", "A" * 500) for i in range(200)])
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    data[4096 * 2:4096 * 6] = b"\xff" * (4096 * 4)
    path.write_bytes(bytes(data))
    with closing(sqlite3.connect(path)) as db, pytest.raises(sqlite3.DatabaseError) as caught:
        db.execute("SELECT count(*), max(name) FROM authors").fetchall()
        db.execute("PRAGMA quick_check").fetchall()
    assert classify(caught.value) is Trouble.DAMAGED
    assert "cannot read the store" in str(store_trouble(path, caught.value))


def test_a_read_only_store_is_told_apart(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SqliteStore(path).close()
    with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db, \
            pytest.raises(sqlite3.OperationalError) as caught:
        db.execute("INSERT INTO state (key, value) VALUES ('x', 1)")
    assert classify(caught.value) is Trouble.READONLY


def test_a_full_store_is_full(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with SqliteStore(path) as store:
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        store.db.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(sqlite3.OperationalError) as caught:
            store.state.set("big", "x" * 100_000)
    assert classify(caught.value) is Trouble.FULL
    assert "the disk holding the store is full" in str(store_trouble(path, caught.value))


def test_words_in_a_message_do_not_decide_the_class(tmp_path: Path) -> None:
    """An error whose text says 'locked', 'busy' and 'full' is none of them (it names a missing table):
    reading the message would have told the user to wait for a lock that nobody holds."""
    path = tmp_path / "s.db"
    with SqliteStore(path) as store, pytest.raises(sqlite3.OperationalError) as caught:
        store.db.execute("SELECT * FROM locked_busy_full")
    assert classify(caught.value) is Trouble.OTHER
    message = str(store_trouble(path, caught.value))
    assert "the store is busy" not in message and "is full" not in message and "cannot read the store" in message


# --- what the store hands out ---------------------------------------------------------------


def test_repositories_return_dataclasses_not_rows(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db") as store:
        store.authors.sync([Author("a", "A")])
        store.posts.upsert(PostInput("md:a.md", "a", "T", "<p>B</p>", "a", NOW), NOW)
        store.documents.log_publish(NOW, NOW, "ok", 1, 2, 0, {})
        store.sources.set("https://x.test/feed", next_at=NOW, failures=0, status="200", now=NOW, etag='"e"')
        [summary] = store.posts.summaries()
        last = store.documents.last_publish()
        source = store.sources.get("https://x.test/feed")
        place = store.posts.place_at("md:a.md")
    assert isinstance(summary, PostSummary) and summary.state(NOW) == "live" and summary.author == "A"
    assert last == PublishRecord(NOW, NOW, "ok", 1, 2, 0)
    assert isinstance(source, SourceState) and source.etag == '"e"' and source.next_at == NOW
    assert place is not None and dataclasses.is_dataclass(place) and place.source == "md:a.md"


def test_no_module_outside_the_store_reads_sqlite_rows_and_the_cli_knows_no_store() -> None:
    for path in SRC.rglob("*.py"):
        if "store" not in path.relative_to(SRC).parts:
            assert "sqlite3.Row" not in path.read_text(), path
    imported: set[str] = set()
    for node in ast.walk(ast.parse((SRC / "cli.py").read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported |= {f"{node.module}" for _ in node.names}
    assert not {name for name in imported if name == "sqlite3" or (name or "").split(".")[0] == "store"}, imported


# --- the Protocol -----------------------------------------------------------------------------

CHECK = '''
from pathlib import Path
from newswire.store import SqliteStore, Store
from newswire.store.postgres import PostgresStore

_: Store = SqliteStore(Path("x.db"))
_pg: Store = PostgresStore("postgresql:///x")
'''


def test_mypy_finds_that_both_stores_satisfy_the_protocol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The typed assignment passes; a store missing a repository method fails the same check."""
    monkeypatch.setenv("MYPYPATH", str(SRC.parent))
    good = tmp_path / "good.py"
    good.write_text(CHECK)
    bad = tmp_path / "bad.py"
    bad.write_text(CHECK.replace("_: Store = SqliteStore", "class Broken(SqliteStore):\n    posts: object\n\n"
                                 "_: Store = Broken"))
    args = ["--no-error-summary", "--config-file", str(SRC.parent.parent / "pyproject.toml")]
    out, err, code = mypy_api.run([*args, str(good)])
    assert code == 0, out + err
    out, _, code = mypy_api.run([*args, str(bad)])
    assert code == 1 and "incompatible" in out.lower(), out


def test_library_code_names_the_protocol(tmp_path: Path) -> None:
    store: Store = SqliteStore(tmp_path / "s.db")
    with store:
        assert store.posts.find("nothing") is None


def test_a_new_store_has_16_kib_pages_and_an_older_one_keeps_its_own(tmp_path: Path) -> None:
    with closing(sqlite3.connect(tmp_path / "old.db")) as db:  # as newswire made them before: SQLite's 4 KiB
        db.execute("CREATE TABLE t (x)")
    for name, size in (("new.db", 16384), ("old.db", 4096)):
        with SqliteStore(tmp_path / name) as store:
            assert store.db.execute("PRAGMA page_size").fetchone()[0] == size, name
            assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal", name


def test_a_roomy_write_has_a_64_mb_page_cache_and_then_the_default_again(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db") as store:
        default = store.db.execute("PRAGMA cache_size").fetchone()[0]
        with store.roomy(), store.transaction():
            assert store.db.execute("PRAGMA cache_size").fetchone()[0] == -64 * 1024  # KiB
        assert store.db.execute("PRAGMA cache_size").fetchone()[0] == default


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(minutes=345))])))
def test_utc_text_is_the_instant_to_the_second_with_a_four_digit_year(when: datetime) -> None:
    from newswire.store import to_utc_text

    u = when.astimezone(UTC)
    assert to_utc_text(when) == f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}Z"
    assert from_utc_text(to_utc_text(when)) == when.replace(microsecond=0)

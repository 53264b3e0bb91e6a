"""The store on PostgreSQL: what only that backend has. Its URL in the config (never its password),
its schema (the SQLite store's, made by the same migrations), its failures told by SQLSTATE, and the
journal's lock as an advisory lock that a killed holder's connection gives up.

What both backends share (store, sync, publish, import, notify) runs on both in those tests' own
modules (``pytest.mark.both_backends``); this one runs against the session's throwaway server.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from newswire.errors import StoreError
from newswire.store import SqliteStore, Trouble, failure, open_at
from newswire.store.postgres import classify

import pgcluster
from harness import CONFIG, ROOT, Journal, run_cli


@pytest.fixture
def backend() -> str:
    """Every journal here keeps its store on PostgreSQL."""
    return "postgresql"


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


# --- the URL ---------------------------------------------------------------------------------


def test_a_postgresql_url_is_the_store_not_a_folder_named_after_it(journal: Journal) -> None:
    journal.post("atlas", title="Operation ATLAS")
    result = journal.cli("publish")
    assert result.returncode == 0, result.stderr
    assert [p.name for p in journal.root.iterdir() if p.name.startswith("postgres")] == []
    assert not list(journal.root.glob("*.db*")), "a SQLite store was made beside the config"
    assert [r["title"] for r in journal.rows("SELECT title FROM posts")] == ["Operation ATLAS"]
    assert journal.rows("SELECT count(*) FROM documents")[0][0] > 0


@pytest.mark.parametrize("url", ["postgresql://newswire:s3cret@/j?host=/tmp", "postgres://u:s3cret@db.example:5432/j",
                                 "postgresql:///j?host=/tmp&password=s3cret"])
def test_a_password_in_the_store_url_is_a_one_line_config_error(journal: Journal, url: str) -> None:
    _config_with(journal, url)
    result = journal.cli("publish")
    assert result.returncode == 2, result.stderr
    line = _one_line(result)
    assert line.startswith(f"newswire: {journal.config_path}:") and "paths.store" in line and "PGPASSWORD" in line
    assert "s3cret" not in result.stderr + result.stdout
    assert not journal.feeds.exists()


def _config_with(journal: Journal, url: str) -> None:
    journal.write_config(CONFIG.replace("store: newswire.db", f"store: '{url}'"))


def _database(journal: Journal) -> str:
    assert journal.store_url is not None
    return journal.store_url.split("?")[0].rpartition("/")[2]


def test_the_password_is_taken_from_pgpassword(pg_cluster: pgcluster.Cluster, journal: Journal,
                                               tmp_path: Path) -> None:
    """A server that asks for a password gets the one in PGPASSWORD (the config has none to give)."""
    name = _database(journal)
    pg_cluster.sql("CREATE ROLE writer LOGIN PASSWORD 'pw-in-env'")
    pg_cluster.sql("GRANT ALL ON SCHEMA public TO writer; GRANT ALL ON ALL TABLES IN SCHEMA public TO writer; "
                   "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO writer", database=name)
    hba = pg_cluster.folder / "data" / "pg_hba.conf"
    hba.write_text("local all writer scram-sha-256\n" + hba.read_text())
    pg_cluster.sql("SELECT pg_reload_conf()")
    try:
        _config_with(journal, f"postgresql://writer@/{name}?host={pg_cluster.folder}")
        journal.post("atlas", title="Operation ATLAS")
        nowhere = {"PGPASSFILE": str(tmp_path / "none"), "PGPASSWORD": ""}
        refused = journal.cli("sync", env=nowhere)
        assert refused.returncode == 1
        assert "cannot reach the store" in _one_line(refused) and "PGPASSWORD" in refused.stderr
        result = journal.cli("sync", env={**nowhere, "PGPASSWORD": "pw-in-env"})
        assert result.returncode == 0, result.stderr
    finally:
        hba.write_text(hba.read_text().replace("local all writer scram-sha-256\n", ""))
        pg_cluster.sql("SELECT pg_reload_conf()")
    assert [r[0] for r in journal.rows("SELECT title FROM posts")] == ["Operation ATLAS"]


# --- the schema ------------------------------------------------------------------------------


def test_the_schema_is_the_sqlite_stores_table_for_table_and_trigger_for_trigger(
        journal: Journal, tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db") as lite:
        tables = {name: [c[1] for c in lite.db.execute(f"PRAGMA table_info({name})")] for (name,) in lite.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        triggers = sorted(r[0] for r in lite.db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        indexes = sorted(r[0] for r in lite.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
    got = {}
    for r in journal.rows("SELECT table_name, column_name FROM information_schema.columns "
                          "WHERE table_schema = 'public' AND table_name != 'newswire_schema' "
                          "ORDER BY table_name, ordinal_position"):
        got.setdefault(r[0], []).append(r[1])
    assert got == tables
    assert sorted(r[0] for r in journal.rows("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")) == triggers
    assert sorted(r[0] for r in journal.rows("SELECT indexname FROM pg_indexes WHERE schemaname = 'public' "
                                             "AND indexname NOT LIKE '%%_pkey' AND indexname NOT LIKE '%%_key'")) \
        == indexes


# --- failures, by SQLSTATE -------------------------------------------------------------------


def test_a_row_held_past_store_wait_is_busy(journal: Journal) -> None:
    journal.post("atlas", title="Operation ATLAS")
    assert journal.cli("sync").returncode == 0
    assert journal.store_url is not None
    with psycopg.connect(journal.store_url, autocommit=False) as other:
        other.execute("UPDATE posts SET title = title")  # held until rolled back
        with open_at(journal.store_url, timeout=0.2) as store:
            with pytest.raises(psycopg.Error) as caught:
                store.posts.mark_deleted(1, datetime.now(UTC), by="user")
            assert classify(caught.value) is Trouble.BUSY and caught.value.sqlstate == "55P03"
            message = str(failure(caught.value, journal.store_url))
            assert "busy" in message and "paths.store_wait" in message
        other.rollback()


def test_a_read_only_database_is_said_in_one_line_and_nothing_changes(journal: Journal,
                                                                       pg_cluster: pgcluster.Cluster) -> None:
    journal.post("atlas", title="Operation ATLAS")
    assert journal.cli("sync").returncode == 0
    pg_cluster.sql(f"ALTER DATABASE {_database(journal)} SET default_transaction_read_only = on")
    journal.post("border", title="Southwest Border")
    result = journal.cli("sync")
    assert result.returncode == 1
    line = _one_line(result)
    assert "cannot be written" in line and "read-only" in line, line
    assert [r[0] for r in journal.rows("SELECT title FROM posts")] == ["Operation ATLAS"]


def test_a_server_that_is_not_there_is_one_line(journal: Journal, tmp_path: Path) -> None:
    url = f"postgresql://newswire@/nothing?host={tmp_path}"
    _config_with(journal, url)
    result = journal.cli("publish")
    assert result.returncode == 1
    line = _one_line(result)
    assert line.startswith(f"newswire: {url}: cannot reach the store: ") and "PGPASSWORD" in line, line
    with pytest.raises(StoreError):
        open_at(url)


# --- the journal's lock ----------------------------------------------------------------------


HOLD = ("import sys, time\n"
        "from newswire.lock import journal_lock\n"
        "with journal_lock(sys.argv[1]):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(120)\n")


def _hold(where: str) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, where], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    assert holder.stdout is not None
    ready, _, _ = select.select([holder.stdout], [], [], 30)
    assert ready and holder.stdout.readline().strip() == "locked", f"the holder did not lock: {holder.poll()}"
    return holder


def test_one_publish_at_a_time_waits_and_a_killed_holder_lets_go(journal: Journal) -> None:
    """The lock lives in the database, so hosts sharing it take turns: 75 at once, 75 after --wait,
    and when the holder is killed (kill -9: no chance to unlock) its connection's end frees it."""
    journal.post("atlas", title="Operation ATLAS")
    assert journal.store_url is not None
    holder = _hold(journal.store_url)
    try:
        refused = journal.cli("publish")
        assert refused.returncode == 75, refused.stdout + refused.stderr
        assert f"another publish is running (pid {holder.pid} on " in _one_line(refused)
        started = time.monotonic()
        waited = journal.cli("publish", "--wait", "1")
        assert waited.returncode == 75 and time.monotonic() - started >= 1.0, waited.stderr
        assert not journal.feeds.exists()
        waiting = subprocess.Popen([sys.executable, "-m", "newswire", "--config", str(journal.config_path), "publish",
                                    "--wait", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert waiting.poll() is None, "publish --wait 60 did not wait for the lock"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate(timeout=30)
    killed = time.monotonic()
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, out + err
    assert time.monotonic() - killed < 30
    assert (journal.feeds / "atom.xml").is_file()
    assert journal.rows("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")[0][0] == 0


# --- moving between backends, backups ---------------------------------------------------------


TABLES = ("posts", "labels", "post_labels", "authors", "documents", "state", "dirty", "shown", "announced", "outbox", "content_revision",
          "publish_log", "source_state", "content_scan")


def _tables(j: Journal) -> dict[str, list[tuple[object, ...]]]:
    """Every table, row for row (state's values as text: PostgreSQL keeps them so, SQLite its numbers as numbers)."""
    return {t: sorted((tuple(str(v) if t == "state" else v for v in r) for r in j.rows(f"SELECT * FROM {t}")), key=repr)
            for t in TABLES}


def _checked(j: Journal) -> str:
    result = j.cli("store", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_a_journal_copied_to_postgresql_and_back_is_the_same_row_for_row(journal: Journal, tmp_path: Path) -> None:
    lite = Journal(tmp_path / "lite")
    lite.root.mkdir()
    lite.write_config(CONFIG)
    shutil.copytree(ROOT / "content", lite.content)
    assert lite.cli("publish", "--no-ping").returncode == 0
    before = _tables(lite)
    url = journal.store_url
    assert url is not None

    copied = run_cli("store", "copy", str(lite.root / "newswire.db"), url)
    assert copied.returncode == 0, copied.stderr
    assert copied.stdout.startswith(f"copied {lite.root / 'newswire.db'} to {url}: 16 posts, 5 authors"), copied.stdout
    assert _tables(journal) == before
    assert "16 posts" in _checked(journal) and "16 posts" in _checked(lite)

    # the copy is the journal: a publish from it (into the same folder) finds nothing to do, and a new post goes on
    lite.write_config(CONFIG.replace("store: newswire.db", f"store: '{url}'"))
    files = lite.files()
    again = lite.cli("publish", "--no-ping", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["written"] == 0, again.stdout + again.stderr
    assert lite.files() == files
    lite.post("new", title="A new post", date="2010-06-01T10:00:00Z")
    assert lite.cli("publish", "--no-ping").returncode == 0
    [new] = journal.rows("SELECT id FROM posts WHERE title = 'A new post'")
    assert new[0] == max(int(str(r[0])) for r in before["posts"]) + 1  # numbered after the copied ids

    back = Journal(tmp_path / "back")
    back.root.mkdir()
    back.write_config(CONFIG)
    returned = run_cli("store", "copy", url, str(back.root / "newswire.db"))
    assert returned.returncode == 0, returned.stderr
    assert _tables(back) == _tables(journal)
    assert "17 posts" in _checked(back)


def test_a_copy_never_overwrites_a_store(journal: Journal, tmp_path: Path) -> None:
    journal.post("atlas", title="Operation ATLAS")
    assert journal.cli("sync").returncode == 0
    url = journal.store_url
    assert url is not None
    taken = tmp_path / "taken.db"
    taken.write_bytes(b"precious")
    for args in ((url, str(taken)), (url, url)):
        result = run_cli("store", "copy", *args)
        assert result.returncode == 2, result.stderr
        assert _one_line(result).startswith("newswire: ")
    assert taken.read_bytes() == b"precious"
    lite = tmp_path / "lite.db"
    assert run_cli("store", "copy", url, str(lite)).returncode == 0
    refused = run_cli("store", "copy", str(lite), url)  # the database holds a journal already
    assert refused.returncode == 2 and "already holds a journal" in _one_line(refused)
    assert [r[0] for r in journal.rows("SELECT title FROM posts")] == ["Operation ATLAS"]


def test_a_backup_of_a_postgresql_store_is_a_checked_file_that_restores_it(journal: Journal, tmp_path: Path) -> None:
    journal.post("atlas", title="Operation ATLAS")
    assert journal.cli("publish", "--no-ping").returncode == 0
    before = _tables(journal)
    backups = tmp_path / "backups"
    backups.mkdir()
    result = journal.cli("store", "backup", str(backups))
    assert result.returncode == 0, result.stderr
    [file] = backups.iterdir()
    assert result.stdout.strip() == f"backed up to {file}"
    assert not (file.parent / (file.name + "-wal")).exists()
    with SqliteStore(file) as copy:  # a SQLite store, whole
        assert [p.title for p in copy.posts.summaries()] == ["Operation ATLAS"]

    journal.post("border", title="Southwest Border")
    assert journal.cli("publish", "--no-ping").returncode == 0
    assert _tables(journal) != before
    restored = journal.cli("store", "restore", str(file))
    assert restored.returncode == 0, restored.stderr
    assert _tables(journal) == before
    assert "1 posts" in _checked(journal)


def test_store_check_names_what_is_missing_from_a_damaged_postgresql_store(journal: Journal) -> None:
    journal.post("atlas", title="Operation ATLAS")
    assert journal.cli("sync").returncode == 0
    journal.execute("ALTER TABLE posts DISABLE TRIGGER posts_update_touches")
    journal.execute("DROP TABLE content_scan")
    result = journal.cli("store", "check")
    assert result.returncode == 1
    assert "table content_scan is missing" in result.stderr
    assert "trigger posts_update_touches is missing or disabled" in result.stderr


def test_without_psycopg_a_postgresql_store_is_one_line_that_says_what_to_install(journal: Journal,
                                                                                  tmp_path: Path) -> None:
    shadow = tmp_path / "shadow" / "psycopg"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('no psycopg here', name='psycopg')\n")
    journal.post("atlas", title="Operation ATLAS")
    for command in (("publish",), ("status",)):
        result = journal.cli(*command, env={"PYTHONPATH": str(shadow.parent)})
        assert result.returncode == 1, result.stderr
        line = _one_line(result)
        assert "newswire[postgresql]" in line and "psycopg" in line, line
    assert journal.rows("SELECT count(*) FROM posts")[0][0] == 0


FORKS = ("import os, sys, time\n"
         "from newswire.lock import forget_inherited_locks, journal_lock\n"
         "with journal_lock(sys.argv[1]):\n"
         "    child = os.fork()\n"
         "    if child == 0:  # a worker, as a publish forks them: it outlives its killed parent a while\n"
         "        forget_inherited_locks()\n"
         "        time.sleep(120)\n"
         "        os._exit(0)\n"
         "    print(child, flush=True)\n"
         "    time.sleep(120)\n")


def test_a_worker_forked_by_a_killed_holder_does_not_keep_the_lock(journal: Journal) -> None:
    journal.post("atlas", title="Operation ATLAS")
    assert journal.store_url is not None
    holder = subprocess.Popen([sys.executable, "-c", FORKS, journal.store_url], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    ready, _, _ = select.select([holder.stdout], [], [], 30)
    assert ready
    child = int(holder.stdout.readline())
    try:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        result = journal.cli("publish", "--wait", "20")
        assert result.returncode == 0, result.stderr
        os.kill(child, 0)  # the worker still lives, and the lock went with its parent all the same
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_copy_takes_every_table_the_migrations_make() -> None:
    import re

    from newswire.store import MIGRATIONS
    from newswire.upkeep import KEPT_BY_TRIGGERS, TABLES

    made = {name for script in MIGRATIONS for name in re.findall(r"CREATE TABLE (\w+)", script)}
    assert sorted(TABLES + KEPT_BY_TRIGGERS) == sorted(made)

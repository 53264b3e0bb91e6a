"""The store on PostgreSQL: what only that backend has. Its URL in the config (never its password),
its schema (the SQLite store's, made by the same migrations), its failures told by SQLSTATE, and the
journal's lock as an advisory lock that a killed holder's connection gives up.

What both backends share (store, sync, publish, import, notify) runs on both in those tests' own
modules (``pytest.mark.both_backends``); this one runs against the session's throwaway server.
"""

from __future__ import annotations

import select
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
from harness import CONFIG, Journal


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

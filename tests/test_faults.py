"""Faults from outside the program: a full disk, a busy or damaged store, a read-only output
folder, and a clock that goes backwards.

Each fault is made real where that works without root (a second process really holding
SQLite's lock, really damaged store files), and injected where it cannot be (ENOSPC from the
writer's file calls, SQLITE_FULL through ``max_page_count``, permission errors when running as
root, where chmod does not stop anything). CLI runs are real subprocesses; an injected fault
is installed by a small ``python -c`` wrapper before it calls ``newswire.cli.main``. Every
subprocess and every wait has a bound.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import select
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import feedparser
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import newswire.writer as writer_module
from newswire import upkeep
from newswire.job import check_published, publish

from harness import CONFIG, Journal
from loopback import LoopbackServer

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CLI_TIMEOUT = 30


# --- helpers -------------------------------------------------------------------------


def _config_with(journal: Journal, **paths: object) -> None:
    extra = "".join(f", {k}: {v}" for k, v in paths.items())
    journal.write_config(CONFIG.replace("output: feeds}", f"output: feeds{extra}}}"))


def _seed(journal: Journal, posts: int = 6, body_words: int = 60) -> None:
    """Posts by two authors over three labels, all dated in 2009 (independent of the clock)."""
    labels = ("Border Security", "Cash Smuggling", "Ports")
    for i in range(posts):
        journal.post(f"p{i}", title=f"Post {i}", date=f"2009-{i % 12 + 1:02d}-{i % 27 + 1:02d}T10:00:00-05:00",
                     author=("jmorton", "napolitano")[i % 2], labels=(labels[i % 3], labels[(i + 1) % 3]),
                     body=" ".join(["word"] * body_words) + f" number {i}.")


def _edit(journal: Journal, i: int, title: str, **extra: object) -> None:
    """Rewrite post ``i`` of ``_seed`` with a new title (same date, author and labels)."""
    labels = ("Border Security", "Cash Smuggling", "Ports")
    fields: dict[str, object] = {"author": ("jmorton", "napolitano")[i % 2],
                                 "labels": (labels[i % 3], labels[(i + 1) % 3]),
                                 "body": f"Changed body of post {i}: {title}."}
    fields.update(extra)
    journal.post(f"p{i}", title=title, date=f"2009-{i % 12 + 1:02d}-{i % 27 + 1:02d}T10:00:00-05:00",
                 **fields)  # type: ignore[arg-type]


def _snapshot(journal: Journal) -> dict[str, tuple[bytes, int]]:
    """Every file below feeds/ (temporaries included) with its bytes and mtime."""
    return {p.relative_to(journal.feeds).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(journal.feeds.rglob("*")) if p.is_file()}


def _temporaries(journal: Journal) -> list[str]:
    return sorted(p.relative_to(journal.feeds).as_posix() for p in journal.feeds.rglob("*")
                  if p.is_file() and (p.name.endswith(".tmp") or p.name.endswith(".partial")))


def _records_against_disk(journal: Journal) -> list[str]:
    """Documents the store records whose file is missing or not the recorded bytes."""
    conn = sqlite3.connect(f"file:{journal.root / 'newswire.db'}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT path, sha256, size FROM documents").fetchall()
    finally:
        conn.close()
    wrong = []
    for path, sha, size in rows:
        target = journal.feeds / path
        if not target.is_file():
            wrong.append(f"{path}: recorded but missing")
        elif target.stat().st_size != size or hashlib.sha256(target.read_bytes()).hexdigest() != sha:
            wrong.append(f"{path}: on disk differs from the record")
    return wrong


def _run_main(journal: Journal, prelude: str, *args: str, env: dict[str, str] | None = None,
              timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """``newswire --config <journal> ARGS`` in a subprocess that first runs ``prelude`` (a fault)."""
    code = (prelude + "\nimport sys\nfrom newswire.cli import main\n"
            "main(args=sys.argv[1:], prog_name='newswire')\n")
    return subprocess.run([sys.executable, "-c", code, "--config", str(journal.config_path), *args],
                          cwd=journal.root, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def _clean_failure(result: subprocess.CompletedProcess[str], code: int = 1) -> list[str]:
    """The run exited ``code`` with messages only (no traceback); returns its stderr lines."""
    assert "Traceback" not in result.stderr + result.stdout, result.stderr[-3000:]
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr[-3000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, "a failure must say what failed"
    return lines


def _one_line(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    lines = _clean_failure(result, code)
    assert len(lines) == 1, lines
    return lines[0]


def _start(*argv: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, *argv], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _communicate_all(procs: list[subprocess.Popen[str]], timeout: float = CLI_TIMEOUT,
                     took: list[float] | None = None) -> list[subprocess.CompletedProcess[str]]:
    """Wait for every process (bounded); ``took`` receives each one's seconds from now to its exit."""
    started = time.monotonic()
    ends: dict[int, float] = {}
    while len(ends) < len(procs) and time.monotonic() - started < timeout:
        for i, proc in enumerate(procs):
            if i not in ends and proc.poll() is not None:
                ends[i] = time.monotonic() - started
        time.sleep(0.02)
    if took is not None:
        took.extend(ends.get(i, timeout) for i in range(len(procs)))
    out = []
    for proc in procs:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate(timeout=10)
        out.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return out


def _cli_async(journal: Journal, *args: str) -> subprocess.Popen[str]:
    return _start("-m", "newswire", "--config", str(journal.config_path), *args, cwd=journal.root)


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"helper process {proc.pid} said nothing within {timeout} s"
    return proc.stdout.readline().strip()


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=10)


# --- 1. disk full --------------------------------------------------------------------

# The writer's view of ``os``: the first ALLOW documents are written, then every write
# (half the bytes land first, as on a real full disk) or every fsync of a document fails
# with ENOSPC. Installed in-process by _install_disk_full, in the CLI wrapper by _disk_full_prelude.
DISK_FULL_CODE = r'''
import errno as _errno, os as _os, stat as _stat, types as _types

def install_disk_full(writer, allow, where):
    state = {"opened": 0, "doomed": set(), "filling": set()}
    real_open, real_write, real_fsync = _os.open, _os.write, _os.fsync

    def full():
        return OSError(_errno.ENOSPC, _os.strerror(_errno.ENOSPC))

    def open_(path, flags, *args, **kwargs):
        fd = real_open(path, flags, *args, **kwargs)
        if flags & _os.O_EXCL and str(path).endswith(writer.TEMP_SUFFIX):  # a document's temporary file
            state["opened"] += 1
            if state["opened"] > allow:
                state["doomed" if where == "fsync" else "filling"].add(fd)
        return fd

    def write(fd, data):
        if fd in state["filling"]:
            state["filling"].discard(fd)
            real_write(fd, bytes(data[: len(data) // 2]))
            raise full()
        return real_write(fd, data)

    def fsync(fd):
        if fd in state["doomed"] and _stat.S_ISREG(_os.fstat(fd).st_mode):
            state["doomed"].discard(fd)
            raise full()
        return real_fsync(fd)

    proxy = _types.ModuleType("os")
    proxy.__dict__.update(_os.__dict__)
    proxy.open, proxy.write, proxy.fsync = open_, write, fsync
    writer.os = proxy
    return state
'''


def _install_disk_full(monkeypatch: pytest.MonkeyPatch, allow: int, where: str) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(DISK_FULL_CODE, namespace)
    monkeypatch.setattr(writer_module, "os", writer_module.os)  # restored at teardown
    return namespace["install_disk_full"](writer_module, allow, where)  # type: ignore[operator]


def _disk_full_prelude(allow: int, where: str) -> str:
    return DISK_FULL_CODE + f"\nimport newswire.writer\ninstall_disk_full(newswire.writer, {allow}, {where!r})\n"


FULL_WORDS = re.compile(r"disk is full|no space left|ENOSPC", re.I)


@pytest.mark.parametrize("where", ["write", "fsync"])
def test_disk_full_mid_publish_keeps_old_documents_records_the_truth_and_recovers(
        journal: Journal, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    _seed(journal)
    assert publish(journal.config(), now=NOW).ok
    before = journal.files()
    _edit(journal, 0, "Post 0, retitled")  # in the journal, one author's and two labels' feeds
    _install_disk_full(monkeypatch, allow=2, where=where)
    report = publish(journal.config(), now=NOW + timedelta(hours=1))
    assert not report.ok
    failed = [r.path for r in report.failed]
    assert len(failed) >= 3, report.as_json()
    # Every failure names its document and says the disk is full.
    for path in failed:
        messages = [e for e in report.errors if str(journal.feeds / path) in e]
        assert messages and all(FULL_WORDS.search(m) for m in messages), (path, report.errors)
    middle = journal.files()
    assert _temporaries(journal) == []
    for path in failed:
        assert middle.get(path) == before.get(path), f"{path}: a failed write changed the published document"
    assert _records_against_disk(journal) == []

    monkeypatch.undo()  # space again
    assert writer_module.os is os
    retry = publish(journal.config(), now=NOW + timedelta(hours=2))
    assert retry.ok, retry.as_json()
    assert {r.path for r in retry.results if r.status == "written"} >= set(failed) - {"index.html", "index.opml",
                                                                                   "feed.xsl"}
    after = journal.files()
    # What a full disk let through was already the final version; the rest is the old one.
    for path, data in middle.items():
        assert data in (before.get(path), after.get(path)), path
    assert check_published(journal.config(), now=NOW + timedelta(hours=2)).ok
    assert _records_against_disk(journal) == [] and _temporaries(journal) == []
    assert after["atom.xml"] != before["atom.xml"] and b"Post 0, retitled" in after["atom.xml"]


def _reasons_per_document(lines: list[str], reason: re.Pattern[str], feeds: Path) -> dict[str, list[str]]:
    """Each stderr line that names a document, by document; every such line must give ``reason``."""
    named: dict[str, list[str]] = {}
    for line in lines:
        match = re.match(r"newswire: (\S+?):", line)
        if match is None:
            continue
        rel = match.group(1).removeprefix(str(feeds) + "/")
        named.setdefault(rel, []).append(line)
    vague = [line for group in named.values() for line in group if not reason.search(line)]
    assert vague == [], f"lines that name a document but not what went wrong: {vague}"
    repeated = {rel: group for rel, group in named.items() if len(group) > 1}
    assert repeated == {}, f"documents reported more than once: {repeated}"
    return named


def test_disk_full_through_the_cli_is_one_message_per_document_and_exit_1(journal: Journal) -> None:
    _seed(journal)
    assert publish(journal.config(), now=NOW).ok
    before = journal.files()
    _edit(journal, 1, "Post 1, retitled")
    result = _run_main(journal, _disk_full_prelude(1, "write"), "publish")
    lines = _clean_failure(result)
    assert result.stdout.startswith("published ") and " failed" in result.stdout, result.stdout
    after = journal.files()
    changed = {p for p in before if after[p] != before[p]}
    assert len(changed) <= 1, changed  # only the one document there was room for
    named = _reasons_per_document(lines, FULL_WORDS, journal.feeds)
    assert named and all((journal.feeds / rel).is_file() for rel in named), lines
    assert all(str(journal.feeds / rel) in group[0] for rel, group in named.items()), lines
    assert _temporaries(journal) == []
    assert _records_against_disk(journal) == []
    assert publish(journal.config()).ok
    assert check_published(journal.config()).ok
    assert b"Post 1, retitled" in (journal.feeds / "atom.xml").read_bytes()


STORE_FULL_PRELUDE = r'''
import newswire.store as _store
_init = _store.SqliteStore.__init__
def _full_store(self, path, **kwargs):
    _init(self, path, **kwargs)
    pages = self.db.execute("PRAGMA page_count").fetchone()[0]
    self.db.execute(f"PRAGMA max_page_count = {pages}")  # the store cannot grow: SQLITE_FULL
_store.SqliteStore.__init__ = _full_store
'''


def test_a_full_disk_under_the_store_is_reported_as_full_not_as_damage(journal: Journal) -> None:
    """SQLite says 'database or disk is full'. The store is sound: telling the operator to copy an
    older backup over it would throw away good posts."""
    _seed(journal)
    assert publish(journal.config(), now=NOW).ok
    before = _snapshot(journal)
    journal.post("big", title="A long post", date="2009-12-01T10:00:00-05:00", body="long text " * 20000)
    result = _run_main(journal, STORE_FULL_PRELUDE + _disk_full_prelude(0, "write"), "publish")
    line = _one_line(result)
    assert str(journal.root / "newswire.db") in line, line
    assert re.search(r"\bfull\b|no space", line, re.I), line
    assert not re.search(r"backup|damaged|cannot read", line, re.I), \
        f"a full disk is not damage; restoring a backup would lose data: {line}"
    assert _snapshot(journal) == before
    conn = sqlite3.connect(journal.root / "newswire.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM posts WHERE title = 'A long post'").fetchone()[0] == 0
    finally:
        conn.close()


# --- 2. the store held by another process ------------------------------------------

HOLDER = r'''
import sqlite3, sys, time
db, mode, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
conn = sqlite3.connect(db, isolation_level=None, timeout=5)
if mode == "exclusive":            # readers are shut out too
    conn.execute("PRAGMA locking_mode = EXCLUSIVE")
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("UPDATE authors SET name = name")
else:                              # writers are shut out; WAL readers go on
    conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
time.sleep(seconds)
conn.execute("COMMIT")
conn.close()
print("released", flush=True)
'''


@contextmanager
def _held_store(journal: Journal, mode: str, seconds: float) -> Iterator[subprocess.Popen[str]]:
    proc = _start("-c", HOLDER, str(journal.root / "newswire.db"), mode, str(seconds), cwd=journal.root)
    try:
        assert _read_line(proc, 15) == "held"
        yield proc
    finally:
        _stop(proc)


def _busy_line(result: subprocess.CompletedProcess[str], journal: Journal) -> str:
    line = _one_line(result)
    assert "the store is busy" in line and str(journal.root / "newswire.db") in line, line
    return line


def test_a_store_held_by_another_process_fails_each_command_in_bounded_time(journal: Journal) -> None:
    _config_with(journal, store_wait=1)
    _seed(journal)
    assert publish(journal.config(), now=NOW).ok
    _edit(journal, 2, "Post 2, retitled while the store is held")
    (journal.root / "import.xml").write_bytes((Path(__file__).parent / "fixtures/import/atom.xml").read_bytes())
    before = _snapshot(journal)
    commands = (["publish", "--wait", "20"], ["sync"], ["post", "delete", "1"], ["import", "import.xml"])
    with _held_store(journal, "immediate", 30):
        # At once; publish, sync and import take the journal's lock in turn, each then waits on the store.
        took: list[float] = []
        results = _communicate_all([_cli_async(journal, *args) for args in commands], took=took)
        for result in results:
            _busy_line(result, journal)
        assert max(took) <= 10, f"{took}: gave up too late with paths.store_wait = 1"
        assert took[2] >= 0.9 and took[2] <= 6, f"post delete gave up after {took[2]:.1f} s, store_wait = 1"
        assert max(took) >= 0.9 * 3, "sync, import and publish each wait paths.store_wait before giving up"
        assert _snapshot(journal) == before
    conn = sqlite3.connect(journal.root / "newswire.db")
    try:
        assert conn.execute("SELECT count(*) FROM posts WHERE deleted_at IS NOT NULL").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM posts WHERE title LIKE '%held%'").fetchone()[0] == 0
    finally:
        conn.close()


def test_a_store_locked_exclusively_fails_readers_too_in_one_line(journal: Journal) -> None:
    _config_with(journal, store_wait=1)
    _seed(journal)
    assert publish(journal.config(), now=NOW).ok
    before = _snapshot(journal)
    with _held_store(journal, "exclusive", 30):
        took: list[float] = []
        results = _communicate_all([_cli_async(journal, "status"), _cli_async(journal, "post", "list"),
                                    _cli_async(journal, "publish")], took=took)
        for result in results:
            _busy_line(result, journal)
        assert all(0.9 <= t <= 6 for t in took), f"{took}: not within paths.store_wait = 1 and a bound"
    assert _snapshot(journal) == before


def test_a_publish_waits_for_a_store_released_within_store_wait(journal: Journal) -> None:
    _config_with(journal, store_wait=5)
    _seed(journal)
    assert publish(journal.config(), now=NOW).ok
    _edit(journal, 3, "Post 3, published after the wait")
    with _held_store(journal, "immediate", 1.0) as holder:
        started = time.monotonic()
        result = journal.cli("publish", timeout=CLI_TIMEOUT)
        took = time.monotonic() - started
        assert _read_line(holder, 5) == "released"
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert took < 8
    assert b"Post 3, published after the wait" in (journal.feeds / "atom.xml").read_bytes()
    assert check_published(journal.config()).ok


# --- 3. a damaged store, and its backup --------------------------------------------


def _checkpoint(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _damage(db: Path, how: str) -> None:
    _checkpoint(db)
    rng = random.Random(20091106)
    size = db.stat().st_size
    if how == "pages":  # every page but the first: the header and the schema are whole, the tables are not
        with open(db, "r+b") as fh:
            page = int.from_bytes(fh.read(18)[16:18], "big")  # the store's own page size, from its header
            for n in range(1, size // page):
                fh.seek(n * page)
                fh.write(rng.randbytes(page))
    elif how == "truncated":
        with open(db, "r+b") as fh:
            fh.truncate(size // 2 + 1000)
    else:
        db.write_bytes(rng.randbytes(size))


def _restore(journal: Journal, backup: Path) -> None:
    """The documented recovery: 'newswire store restore' if there is one, else what the damage
    messages say today ("copy your latest 'newswire store backup' over it")."""
    from newswire import cli

    if "restore" in cli.store.commands:
        journal.cli("store", "restore", str(backup), check=True, timeout=CLI_TIMEOUT)
    else:
        shutil.copyfile(backup, journal.root / "newswire.db")


def _big_journal(journal: Journal) -> None:
    _config_with(journal, store_wait=1)
    _seed(journal, posts=30, body_words=400)


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory: pytest.TempPathFactory) -> Journal:
    """A published journal of 30 posts and 'newswire store backup b.db' taken right after."""
    template = Journal(tmp_path_factory.mktemp("backed-up") / "journal")
    template.root.mkdir()
    template.content.mkdir()
    _big_journal(template)
    assert publish(template.config(), now=NOW).ok
    backup = template.cli("store", "backup", "b.db", timeout=CLI_TIMEOUT)
    assert backup.returncode == 0 and backup.stdout.strip() == "backed up to b.db", (backup.stdout, backup.stderr)
    return template


def _copy(template: Journal, root: Path) -> Journal:
    shutil.copytree(template.root, root)
    return Journal(root)


DAMAGE = re.compile(r"malformed|not a database|damaged")


@pytest.mark.parametrize("how", ["pages", "truncated", "random"])
def test_a_damaged_store_is_named_by_every_command_and_the_backup_restores_it(
        backed_up: Journal, tmp_path: Path, how: str) -> None:
    journal = _copy(backed_up, tmp_path / "journal")
    good = journal.files()
    db = journal.root / "newswire.db"
    _damage(db, how)
    damaged = db.read_bytes()
    before = _snapshot(journal)

    check, *others = _communicate_all([_cli_async(journal, "store", "check"), _cli_async(journal, "publish"),
                                       _cli_async(journal, "status"), _cli_async(journal, "post", "list")])
    lines = _clean_failure(check)
    assert all(str(db) in line for line in lines), lines
    assert DAMAGE.search(check.stderr), lines
    for result in others:
        line = _one_line(result)
        assert str(db) in line and DAMAGE.search(line), (result.args, line)
    assert _snapshot(journal) == before, "a damaged store must not change the published feeds"
    assert db.read_bytes() == damaged, "the damaged store is left as it was, for inspection"

    # The documented recovery: the backup in the store's place, then 'publish --full'.
    _restore(journal, journal.root / "b.db")
    assert publish(journal.config(), full=True).ok
    assert journal.files() == good
    assert upkeep.check(db).ok


def test_restoring_a_backup_beside_a_leftover_wal_gives_back_the_backup(backed_up: Journal, tmp_path: Path) -> None:
    """A store usually breaks in a crash, which leaves newswire.db-wal behind. The recovery the
    messages give ('copy your latest backup over it') must give back the backup, not the backup
    with the dead store's last transactions replayed over it."""
    journal = _copy(backed_up, tmp_path / "journal")
    good = journal.files()
    db = journal.root / "newswire.db"
    _checkpoint(db)
    # The dead store's last transaction, committed to the WAL before the crash: 'post delete 1'.
    crash = ("import os, sqlite3, sys\n"
             "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
             "c.execute('PRAGMA wal_autocheckpoint = 0')\n"
             "c.execute(\"UPDATE posts SET deleted_at = '2026-11-30T13:00:00Z', deleted_by = 'user' WHERE id = 1\")\n"
             "os._exit(0)\n")
    subprocess.run([sys.executable, "-c", crash, str(db)], check=True, timeout=CLI_TIMEOUT)
    assert (journal.root / "newswire.db-wal").stat().st_size > 0
    with open(db, "r+b") as fh:  # and the main file is damaged
        fh.seek(db.stat().st_size // 2)
        fh.write(random.Random(1).randbytes(3 * 4096))
    _restore(journal, journal.root / "b.db")  # what the messages tell the operator to do
    assert upkeep.check(db).ok
    assert publish(journal.config(), full=True).ok
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        deleted = conn.execute("SELECT count(*) FROM posts WHERE deleted_at IS NOT NULL").fetchone()[0]
    finally:
        conn.close()
    assert deleted == 0, "the restored store holds a deletion the backup never had (the dead store's WAL)"
    assert journal.files() == good


def test_backup_is_whole_self_contained_never_overwrites_and_names_a_dated_file(journal: Journal,
                                                                               tmp_path: Path) -> None:
    _seed(journal)
    assert publish(journal.config(), now=NOW).ok
    first = journal.cli("store", "backup", "b.db", timeout=CLI_TIMEOUT)
    assert first.returncode == 0 and first.stdout.strip().endswith("b.db"), (first.stdout, first.stderr)
    saved = (journal.root / "b.db").read_bytes()

    (journal.root / "backups").mkdir()
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.yaml").write_text(CONFIG.replace("store: newswire.db", f"store: {journal.root / 'b.db'}"),
                                       encoding="utf-8")
    again, dated, checked = _communicate_all([
        _cli_async(journal, "store", "backup", "b.db"),       # never overwrites
        _cli_async(journal, "store", "backup", "backups"),    # a folder gets a dated file
        _start("-m", "newswire", "--config", str(other / "config.yaml"), "store", "check", cwd=other)])
    assert "b.db" in _one_line(again, code=2) and "exists" in again.stderr
    assert (journal.root / "b.db").read_bytes() == saved
    assert dated.returncode == 0, dated.stderr
    names = os.listdir(journal.root / "backups")
    assert len(names) == 1 and re.fullmatch(r"newswire-\d{8}T\d{6}Z\.db", names[0]), names
    assert names[0] in dated.stdout
    # The backup passes 'store check' when a config points at it.
    assert checked.returncode == 0 and checked.stdout.startswith("ok: ") and "6 posts" in checked.stdout, \
        (checked.stdout, checked.stderr)

    # Self-contained: the .db file alone, elsewhere, is the whole store.
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copyfile(journal.root / "b.db", alone / "copy.db")
    conn = sqlite3.connect(f"file:{alone / 'copy.db'}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM posts").fetchone()[0] == 6
        assert conn.execute("SELECT count(*) FROM documents").fetchone()[0] == len(journal.files())
    finally:
        conn.close()
    assert sorted(os.listdir(alone)) == ["copy.db"]
    assert [p.name for p in journal.root.iterdir() if p.name.endswith(".partial")] == []


WRITER = r'''
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
print("writing", flush=True)
deadline = time.monotonic() + float(sys.argv[2])
n = 0
while time.monotonic() < deadline:
    conn.execute("BEGIN IMMEDIATE")
    for _ in range(20):
        conn.execute("INSERT INTO publish_log (started_at, finished_at, status, feeds_total, written, failed,"
                     " detail) VALUES ('2009-01-01T00:00:00Z', '2009-01-01T00:00:00Z', 'ok', 0, 0, 0, ?)",
                     ("x" * 3000,))
    conn.execute("COMMIT")
    n += 20
conn.close()
print(n, flush=True)
'''


def test_backup_while_another_connection_writes_is_a_consistent_snapshot(journal: Journal) -> None:
    _seed(journal)
    assert publish(journal.config(), now=NOW).ok
    db = journal.root / "newswire.db"
    writer = _start("-c", WRITER, str(db), "2", cwd=journal.root)
    try:
        assert _read_line(writer, 15) == "writing"
        time.sleep(0.3)
        made = upkeep.backup(db, journal.root / "online.db")
        assert writer.poll() is None, "the writer stopped before the backup finished"
        written = int(_read_line(writer, 15))
    finally:
        _stop(writer)
    assert made == journal.root / "online.db"
    conn = sqlite3.connect(f"file:{journal.root / 'online.db'}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT count(*) FROM publish_log WHERE detail LIKE 'xxx%'").fetchone()[0]
    finally:
        conn.close()
    assert rows % 20 == 0 and 0 < rows < written, (rows, written)  # whole transactions, taken mid-stream


# --- 4. a read-only output folder ---------------------------------------------------

# Running as root, chmod 0555 stops nothing; this makes the listed folders refuse new, removed
# and renamed entries with EACCES, as the kernel does for a user without write permission.
READ_ONLY_PRELUDE = r'''
import errno as _errno, json as _json, os as _os
_RO = set(_json.loads(_os.environ["NEWSWIRE_TEST_READ_ONLY"]))

def _in_ro(path):
    return _os.path.dirname(_os.path.abspath(_os.fsdecode(path))) in _RO

def _deny(path):
    raise PermissionError(_errno.EACCES, _os.strerror(_errno.EACCES), _os.fsdecode(path))

def _guard(real, creates=False):
    def guarded(path, *args, **kwargs):
        if kwargs.get("dir_fd") is None and _in_ro(path) and (not creates or not _os.path.exists(path)):
            _deny(path)
        return real(path, *args, **kwargs)
    return guarded

_real_open = _os.open
def _open(path, flags, *args, **kwargs):
    if flags & _os.O_CREAT and kwargs.get("dir_fd") is None and _in_ro(path) and not _os.path.exists(path):
        _deny(path)
    return _real_open(path, flags, *args, **kwargs)

def _two(real):
    def moved(src, dst, *args, **kwargs):
        for p in (src, dst):
            if _in_ro(p):
                _deny(p)
        return real(src, dst, *args, **kwargs)
    return moved

_os.open = _open
_os.unlink = _os.remove = _guard(_os.unlink)
_os.rmdir = _guard(_os.rmdir)
_os.mkdir = _guard(_os.mkdir, creates=True)
_os.rename, _os.replace = _two(_os.rename), _two(_os.replace)
'''


def _publish_read_only(journal: Journal, folders: list[Path]) -> subprocess.CompletedProcess[str]:
    """``newswire publish`` with ``folders`` read-only: by chmod when that works, else emulated."""
    if os.geteuid() != 0:
        modes = {f: f.stat().st_mode for f in folders}
        for f in folders:
            f.chmod(0o555)
        try:
            return journal.cli("publish", timeout=CLI_TIMEOUT)
        finally:
            for f, mode in modes.items():
                f.chmod(mode)
    return _run_main(journal, READ_ONLY_PRELUDE, "publish",
                     env={"NEWSWIRE_TEST_READ_ONLY": json.dumps([str(f.resolve()) for f in folders])})


DENIED = re.compile(r"permission denied|read-only", re.I)


@pytest.mark.parametrize("change", ["title", "labels"])
def test_a_read_only_output_folder_fails_cleanly_and_keeps_the_old_documents(journal: Journal, change: str) -> None:
    _seed(journal)
    assert publish(journal.config(), now=NOW).ok
    before = journal.files()
    ro = [journal.feeds, journal.feeds / "labels" / "ports"]
    if change == "title":
        _edit(journal, 1, "Post 1, retitled")  # labels: Cash Smuggling, Ports
    else:  # "Ports" comes off every post: its feed, in a read-only folder, must go
        for i in range(6):
            labels = ("Border Security", "Cash Smuggling", "Ports")
            keep = tuple(label for label in (labels[i % 3], labels[(i + 1) % 3]) if label != "Ports")
            journal.post(f"p{i}", title=f"Post {i}", date=f"2009-{i % 12 + 1:02d}-{i % 27 + 1:02d}T10:00:00-05:00",
                         author=("jmorton", "napolitano")[i % 2], labels=keep,
                         body=" ".join(["word"] * 60) + f" number {i}.")
    result = _publish_read_only(journal, ro)
    lines = _clean_failure(result)
    named = _reasons_per_document(lines, DENIED, journal.feeds)
    assert named and any(str(journal.feeds) in line for group in named.values() for line in group), lines
    after = journal.files()
    for rel in before:
        if rel.count("/") == 0 or rel.startswith("labels/ports/"):
            assert after.get(rel) == before[rel], f"{rel} in a read-only folder changed"
    assert _temporaries(journal) == []
    assert _records_against_disk(journal) == []

    fixed = publish(journal.config())  # write permission is back
    assert fixed.ok, fixed.as_json()
    assert check_published(journal.config()).ok
    assert _records_against_disk(journal) == [] and _temporaries(journal) == []
    if change == "labels":
        assert not (journal.feeds / "labels" / "ports" / "atom.xml").exists()
    else:
        assert b"Post 1, retitled" in (journal.feeds / "atom.xml").read_bytes()


# --- 5. the clock going backwards ---------------------------------------------------


def _dates(journal: Journal) -> dict[str, dict[str, datetime]]:
    """Per document: every entry's updated instant (by id), and '' for the feed's own updated."""
    out: dict[str, dict[str, datetime]] = {}
    for rel in journal.files():
        path = journal.feeds / rel
        if rel.endswith(".xml") and path.name in ("atom.xml", "rss.xml"):
            parsed = feedparser.parse(path.read_bytes())
            assert not parsed.bozo, (rel, parsed.bozo_exception)
            dates = {e.id: datetime(*e.updated_parsed[:6], tzinfo=UTC) for e in parsed.entries}
            feed_updated = parsed.feed.get("updated_parsed")
            assert feed_updated is not None, rel
            dates[""] = datetime(*feed_updated[:6], tzinfo=UTC)
            out[rel] = dates
        elif path.name == "feed.json":
            doc = json.loads(path.read_bytes())
            dates = {item["id"]: datetime.fromisoformat(item["date_modified"]) for item in doc["items"]}
            if "_newswire" in doc:
                dates[""] = datetime.fromisoformat(doc["_newswire"]["updated"])
            out[rel] = dates
    return out


def _never_backwards(old: dict[str, dict[str, datetime]], new: dict[str, dict[str, datetime]]) -> None:
    backwards = [f"{rel} {key or '(feed)'}: {was.isoformat()} -> {new[rel][key].isoformat()}"
                 for rel, dates in old.items() if rel in new
                 for key, was in dates.items() if key in new[rel] and new[rel][key] < was]
    assert backwards == [], backwards
    vanished = [f"{rel} lost its feed-level updated" for rel, dates in old.items()
                if "" in dates and rel in new and "" not in new[rel]]
    assert vanished == []


def test_dates_never_go_backwards_when_the_clock_does(journal: Journal) -> None:
    _seed(journal)
    assert publish(journal.config(), now=NOW).ok
    _edit(journal, 0, "Post 0, first edit")
    assert publish(journal.config(), now=NOW + timedelta(days=1)).ok  # post 0 updated at T
    seen = _dates(journal)
    entry_id = next(e.id for e in feedparser.parse((journal.feeds / "atom.xml").read_bytes()).entries
                    if e.title == "Post 0, first edit")
    assert seen["atom.xml"][entry_id] == NOW + timedelta(days=1)

    _edit(journal, 0, "Post 0, edited after the clock went back a day")
    report = publish(journal.config(), now=NOW)  # T - 1 day
    assert report.ok, report.as_json()
    later = _dates(journal)
    _never_backwards(seen, later)
    assert later["atom.xml"][entry_id] > seen["atom.xml"][entry_id]  # the content changed: it moved on

    # A front-matter 'updated' earlier than the one the store holds.
    _edit(journal, 0, "Post 0, with an old updated", updated="2009-06-01T00:00:00Z")
    _edit(journal, 3, "Post 3, with an old updated", updated="2009-06-01T00:00:00Z")
    report = publish(journal.config(), now=NOW - timedelta(days=1))
    assert report.ok, report.as_json()
    _never_backwards(later, _dates(journal))
    assert b"Post 0, with an old updated" in (journal.feeds / "atom.xml").read_bytes()


def test_a_deletion_after_the_clock_went_back_does_not_move_feeds_backwards(journal: Journal) -> None:
    _seed(journal)
    assert publish(journal.config(), now=NOW).ok
    _edit(journal, 0, "Post 0, edited")
    assert publish(journal.config(), now=NOW + timedelta(days=1)).ok  # the newest update everywhere it is
    seen = _dates(journal)
    (journal.content / "p0.md").unlink()
    report = publish(journal.config(), now=NOW)  # the clock is a day behind
    assert report.ok, report.as_json()
    assert "Post 0, edited" not in [e.title for e in feedparser.parse((journal.feeds / "atom.xml").read_bytes()).entries]
    _never_backwards(seen, _dates(journal))


def test_a_post_released_by_a_clock_that_was_ahead_is_scheduled_again_with_a_tombstone(journal: Journal) -> None:
    """Posts go out by the clock: when it turns out to have been ahead, a post it released early is
    taken back (an RFC 6721 tombstone, dated no earlier than the last publish, so no feed date goes
    back) until its time, and then comes back under its id."""
    from lxml import etree

    _seed(journal)
    journal.post("recent", title="Recent post", date=(NOW - timedelta(hours=6)).isoformat(), labels=("Ports",))
    assert publish(journal.config(), now=NOW).ok
    seen = _dates(journal)
    entry_id = next(e.id for e in feedparser.parse((journal.feeds / "atom.xml").read_bytes()).entries
                    if e.title == "Recent post")
    report = publish(journal.config(), now=NOW - timedelta(days=1))
    assert report.ok, report.as_json()
    assert report.warnings and "behind the last publish" in report.warnings[0]
    titles = [e.title for e in feedparser.parse((journal.feeds / "atom.xml").read_bytes()).entries]
    assert "Recent post" not in titles
    stones = etree.fromstring((journal.feeds / "atom.xml").read_bytes()).findall(
        "{http://purl.org/atompub/tombstones/1.0}deleted-entry")
    assert [(s.get("ref"), s.get("when")) for s in stones] == [(entry_id, NOW.isoformat())]
    _never_backwards(seen, _dates(journal))
    assert publish(journal.config(), now=NOW - timedelta(hours=6)).ok
    assert entry_id in [e.id for e in feedparser.parse((journal.feeds / "atom.xml").read_bytes()).entries]


def test_verify_on_a_clock_behind_the_last_publish_agrees_with_a_publish_at_that_clock(journal: Journal) -> None:
    """'verify' judges by the same clocks as publish: a clock behind the last publish that releases
    nothing other than it did cannot make a good feed look stale; one before a released post's
    date finds the feeds ahead of the store, as a publish at that clock would change them."""
    _seed(journal)
    journal.post("soon", title="Dated an hour ahead", date=(NOW + timedelta(hours=1)).isoformat(), labels=("Ports",))
    assert publish(journal.config(), now=NOW + timedelta(hours=2)).ok
    report = check_published(journal.config(), now=NOW + timedelta(hours=1, minutes=30))
    assert report.ok, [(r.path, r.status, r.problems) for r in report.results if r.problems]
    assert {r.status for r in report.results} == {"unchanged"}
    report = check_published(journal.config(), now=NOW)  # before the post's date
    assert {r.path for r in report.failed} >= {"atom.xml", "labels/ports/atom.xml"}
    assert publish(journal.config(), now=NOW).ok
    report = check_published(journal.config(), now=NOW)
    assert report.ok and {r.status for r in report.results} == {"unchanged"}


def test_a_post_deleted_while_the_clock_is_behind_gets_its_tombstone(journal: Journal) -> None:
    """'post delete' on a clock behind the last publish is dated no earlier than that publish, so the
    next publish (which runs at the last publish's time) still announces the deletion."""
    from lxml import etree

    from newswire.job import open_store

    journal.write_config(CONFIG.replace("entries: 25", "entries: 25\n  tombstone_days: 1"))
    _seed(journal)
    assert publish(journal.config(), now=NOW + timedelta(days=3)).ok
    with open_store(journal.config()) as store:
        post_id = store.posts.find("md:p0.md")
        assert post_id is not None
        assert store.posts.mark_deleted(post_id, NOW, by="user")  # three days behind; tombstones last one
    assert publish(journal.config(), now=NOW - timedelta(days=30)).ok  # further behind still
    root = etree.fromstring((journal.feeds / "atom.xml").read_bytes())
    stones = root.findall("{http://purl.org/atompub/tombstones/1.0}deleted-entry")
    assert len(stones) == 1 and stones[0].get("when").startswith((NOW + timedelta(days=3)).strftime("%Y-%m-%dT")), \
        [s.attrib for s in stones]


# --- 6. every network wait is bounded in total ----------------------------------------------


class Dribbler(LoopbackServer):
    """A server on 127.0.0.1 that answers every request with ``answer``, one byte every ``gap``
    seconds: status line and headers too, so no single read ever waits long enough for a
    per-read timeout to fire. Records how long each connection lasted.
    Bounded: at most ``most`` connections and ``life`` seconds, then all are closed."""

    def __init__(self, answer: bytes, gap: float = 0.25, life: float = 20.0, most: int = 40):
        super().__init__(life, most)
        self.answer, self.gap = answer, gap
        self.held: list[float] = []  # seconds each finished connection lasted
        self.lock = threading.Lock()

    def serve(self, conn: socket.socket, until: float) -> None:
        started = time.monotonic()
        conn.settimeout(2)
        try:
            request = b""
            while b"\r\n\r\n" not in request and len(request) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            for i in range(len(self.answer)):
                if self.stop.is_set() or time.monotonic() > until:
                    return
                conn.sendall(self.answer[i:i + 1])
                if self.gap:
                    self.stop.wait(self.gap)
            conn.shutdown(socket.SHUT_WR)
        except OSError:  # the client hung up mid-answer
            pass
        finally:
            with self.lock:
                self.held.append(time.monotonic() - started)
            conn.close()



def _answer(status: str = "200 OK", body: bytes = b"", **headers: str) -> bytes:
    """An HTTP/1.1 answer with long headers: at a byte per 0.25 s they alone take minutes."""
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/atom+xml", "X-Padding: " + "p" * 600,
             *(f"{k.replace('_', '-')}: {v}" for k, v in headers.items()), f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def _timed_cli(journal: Journal, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = journal.cli(*args, timeout=120)
    return result, time.monotonic() - started


@pytest.mark.parametrize("command", ["import", "pull", "verify"])
def test_a_source_sending_its_headers_a_byte_at_a_time_is_cut_off_at_fetch_timeout(journal: Journal,
                                                                                   command: str) -> None:
    """fetch.timeout covers connect, headers and body together: a server that keeps every read
    short (a byte every 0.25 s) is cut off when the timeout is spent, not minutes later."""
    with Dribbler(_answer()) as server:
        journal.write_config(CONFIG + f"sources:\n  - {{url: '{server.url}', every: 1h}}\nfetch: {{timeout: 2}}\n")
        args = {"import": ["import", server.url], "pull": ["pull", "--force"], "verify": ["verify", server.url]}
        result, elapsed = _timed_cli(journal, *args[command])
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "no complete answer within 2 s" in result.stderr + result.stdout, result.stderr
    assert elapsed < 2 + 6, f"{command} took {elapsed:.1f} s against a dribbling server with fetch.timeout 2"
    assert server.held and max(server.held) < 2 + 3, server.held


def test_a_hub_sending_its_answer_a_byte_at_a_time_cannot_hold_publish_past_notify_timeout(journal: Journal) -> None:
    with Dribbler(_answer("204 No Content")) as hub:
        journal.write_config(CONFIG.replace("formats: [atom, rss, json]", "formats: [atom]\n  authors: false\n"
                                            "  labels: false") + f"notify:\n  websub: ['{hub.url}']\n  timeout: 2\n")
        journal.post("a", title="A")
        result, elapsed = _timed_cli(journal, "publish")
        status = journal.cli("status")
    assert result.returncode == 0 and "Traceback" not in result.stderr, (result.stdout, result.stderr)
    assert "1 to retry" in result.stdout, result.stdout
    assert elapsed < 2 + 6, f"publish took {elapsed:.1f} s against a dribbling hub with notify.timeout 2"
    assert hub.held and max(hub.held) < 2 + 3, hub.held
    assert "no answer within 2 s" in status.stdout, status.stdout


def test_a_ping_round_ends_at_round_timeout_and_leaves_the_rest_due(journal: Journal) -> None:
    """Twelve changed documents, each to be announced to a hub that dribbles: with a per-request
    timeout of 30 s, only notify.round_timeout keeps the publish (and the journal's lock) short.
    The requests under way are cut off and retried later; the ones not begun stay due, and the
    publish says so."""
    with Dribbler(_answer("204 No Content")) as hub:
        journal.write_config(CONFIG + f"notify:\n  websub: ['{hub.url}']\n  timeout: 30\n  round_timeout: 2\n")
        _seed(journal, posts=2)
        result, elapsed = _timed_cli(journal, "publish")
        rows, logged = _outbox_and_log(journal)
        hub.gap = 0.0  # the hub recovers: the next round delivers what this one never began
        again = journal.cli("ping")
    assert result.returncode == 0 and "Traceback" not in result.stderr, (result.stdout, result.stderr)
    assert elapsed < 2 + 6, f"publish held the journal for {elapsed:.1f} s with notify.round_timeout 2"
    tried = [a for s, a in rows if s == "pending" and a == 1]
    untried = [a for s, a in rows if s == "pending" and a == 0]
    assert len(rows) >= 9 and len(tried) + len(untried) == len(rows), rows
    assert 1 <= len(tried) <= 4 and untried, rows  # four at a time, cut off; the rest never begun
    assert f"{len(untried)} left for the next round" in result.stdout, result.stdout
    assert f"{len(untried)} not tried: this round reached its 2 s limit (notify.round_timeout)" in result.stderr
    assert logged == ["ok"], logged
    # Those cut off wait for their backoff; those never begun were still due.
    assert again.returncode == 0 and f"{len(untried)} delivered, 0 to retry" in again.stdout, again.stdout


def _outbox_and_log(journal: Journal) -> tuple[list[tuple[str, int]], list[str]]:
    conn = sqlite3.connect(journal.root / "newswire.db")
    try:
        rows = conn.execute("SELECT state, attempts FROM outbox").fetchall()
        logged = [status for (status,) in conn.execute("SELECT status FROM publish_log")]
    finally:
        conn.close()
    return rows, logged



# --- 7. every number and date from outside is range-checked ---------------------------------

# Dates at the edge of the calendar: each is a valid ISO 8601 text that datetime can read, but
# not move into UTC (or show in another zone) without overflowing.
EDGE_DATES = ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59+00:00",
              "0001-01-01T00:00:00Z", "9999-06-01T00:00:00-23:59", "0999-12-31T23:59:59Z"]


def _json_feed(*dates: str) -> bytes:
    items = [{"id": f"urn:edge:{i}", "title": f"Edge {i}", "content_text": "x", "date_published": d}
             for i, d in enumerate(dates)]
    items.append({"id": "urn:edge:fine", "title": "Fine", "content_text": "x",
                  "date_published": "2009-11-06T10:00:00Z"})
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "Edge", "items": items}).encode("utf-8")


def test_json_dates_at_the_edge_of_the_calendar_are_refused_not_crashed_on(journal: Journal, tmp_path: Path) -> None:
    source = tmp_path / "edge.json"
    source.write_bytes(_json_feed(*EDGE_DATES))
    result = journal.cli("import", str(source))
    assert "Traceback" not in result.stderr and result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert f"1 added, 0 updated, 0 unchanged, {len(EDGE_DATES)} skipped" in result.stdout, result.stdout
    assert journal.cli("publish").returncode == 0
    assert [e.title for e in feedparser.parse((journal.feeds / "atom.xml").read_bytes()).entries] == ["Fine"]


EDGE_FEEDS = {
    "rss-9999": '<?xml version="1.0"?><rss version="2.0"><channel><title>Far</title><link>http://x.test/</link>'
                '<item><title>Far</title><guid>urn:far:1</guid><pubDate>Fri, 31 Dec 9999 23:59:59 +0000</pubDate>'
                '</item></channel></rss>',
    # A minute east of UTC: year 0 in feedparser's UTC tuple, which calendar.timegm refuses. (No
    # feed-level date, which would stand in for a date refused.)
    "atom-0001": '<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:t</id>'
                 '<entry><id>urn:a</id><title>a</title>'
                 '<published>0001-01-01T00:00:00+00:01</published></entry></feed>',
}


@pytest.mark.parametrize("kind", sorted(EDGE_FEEDS))
def test_a_feed_dated_past_the_calendar_is_refused(journal: Journal, tmp_path: Path, kind: str) -> None:
    source = tmp_path / "edge.xml"
    source.write_text(EDGE_FEEDS[kind], encoding="utf-8")
    result = journal.cli("import", str(source))
    assert result.returncode == 0 and "0 added, 0 updated, 0 unchanged, 1 skipped" in result.stdout, result.stdout
    status = journal.cli("status", check=True)
    assert "next scheduled post: none" in status.stdout, status.stdout


def _iso_texts() -> st.SearchStrategy[str]:
    """Date texts of every year datetime can write, in every zone it can carry, near the edges most."""
    years = st.one_of(st.integers(1, 9999), st.sampled_from([1, 2, 999, 1000, 9998, 9999]))
    offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1)
    return st.builds(lambda y, mo, d, h, mi, s, off: (f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"
                                                      f"{'+-'[off < 0]}{abs(off) // 60:02d}:{abs(off) % 60:02d}"),
                     years, st.integers(1, 12), st.integers(1, 28), st.integers(0, 23), st.integers(0, 59),
                     st.integers(0, 59), offsets)


@settings(max_examples=200, deadline=None)
@given(dates=st.lists(_iso_texts(), min_size=1, max_size=4))
@example(dates=["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01"])
def test_any_date_an_imported_feed_holds_is_one_the_store_can_keep_or_the_entry_is_skipped(dates: list[str]) -> None:
    """For JSON Feed, Atom and RSS alike: parsing never raises on a date, and every entry it keeps
    has dates the store can write, show in any zone and move by a day."""
    from newswire.bounds import YEARS
    from newswire.importer import parse
    from newswire.store import to_utc_text

    atom = ('<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:t</id><updated>2009-01-01T00:00:00Z'
            '</updated>' + "".join(f"<entry><id>urn:a:{i}</id><title>a</title><published>{d}</published>"
                                   f"<updated>{d}</updated></entry>" for i, d in enumerate(dates)) + "</feed>")
    rfc822 = [format_datetime_safe(d) for d in dates]
    rss = ('<rss version="2.0"><channel><title>t</title><link>http://x.test/</link>' + "".join(
        f"<item><guid>urn:r:{i}</guid><title>r</title><pubDate>{d}</pubDate></item>" for i, d in enumerate(rfc822))
        + "</channel></rss>")
    for data in (_json_feed(*dates), atom.encode(), rss.encode()):
        for e in parse(data, "", "test").entries:
            for when in (e.published, e.updated):
                if when is not None:
                    assert when.astimezone(UTC).year in YEARS, when
                    to_utc_text(when)
                    (when + timedelta(days=1)).astimezone(timezone(timedelta(hours=-23))).isoformat()
                    (when - timedelta(days=1)).astimezone(timezone(timedelta(hours=23))).isoformat()


def format_datetime_safe(iso: str) -> str:
    """An RFC 822 date for an ISO one, written by hand (email.utils cannot take every year)."""
    days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    when = datetime.fromisoformat(iso)
    zone = iso[-6:].replace(":", "")
    return f"{days[when.weekday()]}, {when.day:02d} {months[when.month - 1]} {when.year:04d} {when:%H:%M:%S} {zone}"


# Header values a server may send: each has tripped an int() or a datetime somewhere.
BAD_HEADER_VALUES = ["²", "¹²³", "١٢", "99999999999999999999999999", "Mon, 01 Jan 9999999999 00:00:00 GMT",
                     "Fri, 31 Dec 9999 23:59:59 -2359", "Mon, 01 Jan 2000 00:00:00 +99999999999999999999",
                     "Mon, 99999999999 Jan 2000 00:00:00 GMT", "-1", "1e9", "nan", " ", "0x10"]


def _on_the_wire(value: str) -> bytes:
    """A header value as a server sends it: HTTP clients read header bytes as Latin-1, so that is
    how '²' arrives as '²' (and str.isdigit() says yes)."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


@pytest.mark.parametrize("value", BAD_HEADER_VALUES)
def test_content_length_from_a_source_is_range_checked(journal: Journal, tmp_path: Path, value: str) -> None:
    body = _json_feed()
    answer = _answer(body=body).replace(f"Content-Length: {len(body)}".encode(),
                                        b"Content-Length: " + _on_the_wire(value))
    with Dribbler(answer.replace(b"application/atom+xml", b"application/feed+json"), gap=0.0) as server:
        result = journal.cli("import", server.url, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode in (0, 1) and len(result.stderr.splitlines()) <= 1, (result.returncode, result.stderr)


@pytest.mark.parametrize("value", BAD_HEADER_VALUES)
def test_if_modified_since_at_the_preview_server_is_range_checked(journal: Journal, value: str) -> None:
    """A request's If-Modified-Since that no datetime can hold gets the document, not a dropped connection."""
    import http.client

    from newswire.serve import make_server

    journal.post("a", title="A")
    assert journal.cli("publish").returncode == 0
    server = make_server(journal.config(), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
        conn.request("GET", "/atom.xml", headers={"If-Modified-Since": _on_the_wire(value)})
        response = conn.getresponse()
        assert response.status == 200 and response.read().startswith(b"<?xml"), response.status
        conn.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

"""Crash safety and the journal lock, with real processes, a real SQLite file and real SIGKILL.

Every publish here is ``python -m newswire --config ... publish`` in a subprocess. Post
dates are all in the past (2005-2020), so a publish's output does not depend on the
real clock and an interrupted journal can be compared byte for byte with a reference
copy published in one go.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import feedparser
from lxml import etree

from newswire.lock import journal_lock

from harness import Journal

KILL_ROUNDS = 8
SEED = 20091106

LABELS = [f"Topic {i:02d}" for i in range(60)]
LABELS[3] = "Café & Crème"
LABELS[17] = "Zoë's Notes"
LABELS[29] = "Ports <and> Harbours"
LABELS[41] = "Ñandú Watch"
AUTHORS = ["jmorton", "napolitano"] * 4 + ["John Torres", "Émile Durand", "Ana Núñez"]
WORDS = ["border", "security", "cash", "smuggling", "café", "naïve", "résumé", "fugitives", "cooperation", "&", "enforcement", "Zürich", "São-Paulo", "déjà-vu", "“quoted”", "—", "ports", "tunnels", "currency", "€100", "bulk"]


# --- helpers -------------------------------------------------------------------------


def _generate(journal: Journal, posts: int, labels: int = len(LABELS), seed: int = SEED) -> None:
    """A synthetic journal: ``posts`` Markdown posts of about 2 KB, all dated 2005-2020."""
    rng = random.Random(seed)
    for i in range(posts):
        paragraphs = []
        for _ in range(rng.randint(4, 5)):
            words = [rng.choice(WORDS) for _ in range(rng.randint(50, 65))]
            paragraphs.append(" ".join(words) + ".")
        if i % 5 == 0:
            paragraphs.append("AT&T & Johnson & Johnson, *emphasis* and <b>raw HTML</b>.")
        author = AUTHORS[rng.randrange(len(AUTHORS))]
        when = (f"{rng.randint(2005, 2020)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
                f"T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00-05:00")
        extra: dict[str, object] = {}
        if author == "John Torres":
            extra["affiliation"] = "ICE Acting Assistant Secretary"
        journal.post(f"post-{i:04d}", title=f"Post {i}: naïve & “bold” — {rng.choice(WORDS)}", date=when,
                     author=author, labels=tuple(rng.sample(LABELS[:labels], rng.randint(1, min(3, labels)))),
                     body="\n\n".join(paragraphs), **extra)


def _copy(journal: Journal, root: Path) -> Journal:
    shutil.copytree(journal.root, root)
    return Journal(root)


def _start_publish(journal: Journal, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "newswire", "--config", str(journal.config_path), "publish",
                             *args], cwd=journal.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _publish(journal: Journal, *args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = journal.cli("publish", *args, timeout=timeout)
    return result, time.monotonic() - started


def _opens(proc: subprocess.Popen[str], path: Path, timeout: float) -> float:
    """When (time.monotonic()) the process has ``path`` open, seen in /proc/PID/fd."""
    target = str(path.resolve())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            fds = os.listdir(f"/proc/{proc.pid}/fd")
        except FileNotFoundError:
            break
        for fd in fds:
            try:
                if os.readlink(f"/proc/{proc.pid}/fd/{fd}") == target:
                    return time.monotonic()
            except OSError:
                pass
        time.sleep(0.005)
    raise AssertionError(f"pid {proc.pid} never opened {path} (exit {proc.poll()})")


def _is_temporary(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith(".tmp")


def _temporaries(journal: Journal) -> list[str]:
    if not journal.feeds.exists():
        return []
    return sorted(p.relative_to(journal.feeds).as_posix() for p in journal.feeds.rglob("*") if _is_temporary(p))


def _integrity(db: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{db}?mode=rw", uri=True, timeout=10)
    try:
        return [row[0] for row in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


def _publish_log(db: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(f"file:{db}?mode=rw", uri=True, timeout=10)
    try:
        return conn.execute("SELECT started_at, finished_at, status FROM publish_log ORDER BY id").fetchall()
    finally:
        conn.close()


class _Checker:
    """Checks that a document is whole; parsing is a pure function of the bytes, so cached by digest."""

    def __init__(self) -> None:
        self.valid: set[str] = set()

    def check(self, rel: str, data: bytes) -> None:
        key = hashlib.sha256(rel.encode() + b"\0" + data).hexdigest()
        if key in self.valid:
            return
        if rel.endswith((".xml", ".opml")):
            try:
                etree.fromstring(data)
            except etree.XMLSyntaxError as exc:
                raise AssertionError(f"{rel} ({len(data)} bytes) is not well-formed XML: {exc}") from None
        if rel.endswith(".xml"):
            parsed = feedparser.parse(data)
            assert parsed.bozo == 0, f"{rel} ({len(data)} bytes): feedparser bozo: {parsed.get('bozo_exception')!r}"
            assert parsed.entries, f"{rel}: a feed without entries"
        if rel.endswith(".json"):
            try:
                doc = json.loads(data.decode("utf-8"))
            except ValueError as exc:
                raise AssertionError(f"{rel} ({len(data)} bytes) is not JSON: {exc}") from None
            assert doc.get("version") == "https://jsonfeed.org/version/1.1" and doc.get("items"), rel
        if rel.endswith(".html"):
            assert data.rstrip().endswith(b"</html>"), f"{rel} ({len(data)} bytes) is cut short"
        self.valid.add(key)


def _archive_link(data: bytes) -> list[str]:
    return [link.href for link in feedparser.parse(data).feed.get("links", []) if link.rel == "prev-archive"]


def _early_form(rel: str, data: bytes, complete: bytes) -> bool:
    """True if ``data`` is the complete main document ``rel`` as a first publish puts it before the
    archive exists: the same entries, no link to the archive (see ``job._Run._render``)."""
    if "/archive/" in f"/{rel}" or not rel.endswith((".xml", ".json")) or rel == "index.opml":
        return False
    if rel.endswith(".json"):
        early, full = json.loads(data), json.loads(complete)
        return [i["id"] for i in early["items"]] == [i["id"] for i in full["items"]] and "next_url" not in early
    ids = [e.id for e in feedparser.parse(data).entries]
    return ids == [e.id for e in feedparser.parse(complete).entries] and not _archive_link(data)


# --- 1. kill -9 at random moments, then converge ------------------------------------------


def test_publish_killed_at_random_moments_never_shows_a_partial_file_and_converges(journal: Journal) -> None:
    _generate(journal, posts=400)
    pristine = _copy(journal, journal.root.parent / "pristine")
    reference = _copy(journal, journal.root.parent / "reference")
    done, ref_seconds = _publish(reference, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = reference.files()
    assert len(expected) > 180 and not _temporaries(reference)
    checker = _Checker()
    store = journal.config().paths.store

    # Seeded random delays between 0.05 s and the reference's time, one in each slice of that span
    # so that every phase gets hit (start-up, store migration, sync, render and write, recording).
    # In rising order: each killed run rewrites nothing already in place, so each kill lands
    # while new files are being written. A publish that outruns its kill is checked, and the
    # journal is started over so that the next rounds again interrupt real work.
    rng = random.Random(SEED)
    low, high = 0.05, max(0.2, ref_seconds)
    delays = [low + (high - low) * (i + rng.random()) / KILL_ROUNDS for i in range(KILL_ROUNDS)]
    outcomes: list[tuple[float, int, int]] = []
    for round_no, delay in enumerate(delays):
        proc = _start_publish(journal)
        try:
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:  # only if something above failed
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        visible = sum(1 for p in journal.feeds.rglob("*") if p.is_file()) if journal.feeds.exists() else 0
        outcomes.append((round(delay, 3), proc.returncode, visible))
        where = (f"after round {round_no} (killed after {delay:.3f} s, exit {proc.returncode}; "
                 f"(delay, exit, files visible) so far: {outcomes})")
        assert proc.returncode in (0, -signal.SIGKILL), f"{where}: publish failed:\n{err}"
        assert "Traceback" not in err, f"{where}:\n{err}"

        if journal.feeds.exists():
            for path in sorted(journal.feeds.rglob("*")):
                if not path.is_file() or _is_temporary(path):
                    continue
                rel = path.relative_to(journal.feeds).as_posix()
                data = path.read_bytes()
                checker.check(rel, data)
                assert rel in expected, f"{where}: {rel} is not a document the journal has"
                assert data == expected[rel] or _early_form(rel, data, expected[rel]), (
                    f"{where}: {rel} is visible but differs from the complete document "
                    f"({len(data)} vs {len(expected[rel])} bytes)")
        if store.exists():
            assert _integrity(store) == ["ok"], where
        if proc.returncode == 0:
            # the publish outran the kill: it must have converged; start over so that the
            # next rounds again interrupt a publish that has work to do
            assert journal.files() == expected, f"{where}: a completed publish did not converge"
            shutil.rmtree(journal.root)
            shutil.copytree(pristine.root, journal.root)

    killed = sum(1 for _, rc, _ in outcomes if rc == -signal.SIGKILL)
    assert killed >= 3, f"too few publishes were really interrupted: {outcomes}"

    final, _ = _publish(journal, timeout=120)
    assert final.returncode == 0, f"kills {outcomes}\n{final.stdout}{final.stderr}"
    assert "Traceback" not in final.stderr
    assert _temporaries(journal) == [], "temporary files left after a completed publish"
    got = journal.files()
    assert sorted(got) == sorted(expected), f"kills {outcomes}: the file lists differ"
    differ = [rel for rel in expected if got[rel] != expected[rel]]
    assert differ == [], f"kills {outcomes}: did not converge on {differ[:10]}"
    assert _integrity(store) == ["ok"]


def test_a_first_publish_puts_the_current_feeds_before_the_archive_and_converges_after_a_kill(
        journal: Journal) -> None:
    """A big journal's first publish: the journal's feed is in place, whole and linking to nothing
    missing, while most of its archive is still to come; killed then, the next publish converges."""
    _generate(journal, posts=600)
    reference = _copy(journal, journal.root.parent / "reference")
    done, _ = _publish(reference, timeout=180)
    assert done.returncode == 0, done.stderr
    expected = reference.files()
    archive = sorted(rel for rel in expected if rel.startswith("archive/"))
    assert len(archive) > 60 and _archive_link(expected["atom.xml"])

    proc = _start_publish(journal)
    main = journal.feeds / "atom.xml"
    deadline = time.monotonic() + 120
    try:
        while not main.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == -signal.SIGKILL, "the publish ended before its main document was seen"
    data = main.read_bytes()
    assert _early_form("atom.xml", data, expected["atom.xml"])  # the current entries, and no link to the archive
    written = [rel for rel in archive if (journal.feeds / rel).exists()]
    assert len(written) < len(archive) / 2, f"{len(written)} of {len(archive)} archive documents came first"

    final, _ = _publish(journal, timeout=180)
    assert final.returncode == 0, final.stderr
    assert journal.files() == expected


def test_a_first_sync_killed_while_storing_leaves_the_store_as_it_was(journal: Journal) -> None:
    """A first sync stands in for the posts' insert triggers (dropped and made again) inside its
    one transaction: killed in it, the store keeps every index and trigger, and holds no post."""
    from newswire.store import SqliteStore

    _generate(journal, posts=10_000)  # a load of a second or more, which the kill lands inside
    store = journal.config().paths.store
    SqliteStore(store).close()  # the empty store, as a first sync finds it
    schema = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY 1, 2"
    before = _query(store, schema)
    proc = subprocess.Popen([sys.executable, "-m", "newswire", "--config", str(journal.config_path), "sync"],
                            cwd=journal.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # A first load goes through a rollback journal (not the WAL), from its start to its commit.
        rollback = store.with_name(store.name + "-journal")
        deadline = time.monotonic() + 60
        while not rollback.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.3)  # into storing the posts
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the sync ended before it was killed"
    assert rollback.stat().st_size > 0  # the kill left it
    # The next opening rolls the load back (a read-only connection could not, were the journal hot).
    listed = journal.cli("post", "list", timeout=60)
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    assert "Post " not in listed.stdout
    assert _query(store, "SELECT count(*) FROM posts") == [(0,)]
    assert _query(store, schema) == before
    assert _integrity(store) == ["ok"]
    done = journal.cli("sync", timeout=120)
    assert done.returncode == 0, done.stderr
    assert _query(store, "SELECT count(*) FROM posts") == [(10_000,)]
    assert _query(store, schema) == before
    assert _query(store, "PRAGMA journal_mode") == [("wal",)]


def test_a_command_started_during_a_first_sync_waits_for_it(journal: Journal) -> None:
    """A first sync keeps a rollback journal while it loads, and SQLite refuses a connection that
    opens meanwhile at once (it would put the WAL back): newswire waits for the load instead, up to
    paths.store_wait, and then reads every post."""
    _generate(journal, posts=10_000)  # a load of a second or more, which the command starts inside
    store = journal.config().paths.store
    proc = subprocess.Popen([sys.executable, "-m", "newswire", "--config", str(journal.config_path), "sync"],
                            cwd=journal.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        rollback = store.with_name(store.name + "-journal")
        while not rollback.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert proc.poll() is None, "the first sync ended before a command could start beside it"
        listed = journal.cli("post", "list", timeout=120)
    finally:
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) >= 10_000
    assert _query(store, "PRAGMA journal_mode") == [("wal",)]


def _query(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return [tuple(row) for row in conn.execute(sql)]
    finally:
        conn.close()


# --- 2. a held lock: 75 at once, 75 after --wait, 0 once released -----------------------------


def test_a_held_lock_refuses_waits_and_then_lets_the_publish_run(journal: Journal) -> None:
    _generate(journal, posts=8, labels=4)
    config = journal.config()
    message = f"another publish is running (pid {os.getpid()})"
    with journal_lock(config.lock_path):
        refused, _ = _publish(journal)
        assert refused.returncode == 75, refused.stdout + refused.stderr
        assert message in refused.stderr and "Traceback" not in refused.stderr
        assert not journal.feeds.exists(), "a refused publish wrote feeds/"
        assert not config.paths.store.exists(), "a refused publish created the store"

        # time the wait itself, from the moment the process opens the lock file to its exit,
        # so that the interpreter's start-up (slow and variable on a busy machine) is left out
        proc = _start_publish(journal, "--wait", "0.5")
        try:
            opened = _opens(proc, config.lock_path, timeout=30)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        waited = time.monotonic() - opened
        assert proc.returncode == 75, out + err
        assert message in err and "Traceback" not in err
        assert 0.45 <= waited <= 0.5 + 3.0, f"--wait 0.5 gave up after {waited:.2f} s"
        assert not journal.feeds.exists()

        proc = _start_publish(journal, "--wait", "10")
        try:
            time.sleep(0.5)
            assert proc.poll() is None, "publish --wait 10 did not wait for the lock"
        except BaseException:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            raise
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        raise
    assert proc.returncode == 0, out + err
    assert (journal.feeds / "atom.xml").is_file()


# --- 3. two publishes started together ---------------------------------------------------------


def test_two_publishes_started_together_never_write_at_the_same_time(journal: Journal) -> None:
    _generate(journal, posts=400, labels=20)
    pristine = _copy(journal, journal.root.parent / "pristine")
    reference = _copy(journal, journal.root.parent / "reference")
    done = reference.cli("publish", "--json", timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["seconds"] > 0.5, "the journal is too small to overlap two publishes"
    expected = reference.files()

    attempts = []
    for attempt in range(3):
        j = _copy(pristine, journal.root.parent / f"attempt-{attempt}")
        spawned = time.monotonic()
        procs = [_start_publish(j), _start_publish(j)]
        spawned = time.monotonic() - spawned
        try:
            outputs = [p.communicate(timeout=120) for p in procs]
            results = [(p.pid, p.returncode, out, err) for p, (out, err) in zip(procs, outputs)]
        finally:
            for p in procs:
                if p.poll() is None:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait(timeout=30)
        codes = sorted(rc for _, rc, _, _ in results)
        attempts.append(codes)
        assert spawned < 0.5, f"the two publishes were started {spawned:.3f} s apart"
        assert codes in ([0, 0], [0, 75]), f"attempt {attempt}: exit codes {codes}: {results}"
        for pid, rc, _, err in results:
            assert "Traceback" not in err, err
            if rc == 75:
                winner = next(other for other, code, _, _ in results if code == 0)
                m = re.search(r"another publish is running \(pid (\w+)\)", err)
                assert m, err
                # the holder writes its pid just after taking the lock: "unknown" is a narrow window
                assert m.group(1) in (str(winner), "unknown"), (m.group(1), winner, pid)
        assert _temporaries(j) == []
        got = j.files()
        assert sorted(got) == sorted(expected), f"attempt {attempt}: the file lists differ"
        assert [rel for rel in expected if got[rel] != expected[rel]] == [], f"attempt {attempt}"
        store = j.config().paths.store
        assert _integrity(store) == ["ok"]
        log = _publish_log(store)
        assert len(log) == codes.count(0), f"attempt {attempt}: publish_log {log} for exits {codes}"
        assert all(status == "ok" for _, _, status in log), log
        if 75 in codes:
            break
    assert any(75 in codes for codes in attempts), f"no publish was ever refused: {attempts}"


# --- 4. the lock of a process that died ----------------------------------------------------------


def test_the_lock_of_a_killed_holder_is_released(journal: Journal) -> None:
    _generate(journal, posts=6, labels=3)
    config = journal.config()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from pathlib import Path\n"
         "from newswire.lock import journal_lock\n"
         "with journal_lock(Path(sys.argv[1])):\n"
         "    print('locked', flush=True)\n"
         "    time.sleep(120)\n",
         str(config.lock_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        ready, _, _ = select.select([holder.stdout], [], [], 30)
        assert ready and holder.stdout.readline().strip() == "locked", f"the holder did not lock: {holder.poll()}"
        refused, _ = _publish(journal)
        assert refused.returncode == 75, refused.stdout + refused.stderr
        assert f"another publish is running (pid {holder.pid})" in refused.stderr
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.communicate(timeout=30)
    assert holder.returncode == -signal.SIGKILL
    result, _ = _publish(journal)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (journal.feeds / "atom.xml").is_file() and not _temporaries(journal)

"""Several hosts on one store, each with its own checkout of the content: no host undoes another's
work. A sync from an older git checkout changes nothing, a diverged or unknown one is refused, a
checkout's uncommitted changes are not reverted by another's clean one; and two delivery runs, or
two pulls, at once never send or fetch one thing twice. Real processes (the CLI), real git
checkouts and real servers on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from harness import CONFIG, Journal
from loopback import http_server

pytestmark = pytest.mark.both_backends

GIT = ("git", "-c", "user.name=Test Editor", "-c", "user.email=editor@journal.test", "-c", "init.defaultBranch=main",
       "-c", "advice.detachedHead=false")


def git(where: Path, *args: str) -> str:
    return subprocess.run([*GIT, "-C", str(where), *args], check=True, capture_output=True, text=True,
                          timeout=60).stdout.strip()


def commit(checkout: Path, message: str) -> str:
    git(checkout, "add", "-A")
    git(checkout, "commit", "-q", "-m", message)
    return git(checkout, "rev-parse", "HEAD")


def host(root: Path, store: Path | str, content: Path) -> Journal:
    """A host: its own folder, config and output, its own checkout, and the one shared store."""
    j = Journal(root)
    root.mkdir(exist_ok=True)
    j.write_config(CONFIG.replace("paths: {store: newswire.db, content: content, output: feeds}",
                                  f"paths: {{store: '{store}', content: '{content}', output: feeds}}"))
    return j


@pytest.fixture
def hosts(tmp_path: Path, journal: Journal) -> tuple[Journal, Journal, Path]:
    """Hosts A and B, each with a clone of one repository (a bare 'origin'); A has committed and
    pushed two posts, which B's clone holds too. Returns (A, B, origin). They share the store of
    ``journal``'s backend: a SQLite file, or a PostgreSQL database."""
    origin = tmp_path / "origin.git"
    subprocess.run([*GIT, "init", "-q", "--bare", str(origin)], check=True, timeout=60)
    store = journal.store_url or tmp_path / "shared" / "newswire.db"
    a = host(tmp_path / "a", store, tmp_path / "a" / "content")
    git(tmp_path, "clone", "-q", str(origin), str(a.content))
    a.post("atlas", title="Operation ATLAS")
    a.post("border", title="Southwest Border", date="2009-04-07T18:05:00-07:00")
    commit(a.content, "two posts")
    git(a.content, "push", "-q", "origin", "HEAD:main")
    b = host(tmp_path / "b", store, tmp_path / "b" / "content")
    git(tmp_path, "clone", "-q", "--branch", "main", str(origin), str(b.content))
    return a, b, origin


def shared(j: Journal) -> Journal:
    """``j``, read through the store its config names (the hosts' shared one)."""
    paths = j.config().paths
    return Journal(j.root, paths.store_url) if paths.store_url else Journal(paths.store.parent)


def posts(j: Journal) -> dict[str, tuple[str, bool]]:
    """Every post in the shared store: title and whether it is deleted, by file."""
    return {source: (title, deleted is not None)
            for source, title, deleted in shared(j).rows("SELECT source, title, deleted_at FROM posts")}


def generation(j: Journal) -> int:
    return int(str(shared(j).rows("SELECT value FROM state WHERE key = 'generation'")[0][0]))


def sync(j: Journal, *args: str) -> subprocess.CompletedProcess[str]:
    return j.cli("sync", *args, timeout=60)


def newer_on_a(a: Journal) -> None:
    """A revises one post, removes the other and adds a third, commits and pushes, and syncs."""
    a.post("atlas", title="Operation ATLAS, revised")
    (a.content / "border.md").unlink()
    a.post("coast", title="Coast Guard", date="2009-12-01T09:00:00-05:00")
    commit(a.content, "revise, remove, add")
    git(a.content, "push", "-q", "origin", "HEAD:main")
    done = sync(a)
    assert done.returncode == 0, done.stderr


NEWER = {"md:atlas.md": ("Operation ATLAS, revised", False), "md:border.md": ("Southwest Border", True),
         "md:coast.md": ("Coast Guard", False)}


# --- 1. content revisions ----------------------------------------------------------------------------


def test_a_stale_checkout_changes_nothing_and_the_hosts_never_flap(hosts: tuple[Journal, Journal, Path]) -> None:
    a, b, _ = hosts
    assert sync(a).returncode == 0
    newer_on_a(a)
    assert posts(a) == NEWER
    before = generation(a)

    git(b.content, "fetch", "-q")  # B knows the newer commit, but its checkout is still at the first
    for _ in range(2):  # B syncs again and again: nothing moves
        stale = sync(b)
        assert stale.returncode == 0, stale.stderr
        assert "synced nothing" in stale.stdout and "older than" in stale.stdout, stale.stdout
        assert len(stale.stdout.strip().splitlines()) == 1
        assert posts(a) == NEWER and generation(a) == before
        assert sync(a).returncode == 0
        assert posts(a) == NEWER

    # B's publish is not an error either: it says why on stderr (not with -q) and publishes the newer posts.
    published = b.cli("publish", timeout=120)
    assert published.returncode == 0, published.stderr
    assert "older than" in published.stderr
    atom = (b.feeds / "atom.xml").read_text()
    assert "Operation ATLAS, revised" in atom and "Coast Guard" in atom and "Southwest Border" not in atom
    quiet = b.cli("publish", "-q", timeout=120)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")

    git(b.content, "pull", "-q", "origin", "main")  # caught up: B syncs, and finds nothing to change
    caught_up = sync(b)
    assert caught_up.returncode == 0 and "synced 2 posts" in caught_up.stdout, caught_up.stdout
    assert posts(a) == NEWER and generation(a) == before


def test_a_diverged_or_unknown_commit_is_refused_unless_forced(hosts: tuple[Journal, Journal, Path]) -> None:
    a, b, _ = hosts
    assert sync(a).returncode == 0
    newer_on_a(a)
    before = generation(a)

    b.post("atlas", title="Operation ATLAS, as B sees it")  # B commits on the old commit, without pulling
    ours = commit(b.content, "B's own edit")
    diverged = sync(b)
    assert diverged.returncode == 1, diverged.stdout
    assert "diverged" in diverged.stderr and "--force-revision" in diverged.stderr, diverged.stderr
    assert posts(a) == NEWER and generation(a) == before

    forced = sync(b, "--force-revision")  # B's checkout taken as the truth, on purpose
    assert forced.returncode == 0, forced.stderr
    assert posts(a)["md:atlas.md"] == ("Operation ATLAS, as B sees it", False)
    assert posts(a)["md:border.md"] == ("Southwest Border", False)

    unknown = sync(a)  # B never pushed: A's checkout does not know the commit the store holds
    assert unknown.returncode == 1
    assert f"does not know commit {ours[:12]}" in unknown.stderr, unknown.stderr
    assert posts(a)["md:atlas.md"] == ("Operation ATLAS, as B sees it", False)


def test_uncommitted_changes_are_not_undone_by_another_clean_checkout(hosts: tuple[Journal, Journal, Path]) -> None:
    a, b, _ = hosts
    assert sync(a).returncode == 0
    a.post("atlas", title="Operation ATLAS, not committed yet")
    assert sync(a).returncode == 0  # A's own uncommitted edit syncs: one host editing in place works as ever
    edited = {"md:atlas.md": ("Operation ATLAS, not committed yet", False), "md:border.md": ("Southwest Border", False)}
    assert posts(a) == edited

    clean = sync(b)  # B is at the same commit, without A's edit
    assert clean.returncode == 0, clean.stderr
    assert "uncommitted changes" in clean.stdout, clean.stdout
    assert posts(a) == edited

    commit(a.content, "the edit")
    git(a.content, "push", "-q", "origin", "HEAD:main")
    assert sync(a).returncode == 0
    git(b.content, "pull", "-q", "origin", "main")
    assert sync(b).returncode == 0
    assert posts(a) == edited


def test_a_folder_that_is_not_a_checkout_is_refused_once_the_store_knows_a_commit(
        hosts: tuple[Journal, Journal, Path], tmp_path: Path) -> None:
    a, _, _ = hosts
    assert sync(a).returncode == 0
    plain = host(tmp_path / "c", a.config().paths.store_url or a.config().paths.store, tmp_path / "c" / "content")
    plain.post("atlas", title="Operation ATLAS, from a plain folder")
    refused = sync(plain)
    assert refused.returncode == 1
    assert "not a git checkout" in refused.stderr, refused.stderr
    assert posts(a)["md:atlas.md"] == ("Operation ATLAS", False)
    forced = sync(plain, "--force-revision")
    assert forced.returncode == 0, forced.stderr
    assert posts(a) == {"md:atlas.md": ("Operation ATLAS, from a plain folder", False),
                        "md:border.md": ("Southwest Border", True)}
    again = sync(a)  # the store now holds no commit: the folder is the truth again, as for one host
    assert again.returncode == 0, again.stderr
    assert posts(a)["md:atlas.md"] == ("Operation ATLAS", False)


# --- 2. the outbox: each notification delivered once -----------------------------------------------------


@pytest.fixture
def hub() -> Iterator[HTTPServer]:
    with http_server() as server:
        yield server


def with_hub(j: Journal, url: str, extra: str = "") -> None:
    j.write_config(CONFIG + f"notify:\n  websub: ['{url}']\n" + extra)


def pending(j: Journal) -> list[tuple[str, str | None]]:
    return [(str(r[0]), r[1]) for r in j.rows("SELECT topic, claimed_until FROM outbox WHERE state = 'pending'")]


def popen(j: Journal, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "newswire", "--config", str(j.config_path), *args], cwd=j.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_delivery_runs_at_once_send_each_notification_once(journal: Journal, hub: HTTPServer) -> None:
    topics: list[str] = []
    guard = threading.Lock()

    def answer(request: Request) -> Response:
        with guard:
            topics.append(request.form["hub.topic"])
        time.sleep(0.3)  # slow enough that both runs are under way before either records an outcome
        return Response(b"", status=202)

    hub.expect_request("/hub", method="POST").respond_with_handler(answer)
    with_hub(journal, hub.url_for("/hub"))
    journal.post("atlas", title="Operation ATLAS", labels=("Cash Smuggling",))
    queued = journal.cli("publish", "--no-ping", timeout=120)
    assert queued.returncode == 0, queued.stderr
    expected = sorted(topic for topic, _ in pending(journal))
    assert len(expected) == 9  # the journal's, the author's and the label's feeds, in three formats

    runs = [popen(journal, "ping"), popen(journal, "ping")]
    outs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outs
    assert sorted(topics) == expected, Counter(topics)  # each topic once, though both runs were at work
    assert pending(journal) == []
    assert sum(int(out.split(" delivered")[0].split()[-1]) for out, _ in outs) == 9, outs


def test_a_claim_left_by_a_killed_run_is_taken_over_after_its_lease(journal: Journal, hub: HTTPServer) -> None:
    release = threading.Event()
    topics: list[str] = []

    def answer(request: Request) -> Response:
        topics.append(request.form["hub.topic"])
        if len(topics) == 1:
            release.wait(10)  # the first attempt hangs until its process has been killed
        return Response(b"", status=202)

    hub.expect_request("/hub", method="POST").respond_with_handler(answer)
    # one topic; a round of at most 1 s and a store wait of 1 s: a lease of 2 × (1 + 1) = 4 s
    single = "  formats: [atom]\n  authors: false\n  labels: false\n"
    config = CONFIG.replace("  formats: [atom, rss, json]\n", single)
    journal.write_config(config.replace("output: feeds}", "output: feeds, store_wait: 1}")
                         + f"notify:\n  websub: ['{hub.url_for('/hub')}']\n  round_timeout: 1\n")
    journal.post("atlas", title="Operation ATLAS")
    assert journal.cli("publish", "--no-ping", timeout=120).returncode == 0
    [(topic, unclaimed)] = pending(journal)
    assert unclaimed is None

    doomed = popen(journal, "ping")
    deadline = time.monotonic() + 30
    while not topics:
        assert time.monotonic() < deadline and doomed.poll() is None, "the first run never reached the hub"
        time.sleep(0.02)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.communicate(timeout=30)
    release.set()
    [(_, claimed_until)] = pending(journal)
    assert claimed_until is not None

    held = journal.cli("ping", timeout=60)  # the claim still holds: this run sends nothing
    assert held.returncode == 0 and "0 delivered" in held.stdout, held.stdout
    assert topics == [topic]

    lapse = datetime.fromisoformat(claimed_until)
    assert (lapse - datetime.now(UTC)).total_seconds() <= 5
    while datetime.now(UTC) < lapse:
        time.sleep(0.1)
    taken = journal.cli("ping", timeout=60)
    assert taken.returncode == 0 and "1 delivered" in taken.stdout, taken.stdout
    assert topics == [topic, topic] and pending(journal) == []


# --- 3. pulls: one host at a time per source ---------------------------------------------------------------


PULL = ("from newswire.config import load_config\nfrom newswire.job import open_store, utcnow\n"
        "from newswire.pull import pull\nconfig = load_config('config.yaml')\n"
        "with open_store(config) as store:\n    print('; '.join(r.line() for r in pull(config, store, utcnow())))\n")


def puller(j: Journal) -> subprocess.Popen[str]:
    """A pull in a process of its own, without the journal's lock (another host's lock is another file)."""
    return subprocess.Popen([sys.executable, "-c", PULL], cwd=j.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_two_pulls_at_once_fetch_a_source_once(journal: Journal, hub: HTTPServer) -> None:
    asked: list[str] = []
    feed = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Partner</title><link>https://p.test/</link>'
            b'<description>d</description><item><guid isPermaLink="false">p-1</guid><title>Coast path</title>'
            b'<pubDate>Tue, 05 Jan 2021 09:00:00 GMT</pubDate><description>text</description></item>'
            b'</channel></rss>')

    def answer(request: Request) -> Response:
        asked.append(request.path)
        time.sleep(0.5)  # both pulls are under way before either records what it found
        return Response(feed, status=200, content_type="application/rss+xml")

    hub.expect_request("/partner.xml").respond_with_handler(answer)
    journal.write_config(CONFIG + f"sources:\n  - {{url: '{hub.url_for('/partner.xml')}', every: 1h}}\n")
    assert journal.cli("sync").returncode == 0  # the store the hosts share is there before they pull
    runs = [puller(journal), puller(journal)]  # as two hosts' daemons do, each under its own host's lock
    outs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outs
    assert asked == ["/partner.xml"], outs
    lines = sorted(out.strip() for out, _ in outs)
    assert "imported" in lines[0] and ": not due" in lines[1], lines  # the other found it taken
    assert journal.rows("SELECT count(*) FROM posts")[0][0] == 1
    [(status,)] = journal.rows("SELECT last_status FROM source_state")
    assert status == "200"


# --- 4. the store's operations, as any backend must keep them ------------------------------------------------


def test_a_content_revision_is_recorded_only_by_the_sync_that_saw_the_last_one(journal: Journal) -> None:
    """Two syncs that read the store's revision at once: the second to record finds it moved, and
    records nothing (its sync is then undone); the same holds for a claim of a source to pull."""
    from newswire.model import ContentRevision

    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    with journal.store() as one, journal.store() as two:
        (none, seq), (_, seq_two) = one.state.content_revision(), two.state.content_revision()
        assert none is None and seq == seq_two
        mine, theirs = ContentRevision("a" * 40, False, "a:/c"), ContentRevision("b" * 40, True, "b:/c")
        assert one.state.set_content_revision(mine, seq, now)
        assert not two.state.set_content_revision(theirs, seq_two, now)
        assert two.state.content_revision() == (mine, seq + 1)

        later = now.replace(hour=13)
        assert one.sources.claim("https://p.test/", now, later)
        assert not two.sources.claim("https://p.test/", now, later)  # taken, until ``later``
        assert two.sources.claim("https://p.test/", later, later.replace(hour=14))  # its lease ran out

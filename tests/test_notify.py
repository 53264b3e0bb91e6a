"""Telling subscribers, against real servers on 127.0.0.1: WebSub hubs, weblogUpdates
ping services (XML-RPC) and signed webhooks; faults (down, 5xx, 429, 410, hung),
retries, coalescing and giving up; and the units that pace retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import secrets
import socket
import textwrap
import threading
import time
import urllib.parse
import xmlrpc.client
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xmlrpc.server import SimpleXMLRPCServer

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from newswire import notify
from newswire.job import publish
from newswire.model import Notification

from harness import CONFIG, Journal
from loopback import LoopbackServer

pytestmark = pytest.mark.both_backends

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
FEEDS = "https://journal.test/feeds/"
FILES = ("atom.xml", "rss.xml", "feed.json")
SECRET_ENV = "NEWSWIRE_TEST_HOOK_SECRET"


# --- real servers -------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One request a receiver got: path, headers (lower-case names) and the raw body bytes."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(self.body.decode("ascii"), keep_blank_values=True, strict_parsing=True)

    @property
    def topic(self) -> str:
        return self.form["hub.topic"][0]


class Receiver:
    """A pytest-httpserver on 127.0.0.1 that records every request and answers as told."""

    def __init__(self, port: int = 0):
        self.server = HTTPServer(host="127.0.0.1", port=port, threaded=True)
        self._hits: list[Hit] = []
        self._lock = threading.Lock()

    def answer(self, path: str, status: int = 202, headers: dict[str, str] | None = None, body: bytes = b"") -> str:
        """Answer POSTs to ``path`` with ``status`` and ``body``; returns the URL to put in the config."""
        def handler(request: Request) -> Response:
            hit = Hit(request.path, {k.lower(): v for k, v in request.headers.items()}, request.get_data())
            with self._lock:
                self._hits.append(hit)
            return Response(body, status=status, headers=headers or {})

        self.server.expect_request(path, method="POST").respond_with_handler(handler)
        return f"http://127.0.0.1:{self.server.port}{path}"

    @property
    def hits(self) -> list[Hit]:
        with self._lock:
            return list(self._hits)

    def clear_hits(self) -> None:
        with self._lock:
            self._hits.clear()

    def __enter__(self) -> Receiver:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server.is_running():
            self.server.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r
        assert not r.server.assertions, r.server.assertions  # no request went unanswered by a handler


class PingService:
    """A weblogUpdates XML-RPC server (SimpleXMLRPCServer in a thread) that records its calls."""

    def __init__(self, methods: dict[str, Callable[..., object]]):
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self.server = SimpleXMLRPCServer(("127.0.0.1", 0), logRequests=False, allow_none=True)
        for name, fn in methods.items():
            self.server.register_function(self._recording(name, fn), name)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/RPC2"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def _recording(self, name: str, fn: Callable[..., object]) -> Callable[..., object]:
        def call(*args: object) -> object:
            self.calls.append((name, args))
            return fn(*args)
        return call

    def __enter__(self) -> PingService:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class HungServer(LoopbackServer):
    """Accepts TCP connections and never answers. Bounded: at most 20 connections, 60 s, stops on close."""


def free_port() -> int:
    """A port with nothing listening on it (bound once to pick it, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- helpers ----------------------------------------------------------------------------


def write_notify(journal: Journal, notify_yaml: str, *, single_feed: bool = False) -> None:
    """The test config plus a notify: section; ``single_feed``: only the journal's Atom feed (one topic)."""
    text = CONFIG
    if single_feed:
        text = text.replace("formats: [atom, rss, json]", "formats: [atom]\n  authors: false\n  labels: false")
        assert "authors: false" in text
    journal.write_config(text + "notify:\n" + textwrap.indent(textwrap.dedent(notify_yaml), "  "))


def opml_urls(journal: Journal) -> list[str]:
    return journal.listed_documents()


def feed_urls(*folders: str) -> set[str]:
    return {FEEDS + folder + name for folder in folders for name in FILES}


def outbox(journal: Journal, *states: str) -> list[Notification]:
    with journal.store() as store:
        return store.outbox.list(states or ("pending",))


def entry_ids(journal: Journal) -> dict[str, str]:
    """Entry id by post title, from the store."""
    with journal.store() as store:
        return {p.title: p.entry_id for p in store.posts.summaries()}


def expected_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def two_posts(journal: Journal) -> None:
    journal.post("atlas", title="Operation ATLAS", author="jmorton", labels=("Cash Smuggling", "Border Security"))
    journal.post("border", title="Southwest Border", author="napolitano", date="2009-04-07T18:05:00-07:00",
                 labels=("Border Security",))


def revise_atlas(journal: Journal, title: str = "Operation ATLAS, revised") -> None:
    journal.post("atlas", title=title, author="jmorton", labels=("Cash Smuggling", "Border Security"))


# Feeds that change when only "atlas" (jmorton; Cash Smuggling, Border Security) changes.
ATLAS_FEEDS = feed_urls("", "authors/jmorton/", "labels/cash-smuggling/", "labels/border-security/")


# --- 1. WebSub ------------------------------------------------------------------------


def test_websub_publish_pings_each_changed_document_once(journal: Journal, receiver: Receiver) -> None:
    hub = receiver.answer("/hub", status=204)
    write_notify(journal, f"websub: [{hub}]\n")
    two_posts(journal)

    report = publish(journal.config(), now=NOW)
    assert report.ok
    topics = opml_urls(journal)
    assert len(topics) == 15  # journal, 2 authors, 2 labels; 3 formats each
    hits = receiver.hits
    assert Counter(hit.topic for hit in hits) == Counter(topics)  # exactly one request per document URL
    for hit in hits:
        assert hit.path == "/hub"
        assert hit.headers["content-type"] == "application/x-www-form-urlencoded"
        assert hit.form == {"hub.mode": ["publish"], "hub.url": [hit.topic], "hub.topic": [hit.topic]}
    assert report.pings is not None and report.pings.delivered == 15
    assert outbox(journal) == []
    assert {n.topic for n in outbox(journal, "delivered")} == set(topics)

    # Nothing changed: nothing is queued, nothing is sent.
    receiver.clear_hits()
    report = publish(journal.config(), now=NOW + timedelta(hours=1))
    assert report.ok and report.queued == 0
    assert receiver.hits == []

    # One post changed: exactly its journal, author and label documents, once each.
    revise_atlas(journal)
    report = publish(journal.config(), now=NOW + timedelta(hours=2))
    assert report.ok
    assert Counter(hit.topic for hit in receiver.hits) == Counter(ATLAS_FEEDS)
    assert all(hit.form["hub.url"] == [hit.topic] for hit in receiver.hits)
    assert outbox(journal) == []


# --- 2. weblogUpdates -----------------------------------------------------------------------


def test_weblog_updates_extended_ping_fallback_and_flerror(journal: Journal) -> None:
    ok = PingService({"weblogUpdates.extendedPing": lambda name, url, changed, rss: {"flerror": False,
                                                                                   "message": "ok"}})
    fallback = PingService({"weblogUpdates.ping": lambda name, url: {"flerror": False, "message": "thanks"}})
    busy = PingService({"weblogUpdates.extendedPing": lambda *args: {"flerror": True, "message": "overloaded"}})
    with ok, fallback, busy:
        write_notify(journal, f"weblogs: [{ok.url}, {fallback.url}, {busy.url}]\n")
        two_posts(journal)
        report = publish(journal.config(), now=NOW)
        assert report.ok
        rss = "https://journal.test/feeds/rss.xml"
        assert ok.calls == [("weblogUpdates.extendedPing", ("Test Journal", "https://journal.test/", rss, rss))]
        # extendedPing is a fault there (not registered), so the plain ping is used instead.
        assert fallback.calls == [("weblogUpdates.ping", ("Test Journal", "https://journal.test/"))]
        assert busy.calls == [("weblogUpdates.extendedPing", ("Test Journal", "https://journal.test/", rss, rss))]
        assert report.pings is not None
        assert (report.pings.delivered, report.pings.retrying, report.pings.failed) == (2, 1, 0)
        assert {n.target for n in outbox(journal, "delivered")} == {ok.url, fallback.url}
        [pending] = outbox(journal)
        assert (pending.kind, pending.target, pending.attempts) == ("weblogs", busy.url, 1)
        assert pending.next_at is not None and pending.next_at > NOW
        assert "flerror" in (pending.last_error or "")

        # Later, nothing changed: only the one that said flerror is tried again.
        report = publish(journal.config(), now=NOW + timedelta(hours=1))
        assert len(ok.calls) == 1 and len(fallback.calls) == 1 and len(busy.calls) == 2
        [pending] = outbox(journal)
        assert pending.attempts == 2


# --- 3. webhooks --------------------------------------------------------------------------


def test_webhook_is_signed_and_lists_changed_feeds_and_new_entries(journal: Journal, receiver: Receiver,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "hook-" + secrets.token_hex(16)
    monkeypatch.setenv(SECRET_ENV, secret)
    hook = receiver.answer("/hook", status=204)
    write_notify(journal, f"""\
        webhooks:
          - url: {hook}
            secret_env: {SECRET_ENV}
        """)
    two_posts(journal)

    report = publish(journal.config(), now=NOW)
    assert report.ok and report.pings is not None and report.pings.delivered == 1
    [hit] = receiver.hits
    assert hit.headers["content-type"] == "application/json"
    assert hit.headers["x-hub-signature-256"] == expected_signature(secret, hit.body)
    # A receiver holding the wrong secret sees a signature that does not match.
    assert not hmac.compare_digest(expected_signature("not-" + secret, hit.body), hit.headers["x-hub-signature-256"])
    assert secret not in hit.body.decode("utf-8")
    body = json.loads(hit.body)
    ids = entry_ids(journal)
    assert body["journal"] == "Test Journal"
    assert sorted(body["feeds"]) == sorted(opml_urls(journal))
    assert sorted(body["entries"]) == sorted(ids.values())

    receiver.clear_hits()
    revise_atlas(journal)
    report = publish(journal.config(), now=NOW + timedelta(hours=1))
    assert report.ok
    [hit] = receiver.hits
    assert hit.headers["x-hub-signature-256"] == expected_signature(secret, hit.body)
    body = json.loads(hit.body)
    assert sorted(body["feeds"]) == sorted(ATLAS_FEEDS)
    assert body["entries"] == [ids["Operation ATLAS"]]


def test_webhook_secret_env_not_set_is_a_one_line_config_error(journal: Journal,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    write_notify(journal, f"""\
        webhooks:
          - url: http://127.0.0.1:9/hook
            secret_env: {SECRET_ENV}
        """)
    two_posts(journal)
    result = journal.cli("publish", timeout=60)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "notify.webhooks[0].secret_env" in lines[0] and SECRET_ENV in lines[0]
    assert not journal.feeds.exists()


def test_webhook_secret_never_appears_in_output_or_store(journal: Journal, receiver: Receiver,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "hook-" + secrets.token_hex(16)
    monkeypatch.delenv(SECRET_ENV, raising=False)  # only the subprocesses get it
    env = {SECRET_ENV: secret}
    hook = receiver.answer("/hook", status=500)  # failing, so errors are printed and the hook stays queued
    write_notify(journal, f"""\
        webhooks:
          - url: {hook}
            secret_env: {SECRET_ENV}
        """)
    two_posts(journal)
    runs = {"publish": journal.cli("publish", env=env, timeout=60)}
    revise_atlas(journal)
    runs["publish --json"] = journal.cli("publish", "--json", env=env, timeout=60)
    runs["status"] = journal.cli("status", env=env, timeout=60)
    runs["ping --all"] = journal.cli("ping", "--all", env=env, timeout=60)
    for name, result in runs.items():
        assert result.returncode == 0, (name, result)
        assert secret not in result.stdout and secret not in result.stderr, name
    assert "webhook" in runs["publish"].stderr and "500" in runs["publish"].stderr  # the failure was reported
    assert json.loads(runs["publish --json"].stdout)["pings_queued"] == 1  # coalesced into the pending one
    assert "1 pending" in runs["status"].stdout
    assert "webhook" in runs["ping --all"].stderr and "500" in runs["ping --all"].stderr
    hits = receiver.hits
    assert len(hits) == 3  # publish, publish --json (its change made the pending one due), ping --all
    assert all(h.headers["x-hub-signature-256"] == expected_signature(secret, h.body) for h in hits)
    if journal.store_url is None:
        store_files = sorted(journal.root.glob("newswire.db*"))
        assert journal.root / "newswire.db" in store_files
        for path in store_files:
            assert secret.encode() not in path.read_bytes(), path
    for table in ("outbox", "state", "publish_log"):
        assert secret not in repr([tuple(r) for r in journal.rows(f"SELECT * FROM {table}")]), table
    assert all(secret.encode() not in data for data in journal.files().values())


# --- 4. faults ---------------------------------------------------------------------------


def test_hub_down_coalesces_then_delivers_once_when_back(journal: Journal) -> None:
    port = free_port()
    hub = f"http://127.0.0.1:{port}/hub"
    write_notify(journal, f"websub: [{hub}]\ntimeout: 2\n")
    journal.post("atlas", title="Operation ATLAS", author="jmorton", labels=("Border Security",))
    report = publish(journal.config(), now=NOW)
    assert report.ok
    assert report.pings is not None and report.pings.delivered == 0 and report.pings.retrying == 9
    assert {n.topic for n in outbox(journal)} == set(opml_urls(journal))

    # Two more publishes with other changes, the hub still down.
    journal.post("border", title="Southwest Border", author="napolitano", labels=("Border Security", "Southwest"))
    assert publish(journal.config(), now=NOW + timedelta(minutes=1)).ok
    revise_atlas(journal)
    assert publish(journal.config(), now=NOW + timedelta(minutes=2)).ok
    pending = outbox(journal)
    keys = [(n.target, n.topic) for n in pending]
    assert len(keys) == len(set(keys))  # one per (hub, topic)
    assert {n.topic for n in pending} == set(opml_urls(journal))
    assert len(pending) == 18  # journal, 2 authors, 3 labels; 3 formats each
    status = journal.cli("status", timeout=60)
    assert "notifications: 18 pending, 0 failed" in status.stdout, status.stdout

    with Receiver(port) as back:
        assert back.server.port == port
        back.answer("/hub", status=202)
        result = journal.cli("ping", "--all", timeout=60)
        assert result.returncode == 0, result
        assert Counter(hit.topic for hit in back.hits) == Counter(n.topic for n in pending)
        assert outbox(journal) == []
        assert {n.topic for n in outbox(journal, "delivered")} == {n.topic for n in pending}

        again = journal.cli("ping", "--all", timeout=60)
        assert again.returncode == 0, again
        assert len(back.hits) == 18
        assert "0 delivered" in again.stdout


def test_hub_answering_500_leaves_the_notification_pending_with_backoff(journal: Journal,
                                                                        receiver: Receiver) -> None:
    hub = receiver.answer("/hub", status=500)
    write_notify(journal, f"websub: [{hub}]\n", single_feed=True)
    two_posts(journal)
    report = publish(journal.config(), now=NOW)
    assert report.ok
    assert len(receiver.hits) == 1
    [n] = outbox(journal)
    assert (n.state, n.attempts, n.topic) == ("pending", 1, FEEDS + "atom.xml")
    assert n.next_at is not None
    assert NOW + timedelta(seconds=15) <= n.next_at <= NOW + timedelta(seconds=45)  # backoff(1): 30 s +-50%
    assert "500" in (n.last_error or "")


def test_hub_answering_429_with_retry_after_is_retried_no_sooner(journal: Journal, receiver: Receiver) -> None:
    hub = receiver.answer("/hub", status=429, headers={"Retry-After": "120"})
    write_notify(journal, f"websub: [{hub}]\n", single_feed=True)
    two_posts(journal)
    assert publish(journal.config(), now=NOW).ok
    [n] = outbox(journal)
    assert (n.state, n.attempts) == ("pending", 1)
    # 120 s counted from the answer (which comes a little after the publish began), never earlier.
    assert NOW + timedelta(seconds=120) <= n.next_at <= NOW + timedelta(seconds=125)


def test_hub_answering_410_fails_at_once_and_status_shows_it(journal: Journal, receiver: Receiver) -> None:
    hub = receiver.answer("/hub", status=410)
    write_notify(journal, f"websub: [{hub}]\n", single_feed=True)
    two_posts(journal)
    report = publish(journal.config(), now=NOW)
    assert report.ok and report.pings is not None and report.pings.failed == 1
    assert outbox(journal) == []
    [n] = outbox(journal, "failed")
    assert (n.attempts, n.topic) == (1, FEEDS + "atom.xml")
    assert "410" in (n.last_error or "")
    status = journal.cli("status", timeout=60)
    assert status.returncode == 0
    assert "notifications: 0 pending, 1 failed" in status.stdout, status.stdout
    assert any(line.split()[:3] == ["failed", "websub", hub] for line in status.stdout.splitlines()), status.stdout
    # A failed notification is not tried again.
    assert journal.cli("ping", "--all", timeout=60).returncode == 0
    assert len(receiver.hits) == 1


def test_max_attempts_gives_up_visibly(journal: Journal, receiver: Receiver) -> None:
    hub = receiver.answer("/hub", status=500)
    write_notify(journal, f"websub: [{hub}]\nmax_attempts: 2\n", single_feed=True)
    two_posts(journal)
    queued = journal.cli("publish", "--no-ping", timeout=60)
    assert queued.returncode == 0, queued
    assert receiver.hits == []

    first = journal.cli("ping", "--all", timeout=60)
    assert first.returncode == 0, first
    [n] = outbox(journal)
    assert n.attempts == 1

    second = journal.cli("ping", "--all", timeout=60)
    assert second.returncode == 1, second
    assert "gave up after 2 attempts" in second.stderr
    assert outbox(journal) == []
    [n] = outbox(journal, "failed")
    assert n.attempts == 2 and "gave up" in (n.last_error or "")
    assert len(receiver.hits) == 2
    status = journal.cli("status", timeout=60)
    assert "notifications: 0 pending, 1 failed" in status.stdout, status.stdout

    assert journal.cli("ping", "--all", timeout=60).returncode == 0
    assert len(receiver.hits) == 2


def test_hung_hub_does_not_hang_publish(journal: Journal) -> None:
    with HungServer() as hung:
        write_notify(journal, f"websub: [http://127.0.0.1:{hung.port}/hub]\ntimeout: 1\n", single_feed=True)
        two_posts(journal)
        started = time.monotonic()
        result = journal.cli("publish", timeout=30)
        elapsed = time.monotonic() - started
        assert result.returncode == 0, result
        assert elapsed < 8, elapsed
        assert len(hung.conns) >= 1  # the hub was really reached
    [n] = outbox(journal)
    assert (n.state, n.attempts) == ("pending", 1)
    assert "no answer within 1 s" in (n.last_error or "")


# --- 5. a fresh change is due at once -----------------------------------------------------


XMLRPC_OK = xmlrpc.client.dumps(({"flerror": False, "message": "thanks"},), methodresponse=True).encode("utf-8")
TARGETS = {  # the notify: section that sends one kind of notification to a URL
    "websub": lambda url: f"websub: [{url}]\n",
    "weblogs": lambda url: f"weblogs: [{url}]\n",
    "webhook": lambda url: f"webhooks:\n  - url: {url}\n    secret_env: {SECRET_ENV}\n",
}


@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_a_fresh_change_reaches_a_target_that_is_back_during_its_publish(
        journal: Journal, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """An older notification backing off (here for an hour, as the 503 asked) does not hold back
    the next publish's: that one is due at once, and goes out during that publish."""
    secret = "hook-" + secrets.token_hex(16)
    monkeypatch.setenv(SECRET_ENV, secret)
    url = receiver.answer("/in", status=503, headers={"Retry-After": "3600"})
    write_notify(journal, TARGETS[kind](url), single_feed=True)
    journal.post("atlas", title="Operation ATLAS", author="jmorton")
    report = publish(journal.config(), now=NOW)
    assert report.ok and report.pings is not None and report.pings.retrying == 1
    [backing_off] = outbox(journal)
    assert backing_off.next_at is not None and backing_off.next_at >= NOW + timedelta(hours=1)
    assert len(receiver.hits) == 1

    # The target is back; a minute later another post is published.
    receiver.server.clear_all_handlers()
    receiver.answer("/in", status=200, body=XMLRPC_OK if kind == "weblogs" else b"")
    receiver.clear_hits()
    journal.post("border", title="Southwest Border", author="napolitano")
    report = publish(journal.config(), now=NOW + timedelta(minutes=1))
    assert report.ok and report.queued == 1
    [hit] = receiver.hits  # received before the publish returned: one request, old and new together
    assert report.pings is not None and report.pings.delivered == 1
    assert outbox(journal) == []
    [delivered] = outbox(journal, "delivered")
    assert delivered.attempts == 1  # re-armed by the fresh change: the old attempt does not count
    if kind == "websub":
        topic = FEEDS + "atom.xml"
        assert hit.form == {"hub.mode": ["publish"], "hub.url": [topic], "hub.topic": [topic]}
    elif kind == "weblogs":
        atom = FEEDS + "atom.xml"
        assert xmlrpc.client.loads(hit.body) == (("Test Journal", "https://journal.test/", atom, atom),
                                                 "weblogUpdates.extendedPing")
    else:
        assert hit.headers["x-hub-signature-256"] == expected_signature(secret, hit.body)
        assert sorted(json.loads(hit.body)["entries"]) == sorted(entry_ids(journal).values())  # both posts


def test_a_fresh_change_reaches_a_hub_that_refused_connections_a_moment_ago(journal: Journal) -> None:
    port = free_port()
    write_notify(journal, f"websub: [http://127.0.0.1:{port}/hub]\ntimeout: 2\n", single_feed=True)
    journal.post("atlas", title="Operation ATLAS", author="jmorton")
    report = publish(journal.config(), now=NOW)
    assert report.pings is not None and report.pings.retrying == 1
    [backing_off] = outbox(journal)
    assert "cannot connect" in (backing_off.last_error or "")
    assert backing_off.next_at is not None and backing_off.next_at >= NOW + timedelta(seconds=15)  # backoff(1)

    with Receiver(port) as back:
        back.answer("/hub", status=202)
        journal.post("border", title="Southwest Border", author="napolitano")
        report = publish(journal.config(), now=NOW + timedelta(seconds=10))  # the old retry is not yet due
        assert [hit.topic for hit in back.hits] == [FEEDS + "atom.xml"]
        assert report.pings is not None and report.pings.delivered == 1
        assert outbox(journal) == []


def test_a_re_armed_notification_has_a_fresh_budget_of_attempts_and_age(journal: Journal,
                                                                       receiver: Receiver) -> None:
    """Re-armed by a fresh change, a notification is as good as new: not given up because the
    notification it absorbed had used its attempts or age, yet given up when it uses up its own."""
    hub = receiver.answer("/hub", status=503)
    write_notify(journal, f"websub: [{hub}]\nmax_attempts: 2\nmax_age: 1h\n", single_feed=True)
    journal.post("atlas", title="Operation ATLAS", author="jmorton")
    assert publish(journal.config(), now=NOW).ok
    [first] = outbox(journal)
    assert first.attempts == 1

    # Two hours on (past max_age of the first), a second post; the hub still answers 503.
    later = NOW + timedelta(hours=2)
    journal.post("border", title="Southwest Border", author="napolitano")
    report = publish(journal.config(), now=later)
    assert report.pings is not None and (report.pings.retrying, report.pings.failed) == (1, 0), report.pings.errors
    assert len(receiver.hits) == 2
    [rearmed] = outbox(journal)
    assert (rearmed.attempts, rearmed.created_at) == (1, later)
    assert "503" in (rearmed.last_error or "")

    # Its own second failure uses up max_attempts: given up, visibly.
    with journal.store() as store:
        report = notify.deliver(journal.config(), store, later + timedelta(minutes=5), everything=True)
    assert report.failed == 1 and "gave up after 2 attempts" in report.errors[0]
    assert outbox(journal) == []
    [failed] = outbox(journal, "failed")
    assert failed.attempts == 2


@pytest.mark.parametrize("status", [202, 503, 410])
def test_an_attempt_overtaken_by_a_fresh_change_leaves_the_fresh_one_due(
        journal: Journal, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, status: int) -> None:
    """A delivery run (``newswire ping`` takes no lock) that read a notification before a publish
    re-armed it records nothing over the re-armed one, whatever the answer: its news would be lost."""
    monkeypatch.setenv(SECRET_ENV, "hook-" + secrets.token_hex(16))
    hook = f"http://127.0.0.1:{receiver.server.port}/hook"
    write_notify(journal, TARGETS["webhook"](hook), single_feed=True)
    journal.post("atlas", title="Operation ATLAS", author="jmorton")
    assert publish(journal.config(), now=NOW, ping=False).ok
    later = NOW + timedelta(minutes=1)
    bodies: list[dict[str, object]] = []

    def publish_meanwhile(request: Request) -> Response:
        """The hook's answer, given while a publish (another process, as far as SQLite sees) re-arms."""
        bodies.append(json.loads(request.get_data()))
        if len(bodies) == 1:
            with journal.store() as other:
                other.outbox.enqueue(Notification("webhook", hook, "", {"feeds": [], "entries": ["urn:fresh"]}), later)
        return Response(b"", status=status if len(bodies) == 1 else 204)

    receiver.server.expect_request("/hook", method="POST").respond_with_handler(publish_meanwhile)
    with journal.store() as store:
        report = notify.deliver(journal.config(), store, later)
        assert report.failed == 0, report.errors
        [fresh] = store.outbox.list(due_by=later)
        assert (fresh.attempts, fresh.next_at) == (0, later)
        assert fresh.payload["entries"] == [*bodies[0]["entries"], "urn:fresh"]  # type: ignore[misc]

        again = notify.deliver(journal.config(), store, later)
        assert again.delivered == 1
        assert bodies[1]["entries"] == fresh.payload["entries"]
        assert store.outbox.list() == []


# --- 6. --no-ping then ping -----------------------------------------------------------------


def test_publish_no_ping_queues_and_ping_delivers(journal: Journal, receiver: Receiver) -> None:
    hub = receiver.answer("/hub", status=202)
    write_notify(journal, f"websub: [{hub}]\n")
    two_posts(journal)
    queued = journal.cli("publish", "--no-ping", timeout=60)
    assert queued.returncode == 0, queued
    assert "15 pings queued" in queued.stdout
    assert receiver.hits == []
    status = journal.cli("status", timeout=60)
    assert "notifications: 15 pending, 0 failed" in status.stdout, status.stdout

    sent = journal.cli("ping", timeout=60)
    assert sent.returncode == 0, sent
    assert "15 delivered" in sent.stdout
    assert Counter(hit.topic for hit in receiver.hits) == Counter(opml_urls(journal))
    assert outbox(journal) == []


# --- 7. units ------------------------------------------------------------------------------


def test_retry_after_reads_seconds_dates_and_ignores_garbage() -> None:
    assert notify.retry_after("120") == 120.0
    assert notify.retry_after(" 7 ") == 7.0
    assert notify.retry_after("0") == 0.0
    assert notify.retry_after("999999") == notify.MAX_DELAY
    later = NOW + timedelta(seconds=90)
    assert notify.retry_after(format_datetime(later, usegmt=True), now=NOW) == 90.0
    assert notify.retry_after(format_datetime(NOW - timedelta(hours=1), usegmt=True), now=NOW) == 0.0
    assert notify.retry_after(format_datetime(NOW + timedelta(days=3), usegmt=True), now=NOW) == notify.MAX_DELAY
    for garbage in (None, "", "soon", "-5", "1.5", "12abc", "Mon, 99 Foo 2026 25:61:61 GMT"):
        assert notify.retry_after(garbage, now=NOW) is None, garbage


def test_backoff_grows_jitters_and_never_exceeds_the_cap() -> None:
    class Middle(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return (a + b) / 2

    mid = [notify.backoff(n, Middle()) for n in range(1, 16)]
    assert mid[:4] == [30.0, 60.0, 120.0, 240.0]
    assert all(a <= b for a, b in zip(mid, mid[1:]))
    assert max(mid) == notify.MAX_DELAY and mid[-1] == notify.MAX_DELAY
    assert notify.backoff(100, Middle()) == notify.MAX_DELAY

    rng = random.Random(20261130)
    for attempts in (1, 3, 8, 20):
        base = min(notify.BASE_DELAY * 2 ** (attempts - 1), notify.MAX_DELAY)
        samples = [notify.backoff(attempts, rng) for _ in range(200)]
        assert all(0.5 * base <= s <= min(1.5 * base, notify.MAX_DELAY) for s in samples), attempts
        assert min(samples) < 0.75 * base  # really jittered
        if base < notify.MAX_DELAY:
            assert max(samples) > 1.25 * base
        else:  # the cap holds after the jitter too
            assert max(samples) == notify.MAX_DELAY
    # Seeded: the same seed gives the same delays.
    assert [notify.backoff(2, random.Random(7)) for _ in range(3)] == [notify.backoff(2, random.Random(7))] * 3


# --- 7. numbers and text from the other side ------------------------------------------------

# Retry-After values a hub may send: digits that are not ASCII ('²'.isdigit() is true, int('²')
# fails), numbers and dates past every limit. None may stop a publish after its files are written.
RETRY_AFTERS = ["²", "¹²³", "99999999999999999999999999999", "Mon, 01 Jan 9999999999 00:00:00 GMT",
                "Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 2000 00:00:00 +99999999999999999999"]


@pytest.mark.parametrize("value", RETRY_AFTERS)
def test_any_retry_after_leaves_the_publish_recorded_and_the_ping_pending_once(journal: Journal, receiver: Receiver,
                                                                             value: str) -> None:
    hub = receiver.answer("/hub", status=503, headers={"Retry-After": value})
    write_notify(journal, f"websub: [{hub}]\n", single_feed=True)
    two_posts(journal)
    first = journal.cli("publish", timeout=60)
    assert first.returncode == 0 and "Traceback" not in first.stderr, (first.returncode, first.stderr[-2000:])
    assert "1 to retry" in first.stdout, first.stdout
    second = journal.cli("publish", timeout=60)  # nothing changed, and the ping is not due yet
    assert second.returncode == 0, second.stderr
    assert len(receiver.hits) == 1, "the hub was pinged again: the first answer was never recorded"
    [n] = outbox(journal)
    assert (n.state, n.attempts) == ("pending", 1)
    with journal.store() as store:
        last = store.documents.last_publish()
        assert last is not None and last.status == "ok"
    assert n.next_at is not None and n.created_at is not None
    assert n.next_at - n.created_at <= timedelta(seconds=notify.MAX_DELAY + 60)


def _header_values() -> st.SearchStrategy[str]:
    digits = st.text(alphabet="0123456789²³¹⁰٠١٢٣߀०൦", min_size=1, max_size=40)
    numbers = st.integers(-(10**30), 10**30).map(str)
    zones = st.sampled_from(["GMT", "UTC", "-0000", "+2359", "-2359", "+99999999"])
    date_parts = st.tuples(st.integers(-5, 10**12), st.sampled_from(["Jan", "Feb", "Dec", "Foo"]),
                           st.integers(-5, 10**12), st.integers(-5, 10**6), st.integers(-5, 10**6),
                           st.integers(-5, 10**6), zones)
    dates = date_parts.map(lambda p: f"Mon, {p[0]} {p[1]} {p[2]} {p[3]}:{p[4]}:{p[5]} {p[6]}")
    return st.one_of(st.text(max_size=60), digits, numbers, dates)


@settings(max_examples=400, deadline=None)
@given(value=_header_values())
def test_retry_after_never_raises_and_stays_within_its_bounds(value: str) -> None:
    """Whatever a server sends: no wait, or a wait from 0 to MAX_DELAY, which the outbox can add to now."""
    wait = notify.retry_after(value, now=NOW)
    assert wait is None or 0 <= wait <= notify.MAX_DELAY, (value, wait)
    if wait is not None:
        NOW + timedelta(seconds=wait)
    stripped = value.strip()
    if stripped.isascii() and stripped.isdigit():
        assert wait == min(int(stripped), notify.MAX_DELAY)


FORGED = "bad ping\nnewswire: forged line\r\n2026-01-01T00:00:00+0000 INFO publish: forged\x85\x9b2K\u2028end"


@pytest.mark.parametrize("answer", ["fault", "flerror", "long"])
def test_a_ping_services_message_stays_on_one_line_in_publish_status_and_the_daemon_log(journal: Journal,
                                                                                         answer: str) -> None:
    """An XML-RPC fault string (or flerror message) with newlines, C1 controls (a next-line and a
    terminal's escape) and a Unicode line separator cannot forge lines in what newswire prints;
    a long one is cut short. (XML carries no C0 control but tab, newline and carriage return.)"""
    import xmlrpc.client

    text = FORGED if answer != "long" else FORGED + "x" * 100_000

    def fault(*args: object) -> object:
        raise xmlrpc.client.Fault(7, text)

    methods = {"fault": {"weblogUpdates.extendedPing": fault, "weblogUpdates.ping": fault},
               "flerror": {"weblogUpdates.extendedPing": lambda *args: {"flerror": True, "message": text}},
               "long": {"weblogUpdates.extendedPing": fault, "weblogUpdates.ping": fault}}[answer]
    with PingService(methods) as service:
        write_notify(journal, f"weblogs: [{service.url}]\n", single_feed=True)
        two_posts(journal)
        published = journal.cli("publish", timeout=60)
        status = journal.cli("status", timeout=60)
        revise_atlas(journal)  # a new notification for the daemon's publish
        daemon = journal.cli("run", "--once", timeout=60)
        again = journal.cli("ping", "--all", timeout=60)
    assert published.returncode == 0 and daemon.returncode == 0, (published.stderr, daemon.stderr)
    assert [line for line in published.stderr.splitlines() if not line.startswith("newswire: ")] == [], \
        published.stderr
    assert "bad ping\\nnewswire: forged line\\n2026-01-01T00:00:00+0000 INFO publish: forged\\x85\\x9b2K\\u2028end" \
        in published.stderr, published.stderr
    lines = status.stdout.splitlines()
    assert len(lines) == 4 and lines[2].startswith("  ") and lines[3].startswith("next scheduled post:"), lines
    log_line = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} (INFO|WARNING|ERROR) (run|publish|verify|ping): ")
    assert [line for line in daemon.stderr.splitlines() if not log_line.match(line)] == [], daemon.stderr
    # A fault gives the ping up in the daemon's publish; an flerror is retried, here by 'ping --all'.
    told = daemon.stderr if answer != "flerror" else again.stderr
    assert "bad ping\\nnewswire: forged line" in told, told
    assert [line for line in again.stderr.splitlines() if not line.startswith("newswire: ping: ")] == [], again.stderr
    for output in (published.stderr, status.stdout, daemon.stderr, again.stderr):
        assert all(len(line) < 3000 for line in output.splitlines())
        assert len(output.splitlines()) == output.count("\n"), output  # no line break but the line ends
        assert "\x9b" not in output and "\r" not in output

"""The notifier seam: a notifier is one object in the registry, and every status the code
keeps (deliveries, the outbox, pulls, publishes, posts, documents) is one of a closed set
of values that the type checker holds the code to."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import typing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from newswire import notify
from newswire.config import Config
from newswire.job import publish
from newswire.model import Notification, OutboxState
from newswire.notify import Change, Outcome, registry
from newswire.notify.notifier import Poster, http_outcome
from newswire.store import SqliteStore

from harness import CONFIG, ROOT, Journal

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class ChatHook:
    """A toy notifier, as a new module would hold it: one JSON message per publish, naming the
    journal's changed documents, to one chat URL."""

    url: str
    title: str
    kind = "chat"
    per_topic = False

    def notifications(self, change: Change) -> list[Notification]:
        journal = [url for folder, urls in change.feeds if folder == "" for url in urls.values()]
        return [Notification(self.kind, self.url, "", {"text": f"{self.title} changed", "feeds": journal})]

    def send(self, n: Notification, post: Poster, now: datetime) -> Outcome:
        body = json.dumps(n.payload, sort_keys=True).encode("utf-8")
        return http_outcome(post(n.target, body, {"Content-Type": "application/json"}), now)


def test_a_notifier_is_one_object_and_one_registry_line(journal: Journal, httpserver: HTTPServer,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A notifier added to the registry gets its notification queued by a publish, in the same
    outbox as the others, and delivered to a real server by the same delivery loop."""
    got: list[dict[str, object]] = []

    def chat(request: Request) -> Response:
        got.append(json.loads(request.get_data()))
        return Response("", status=204)

    httpserver.expect_request("/chat", method="POST").respond_with_handler(chat)
    url = httpserver.url_for("/chat")

    def make_chat(config: Config) -> ChatHook:
        return ChatHook(url, config.journal.title)

    monkeypatch.setattr(registry, "NOTIFIERS", (*registry.NOTIFIERS, make_chat))
    journal.write_config(CONFIG.replace("formats: [atom, rss, json]", "formats: [atom]"))
    journal.post("atlas", title="Operation ATLAS")

    report = publish(journal.config(), now=NOW, ping=False)
    assert report.ok and report.queued == 1, report.summary()
    with SqliteStore(journal.root / "newswire.db") as store:
        (queued,) = store.outbox.list(("pending",))
    assert (queued.kind, queued.target, queued.state) == ("chat", url, "pending")
    assert got == []  # queued only: nothing is sent before delivery

    with SqliteStore(journal.root / "newswire.db") as store:
        delivered = notify.deliver(journal.config(), store, NOW)
        assert (delivered.delivered, delivered.failed, delivered.errors) == (1, 0, [])
        assert [n.state for n in store.outbox.list(("pending", "delivered"))] == ["delivered"]
    assert got == [{"text": "Test Journal changed", "feeds": ["https://journal.test/feeds/atom.xml"]}]


def test_a_notification_of_a_kind_no_notifier_sends_is_given_up_visibly(journal: Journal) -> None:
    """One queued by a notifier since taken out of the registry fails at once, saying why."""
    journal.post("atlas")
    publish(journal.config(), now=NOW)
    with SqliteStore(journal.root / "newswire.db") as store:
        store.outbox.enqueue(Notification("gone", "http://127.0.0.1:9/", "", {}), NOW)
        report = notify.deliver(journal.config(), store, NOW)
        (failed,) = store.outbox.list(("failed",))
    assert report.failed == 1 and "unknown notification kind 'gone'" in report.errors[0], report.errors
    assert failed.last_error == "unknown notification kind 'gone'"


def test_every_outbox_state_written_to_the_store_is_an_outbox_state(journal: Journal,
                                                                     httpserver: HTTPServer) -> None:
    """Deliveries that succeed, fail, and are given up, and notifications merged, read back from
    a real store: each state the code wrote is one of ``OutboxState``, and each one is used."""
    answers = {"/ok": 204, "/gone": 410, "/busy": 503}
    for path, status in answers.items():
        httpserver.expect_request(path, method="POST").respond_with_data("", status=status)
    hubs = ", ".join(httpserver.url_for(path) for path in answers)
    journal.write_config(CONFIG.replace("formats: [atom, rss, json]", "formats: [atom]\n  authors: false\n"
                                        "  labels: false") + f"notify:\n  websub: [{hubs}]\n  max_attempts: 1\n")
    journal.post("atlas", title="Operation ATLAS")
    report = publish(journal.config(), now=NOW)
    assert report.pings is not None and (report.pings.delivered, report.pings.failed) == (1, 2)  # gone; busy given up
    for minute, title in ((1, "Operation ATLAS, revised"), (2, "Operation ATLAS, again")):
        journal.post("atlas", title=title)
        report = publish(journal.config(), now=NOW + timedelta(minutes=minute), ping=False)
        assert report.queued == 3  # the second time, each is merged into the one still pending
    with SqliteStore(journal.root / "newswire.db") as store:
        written = [state for (state,) in store.db.execute("SELECT state FROM outbox")]
    assert set(written) <= set(typing.get_args(OutboxState)), written
    assert set(written) == {"pending", "delivered", "failed", "merged"}, written


# --- the type checker holds the code to each status's values ------------------------------

SNIPPET = '''\
from datetime import datetime

from newswire.model import post_state
from newswire.notify import Outcome
from newswire.pull import PullResult
from newswire.job import DocumentResult
from newswire.model import Notification
from newswire.store import Store


def uses(store: Store, n: Notification, now: datetime) -> None:
    Outcome("delivered")
    Outcome("fault")  # BAD
    store.outbox.settle(n, "failed", now)
    store.outbox.settle(n, "sent", now)  # BAD
    store.outbox.list(("pending", "merged"))
    store.outbox.list(("pending", "waiting"))  # BAD
    store.documents.log_publish(now, now, "ok", 0, 0, 0, {})
    store.documents.log_publish(now, now, "okay", 0, 0, 0, {})  # BAD
    PullResult("https://x.test/", "not modified")
    PullResult("https://x.test/", "unmodified")  # BAD
    DocumentResult("atom.xml", "journal", "written")
    DocumentResult("atom.xml", "journal", "wrote")  # BAD
    if post_state(deleted=False, draft=False, published=now, now=now) == "sceduled":  # BAD
        pass
    if n.state == "given up":  # BAD
        pass
'''


def test_the_type_checker_rejects_a_status_that_is_not_one(tmp_path: Path) -> None:
    """mypy (as ``make lint`` runs it) reports each misspelt status, and only those."""
    snippet = tmp_path / "statuses.py"
    snippet.write_text(SNIPPET, encoding="utf-8")
    bad = {i for i, line in enumerate(SNIPPET.splitlines(), 1) if line.endswith("# BAD")}
    env = {**os.environ, "MYPYPATH": str(ROOT / "src")}
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--strict-equality",
         "--follow-imports", "silent", "--cache-dir", str(tmp_path / "cache"), str(snippet)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    flagged = {int(line.split(":")[1]) for line in result.stdout.splitlines()
               if line.startswith(f"{snippet.name}:") and ": error:" in line}
    assert flagged == bad, textwrap.indent(result.stdout + result.stderr, "  ")

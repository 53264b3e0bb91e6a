"""End to end with a real WebSub hub: newswire publishes, the hub fetches, a subscriber gets signed content.

Everything runs on 127.0.0.1:

* the hub is Flask-WebSub's (``flask_websub.hub.Hub``), served by werkzeug in a
  thread, its Celery tasks run eagerly (``task_always_eager``: no broker, no worker);
* the feed documents are served by newswire's own preview server
  (``newswire.serve.make_server``) in a thread, and the journal's ``feeds_url``
  points at it, so every topic URL newswire announces is fetchable by the hub;
* the subscriber is a small werkzeug callback endpoint that answers the hub's
  verification of intent by echoing ``hub.challenge`` and records what is POSTed.

The subscriber subscribes (with a ``hub.secret``) to one label feed's atom.xml; a new
post with that label is published with ``newswire publish``; the subscriber must then
receive the new feed document, signed with ``X-Hub-Signature`` over the raw body.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import feedparser
import pytest
import requests
from celery import Celery
from flask import Flask, got_request_exception
from flask_websub.hub import Hub, SQLite3HubStorage
from flask_websub.subscriber import discover
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from newswire.serve import make_handler
from newswire.serve import make_server as make_preview_server

from harness import CONFIG, Journal

WAIT = 15.0  # seconds: the bound on every wait below
SECRET = "s3cret-for-the-label-feed"
LABEL_FEED = "labels/border-security/atom.xml"
NEW_TITLE = "Operation Kingfisher seizes 40 tonnes at the border"


def _serve_in_thread(server) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@dataclass
class Received:
    method: str
    args: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Subscriber:
    """A WebSub subscriber's callback endpoint: confirms one subscription, records every request."""

    topic: str = ""
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ, start_response):
        request = Request(environ)
        seen = Received(request.method, dict(request.args), dict(request.headers), request.get_data())
        with self.lock:
            self.requests.append(seen)
        if request.method == "GET":
            # 5.3: confirm only the subscription this subscriber asked for.
            mode, topic = request.args.get("hub.mode"), request.args.get("hub.topic")
            challenge = request.args.get("hub.challenge")
            if mode == "subscribe" and topic == self.topic and challenge:
                return Response(challenge, 200, mimetype="text/plain")(environ, start_response)
            return Response("unknown subscription", 404)(environ, start_response)
        if request.method == "POST":
            return Response("thanks", 200)(environ, start_response)
        return Response("", 405)(environ, start_response)

    def seen(self, method: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.method == method]


@dataclass
class Setup:
    journal: Journal
    hub_url: str
    feeds_url: str
    callback_url: str
    subscriber: Subscriber
    hub_errors: list[str]


def _hub_app(db: Path, errors: list[str]) -> Flask:
    """Flask-WebSub's hub, as its README sets it up, with Celery tasks run in-process."""
    celery = Celery("newswire-test-hub", set_as_current=False)
    celery.conf.update(task_always_eager=True, task_eager_propagates=True, broker_url="memory://",
                       result_backend="cache+memory://")
    app = Flask("newswire_test_hub")
    app.config["PUBLISH_SUPPORTED"] = True  # accept hub.mode=publish (the W3C publish ping)
    hub = Hub(SQLite3HubStorage(str(db)), celery, REQUEST_TIMEOUT=5, MAX_ATTEMPTS=2, BACKOFF_BASE=0.01)
    app.register_blueprint(hub.build_blueprint(url_prefix="/hub"))

    def record_error(sender, exception, **extra):
        errors.append(f"{type(exception).__name__}: {exception}")

    got_request_exception.connect(record_error, app, weak=False)
    return app


@pytest.fixture
def setup(journal: Journal, tmp_path: Path) -> Iterator[Setup]:
    hub_errors: list[str] = []
    subscriber = Subscriber()
    hub_server = make_server("127.0.0.1", 0, _hub_app(tmp_path / "hub.db", hub_errors), threaded=True)
    sub_server = make_server("127.0.0.1", 0, subscriber, threaded=True)
    # The preview server gets its port first (port 0: no race), then the journal's
    # config names that port in feeds_url and the server is given the final config.
    preview = make_preview_server(journal.config(), "127.0.0.1", 0)
    servers = (hub_server, sub_server, preview)
    for server in servers:
        _serve_in_thread(server)
    try:
        feeds_url = f"http://127.0.0.1:{preview.server_address[1]}/"
        hub_url = f"http://127.0.0.1:{hub_server.server_port}/hub"
        journal.write_config(CONFIG.replace("feeds_url: https://journal.test/feeds/", f"feeds_url: {feeds_url}")
                             + f"notify:\n  websub: ['{hub_url}']\n  timeout: 10\n")
        assert journal.config().journal.feeds_url == feeds_url
        preview.RequestHandlerClass = make_handler(journal.config())
        yield Setup(journal, hub_url, feeds_url, f"http://127.0.0.1:{sub_server.server_port}/callback/1",
                    subscriber, hub_errors)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def _publish(journal: Journal) -> str:
    result = journal.cli("publish", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    # Every WebSub publish ping was answered 2xx by the hub: nothing left to retry.
    assert "0 to retry, 0 given up" in result.stdout, result.stdout + result.stderr
    return result.stdout


def _signature_ok(headers: dict[str, str], body: bytes, secret: str) -> tuple[bool, str]:
    value = headers.get("X-Hub-Signature", "")
    algo, _, digest = value.partition("=")
    if algo not in ("sha1", "sha256", "sha384", "sha512") or not digest:
        return False, f"X-Hub-Signature is {value!r}"
    expected = hmac.new(secret.encode("utf-8"), body, getattr(hashlib, algo)).hexdigest()
    return hmac.compare_digest(expected, digest), f"{algo}={digest}"


def test_subscriber_gets_the_new_label_feed_signed_by_a_real_hub(setup: Setup) -> None:
    journal, subscriber = setup.journal, setup.subscriber
    journal.post("first", title="Southwest Border", date="2009-04-07T18:05:00-07:00",
                 labels=("Border Security",), body="The first post.")
    journal.post("other", title="Cyber Awareness", date="2009-10-01T09:00:00-04:00",
                 labels=("Cybersecurity",), body="Not in the label feed.")
    _publish(journal)
    assert (journal.feeds / LABEL_FEED).is_file()

    # Discovery as a subscriber does it: the preview server's Link headers name the hub and the topic.
    found = discover(setup.feeds_url + LABEL_FEED, timeout=5)
    assert found == {"hub_url": setup.hub_url, "topic_url": setup.feeds_url + LABEL_FEED}
    topic = found["topic_url"]
    subscriber.topic = topic

    # 5.1 subscribe with a secret; 5.3 the hub verifies intent before (here: while) answering 202.
    answer = requests.post(setup.hub_url, data={
        "hub.mode": "subscribe", "hub.topic": topic, "hub.callback": setup.callback_url,
        "hub.secret": SECRET, "hub.lease_seconds": "3600"}, timeout=WAIT)
    assert answer.status_code == 202, (answer.status_code, answer.text, setup.hub_errors)
    deadline = time.monotonic() + WAIT
    while not subscriber.seen("GET") and time.monotonic() < deadline:
        time.sleep(0.05)
    verifications = subscriber.seen("GET")
    assert verifications, f"the hub never verified the subscription ({setup.hub_errors})"
    assert verifications[0].args["hub.mode"] == "subscribe" and verifications[0].args["hub.topic"] == topic
    assert subscriber.seen("POST") == []

    # A new post with the label, published: newswire pings the hub, the hub fetches and distributes.
    journal.post("kingfisher", title=NEW_TITLE, date="2009-11-20T08:00:00-05:00",
                 labels=("Border Security", "International Cooperation"), body="Forty tonnes.")
    _publish(journal)

    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if any(NEW_TITLE.encode() in r.body for r in subscriber.seen("POST")):
            break
        time.sleep(0.05)
    posts = subscriber.seen("POST")
    assert posts, f"the subscriber got no content distribution within {WAIT:g} s (hub errors: {setup.hub_errors})"
    assert len(posts) == 1, [p.body[:200] for p in posts]  # one topic subscribed, one change to it
    delivery = posts[0]

    parsed = feedparser.parse(delivery.body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    titles = [e.title for e in parsed.entries]
    assert titles == [NEW_TITLE, "Southwest Border"]  # the label feed, newest first, nothing else
    assert delivery.body == (journal.feeds / LABEL_FEED).read_bytes()  # exactly the published document

    ok, shown = _signature_ok(delivery.headers, delivery.body, SECRET)
    assert ok, f"bad signature {shown} for the {len(delivery.body)}-byte body"
    assert not _signature_ok(delivery.headers, delivery.body, SECRET + "x")[0]
    # 7: the hub passes on the topic's Link headers; newswire's name the hub and the topic itself.
    link = delivery.headers.get("Link", "")
    assert f'<{setup.hub_url}>; rel="hub"' in link and f'<{topic}>; rel="self"' in link, link
    assert delivery.headers.get("Content-Type", "").startswith("application/atom+xml")
    assert setup.hub_errors == []

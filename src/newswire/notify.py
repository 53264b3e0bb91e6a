"""Telling subscribers: WebSub hubs, weblogUpdates ping services and signed webhooks.

Notifications are queued in the store's outbox in the same transaction that records
the documents they announce, and delivered afterwards. A failed delivery stays
queued and is retried with exponential backoff and jitter (honouring
``Retry-After``) until it is delivered or, after ``notify.max_attempts`` tries or
``notify.max_age``, given up, visibly. A publish's notification is due at once: an
older one for the same target and topic, even one backing off, is folded into it, so
one request per topic goes out, carrying the news without waiting for the old retry
time (see ``Store.enqueue``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from .bounds import http_date, whole
from .config import Config, hide_userinfo
from .errors import printable
from .fetch import Fetched, FetchError, request
from .formats import FORMATS
from .store import Notification, Store

MAX_PARALLEL = 4
BASE_DELAY = 30.0
MAX_DELAY = 6 * 3600.0
MAX_RESPONSE = 1024 * 1024
# Why an attempt's outcome was not recorded (see Store.settle): nothing was given up.
SUPERSEDED = "superseded while this attempt ran (a newer change re-armed it, or another run settled it)"
MAX_DETAIL = 300  # characters of an error kept and shown: a server's fault string can be any length


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: delivered, retry later (after ``delay`` seconds), or permanent failure."""

    status: str  # delivered | retry | failed
    detail: str = ""
    delay: float | None = None
    elapsed: float = 0.0  # seconds from the start of the delivery run to the answer


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    deferred: int = 0  # not tried: the round ran out of time (notify.round_timeout); still due
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.delivered} delivered, {self.retrying} to retry, {self.failed} given up"
        return text + (f", {self.deferred} left for the next round" if self.deferred else "")


def changes(config: Config, changed_feeds: Sequence[tuple[str, dict[str, str]]],
            entry_ids: Sequence[str]) -> list[Notification]:
    """The notifications a publish causes.

    ``changed_feeds`` holds, for each feed with a document whose bytes changed, its
    folder and the URLs of its changed documents by format.
    """
    out: list[Notification] = []
    if not changed_feeds:
        return out
    n = config.notify
    for _, urls in changed_feeds:
        for topic in urls.values():
            out += [Notification("websub", hub, topic, {}) for hub in n.websub]
    journal = next((urls for folder, urls in changed_feeds if folder == ""), None)
    if journal is not None:
        j = config.journal
        main_format = "rss" if "rss" in config.feeds.formats else config.feeds.formats[0]
        rss = j.feed_url(FORMATS[main_format].file_name)  # the journal's feed, RSS when it is published
        changed = journal.get(main_format) or next(iter(journal.values()))
        payload: dict[str, object] = {"name": j.title, "site": j.site_url, "changed": changed, "rss": rss}
        out += [Notification("weblogs", service, j.site_url, payload) for service in n.weblogs]
    feeds = [url for _, urls in changed_feeds for url in urls.values()]
    out += [Notification("webhook", hook.url, "", {"feeds": feeds, "entries": list(entry_ids)})
            for hook in n.webhooks]
    return out


def deliver(config: Config, store: Store, now: datetime, *, everything: bool = False) -> DeliveryReport:
    """Send every notification that is due (``everything``: every pending one), in parallel.

    The whole round takes at most ``notify.round_timeout`` seconds (a publish holds the
    journal's lock meanwhile): requests still running then are cut off and retried later,
    and notifications not yet tried stay due for the next round, and are counted as such.
    """
    pending = store.outbox(("pending",), due_by=None if everything else now)
    report = DeliveryReport()
    if not pending:
        return report
    started = time.monotonic()
    round_end = started + config.notify.round_timeout

    def attempt(n: Notification) -> Outcome | None:
        if time.monotonic() >= round_end:
            return None
        outcome = _attempt(config, n, now, round_end)
        return replace(outcome, elapsed=time.monotonic() - started)

    from concurrent.futures import ThreadPoolExecutor  # only when there is something to deliver

    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(pending))) as pool:
        outcomes = list(pool.map(attempt, pending))
    for n, outcome in zip(pending, outcomes):
        if outcome is None:
            report.deferred += 1
        else:
            _settle(config, store, n, outcome, now, report)
    if report.deferred:
        report.errors.append(f"{report.deferred} not tried: this round reached its {config.notify.round_timeout:g} s "
                             "limit (notify.round_timeout); they stay due for the next one")
    return report


def _settle(config: Config, store: Store, n: Notification, outcome: Outcome, now: datetime,
            report: DeliveryReport) -> None:
    where = f"{n.kind} {hide_userinfo(n.target)}" + (f" ({n.topic})" if n.topic and n.kind == "websub" else "")
    outcome = replace(outcome, detail=printable(outcome.detail, MAX_DETAIL))  # kept in the store, shown by status
    if outcome.status == "delivered":
        store.settle(n, "delivered", now)  # re-armed meanwhile by a fresh change, that one stays due
        report.delivered += 1
        return
    attempts = n.attempts + 1
    too_old = n.created_at is not None and now - n.created_at > timedelta(seconds=config.notify.max_age)
    if outcome.status == "failed" or attempts >= config.notify.max_attempts or too_old:
        why = outcome.detail if outcome.status == "failed" else f"{outcome.detail}; gave up after {attempts} attempts"
        if store.settle(n, "failed", now, error=why):
            report.failed += 1
            report.errors.append(f"{where}: {why}")
            return
        retry = SUPERSEDED
    else:
        delay = outcome.delay if outcome.delay is not None else backoff(attempts)
        # Counted from the answer, and rounded up to the store's whole seconds: never early.
        next_at = now + timedelta(seconds=math.ceil(outcome.elapsed + delay + now.microsecond / 1e6))
        settled = store.settle(n, "pending", now, error=outcome.detail, next_at=next_at.replace(microsecond=0))
        retry = f"retry in {delay:.0f} s" if settled else SUPERSEDED
    report.retrying += 1
    report.errors.append(f"{where}: {outcome.detail}; {retry}")


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: about 30 s, 60 s, 2 min ... capped at 6 h."""
    base = min(BASE_DELAY * 2 ** (attempts - 1), MAX_DELAY)
    return min(base * (rng or random).uniform(0.5, 1.5), MAX_DELAY)


def _attempt(config: Config, n: Notification, now: datetime, round_end: float) -> Outcome:
    import requests  # loaded only when something is to be sent

    post = _Poster(config.notify.timeout, round_end)
    try:
        if n.kind == "websub":
            return _websub(n, post, now)
        if n.kind == "weblogs":
            return _weblogs(n, post, now)
        if n.kind == "webhook":
            return _webhook(config, n, post, now)
        return Outcome("failed", f"unknown notification kind {n.kind!r}")
    except requests.Timeout:
        return Outcome("retry", f"no answer within {post.last:g} s")
    except requests.ConnectionError as exc:
        return Outcome("retry", f"cannot connect ({type(exc).__name__})")
    except requests.RequestException as exc:
        return Outcome("retry", f"{type(exc).__name__}: {exc}")
    except FetchError as exc:  # a target no request may go to (a password in it, queued by an older newswire)
        return Outcome("failed", str(exc))


@dataclass
class _Poster:
    """POSTs for one attempt: each within ``notify.timeout`` seconds and before the round's end."""

    timeout: float
    round_end: float
    last: float = 0.0  # the time the last request was given

    def __call__(self, url: str, data: bytes | dict[str, str], headers: dict[str, str] | None = None) -> Fetched:
        self.last = round(min(self.timeout, max(self.round_end - time.monotonic(), 0.001)), 3)
        return request("POST", url, seconds=self.last, max_bytes=MAX_RESPONSE, headers=headers, data=data)


def _http_outcome(answer: Fetched, now: datetime) -> Outcome:
    code = answer.status
    if 200 <= code < 300:
        return Outcome("delivered", str(code))
    detail = f"answered {code} {answer.reason}"
    if code == 429 or code >= 500:
        return Outcome("retry", detail, retry_after(answer.headers.get("Retry-After"), now))
    return Outcome("failed", detail)


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped at 6 h;
    None when the header is missing or not one of those."""
    if not value:
        return None
    seconds = whole(value, int(MAX_DELAY))
    if seconds is not None:
        return float(seconds)
    when = http_date(value)
    if when is None:
        return None
    return min(max((when - (now or datetime.now(UTC))).total_seconds(), 0.0), MAX_DELAY)


def _websub(n: Notification, post: _Poster, now: datetime) -> Outcome:
    """W3C WebSub publish: the topic as both hub.url and hub.topic, one request per topic."""
    return _http_outcome(post(n.target, {"hub.mode": "publish", "hub.url": n.topic, "hub.topic": n.topic}), now)


def _weblogs(n: Notification, post: _Poster, now: datetime) -> Outcome:
    """weblogUpdates.extendedPing, falling back to weblogUpdates.ping on a fault."""
    p = n.payload
    outcome = _xmlrpc(n.target, post, now, "weblogUpdates.extendedPing",
                      (p["name"], p["site"], p["changed"], p["rss"]))
    if outcome.status == "fault":
        outcome = _xmlrpc(n.target, post, now, "weblogUpdates.ping", (p["name"], p["site"]))
        if outcome.status == "fault":
            return Outcome("failed", outcome.detail)
    return outcome


def _xmlrpc(url: str, post: _Poster, now: datetime, method: str, params: tuple[object, ...]) -> Outcome:
    import xmlrpc.client  # only when a ping service is due

    body = xmlrpc.client.dumps(tuple(map(str, params)), methodname=method, encoding="utf-8").encode("utf-8")
    answer = post(url, body, {"Content-Type": "text/xml; charset=utf-8"})
    if answer.status != 200:
        return _http_outcome(answer, now)
    if b"<!DOCTYPE" in answer.body or b"<!ENTITY" in answer.body:
        return Outcome("failed", "the ping service answered with a DTD, which is refused")
    try:
        (result,), _ = xmlrpc.client.loads(answer.body)
    except xmlrpc.client.Fault as fault:
        return Outcome("fault", f"{method} fault {fault.faultCode}: {fault.faultString}")
    except Exception as exc:
        return Outcome("retry", f"unreadable XML-RPC answer: {type(exc).__name__}")
    if isinstance(result, dict) and result.get("flerror"):
        return Outcome("retry", f"{method} answered flerror: {result.get('message', '')}")
    return Outcome("delivered", method)


def signature(secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 header value for a body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _webhook(config: Config, n: Notification, post: _Poster, now: datetime) -> Outcome:
    hook = next((h for h in config.notify.webhooks if h.url == n.target), None)
    if hook is None:
        return Outcome("failed", "this webhook is no longer in the config")
    secret = os.environ.get(hook.secret_env)
    if not secret:
        return Outcome("retry", f"environment variable {hook.secret_env} is not set")
    body = json.dumps({"journal": config.journal.title, **n.payload}, sort_keys=True).encode("utf-8")
    return _http_outcome(post(n.target, body, {"Content-Type": "application/json",
                                               "X-Hub-Signature-256": signature(secret, body)}), now)


def pending_summary(notes: Iterable[Notification]) -> list[str]:
    """One line per notification; a target queued with a password (before the config refused them) hides it."""
    return [f"{n.state:<9} {n.kind:<8} {hide_userinfo(n.target)}" + (f"  {n.topic}" if n.kind == "websub" else "")
            + f"  attempts {n.attempts}" + (f", next {n.next_at:%Y-%m-%d %H:%M:%S}Z" if n.state == "pending" else "")
            + (f"  ({n.last_error})" if n.last_error else "") for n in notes]

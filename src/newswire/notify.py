"""Telling subscribers: WebSub hubs, weblogUpdates ping services and signed webhooks.

Notifications are queued in the store's outbox in the same transaction that records
the documents they announce, and delivered afterwards. A failed delivery stays
queued and is retried with exponential backoff and jitter (honouring
``Retry-After``) until it is delivered or, after ``notify.max_attempts`` tries or
``notify.max_age``, given up, visibly. Several publishes before a delivery coalesce
into one notification per target and topic.
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
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from typing import TYPE_CHECKING

from .config import Config, hide_userinfo
from .fetch import TooLarge, read_body
from .model import FILE_NAMES
from .store import Notification, Store

if TYPE_CHECKING:
    import requests

USER_AGENT = "newswire (+feed publisher)"
MAX_PARALLEL = 4
BASE_DELAY = 30.0
MAX_DELAY = 6 * 3600.0
MAX_RESPONSE = 1024 * 1024


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
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{self.delivered} delivered, {self.retrying} to retry, {self.failed} given up"


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
        rss = j.feed_url(FILE_NAMES[main_format])  # the journal's feed, RSS when it is published
        changed = journal.get(main_format) or next(iter(journal.values()))
        payload = {"name": j.title, "site": j.site_url, "changed": changed, "rss": rss}
        out += [Notification("weblogs", service, j.site_url, payload) for service in n.weblogs]
    feeds = [url for _, urls in changed_feeds for url in urls.values()]
    out += [Notification("webhook", hook.url, "", {"feeds": feeds, "entries": list(entry_ids)})
            for hook in n.webhooks]
    return out


def deliver(config: Config, store: Store, now: datetime, *, everything: bool = False) -> DeliveryReport:
    """Send every notification that is due (``everything``: every pending one), in parallel."""
    pending = store.outbox(("pending",), due_by=None if everything else now)
    report = DeliveryReport()
    if not pending:
        return report
    started = time.monotonic()

    def attempt(n: Notification) -> Outcome:
        outcome = _attempt(config, n, now)
        return replace(outcome, elapsed=time.monotonic() - started)

    from concurrent.futures import ThreadPoolExecutor  # only when there is something to deliver

    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(pending))) as pool:
        outcomes = list(pool.map(attempt, pending))
    for n, outcome in zip(pending, outcomes):
        _settle(config, store, n, outcome, now, report)
    return report


def _settle(config: Config, store: Store, n: Notification, outcome: Outcome, now: datetime,
            report: DeliveryReport) -> None:
    where = f"{n.kind} {hide_userinfo(n.target)}" + (f" ({n.topic})" if n.topic and n.kind == "websub" else "")
    if outcome.status == "delivered":
        store.settle(n, "delivered", now)
        report.delivered += 1
        return
    attempts = n.attempts + 1
    too_old = n.created_at is not None and now - n.created_at > timedelta(seconds=config.notify.max_age)
    if outcome.status == "failed" or attempts >= config.notify.max_attempts or too_old:
        why = outcome.detail if outcome.status == "failed" else f"{outcome.detail}; gave up after {attempts} attempts"
        store.settle(n, "failed", now, error=why)
        report.failed += 1
        report.errors.append(f"{where}: {why}")
        return
    delay = outcome.delay if outcome.delay is not None else backoff(attempts)
    # Counted from the answer, and rounded up to the store's whole seconds: never early.
    next_at = now + timedelta(seconds=math.ceil(outcome.elapsed + delay + now.microsecond / 1e6))
    store.settle(n, "pending", now, error=outcome.detail, next_at=next_at.replace(microsecond=0))
    report.retrying += 1
    report.errors.append(f"{where}: {outcome.detail}; retry in {delay:.0f} s")


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: about 30 s, 60 s, 2 min ... capped at 6 h."""
    base = min(BASE_DELAY * 2 ** (attempts - 1), MAX_DELAY)
    return min(base * (rng or random).uniform(0.5, 1.5), MAX_DELAY)


def _attempt(config: Config, n: Notification, now: datetime) -> Outcome:
    import requests  # loaded only when something is to be sent

    timeout = config.notify.timeout
    try:
        if n.kind == "websub":
            return _websub(n, timeout, now)
        if n.kind == "weblogs":
            return _weblogs(n, timeout, now)
        if n.kind == "webhook":
            return _webhook(config, n, timeout, now)
        return Outcome("failed", f"unknown notification kind {n.kind!r}")
    except requests.Timeout:
        return Outcome("retry", f"no answer within {timeout:g} s")
    except requests.ConnectionError as exc:
        return Outcome("retry", f"cannot connect ({type(exc).__name__})")
    except requests.RequestException as exc:
        return Outcome("retry", f"{type(exc).__name__}: {exc}")


def _post(url: str, timeout: float, **kwargs: object) -> requests.Response:
    import requests

    headers = {"User-Agent": USER_AGENT, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    response = requests.post(url, timeout=(timeout, timeout), headers=headers, allow_redirects=False,
                             stream=True, **kwargs)  # type: ignore[arg-type]
    try:
        response._content = read_body(response, MAX_RESPONSE, timeout)
    except TooLarge:
        response._content = b""  # only the status matters; an endless answer is not read
    finally:
        response.close()
    return response


def _http_outcome(response: requests.Response, now: datetime) -> Outcome:
    code = response.status_code
    if 200 <= code < 300:
        return Outcome("delivered", str(code))
    detail = f"answered {code} {response.reason}"
    if code == 429 or code >= 500:
        return Outcome("retry", detail, retry_after(response.headers.get("Retry-After"), now))
    return Outcome("failed", detail)


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped at 6 h."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_DELAY)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return min(max((when - (now or datetime.now(timezone.utc))).total_seconds(), 0.0), MAX_DELAY)


def _websub(n: Notification, timeout: float, now: datetime) -> Outcome:
    """W3C WebSub publish: the topic as both hub.url and hub.topic, one request per topic."""
    return _http_outcome(_post(n.target, timeout, data={"hub.mode": "publish", "hub.url": n.topic,
                                                         "hub.topic": n.topic}), now)


def _weblogs(n: Notification, timeout: float, now: datetime) -> Outcome:
    """weblogUpdates.extendedPing, falling back to weblogUpdates.ping on a fault."""
    p = n.payload
    outcome = _xmlrpc(n.target, timeout, now, "weblogUpdates.extendedPing",
                      (p["name"], p["site"], p["changed"], p["rss"]))
    if outcome.status == "fault":
        outcome = _xmlrpc(n.target, timeout, now, "weblogUpdates.ping", (p["name"], p["site"]))
        if outcome.status == "fault":
            return Outcome("failed", outcome.detail)
    return outcome


def _xmlrpc(url: str, timeout: float, now: datetime, method: str, params: tuple[object, ...]) -> Outcome:
    import xmlrpc.client  # only when a ping service is due

    body = xmlrpc.client.dumps(params, methodname=method, encoding="utf-8").encode("utf-8")
    response = _post(url, timeout, data=body, headers={"Content-Type": "text/xml; charset=utf-8"})
    if response.status_code != 200:
        return _http_outcome(response, now)
    if b"<!DOCTYPE" in response.content or b"<!ENTITY" in response.content:
        return Outcome("failed", "the ping service answered with a DTD, which is refused")
    try:
        (result,), _ = xmlrpc.client.loads(response.content)
    except xmlrpc.client.Fault as fault:
        return Outcome("fault", f"{method} fault {fault.faultCode}: {fault.faultString}")
    except Exception as exc:  # noqa: BLE001 - any unreadable answer is one failed attempt
        return Outcome("retry", f"unreadable XML-RPC answer: {type(exc).__name__}")
    if isinstance(result, dict) and result.get("flerror"):
        return Outcome("retry", f"{method} answered flerror: {result.get('message', '')}")
    return Outcome("delivered", method)


def signature(secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 header value for a body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _webhook(config: Config, n: Notification, timeout: float, now: datetime) -> Outcome:
    hook = next((h for h in config.notify.webhooks if h.url == n.target), None)
    if hook is None:
        return Outcome("failed", "this webhook is no longer in the config")
    secret = os.environ.get(hook.secret_env)
    if not secret:
        return Outcome("retry", f"environment variable {hook.secret_env} is not set")
    body = json.dumps({"journal": config.journal.title, **n.payload}, sort_keys=True).encode("utf-8")
    return _http_outcome(_post(n.target, timeout, data=body, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": signature(secret, body)}), now)


def pending_summary(notes: Iterable[Notification]) -> list[str]:
    """One line per notification; a target queued with a password (before the config refused them) hides it."""
    return [f"{n.state:<9} {n.kind:<8} {hide_userinfo(n.target)}" + (f"  {n.topic}" if n.kind == "websub" else "")
            + f"  attempts {n.attempts}" + (f", next {n.next_at:%Y-%m-%d %H:%M:%S}Z" if n.state == "pending" else "")
            + (f"  ({n.last_error})" if n.last_error else "") for n in notes]

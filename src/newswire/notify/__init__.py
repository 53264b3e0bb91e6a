"""Telling subscribers: WebSub hubs, weblogUpdates ping services and signed webhooks.

Each way of telling is a ``Notifier`` (see ``notifier``), and ``registry`` lists them;
this module holds what is the same for all of them. Notifications are queued in the
store's outbox in the same transaction that records the documents they announce, and
delivered afterwards. A failed delivery stays queued and is retried with exponential
backoff and jitter (honouring ``Retry-After``) until it is delivered or, after
``notify.max_attempts`` tries or ``notify.max_age``, given up, visibly. A publish's
notification is due at once: an older one for the same target and topic, even one
backing off, is folded into it, so one request per topic goes out, carrying the news
without waiting for the old retry time (see ``OutboxStore.enqueue``).

Any number of rounds may run at once, on one host or several sharing the store: each
claims what it sends (``OutboxStore.claim``), so each notification goes out once; one
claimed by a round that died is sent by the first round after its lease (``newswire.lock.lease``).
"""

from __future__ import annotations

import math
import os
import socket
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from ..config import Config, hide_userinfo
from ..errors import printable
from ..fetch import FetchError
from ..lock import lease
from ..model import Notification
from ..store import Store
from . import registry
from .notifier import BASE_DELAY, MAX_DELAY, Change, DeliveryStatus, Notifier, Outcome, Poster, backoff, retry_after
from .webhook import signature

__all__ = ["BASE_DELAY", "MAX_DELAY", "Change", "DeliveryReport", "DeliveryStatus", "Notifier", "Outcome",
           "backoff", "changes", "deliver", "pending_summary", "retry_after", "signature"]

MAX_PARALLEL = 4
# Why an attempt's outcome was not recorded (see OutboxStore.settle): nothing was given up.
SUPERSEDED = ("superseded while this attempt ran (a newer change re-armed it, or its claim ran out and another "
              "run took it)")
MAX_DETAIL = 300  # characters of an error kept and shown: a server's fault string can be any length


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
    """The notifications a publish causes: every notifier's, in the registry's order.

    ``changed_feeds`` holds, for each feed with a document whose bytes changed, its
    folder and the URLs of its changed documents by format.
    """
    if not changed_feeds:
        return []
    change = Change(changed_feeds, entry_ids)
    return [n for notifier in registry.build(config) for n in notifier.notifications(change)]


def deliver(config: Config, store: Store, now: datetime, *, everything: bool = False) -> DeliveryReport:
    """Send every notification that is due (``everything``: every pending one), in parallel.

    The whole round takes at most ``notify.round_timeout`` seconds (a publish holds the
    journal's lock meanwhile): requests still running then are cut off and retried later,
    and notifications not yet tried stay due for the next round, and are counted as such.
    """
    until = now + lease(config.notify.round_timeout, config.paths.store_wait)
    pending = store.outbox.claim(claimant(), now, until, due_by=None if everything else now)
    report = DeliveryReport()
    if not pending:
        return report
    notifiers = _by_kind(config)
    started = time.monotonic()
    round_end = started + config.notify.round_timeout

    def attempt(n: Notification) -> Outcome | None:
        if time.monotonic() >= round_end:
            return None
        outcome = _attempt(notifiers.get(n.kind), n, Poster(config.notify.timeout, round_end), now)
        return replace(outcome, elapsed=time.monotonic() - started)

    from concurrent.futures import ThreadPoolExecutor  # only when there is something to deliver

    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(pending))) as pool:
        outcomes = list(pool.map(attempt, pending))
    for n, outcome in zip(pending, outcomes):
        if outcome is None:
            report.deferred += 1
        else:
            _settle(config, store, n, outcome, now, report, _where(notifiers, n))
    store.outbox.release([n for n, outcome in zip(pending, outcomes) if outcome is None])  # due for any round
    if report.deferred:
        report.errors.append(f"{report.deferred} not tried: this round reached its {config.notify.round_timeout:g} s "
                             "limit (notify.round_timeout); they stay due for the next one")
    return report


def claimant() -> str:
    """A name for one delivery round, that no other round on any host takes."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"


def _by_kind(config: Config) -> dict[str, Notifier]:
    return {notifier.kind: notifier for notifier in registry.build(config)}


def _topic_shown(notifiers: dict[str, Notifier], n: Notification) -> str:
    """The topic, when it tells apart the notifications one target gets; else ''."""
    notifier = notifiers.get(n.kind)
    return n.topic if notifier is not None and notifier.per_topic else ""


def _where(notifiers: dict[str, Notifier], n: Notification) -> str:
    """The notification as messages name it: kind and target (its password hidden), and the topic if shown."""
    topic = _topic_shown(notifiers, n)
    return f"{n.kind} {hide_userinfo(n.target)}" + (f" ({topic})" if topic else "")


def _settle(config: Config, store: Store, n: Notification, outcome: Outcome, now: datetime,
            report: DeliveryReport, where: str) -> None:
    outcome = replace(outcome, detail=printable(outcome.detail, MAX_DETAIL))  # kept in the store, shown by status
    if outcome.status == "delivered":
        store.outbox.settle(n, "delivered", now)  # re-armed meanwhile by a fresh change, that one stays due
        report.delivered += 1
        return
    attempts = n.attempts + 1
    too_old = n.created_at is not None and now - n.created_at > timedelta(seconds=config.notify.max_age)
    if outcome.status == "failed" or attempts >= config.notify.max_attempts or too_old:
        why = outcome.detail if outcome.status == "failed" else f"{outcome.detail}; gave up after {attempts} attempts"
        if store.outbox.settle(n, "failed", now, error=why):
            report.failed += 1
            report.errors.append(f"{where}: {why}")
            return
        retry = SUPERSEDED
    else:
        delay = outcome.delay if outcome.delay is not None else backoff(attempts)
        # Counted from the answer, and rounded up to the store's whole seconds: never early.
        next_at = now + timedelta(seconds=math.ceil(outcome.elapsed + delay + now.microsecond / 1e6))
        settled = store.outbox.settle(n, "pending", now, error=outcome.detail, next_at=next_at.replace(microsecond=0))
        retry = f"retry in {delay:.0f} s" if settled else SUPERSEDED
    report.retrying += 1
    report.errors.append(f"{where}: {outcome.detail}; {retry}")


def _attempt(notifier: Notifier | None, n: Notification, post: Poster, now: datetime) -> Outcome:
    """One attempt by the notifier of ``n``'s kind; a request failing on the way is a retry."""
    import requests  # loaded only when something is to be sent

    if notifier is None:
        return Outcome("failed", f"unknown notification kind {n.kind!r}")
    try:
        return notifier.send(n, post, now)
    except requests.Timeout:
        return Outcome("retry", f"no answer within {post.last:g} s")
    except requests.ConnectionError as exc:
        return Outcome("retry", f"cannot connect ({type(exc).__name__})")
    except requests.RequestException as exc:
        return Outcome("retry", f"{type(exc).__name__}: {exc}")
    except FetchError as exc:  # a target no request may go to (a password in it, queued by an older newswire)
        return Outcome("failed", str(exc))


def pending_summary(config: Config, notes: Iterable[Notification]) -> list[str]:
    """One line per notification; a target queued with a password (before the config refused them) hides it."""
    notifiers = _by_kind(config)
    return [f"{n.state:<9} {n.kind:<8} {hide_userinfo(n.target)}"
            + (f"  {topic}" if (topic := _topic_shown(notifiers, n)) else "")
            + f"  attempts {n.attempts}" + (f", next {n.next_at:%Y-%m-%d %H:%M:%S}Z" if n.state == "pending" else "")
            + (f"  ({n.last_error})" if n.last_error else "") for n in notes]

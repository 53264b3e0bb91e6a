"""What every notifier is: the ``Notifier`` protocol, and what they share to send.

A notifier is one way of telling subscribers (WebSub, a weblogUpdates ping, a signed
webhook ...). It says which notifications a change makes, and sends one of them,
answering with an ``Outcome``: the delivery loop, the outbox and the retries are the
same for all of them (see ``newswire.notify``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

from ..bounds import http_date, whole
from ..fetch import Fetched, request
from ..model import Notification

BASE_DELAY = 30.0
MAX_DELAY = 6 * 3600.0
MAX_RESPONSE = 1024 * 1024

DeliveryStatus = Literal["delivered", "retry", "failed"]
"""What one attempt came to: delivered, to retry later, or failed for good."""


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to; ``delay`` is how long a retry should wait (None: the usual backoff)."""

    status: DeliveryStatus
    detail: str = ""
    delay: float | None = None
    elapsed: float = 0.0  # seconds from the start of the delivery run to the answer


@dataclass(frozen=True)
class Change:
    """What one publish changed: for each feed with a changed document, its folder ('' for the
    journal's) and the URLs of its changed documents by format; and the entries never announced."""

    feeds: Sequence[tuple[str, dict[str, str]]]
    entries: Sequence[str]

    @property
    def urls(self) -> list[str]:
        """Every changed document's URL, each once, in the order of ``feeds``."""
        return list(dict.fromkeys(url for _, urls in self.feeds for url in urls.values()))


@dataclass
class Poster:
    """POSTs for one attempt: each within ``notify.timeout`` seconds and before the round's end."""

    timeout: float
    round_end: float
    last: float = 0.0  # the time the last request was given

    def __call__(self, url: str, data: bytes | dict[str, str], headers: dict[str, str] | None = None) -> Fetched:
        self.last = round(min(self.timeout, max(self.round_end - time.monotonic(), 0.001)), 3)
        return request("POST", url, seconds=self.last, max_bytes=MAX_RESPONSE, headers=headers, data=data)


class Notifier(Protocol):
    """One way of telling subscribers, built from the config by ``newswire.notify.registry``.

    ``kind`` names it in the outbox: a queued notification is sent by the notifier of its
    kind, even once its target has left the config (the notifier decides what then).
    ``per_topic``: it sends one notification per topic to each target, so messages show
    the topic beside the target to tell them apart.
    """

    @property
    def kind(self) -> str: ...

    @property
    def per_topic(self) -> bool: ...

    def notifications(self, change: Change) -> list[Notification]:
        """The notifications ``change`` makes, one per target and topic (none without targets).

        The outbox folds one into a pending one for the same kind, target and topic,
        uniting their lists (see ``OutboxStore.enqueue``): a payload's lists are what may merge.
        """
        ...

    def send(self, n: Notification, post: Poster, now: datetime) -> Outcome:
        """One attempt to deliver ``n``, every request through ``post``. A request that
        fails on the way (no connection, no answer in time) may raise requests' exceptions:
        those are retries."""
        ...


def http_outcome(answer: Fetched, now: datetime) -> Outcome:
    """A plain HTTP answer: 2xx is delivered; 429 and 5xx are retried (after ``Retry-After``); the rest fail."""
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


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: about 30 s, 60 s, 2 min ... capped at 6 h."""
    base = min(BASE_DELAY * 2 ** (attempts - 1), MAX_DELAY)
    return min(base * (rng or random).uniform(0.5, 1.5), MAX_DELAY)

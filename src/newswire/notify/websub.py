"""W3C WebSub: each hub is told of each changed document, one request per topic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..config import Config
from ..model import Notification
from .notifier import Change, Outcome, Poster, http_outcome


@dataclass(frozen=True)
class WebSub:
    """The hubs in ``notify.websub`` (advertised as rel="hub" in every document)."""

    hubs: Sequence[str]
    kind = "websub"
    per_topic = True

    @classmethod
    def from_config(cls, config: Config) -> WebSub:
        return cls(config.notify.websub)

    def notifications(self, change: Change) -> list[Notification]:
        return [Notification(self.kind, hub, topic, {}) for topic in change.urls for hub in self.hubs]

    def send(self, n: Notification, post: Poster, now: datetime) -> Outcome:
        """A publish request: the topic as both hub.url and hub.topic."""
        return http_outcome(post(n.target, {"hub.mode": "publish", "hub.url": n.topic, "hub.topic": n.topic}), now)

"""Signed webhooks: a JSON POST of the changed feeds and new entries, signed with HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..config import Config, WebhookConfig
from ..model import Notification
from .notifier import Change, Outcome, Poster, http_outcome


def signature(secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 header value for a body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Webhook:
    """The hooks in ``notify.webhooks``; each one's secret is read from its environment variable when sent."""

    hooks: Sequence[WebhookConfig]
    journal_title: str
    kind = "webhook"
    per_topic = False

    @classmethod
    def from_config(cls, config: Config) -> Webhook:
        return cls(config.notify.webhooks, config.journal.title)

    def notifications(self, change: Change) -> list[Notification]:
        """One per hook, listing every changed document and entry (lists the outbox unites if one is pending)."""
        payload: dict[str, object] = {"feeds": change.urls, "entries": list(dict.fromkeys(change.entries))}
        return [Notification(self.kind, hook.url, "", payload) for hook in self.hooks]

    def send(self, n: Notification, post: Poster, now: datetime) -> Outcome:
        hook = next((h for h in self.hooks if h.url == n.target), None)
        if hook is None:
            return Outcome("failed", "this webhook is no longer in the config")
        secret = os.environ.get(hook.secret_env)
        if not secret:
            return Outcome("retry", f"environment variable {hook.secret_env} is not set")
        body = json.dumps({"journal": self.journal_title, **n.payload}, sort_keys=True).encode("utf-8")
        return http_outcome(post(n.target, body, {"Content-Type": "application/json",
                                                  "X-Hub-Signature-256": signature(secret, body)}), now)

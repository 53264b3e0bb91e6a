"""weblogUpdates ping services (XML-RPC): told when the journal's own feed changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..config import Config, JournalConfig
from ..formats import FORMATS
from ..model import Notification
from .notifier import Change, Outcome, Poster, http_outcome


class _Fault(Exception):
    """The service answered with an XML-RPC fault: the method is refused, another may do."""


@dataclass(frozen=True)
class WeblogUpdates:
    """The ping services in ``notify.weblogs``."""

    services: Sequence[str]
    journal: JournalConfig
    formats: Sequence[str]
    kind = "weblogs"
    per_topic = False

    @classmethod
    def from_config(cls, config: Config) -> WeblogUpdates:
        return cls(config.notify.weblogs, config.journal, config.feeds.formats)

    def notifications(self, change: Change) -> list[Notification]:
        """One ping per service when the journal's feed changed (an author's or a label's alone is not news)."""
        journal = next((urls for folder, urls in change.feeds if folder == ""), None)
        if journal is None or not self.services:
            return []
        j = self.journal
        main_format = "rss" if "rss" in self.formats else self.formats[0]
        rss = j.feed_url(FORMATS[main_format].file_name)  # the journal's feed, RSS when it is published
        changed = journal.get(main_format) or next(iter(journal.values()))
        payload: dict[str, object] = {"name": j.title, "site": j.site_url, "changed": changed, "rss": rss}
        return [Notification(self.kind, service, j.site_url, payload) for service in self.services]

    def send(self, n: Notification, post: Poster, now: datetime) -> Outcome:
        """weblogUpdates.extendedPing, falling back to weblogUpdates.ping on a fault."""
        p = n.payload
        try:
            return _xmlrpc(n.target, post, now, "weblogUpdates.extendedPing",
                           (p["name"], p["site"], p["changed"], p["rss"]))
        except _Fault:
            try:
                return _xmlrpc(n.target, post, now, "weblogUpdates.ping", (p["name"], p["site"]))
            except _Fault as fault:
                return Outcome("failed", str(fault))


def _xmlrpc(url: str, post: Poster, now: datetime, method: str, params: tuple[object, ...]) -> Outcome:
    """One XML-RPC call; a fault is raised as ``_Fault``."""
    import xmlrpc.client  # only when a ping service is due

    body = xmlrpc.client.dumps(tuple(map(str, params)), methodname=method, encoding="utf-8").encode("utf-8")
    answer = post(url, body, {"Content-Type": "text/xml; charset=utf-8"})
    if answer.status != 200:
        return http_outcome(answer, now)
    if b"<!DOCTYPE" in answer.body or b"<!ENTITY" in answer.body:
        return Outcome("failed", "the ping service answered with a DTD, which is refused")
    try:
        (result,), _ = xmlrpc.client.loads(answer.body)
    except xmlrpc.client.Fault as fault:
        raise _Fault(f"{method} fault {fault.faultCode}: {fault.faultString}") from None
    except Exception as exc:
        return Outcome("retry", f"unreadable XML-RPC answer: {type(exc).__name__}")
    if isinstance(result, dict) and result.get("flerror"):
        return Outcome("retry", f"{method} answered flerror: {result.get('message', '')}")
    return Outcome("delivered", method)

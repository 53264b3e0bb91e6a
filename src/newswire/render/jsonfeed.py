"""JSON Feed 1.1, one item fragment per post."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..model import Author

if TYPE_CHECKING:
    from . import EntryView, FeedView

VERSION = "https://jsonfeed.org/version/1.1"


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def author(a: Author) -> dict[str, Any]:
    out: dict[str, Any] = {"name": a.name}
    if a.uri:
        out["url"] = a.uri
    if a.affiliation:
        out["_newswire"] = {"affiliation": a.affiliation}
    return out


def entry(view: EntryView) -> bytes:
    item: dict[str, Any] = {"id": view.id, "url": view.link, "title": view.title}
    if view.content_html:
        item["content_html"] = view.content_html
    else:
        item["content_text"] = view.summary
    if view.summary:
        item["summary"] = view.summary
    item["date_published"] = view.published.isoformat()
    item["date_modified"] = view.updated.isoformat()
    item["authors"] = [author(view.author)]
    item["author"] = item["authors"][0]  # deprecated in 1.1, kept for readers of 1.0 (see ``skeleton``)
    if view.labels:
        item["tags"] = list(view.labels)
    return _dumps(item)


def skeleton(feed: FeedView) -> bytes:
    """The document without entries (see ``fill``)."""
    head: dict[str, Any] = {
        "version": VERSION,
        "title": feed.title,
        "home_page_url": feed.home,
        "feed_url": feed.self_url("json"),
        "language": feed.language,
    }
    if feed.subtitle:
        head["description"] = feed.subtitle
    if feed.feed.author is not None:
        head["authors"] = [author(feed.feed.author)]
        # JSON Feed 1.1 deprecates ``author`` but allows it for compatibility: readers of 1.0
        # (gofeed, among others) read nothing else, so it is written wherever ``authors`` is.
        head["author"] = head["authors"][0]
    if feed.hubs:
        head["hubs"] = [{"type": "WebSub", "url": hub} for hub in feed.hubs]
    if "prev-archive" in feed.paging:  # JSON Feed pages towards older items with next_url
        head["next_url"] = feed.paging["prev-archive"]["json"]
    head["_newswire"] = {"id": feed.id, "updated": feed.updated.isoformat()}
    return _dumps(head)[:-1] + b',"items":[]}\n'


def fill(skeleton: bytes, fragments: Sequence[bytes]) -> bytes:
    at = len(skeleton) - len(b"]}\n")
    return skeleton[:at] + b",\n".join(fragments) + skeleton[at:]

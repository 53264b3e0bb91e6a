"""JSON Feed 1.1, one item fragment per post; read back by ``json`` and the JSON Feed 1.1 schema."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..text import is_absolute_iri

if TYPE_CHECKING:
    from ..model import Author, Problem
    from ..render import EntryView, FeedView
    from ..verify import Checker

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


class JsonFeed:
    name = "json"
    file_name = "feed.json"
    media_type = "application/feed+json"
    label = "JSON Feed"
    opml_type = "JSONFeed1.1"
    xml = False

    def entry(self, view: EntryView) -> bytes:
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

    def skeleton(self, feed: FeedView) -> bytes:
        head: dict[str, Any] = {
            "version": VERSION,
            "title": feed.title,
            "home_page_url": feed.home,
            "feed_url": feed.self_url(self.name),
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
            head["next_url"] = feed.paging["prev-archive"][self.name]
        head["_newswire"] = {"id": feed.id, "updated": feed.updated.isoformat()}
        return _dumps(head)[:-1] + b',"items":[]}\n'

    def fill(self, skeleton: bytes, fragments: Sequence[bytes]) -> bytes:
        at = len(skeleton) - len(b"]}\n")
        return skeleton[:at] + b",\n".join(fragments) + skeleton[at:]

    def read_back(self, data: bytes, feed: FeedView, entries: Sequence[EntryView], path: str) -> list[Problem]:
        from ..verify import Checker, verify_entries

        check = Checker(path)
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            check.fail("", "document", "valid UTF-8 JSON", str(exc))
            return check.problems
        if schema_problem(check, doc):
            return check.problems
        check.same("", "title", feed.title, doc.get("title"))
        check.same("", "self link", feed.self_url(self.name), doc.get("feed_url"))
        check.same("", "alternate link", feed.home, doc.get("home_page_url"))
        check.same("", "hub links", sorted(feed.hubs), sorted(h["url"] for h in doc.get("hubs", [])))
        check.same("", "next_url", feed.paging.get("prev-archive", {}).get(self.name), doc.get("next_url"))
        authors = doc.get("authors", [])
        check.same("", "authors", [feed.feed.author.name] if feed.feed.author else [],
                   [a.get("name") for a in authors])
        _check_legacy_author(check, "", doc)
        for key in ("feed_url", "home_page_url"):
            if not is_absolute_iri(doc.get(key, "x:")):
                check.fail("", key, "an absolute URL", doc[key])
        got = []
        for item in doc["items"]:
            eid = item.get("id", "")
            _check_legacy_author(check, eid, item)
            got.append({
                "id": item.get("id"),
                "title": item.get("title", ""),
                "link": item.get("url"),
                "published": read_date(check, eid, "date_published", item.get("date_published")),
                "updated": read_date(check, eid, "date_modified", item.get("date_modified")),
                "author": (item.get("authors") or [{}])[0].get("name"),
                "labels": item.get("tags", []),
                "content_html": item.get("content_html", ""),
                "summary": item.get("summary", ""),
            })
        verify_entries(check, entries, got)
        return check.problems

    def entry_ids(self, data: bytes, check: Checker) -> list[str | None]:
        try:
            return [item.get("id") for item in json.loads(data.decode("utf-8"))["items"]]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # ValueError: not UTF-8, not JSON
            raise ValueError(f"{type(exc).__name__}: {exc}") from exc


@lru_cache(maxsize=1)
def _schema() -> Any:
    """The JSON Feed 1.1 schema, compiled to a Python function (quick enough to check every entry)."""
    from importlib import resources

    import fastjsonschema  # only JSON Feed documents need it

    schema = json.loads(resources.files("newswire").joinpath("schemas/jsonfeed-1.1.json").read_text("utf-8"))
    return fastjsonschema.compile(schema)


def schema_problem(check: Checker, doc: Any) -> bool:
    """Check ``doc`` against the JSON Feed 1.1 schema; report the first violation, if any."""
    import fastjsonschema

    try:
        _schema()(doc)
    except fastjsonschema.JsonSchemaValueException as exc:
        where = "/".join(str(p) for p in exc.path[1:])  # the path starts at 'data'
        check.fail("", f"schema {where}".rstrip(), "JSON Feed 1.1", exc.message.replace("data.", "", 1))
        return True
    return False


def read_date(check: Checker, eid: str, field: str, text: Any) -> datetime | None:
    """A JSON Feed date as an instant, or None where it is not an RFC 3339 date with a zone (reported)."""
    from ..verify import ZONED, instant

    if not isinstance(text, str) or not ZONED.search(text):
        check.fail(eid, field, "an RFC 3339 date with a zone", str(text))
        return None
    try:
        return instant(datetime.fromisoformat(text))
    except ValueError:
        check.fail(eid, field, "an RFC 3339 date", text)
        return None


def _check_legacy_author(check: Checker, eid: str, obj: dict[str, Any]) -> None:
    """JSON Feed 1.0's ``author``: where ``authors`` is, the same as its first (a 1.0 reader's view)."""
    want = (obj.get("authors") or [None])[0]
    if obj.get("author") != want:
        check.fail(eid, "author", f"the 1.0 author {want}", str(obj.get("author")))

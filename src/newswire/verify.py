"""Verification: read a document back from its own bytes and compare it with what was meant.

Atom and RSS are read by feedparser (a reader's view, ``bozo`` must be 0), JSON Feed
by ``json`` and the JSON Feed 1.1 schema. Each field is compared with the
``FeedView``/``EntryView`` the document was rendered from; dates as instants, text
with white space folded, content byte for byte or, where the parser normalised
malformed markup, by its readable text. Then the rules no parser enforces: ids
unique, every date with a zone, every link absolute, no namespace declared unused.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import Any

import feedparser
from lxml import etree

from . import feedparser_speedups
from .bounds import from_utc_tuple
from .model import Problem
from .render import EntryStub, EntryView, FeedView
from .render.xml import AT_NS, ATOM_NS, FH_NS
from .text import html_text, is_absolute_iri, link_targets, one_line, relative_links

_SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
_ZONED = re.compile(r"(Z|[+-]\d\d:\d\d)$")
_RFC822_ZONED = re.compile(r"([+-]\d{4}|GMT|UT|UTC)$")
_DATE_TAGS = {f"{{{ATOM_NS}}}updated", f"{{{ATOM_NS}}}published", "pubDate", "lastBuildDate"}


def verify_document(fmt: str, data: bytes, feed: FeedView, entries: Sequence[EntryView], path: str) -> list[Problem]:
    check = _Checker(path)
    if fmt == "json":
        _verify_json(check, data, feed, entries)
    else:
        _verify_xml(check, fmt, data, feed, entries)
    return check.problems


def verify_assembled(fmt: str, data: bytes, skeleton: bytes, feed: FeedView,
                     entries: Sequence[EntryView | EntryStub], path: str) -> list[Problem]:
    """Verify a document assembled from entry fragments that were each proven already.

    ``data`` is ``skeleton`` (the same document without entries) with the fragments
    spliced in. The skeleton is read back in full, which proves every feed-level field;
    the assembled bytes are parsed as XML or JSON, which proves they are well-formed
    and hold exactly the expected entries, in order, each once. Each fragment was
    proven by ``verify_document`` on a document of its own with the same root, whose
    prefixes name the same namespaces (a root declares only those its entries use, but
    a prefix always names the same one), and a fragment parses the same wherever it is
    spliced, so together this proves what reading the whole document proves
    (tests/test_verify_reuse.py checks that the two agree).
    """
    check = _Checker(path)
    check.problems.extend(verify_document(fmt, skeleton, feed, [], path))
    try:
        if fmt == "json":
            ids = [item.get("id") for item in json.loads(data.decode("utf-8"))["items"]]
        else:
            root = etree.fromstring(data, _SAFE)
            ids = ([el.text for el in root.iterfind(f"{{{ATOM_NS}}}entry/{{{ATOM_NS}}}id")] if fmt == "atom"
                   else [el.text for el in root.iterfind("channel/item/guid")])
            count = len(root.findall(f"{{{ATOM_NS}}}entry" if fmt == "atom" else "channel/item"))
            check.same("", "entry elements", len(entries), count)
            _check_namespaces(check, root)
    except (etree.XMLSyntaxError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        check.fail("", "document", "a well-formed document", f"{type(exc).__name__}: {exc}")
        return check.problems
    check.same("", "entry ids in order", [e.id for e in entries], ids)
    if len(set(ids)) != len(ids):
        check.fail("", "entry ids", "unique ids", ", ".join(sorted({i for i in ids if ids.count(i) > 1})))
    return check.problems


class _Checker:
    def __init__(self, path: str):
        self.path = path
        self.problems: list[Problem] = []

    def same(self, entry: str, field: str, expected: Any, got: Any) -> None:
        if expected != got:
            self.problems.append(Problem(self.path, entry, field, _shown(expected), _shown(got)))

    def same_text(self, entry: str, field: str, expected: str, got: Any) -> None:
        if not _same_text(expected, got):
            self.problems.append(Problem(self.path, entry, field, expected, str(got)))

    def fail(self, entry: str, field: str, expected: str, got: str) -> None:
        self.problems.append(Problem(self.path, entry, field, expected, got))


def _shown(value: Any) -> str:
    """A value as a problem names it; an instant in ISO 8601 with its zone."""
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _instant(when: datetime) -> datetime:
    """An instant as the documents carry it: in whole seconds, shown in UTC."""
    return when.astimezone(UTC).replace(microsecond=0)


def _parsed_instant(struct: Any) -> datetime | str | None:
    """feedparser's UTC time tuple as an instant; one out of datetime's range (none of ours)
    as its text, so that it is shown as read."""
    if not struct:
        return None
    return from_utc_tuple(struct) or time.strftime("%Y-%m-%dT%H:%M:%S+00:00", struct)


def _read_back(data: bytes) -> Any:
    """feedparser's reading of ``data`` (a reader's view), quicker: the speed-ups are in place
    only meanwhile, so a feed imported in the same process is read by feedparser as it comes."""
    with feedparser_speedups.installed():
        return feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)


def _verify_xml(check: _Checker, fmt: str, data: bytes, feed: FeedView, entries: Sequence[EntryView]) -> None:
    try:
        root = etree.fromstring(data, _SAFE)
    except etree.XMLSyntaxError as exc:
        check.fail("", "document", "well-formed XML", str(exc))
        return
    _check_namespaces(check, root)
    parsed = _read_back(data)
    if parsed.bozo:
        check.fail("", "document", "no parse errors", str(parsed.get("bozo_exception")))
        return
    check.same("", "version", "atom10" if fmt == "atom" else "rss20", parsed.version)
    f = parsed.feed
    check.same_text("", "title", feed.title, one_line(f.get("title", "")))
    if fmt == "atom":
        check.same("", "id", feed.id, f.get("id"))
    check.same("", "updated", _instant(feed.updated), _parsed_instant(f.get("updated_parsed")))
    links = f.get("links", [])
    check.same("", "self link", feed.self_url(fmt), next((k.href for k in links if k.rel == "self"), None))
    check.same("", "hub links", sorted(feed.hubs), sorted(k.href for k in links if k.rel == "hub"))
    check.same("", "alternate link", feed.home, next((k.href for k in links if k.rel == "alternate"), None))
    for rel, urls in feed.paging.items():
        check.same("", f"{rel} link", urls[fmt], next((k.href for k in links if k.rel == rel), None))
    extra = {k.rel for k in links} - {"self", "hub", "alternate", *feed.paging}
    if extra:
        check.fail("", "links", "only self, hub, alternate and paging links", ", ".join(sorted(extra)))
    history = [etree.QName(el).localname for el in root.iter(f"{{{FH_NS}}}*")]
    check.same("", "fh markers", ["archive"] if feed.archive else ["complete"] if feed.complete else [], history)
    if fmt == "atom":
        stones = [(el.get("ref"), el.get("when")) for el in root.iter(f"{{{AT_NS}}}deleted-entry")]
        check.same("", "tombstones", [(ref, when.isoformat()) for ref, when in feed.tombstones], stones)
    for el in root.iter():
        zoned = _ZONED if "{" in str(el.tag) else _RFC822_ZONED
        if el.tag in _DATE_TAGS and not zoned.search((el.text or "").strip()):
            check.fail("", f"date {etree.QName(el).localname}", "a date with a zone", el.text or "")
        href = el.get("href")
        if href is not None and not is_absolute_iri(href):
            check.fail("", "link", "an absolute URL", href)
    _verify_entries(check, entries, [_xml_entry(fmt, e) for e in parsed.entries])


def _check_namespaces(check: _Checker, root: etree._Element) -> None:
    """Every namespace the root declares is used by some element (entries declare none)."""
    unused = [uri for uri in root.nsmap.values() if next(root.iter(f"{{{uri}}}*"), None) is None]
    if unused:
        check.fail("", "namespaces", "only namespaces the document uses", ", ".join(unused))


def _xml_entry(fmt: str, e: Any) -> dict[str, Any]:
    """What feedparser read of one entry, in the terms of ``EntryView``."""
    content = e.get("content") or []
    author = e.get("author_detail", {}).get("name") or e.get("author")
    return {
        "id": e.get("id"),
        "title": one_line(e.get("title", "")),
        "link": next((k.href for k in e.get("links", []) if k.get("rel") == "alternate"), e.get("link")),
        "published": _parsed_instant(e.get("published_parsed")),
        "updated": _parsed_instant(e.get("updated_parsed")),
        "author": author,
        "labels": [t.term for t in e.get("tags", [])],
        "content_html": content[0].value if content else "",
        # An RSS item's description is HTML: what a reader shows is the text it parses to.
        "summary": html_text(e.get("summary", "")) if fmt == "rss" else one_line(e.get("summary", "")),
    }


def _same_text(want: str, got: object) -> bool:
    """Equal, or equal as feedparser reads it: it re-decodes text that looks like UTF-8
    misread as Latin-1 ('Â¡' becomes '¡'), which is its reading, not a defect of ours."""
    if want == got:
        return True
    try:
        return want.encode("latin-1").decode("utf-8") == got
    except (UnicodeEncodeError, UnicodeDecodeError):
        return False


def _same_content(want: str, got: str) -> bool:
    """Byte for byte; or, where the parser normalised malformed markup, the same readable
    text and the same link and image targets (so nothing can silently go missing)."""
    if _same_text(want, got):
        return True
    return bool(got) and _same_text(html_text(want), html_text(got)) and link_targets(want) == link_targets(got)


def _verify_entries(check: _Checker, entries: Sequence[EntryView], got: Sequence[dict[str, Any]]) -> None:
    check.same("", "entry count", len(entries), len(got))
    ids = [g["id"] for g in got]
    if len(set(ids)) != len(ids):
        check.fail("", "entry ids", "unique ids", ", ".join(sorted({i for i in ids if ids.count(i) > 1})))
    for want, g in zip(entries, got):
        eid = want.id
        check.same_text(eid, "id", want.id, g["id"])  # an id is text too: feedparser re-decodes it alike
        check.same_text(eid, "title", want.title, g["title"])
        check.same(eid, "link", want.link, g["link"])
        check.same(eid, "published", _instant(want.published), g["published"])
        check.same(eid, "updated", _instant(want.updated), g["updated"])
        check.same_text(eid, "author", want.author.name, g["author"])
        if len(want.labels) != len(g["labels"]) or not all(map(_same_text, want.labels, g["labels"])):
            check.fail(eid, "labels", str(list(want.labels)), str(g["labels"]))
        if not _same_content(want.content_html, g["content_html"]):
            check.fail(eid, "content", want.content_html, g["content_html"])
        if want.summary:
            check.same_text(eid, "summary", want.summary, g["summary"])
        for link in relative_links(g["content_html"]):
            check.fail(eid, "content link", "an absolute URL", link)


@lru_cache(maxsize=1)
def _json_schema() -> Any:
    """The JSON Feed 1.1 schema, compiled to a Python function (quick enough to check every entry)."""
    import fastjsonschema  # only JSON Feed documents need it

    schema = json.loads(resources.files("newswire").joinpath("schemas/jsonfeed-1.1.json").read_text("utf-8"))
    return fastjsonschema.compile(schema)


def _schema_problem(check: _Checker, doc: Any) -> bool:
    """Check ``doc`` against the JSON Feed 1.1 schema; report the first violation, if any."""
    import fastjsonschema

    try:
        _json_schema()(doc)
    except fastjsonschema.JsonSchemaValueException as exc:
        where = "/".join(str(p) for p in exc.path[1:])  # the path starts at 'data'
        check.fail("", f"schema {where}".rstrip(), "JSON Feed 1.1", exc.message.replace("data.", "", 1))
        return True
    return False


def _json_instant(check: _Checker, eid: str, field: str, text: Any) -> datetime | None:
    if not isinstance(text, str) or not _ZONED.search(text):
        check.fail(eid, field, "an RFC 3339 date with a zone", str(text))
        return None
    try:
        return _instant(datetime.fromisoformat(text))
    except ValueError:
        check.fail(eid, field, "an RFC 3339 date", text)
        return None


def _verify_json(check: _Checker, data: bytes, feed: FeedView, entries: Sequence[EntryView]) -> None:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        check.fail("", "document", "valid UTF-8 JSON", str(exc))
        return
    if _schema_problem(check, doc):
        return
    check.same("", "title", feed.title, doc.get("title"))
    check.same("", "self link", feed.self_url("json"), doc.get("feed_url"))
    check.same("", "alternate link", feed.home, doc.get("home_page_url"))
    check.same("", "hub links", sorted(feed.hubs), sorted(h["url"] for h in doc.get("hubs", [])))
    check.same("", "next_url", feed.paging.get("prev-archive", {}).get("json"), doc.get("next_url"))
    authors = doc.get("authors", [])
    check.same("", "authors", [feed.feed.author.name] if feed.feed.author else [], [a.get("name") for a in authors])
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
            "published": _json_instant(check, eid, "date_published", item.get("date_published")),
            "updated": _json_instant(check, eid, "date_modified", item.get("date_modified")),
            "author": (item.get("authors") or [{}])[0].get("name"),
            "labels": item.get("tags", []),
            "content_html": item.get("content_html", ""),
            "summary": item.get("summary", ""),
        })
    _verify_entries(check, entries, got)


def _check_legacy_author(check: _Checker, eid: str, obj: dict[str, Any]) -> None:
    """JSON Feed 1.0's ``author``: where ``authors`` is, the same as its first (a 1.0 reader's view)."""
    want = (obj.get("authors") or [None])[0]
    if obj.get("author") != want:
        check.fail(eid, "author", f"the 1.0 author {want}", str(obj.get("author")))


def check_any(data: bytes, name: str) -> tuple[str, list[Problem]]:
    """Verify any feed without a model: it parses cleanly, ids are unique, dates and links sound."""
    check = _Checker(name)
    if data.lstrip()[:1] == b"{":
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            check.fail("", "document", "valid UTF-8 JSON", str(exc))
            return "not JSON", check.problems
        if _schema_problem(check, doc):
            return "JSON Feed with schema errors", check.problems
        items = doc["items"]
        ids = [i.get("id") for i in items]
        for item in items:
            for key in ("date_published", "date_modified"):
                if key in item:
                    _json_instant(check, item.get("id", ""), key, item[key])
        kind = "JSON Feed 1.1"
    else:
        try:
            root = etree.fromstring(data, _SAFE)
        except etree.XMLSyntaxError as exc:
            check.fail("", "document", "well-formed XML", str(exc))
            return "not XML", check.problems
        parsed = _read_back(data)
        if parsed.bozo:
            check.fail("", "document", "no parse errors", str(parsed.get("bozo_exception")))
        ids = [e.get("id") for e in parsed.entries]
        for el in root.iter():
            if el.tag in _DATE_TAGS and not (_ZONED if "{" in str(el.tag) else _RFC822_ZONED).search(
                    (el.text or "").strip()):
                check.fail("", f"date {etree.QName(el).localname}", "a date with a zone", el.text or "")
        kind = parsed.version or "unknown format"
        items = parsed.entries
    if None in ids:
        check.fail("", "entry ids", "an id on every entry", f"{ids.count(None)} without")
    present = [i for i in ids if i is not None]
    if len(set(present)) != len(present):
        check.fail("", "entry ids", "unique ids", ", ".join(sorted({i for i in present if present.count(i) > 1})))
    return f"{kind}, {len(items)} entries", check.problems

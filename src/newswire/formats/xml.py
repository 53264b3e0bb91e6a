"""What the XML formats (Atom and RSS) share: fragment serialisation and splicing, and the read-back.

The read-back is feedparser's (a reader's view, ``bozo`` must be 0), then the rules no parser
enforces: every date with a zone, every link absolute, no namespace declared unused.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import feedparser
from lxml import etree

from .. import feedparser_speedups
from ..bounds import from_utc_tuple
from ..model import Problem
from ..text import is_absolute_iri, one_line
from ..verify import ZONED, Checker, instant, verify_entries

if TYPE_CHECKING:
    from ..render import EntryView, FeedView

ATOM_NS = "http://www.w3.org/2005/Atom"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"
FH_NS = "http://purl.org/syndication/history/1.0"    # RFC 5005 feed paging and archiving
AT_NS = "http://purl.org/atompub/tombstones/1.0"     # RFC 6721 deleted entries
SCHEMA_NS = "http://schema.org/"                     # schema:affiliation of an author
RSS_NSMAP = {"atom": ATOM_NS, "content": CONTENT_NS, "dc": DC_NS, "fh": FH_NS, "schema": SCHEMA_NS}
ATOM_NSMAP = {"fh": FH_NS, "at": AT_NS, "schema": SCHEMA_NS}


def fragment(element: etree._Element, nsmap: dict[str, str]) -> bytes:
    """Serialise an element as it will sit inside a root that declares ``nsmap``.

    The element is placed under a throw-away root declaring the namespaces, its
    redundant declarations are cleaned up, and only its own bytes are kept, so the
    fragment carries no namespace declarations of its own.
    """
    root = etree.Element("wrapper", nsmap=nsmap)
    root.append(element)
    etree.cleanup_namespaces(root, top_nsmap=nsmap)
    data = etree.tostring(root, encoding="utf-8")
    start = data.index(b">") + 1
    return data[start:-len(b"</wrapper>")]


_PLAIN_TEXT = re.compile(rb"(<[A-Za-z]+(?: [^>]*)?>)([^<]*&[^<]*)(?=</)")  # an element in no namespace, with text
_REFERENCE = re.compile(rb"&(amp|lt|gt);")
_HEXADECIMAL = {b"amp": b"&#x26;", b"lt": b"&#x3C;", b"gt": b"&#x3E;"}


def hexadecimal_references(data: bytes) -> bytes:
    """Serialised XML with '&', '<' and '>' in the text of every element in no namespace written
    as &#x26; &#x3C; &#x3E;: what the RSS Advisory Board profile asks of plain text in RSS, the
    form that the most aggregators read as the text it is. The same characters to an XML parser;
    namespaced elements (``content:encoded``) keep the shorter entities."""
    return _PLAIN_TEXT.sub(lambda m: m[1] + _REFERENCE.sub(lambda r: _HEXADECIMAL[r[1]], m[2]), data)


def skeleton_bytes(document: bytes, closing: bytes) -> bytes:
    """A document without entries, as serialised by feedgen, made ready for ``fill_before``.

    feedgen declares on the root every namespace its extensions might use; only those the
    document uses stay (the entries' own are declared as they are filled in). A line end goes
    before the last ``closing`` tag, where the entries will go.
    """
    root = etree.fromstring(document)
    etree.cleanup_namespaces(root)
    head = etree.tostring(root.getroottree(), encoding="UTF-8", xml_declaration=True)
    at = head.rindex(closing)
    return head[:at] + b"\n" + head[at:]


_START_TAG = re.compile(rb"<[A-Za-z]")


def fill_before(skeleton: bytes, closing: bytes, fragments: Sequence[bytes], nsmap: dict[str, str]) -> bytes:
    """Put entry fragments, each on a line of its own, before the last ``closing`` tag of a skeleton.

    Fragments declare no namespaces (see ``fragment``); the root declares, from ``nsmap``, each
    that a fragment uses and the skeleton does not, and no other. A prefix always names the same
    namespace, so a fragment reads the same in every document it is filled into.
    """
    if not fragments:
        return skeleton
    at = skeleton.rindex(closing)
    body = b"".join(f + b"\n" for f in fragments)
    root = _START_TAG.search(skeleton)
    assert root is not None
    end = skeleton.index(b">", root.start())  # lxml writes '>' in attribute values as &gt;
    tag = skeleton[root.start():end]
    declare = b"".join(b' xmlns:%s="%s"' % (prefix.encode(), uri.encode()) for prefix, uri in nsmap.items()
                       if b"<%s:" % prefix.encode() in body and b" xmlns:%s=" % prefix.encode() not in tag)
    return skeleton[:end] + declare + skeleton[end:at] + body + skeleton[at:]


def with_stylesheet(document: bytes, href: str) -> bytes:
    """Add an ``xml-stylesheet`` processing instruction right after the XML declaration."""
    end = document.index(b"?>") + 2 if document.startswith(b"<?xml") else 0
    pi = f'\n<?xml-stylesheet type="text/xsl" href="{href}"?>'.encode()
    return document[:end] + pi + document[end:]


SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
_RFC822_ZONED = re.compile(r"([+-]\d{4}|GMT|UT|UTC)$")
DATE_TAGS = {f"{{{ATOM_NS}}}updated", f"{{{ATOM_NS}}}published", "pubDate", "lastBuildDate"}


def parse(data: bytes) -> Any:
    """feedparser's reading of ``data`` (a reader's view), quicker: the speed-ups are in place
    only meanwhile, so a feed imported in the same process is read by feedparser as it comes."""
    with feedparser_speedups.installed():
        return feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)


def check_date(check: Checker, el: etree._Element) -> None:
    """A date element (one of ``DATE_TAGS``) has a zone: RFC 3339 in Atom's namespace, RFC 822 in none."""
    if not (ZONED if "{" in str(el.tag) else _RFC822_ZONED).search((el.text or "").strip()):
        check.fail("", f"date {etree.QName(el).localname}", "a date with a zone", el.text or "")


def _parsed_instant(struct: Any) -> datetime | str | None:
    """feedparser's UTC time tuple as an instant; one out of datetime's range (none of ours)
    as its text, so that it is shown as read."""
    if not struct:
        return None
    return from_utc_tuple(struct) or time.strftime("%Y-%m-%dT%H:%M:%S+00:00", struct)


def read_back(name: str, data: bytes, feed: FeedView, entries: Sequence[EntryView], path: str, *,
              version: str, feed_id: bool, tombstones: bool, summary: Callable[[str], str]) -> list[Problem]:
    """Read an XML document of format ``name`` back with feedparser and compare it with the model.

    What the formats differ in: feedparser's ``version`` for them, whether the document carries
    the feed's id and its tombstones, and how an entry's summary reads as plain text."""
    check = Checker(path)
    try:
        root = etree.fromstring(data, SAFE)
    except etree.XMLSyntaxError as exc:
        check.fail("", "document", "well-formed XML", str(exc))
        return check.problems
    check_namespaces(check, root)
    parsed = parse(data)
    if parsed.bozo:
        check.fail("", "document", "no parse errors", str(parsed.get("bozo_exception")))
        return check.problems
    check.same("", "version", version, parsed.version)
    f = parsed.feed
    check.same_text("", "title", feed.title, one_line(f.get("title", "")))
    if feed_id:
        check.same("", "id", feed.id, f.get("id"))
    check.same("", "updated", instant(feed.updated), _parsed_instant(f.get("updated_parsed")))
    links = f.get("links", [])
    check.same("", "self link", feed.self_url(name), next((k.href for k in links if k.rel == "self"), None))
    check.same("", "hub links", sorted(feed.hubs), sorted(k.href for k in links if k.rel == "hub"))
    check.same("", "alternate link", feed.home, next((k.href for k in links if k.rel == "alternate"), None))
    for rel, urls in feed.paging.items():
        check.same("", f"{rel} link", urls[name], next((k.href for k in links if k.rel == rel), None))
    extra = {k.rel for k in links} - {"self", "hub", "alternate", *feed.paging}
    if extra:
        check.fail("", "links", "only self, hub, alternate and paging links", ", ".join(sorted(extra)))
    history = [etree.QName(el).localname for el in root.iter(f"{{{FH_NS}}}*")]
    check.same("", "fh markers", ["archive"] if feed.archive else ["complete"] if feed.complete else [], history)
    if tombstones:
        stones = [(el.get("ref"), el.get("when")) for el in root.iter(f"{{{AT_NS}}}deleted-entry")]
        check.same("", "tombstones", [(ref, when.isoformat()) for ref, when in feed.tombstones], stones)
    for el in root.iter():
        if el.tag in DATE_TAGS:
            check_date(check, el)
        href = el.get("href")
        if href is not None and not is_absolute_iri(href):
            check.fail("", "link", "an absolute URL", href)
    verify_entries(check, entries, [_entry(e, summary) for e in parsed.entries])
    return check.problems


def check_namespaces(check: Checker, root: etree._Element) -> None:
    """Every namespace the root declares is used by some element (entries declare none)."""
    unused = [uri for uri in root.nsmap.values() if next(root.iter(f"{{{uri}}}*"), None) is None]
    if unused:
        check.fail("", "namespaces", "only namespaces the document uses", ", ".join(unused))


def _entry(e: Any, summary: Callable[[str], str]) -> dict[str, Any]:
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
        "summary": summary(e.get("summary", "")),
    }


def entry_ids(data: bytes, check: Checker, entry: str, entry_id: str) -> list[str | None]:
    """The ids of the ``entry`` elements, in order: each one's single ``entry_id`` child (see ``Format``)."""
    try:
        root = etree.fromstring(data, SAFE)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from exc
    check_namespaces(check, root)
    return [ids[0].text if len(ids := el.findall(entry_id)) == 1 else None for el in root.iterfind(entry)]

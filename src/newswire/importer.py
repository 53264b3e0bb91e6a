"""Content from outside: Atom/RSS/JSON feeds and Blogger/WordPress exports → the store.

Everything from outside is distrusted. XML is first parsed by defusedxml, which
refuses entity declarations (billion laughs, quadratic blowup) and external
references (XXE) before anything else reads it; HTML is sanitised with nh3 and
its relative links resolved against the source. A source that cannot be read
imports nothing. Entries keep the ids, dates, authors and categories the source
gave, so importing twice changes nothing and an entry that changed at the source
is updated under the same id.
"""

from __future__ import annotations

import hashlib
import json
from html import escape
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml
import feedparser
import nh3
from defusedxml import DefusedXmlException

from .bounds import from_utc_tuple, instant
from .config import Config
from .errors import NewswireError
from .fetch import fetch
from .store import PostInput, Store, Tally
from .text import absolutize, clean_html, is_absolute_iri, label_text, one_line, slugify

SOURCE_PREFIX = "import:"
ATOM = "{http://www.w3.org/2005/Atom}"
APP = "{http://www.w3.org/2007/app}"
WP = "{http://wordpress.org/export/1.2/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
DC = "{http://purl.org/dc/elements/1.1/}"
BLOGGER_KIND = "http://schemas.google.com/g/2005#kind"
BLOGGER_POST = "http://schemas.google.com/blogger/2008/kind#post"


class ImportFailed(NewswireError):
    """A source that cannot be imported; nothing was taken from it."""


@dataclass(frozen=True)
class Imported:
    """One entry as the source describes it, before it becomes a post."""

    id: str
    title: str
    body: str
    published: datetime
    updated: datetime | None
    author: str
    labels: tuple[str, ...]
    link: str = ""
    draft: bool = False


@dataclass
class ImportReport(Tally):
    source: str = ""
    kind: str = ""
    skipped: int = 0

    def summary(self) -> str:
        return (f"imported {self.total} entries from {self.source} ({self.kind}): {self.added} added, "
                f"{self.updated} updated, {self.unchanged} unchanged"
                + (f", {self.skipped} skipped" if self.skipped else ""))


def web_base(*candidates: str) -> str:
    """The first http(s) URL among ``candidates``: the only kind relative links may resolve against."""
    return next((c.strip() for c in candidates if c and urlsplit(c.strip()).scheme in ("http", "https")), "")


def sanitize(html: str, base: str) -> str:
    """Allow-listed HTML (no script, style, iframe, event handlers or javascript: URLs), links absolute.

    Relative links resolve only against an http(s) base, so a ``file:`` entry link
    cannot turn a harmless relative link into a ``file:`` one after the allow-list ran.
    """
    safe = nh3.clean(clean_html(html), link_rel=None)
    base = web_base(base)
    return absolutize(safe, base).strip() if base else safe.strip()


def read_source(source: str, config: Config) -> tuple[bytes, str]:
    """The bytes of a file or an http(s) URL, and the base URL its relative links resolve against."""
    if "://" in source:
        return fetch(source, config.fetch).body, source
    path = Path(source)
    try:
        size = path.stat().st_size
        if size > config.fetch.max_bytes:
            raise ImportFailed(f"{source}: larger than the {config.fetch.max_bytes} byte limit")
        return path.read_bytes(), ""
    except OSError as exc:
        raise ImportFailed(f"{source}: cannot be read: {exc.strerror}") from None


def parse(data: bytes, base: str, name: str) -> tuple[str, list[Imported], int]:
    """(kind, entries, skipped) from a source's bytes; raises ImportFailed if unreadable."""
    head = data.lstrip()[:1]
    if head in (b"{", b"["):
        return _json_feed(data, base, name)
    try:
        root = safe_xml.fromstring(data)
    except DefusedXmlException as exc:
        raise ImportFailed(f"{name}: refused: {type(exc).__name__} (entity declarations and external "
                           "references are not accepted)") from None
    except (ParseError, ValueError) as exc:
        raise ImportFailed(f"{name}: not well-formed XML: {exc}") from None
    if root.tag == "rss" and root.find(f"channel/{WP}wxr_version") is not None:
        return _wxr(root, base)
    if root.tag == f"{ATOM}feed" and any(c.get("term", "").startswith("http://schemas.google.com/blogger/")
                                         for c in root.iter(f"{ATOM}category")):
        return _blogger(root, base)
    return _feed(data, base, name)


def _when(struct: Any) -> datetime | None:
    """feedparser's UTC time tuple as a date in range (else None, as if the entry had none)."""
    return from_utc_tuple(struct) if struct else None


def _fallback_id(*parts: str) -> str:
    return "urn:sha256:" + hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:32]


def _feed(data: bytes, base: str, name: str) -> tuple[str, list[Imported], int]:
    headers = {"content-location": base} if base else {}
    parsed = feedparser.parse(data, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)
    if parsed.bozo and not parsed.entries:
        raise ImportFailed(f"{name}: not a feed newswire can read ({parsed.get('bozo_exception')})")
    if not parsed.version:
        raise ImportFailed(f"{name}: not an Atom, RSS or JSON feed")
    out, skipped = [], 0
    feed_author = _person(parsed.feed)
    # RSS 0.9x items carry no date: the channel's own date stands in (fixed, so re-imports agree).
    channel_date = _when(parsed.feed.get("published_parsed")) or _when(parsed.feed.get("updated_parsed"))
    for e in parsed.entries:
        # feedparser answers updated_parsed with the published date when there is none: ask for real keys.
        own_updated = _when(e["updated_parsed"]) if "updated_parsed" in e.keys() and "updated" in e.keys() else None
        published = _when(e.get("published_parsed")) or own_updated or channel_date
        if published is None:
            skipped += 1
            continue
        link = e.get("link", "")
        body = (e.get("content") or [{}])[0].get("value") or e.get("summary", "")
        out.append(Imported(
            id=e.get("id") or link or _fallback_id(e.get("title", ""), str(published)),
            title=e.get("title", ""), body=sanitize(body, web_base(link, base)), published=published,
            updated=own_updated if own_updated and own_updated != published else None,
            author=_person(e) or feed_author, labels=tuple(t.get("term", "") for t in e.get("tags", [])),
            link=link))
    return parsed.version, out, skipped


def _person(item: Any) -> str:
    """An author's name: feedparser splits RSS's 'email (Name)' into author_detail."""
    detail = item.get("author_detail") or {}
    return detail.get("name") or item.get("author", "") or ""


def _json_feed(data: bytes, base: str, name: str) -> tuple[str, list[Imported], int]:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImportFailed(f"{name}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or "jsonfeed.org/version/" not in str(doc.get("version", "")) \
            or not isinstance(doc.get("items"), list):
        raise ImportFailed(f"{name}: not a JSON Feed (no version or items)")
    feed_authors = doc.get("authors") or ([doc["author"]] if isinstance(doc.get("author"), dict) else [])
    out, skipped = [], 0
    for item in doc["items"]:
        if not isinstance(item, dict):
            skipped += 1
            continue
        published = _iso(item.get("date_published")) or _iso(item.get("date_modified"))
        if published is None or not item.get("id"):
            skipped += 1
            continue
        authors = item.get("authors") or ([item["author"]] if isinstance(item.get("author"), dict) else feed_authors)
        link = str(item.get("url") or "")
        body = item.get("content_html") or _text_html(item.get("content_text") or item.get("summary") or "")
        out.append(Imported(
            id=str(item["id"]), title=str(item.get("title") or ""), body=sanitize(str(body), web_base(link, base)),
            published=published, updated=_iso(item.get("date_modified")) if item.get("date_published") else None,
            author=str((authors[0] if authors and isinstance(authors[0], dict) else {}).get("name") or ""),
            labels=tuple(str(t) for t in item.get("tags") or []), link=link))
    return "JSON Feed", out, skipped


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return instant(when if when.tzinfo else when.replace(tzinfo=timezone.utc))  # out of range: as if none


def _text_html(text: str) -> str:
    return "".join(f"<p>{escape(p.strip())}</p>" for p in str(text).split("\n\n") if p.strip())


def _child_text(el: Element, tag: str) -> str:
    found = el.find(tag)
    return (found.text or "") if found is not None else ""


def _blogger(root: Element, base: str) -> tuple[str, list[Imported], int]:
    """A Blogger export: posts only (settings, templates and comments are skipped)."""
    out, skipped = [], 0
    for e in root.findall(f"{ATOM}entry"):
        cats = e.findall(f"{ATOM}category")
        if not any(c.get("scheme") == BLOGGER_KIND and c.get("term") == BLOGGER_POST for c in cats):
            skipped += 1
            continue
        published = _iso(_child_text(e, f"{ATOM}published")) or _iso(_child_text(e, f"{ATOM}updated"))
        if published is None:
            skipped += 1
            continue
        link = next((ln.get("href", "") for ln in e.findall(f"{ATOM}link") if ln.get("rel") == "alternate"), "")
        author = e.find(f"{ATOM}author")
        draft = e.find(f"{APP}control/{APP}draft")
        out.append(Imported(
            id=_child_text(e, f"{ATOM}id") or link or _fallback_id(_child_text(e, f"{ATOM}title"), str(published)),
            title=_child_text(e, f"{ATOM}title"), body=sanitize(_child_text(e, f"{ATOM}content"), web_base(link, base)),
            published=published, updated=_iso(_child_text(e, f"{ATOM}updated")),
            author=_child_text(author, f"{ATOM}name") if author is not None else "",
            labels=tuple(c.get("term", "") for c in cats if c.get("scheme") != BLOGGER_KIND),
            link=link, draft=draft is not None and (draft.text or "").strip() == "yes"))
    return "Blogger export", out, skipped


def _wxr(root: Element, base: str) -> tuple[str, list[Imported], int]:
    """A WordPress export (WXR): posts only; drafts stay drafts, pages and attachments are skipped."""
    out, skipped = [], 0
    site = _child_text(root, "channel/link") or base
    names = {_child_text(a, f"{WP}author_login"): _child_text(a, f"{WP}author_display_name")
             for a in root.findall(f"channel/{WP}author")}
    for item in root.findall("channel/item"):
        status = _child_text(item, f"{WP}status")
        if _child_text(item, f"{WP}post_type") != "post" or status not in ("publish", "draft", "future", "pending"):
            skipped += 1
            continue
        gmt = _child_text(item, f"{WP}post_date_gmt").strip()
        published = _iso(gmt.replace(" ", "T") + "+00:00") if gmt and not gmt.startswith("0000") else None
        if published is None:
            local = _child_text(item, f"{WP}post_date").strip()
            published = _iso(local.replace(" ", "T")) if local else None
        if published is None:
            skipped += 1
            continue
        link = _child_text(item, "link")
        guid = _child_text(item, "guid").strip()
        post_id = _child_text(item, f"{WP}post_id").strip()
        out.append(Imported(
            id=guid if is_absolute_iri(guid) else f"{site.rstrip('/')}/?p={post_id}",
            title=_child_text(item, "title"), body=sanitize(_child_text(item, f"{CONTENT}encoded"), web_base(link, site)),
            published=published, updated=None,
            author=names.get(_child_text(item, f"{DC}creator")) or _child_text(item, f"{DC}creator"),
            labels=tuple(c.text or "" for c in item.findall("category")
                         if c.get("domain") in ("category", "post_tag")),
            link=link, draft=status != "publish"))
    return "WordPress export", out, skipped


def to_post(entry: Imported, config: Config, *, author_key: str | None = None,
            extra_labels: Sequence[str] = ()) -> PostInput:
    """An imported entry as a post: its own id, dates, author and labels (plus any forced ones)."""
    title = one_line(entry.title) or one_line(entry.link) or "Untitled"
    labels = tuple(dict.fromkeys(label for label in (label_text(x) for x in (*entry.labels, *extra_labels)) if label))
    author = one_line(entry.author) or "Unknown author"
    known = {a.key for a in config.authors}
    return PostInput(
        source=SOURCE_PREFIX + entry.id, key=slugify(title, fallback="post"), title=title, body=entry.body,
        author_key=author_key or (author if author in known else ""),
        author_name=None if author_key or author in known else author,
        published=entry.published, updated=entry.updated, labels=labels, slug=slugify(title, fallback="post"),
        draft=entry.draft, entry_id=entry.id)


def import_entries(config: Config, store: Store, entries: Iterable[Imported], now: datetime, report: ImportReport,
                   *, author_key: str | None = None, labels: Sequence[str] = ()) -> None:
    """Upsert the entries in one transaction: a source is taken whole or not at all."""
    with store.transaction():
        for entry in entries:
            outcome = store.upsert_post(to_post(entry, config, author_key=author_key, extra_labels=labels), now)
            report.count(outcome)


def import_source(config: Config, store: Store, source: str, now: datetime, *, author_key: str | None = None,
                  labels: Sequence[str] = ()) -> ImportReport:
    if author_key is not None and author_key not in store.authors():
        raise ImportFailed(f"--author {author_key!r} is not an author key in {config.path}")
    data, base = read_source(source, config)
    kind, entries, skipped = parse(data, base, source)
    report = ImportReport(source=source, kind=kind, skipped=skipped)
    import_entries(config, store, entries, now, report, author_key=author_key, labels=labels)
    return report

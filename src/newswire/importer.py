"""Content from outside: Atom/RSS/JSON feeds and Blogger/WordPress exports → the store.

Everything from outside is distrusted. XML is first parsed by defusedxml, which
refuses entity declarations (billion laughs, quadratic blowup) and external
references (XXE) before anything else reads it; HTML is sanitised with nh3 and
its relative links resolved against the source. A source that cannot be read
imports nothing. Entries keep the ids, dates, authors and categories the source
gave, so importing twice changes nothing and an entry that changed at the source
is updated under the same id.

Every entry passes through ``settle`` on its way in: each of its strings loses the
characters XML 1.0 cannot carry (``text.clean``), and a body nested too deeply for
parsers to take in bounded time is refused. An entry may change only a post its own
source brought (``PostStore.upsert``): a clash is reported and the entry skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

import defusedxml.ElementTree as safe_xml
import feedparser
import nh3
from defusedxml import DefusedXmlException

from .bounds import from_utc_tuple, instant
from .config import Config
from .errors import NewswireError, printable
from .fetch import fetch
from .files import Refused, read_limited
from .model import NotOwned, PostInput, Tally
from .store import Store
from .text import (
    MAX_NESTING,
    absolutize,
    clean,
    clean_html,
    clean_id,
    is_absolute_iri,
    label_text,
    nested_deeper,
    one_line,
    slugify,
)

SOURCE_PREFIX = "import:"
MAX_ENTRIES = 100_000  # entries read from one source: a whole journal at the scale newswire is made for
MAX_XML_DEPTH = 1024   # levels of XML elements: a feed needs a handful, its XHTML bodies MAX_NESTING more
# Schemes a link or image in imported HTML may use; any other (javascript:, vbscript:, data:, file: ...) is
# dropped with its attribute. Relative URLs are kept, and made absolute against an http(s) base.
URL_SCHEMES = frozenset({"http", "https", "mailto"})
# Attributes whose value is a URL, or a list of them (srcset, archive, ping), in HTML, SVG and MathML:
# whatever nh3's allow-list lets through, each is checked here, so the promise does not rest on that list.
URL_ATTRIBUTES = frozenset({"href", "src", "cite", "poster", "srcset", "longdesc", "action", "formaction",
                            "background", "data", "usemap", "xlink:href", "codebase", "classid", "profile",
                            "manifest", "icon", "dynsrc", "lowsrc", "ping", "archive", "itemtype", "itemid"})
_URL_LISTS = {"srcset": ",", "archive": None, "ping": None}  # attribute: separator (None: white space)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_URL_EDGES = "".join(map(chr, range(0x21)))  # what a browser strips from both ends of a URL: C0 controls, space
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
    base: str = ""  # what relative links in the body resolve against ('' until ``settle``: none)


@dataclass
class Entries:
    """What a source holds: its kind, the entries to import, how many it skipped by design (pages,
    comments, undated items) and one line for each entry it refused."""

    kind: str
    entries: list[Imported]
    skipped: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class ImportReport(Tally):
    source: str = ""
    kind: str = ""
    skipped: int = 0
    problems: list[str] = field(default_factory=list)  # one line per entry refused or clashing, with why

    def summary(self) -> str:
        return (f"imported {self.total} entries from {self.source} ({self.kind}): {self.added} added, "
                f"{self.updated} updated, {self.unchanged} unchanged"
                + (f", {self.skipped} skipped" if self.skipped else "")
                + (f", {len(self.problems)} refused" if self.problems else ""))


def web_base(*candidates: str) -> str:
    """The first http(s) URL among ``candidates``: the only kind relative links may resolve against."""
    for candidate in candidates:
        try:
            if candidate and urlsplit(candidate.strip()).scheme in ("http", "https"):
                return candidate.strip()
        except ValueError:  # not a URL at all ('http://[', an unclosed IPv6 host)
            continue
    return ""


def safe_url(value: str) -> bool:
    """Whether a URL is relative or uses one of ``URL_SCHEMES``, read as a browser reads it: the
    C0 controls and spaces at its ends stripped, tabs and line breaks inside it removed, the
    scheme in any case (so ``java&#x09;script:`` and `` JAVASCRIPT:`` are what they are)."""
    url = re.sub("[\t\n\r]", "", value.strip(_URL_EDGES))
    scheme = _SCHEME.match(url)
    return scheme is None or scheme.group(1).lower() in URL_SCHEMES


def _url_attribute(element: str, attribute: str, value: str) -> str | None:
    """nh3's filter: a URL attribute is kept only if every URL in it is safe."""
    name = attribute.lower()
    if name not in URL_ATTRIBUTES:
        return value
    if name in _URL_LISTS:
        urls = [part.split(None, 1)[0] for part in value.split(_URL_LISTS[name]) if part.strip()]
    else:
        urls = [value]
    return value if all(safe_url(url) for url in urls) else None


def sanitize(html: str, base: str) -> str:
    """Allow-listed HTML (no script, style, iframe, event handlers, and in no URL attribute a scheme
    but http, https and mailto), links absolute.

    Relative links resolve only against an http(s) base, so a ``file:`` entry link
    cannot turn a harmless relative link into a ``file:`` one after the allow-list ran.
    """
    safe = nh3.clean(clean_html(html), link_rel=None, url_schemes=set(URL_SCHEMES), attribute_filter=_url_attribute)
    base = web_base(base)
    return absolutize(safe, base).strip() if base else safe.strip()


def settle(entry: Imported) -> Imported | str:
    """The entry as the store may hold it, or why it may not be imported.

    Every string is ``clean`` (the body by ``sanitize``): the characters XML 1.0 cannot carry are
    dropped, the same way at every import, so an id that loses some is still the same id next
    time. A body nested deeper than ``MAX_NESTING`` is refused before a parser sees it.
    """
    entry_id = clean_id(entry.id)
    if not entry_id:
        return "it has no id (none left once characters XML cannot carry are dropped)"
    if nested_deeper(entry.body):
        return f"its HTML is nested deeper than {MAX_NESTING} levels"
    return replace(entry, id=entry_id, title=clean(entry.title), author=clean(entry.author),
                   link=clean(entry.link).strip(), labels=tuple(clean(label) for label in entry.labels),
                   body=sanitize(entry.body, entry.base), base="")


def read_source(source: str, config: Config) -> tuple[bytes, str]:
    """The bytes of a file or an http(s) URL, and the base URL its relative links resolve against."""
    if "://" in source:
        return fetch(source, config.fetch).body, source
    try:  # a named pipe, a device or a folder is refused unread
        return read_limited(source, config.fetch.max_bytes, "fetch.max_bytes"), ""
    except Refused as exc:
        raise ImportFailed(f"{source}: {exc}") from None


def parse(data: bytes, base: str, name: str) -> Entries:
    """The entries of a source's bytes, each ``settle``d; raises ImportFailed if it cannot be read.

    A source too deep or too large to read in bounded time and memory is refused whole, and
    one line says why; an entry that cannot be imported is skipped, with a line of its own.
    """
    try:
        kind, raw, skipped = _read(data, base, name)
    except RecursionError:
        raise ImportFailed(f"{name}: refused: nested too deeply to read") from None
    except MemoryError:
        raise ImportFailed(f"{name}: refused: too large to read in memory") from None
    if len(raw) + skipped > MAX_ENTRIES:
        raise ImportFailed(f"{name}: refused: it holds {len(raw) + skipped} entries, and at most {MAX_ENTRIES} "
                           "are read from one source (split it)")
    out = Entries(kind, [], skipped)
    for entry in raw:
        settled = settle(entry)
        if isinstance(settled, str):
            out.problems.append(f"{name}: entry {_named(entry)} skipped: {settled}")
        else:
            out.entries.append(settled)
    return out


def _named(entry: Imported) -> str:
    """An entry as one line can name it: its id, or else its title."""
    entry_id = clean_id(entry.id)
    return repr(entry_id) if entry_id else f"titled {one_line(entry.title)[:80]!r}"


def _read(data: bytes, base: str, name: str) -> tuple[str, list[Imported], int]:
    head = data.lstrip()[:1]
    if head in (b"{", b"["):
        return _json_feed(data, base, name)
    try:
        parser = safe_xml.DefusedXMLParser(target=_Bounded(name))
        parser.feed(data)
        root = parser.close()
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


class _Bounded(TreeBuilder):
    """ElementTree's tree builder, refusing a document nested deeper than ``MAX_XML_DEPTH`` as soon as
    it goes there (a tree millions of levels deep costs gigabytes before anything could look at it)."""

    def __init__(self, name: str):
        super().__init__()
        self.name, self.depth = name, 0

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        self.depth += 1
        if self.depth > MAX_XML_DEPTH:
            raise ImportFailed(f"{self.name}: refused: its XML is nested deeper than {MAX_XML_DEPTH} levels")
        return super().start(tag, attrs)

    def end(self, tag: str) -> Element:
        self.depth -= 1
        return super().end(tag)


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
        own_updated = _when(e["updated_parsed"]) if "updated_parsed" in e.keys() and "updated" in e.keys() else None  # noqa: SIM118
        published = _when(e.get("published_parsed")) or own_updated or channel_date
        if published is None:
            skipped += 1
            continue
        link = e.get("link", "")
        body = (e.get("content") or [{}])[0].get("value") or e.get("summary", "")
        out.append(Imported(
            id=e.get("id") or link or _fallback_id(e.get("title", ""), str(published)),
            title=e.get("title", ""), body=body, published=published,
            updated=own_updated if own_updated and own_updated != published else None,
            author=_person(e) or feed_author, labels=tuple(t.get("term") or "" for t in e.get("tags", [])),
            link=link, base=web_base(link, base)))
    return parsed.version, out, skipped


def _person(item: Any) -> str:
    """An author's name: feedparser splits RSS's 'email (Name)' into author_detail."""
    detail = item.get("author_detail") or {}
    return detail.get("name") or item.get("author", "") or ""


def _json_feed(data: bytes, base: str, name: str) -> tuple[str, list[Imported], int]:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:  # ValueError: also a number of more than 4,300 digits
        raise ImportFailed(f"{name}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or "jsonfeed.org/version/" not in _scalar(doc.get("version")) \
            or not isinstance(doc.get("items"), list):
        raise ImportFailed(f"{name}: not a JSON Feed (no version or items)")
    feed_author = _author_name(doc)
    out, skipped = [], 0
    for item in doc["items"]:
        if not isinstance(item, dict):
            skipped += 1
            continue
        published = _iso(item.get("date_published")) or _iso(item.get("date_modified"))
        if published is None or not _scalar(item.get("id")):
            skipped += 1
            continue
        link = _scalar(item.get("url"))
        body = _scalar(item.get("content_html")) or _text_html(_scalar(item.get("content_text"))
                                                                or _scalar(item.get("summary")))
        tags = item.get("tags")
        out.append(Imported(
            id=_scalar(item["id"]), title=_scalar(item.get("title")), body=body,
            published=published, updated=_iso(item.get("date_modified")) if item.get("date_published") else None,
            author=_author_name(item) or feed_author,
            labels=tuple(_scalar(t) for t in tags) if isinstance(tags, list) else (), link=link,
            base=web_base(link, base)))
    return "JSON Feed", out, skipped


def _scalar(value: Any) -> str:
    """A JSON value as text if it is a string or a number (JSON Feed readers coerce ids), else ''."""
    return str(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""


def _author_name(obj: dict[str, Any]) -> str:
    """The first author's name of a JSON Feed object ('authors', or 1.0's 'author')."""
    authors = obj.get("authors")
    first = authors[0] if isinstance(authors, list) and authors else obj.get("author")
    return _scalar(first.get("name")) if isinstance(first, dict) else ""


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return instant(when if when.tzinfo else when.replace(tzinfo=UTC))  # out of range: as if none


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
            title=_child_text(e, f"{ATOM}title"), body=_child_text(e, f"{ATOM}content"),
            published=published, updated=_iso(_child_text(e, f"{ATOM}updated")),
            author=_child_text(author, f"{ATOM}name") if author is not None else "",
            labels=tuple(c.get("term", "") for c in cats if c.get("scheme") != BLOGGER_KIND),
            link=link, draft=draft is not None and (draft.text or "").strip() == "yes", base=web_base(link, base)))
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
            title=_child_text(item, "title"), body=_child_text(item, f"{CONTENT}encoded"),
            published=published, updated=None,
            author=names.get(_child_text(item, f"{DC}creator")) or _child_text(item, f"{DC}creator"),
            labels=tuple(c.text or "" for c in item.findall("category")
                         if c.get("domain") in ("category", "post_tag")),
            link=link, draft=status != "publish", base=web_base(link, site)))
    return "WordPress export", out, skipped


def to_post(entry: Imported, config: Config, *, origin: str, author_key: str | None = None,
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
        draft=entry.draft, entry_id=entry.id, origin=origin)


def import_entries(config: Config, store: Store, entries: Iterable[Imported], now: datetime, report: ImportReport,
                   *, origin: str, author_key: str | None = None, labels: Sequence[str] = ()) -> None:
    """Upsert the entries in one transaction: a source is taken whole or not at all. An entry whose id
    is a post that ``origin`` did not bring is skipped, and one line in the report says whose it is."""
    with store.transaction():
        for entry in entries:
            try:
                outcome = store.posts.upsert(to_post(entry, config, origin=origin, author_key=author_key,
                                                    extra_labels=labels), now)
            except NotOwned as clash:
                report.problems.append(f"{report.source}: entry {clash.entry_id!r} skipped: that id is post "
                                       f"{clash.post_id}, {_owner(clash)}")
                continue
            report.count(outcome)


def _owner(clash: NotOwned) -> str:
    """Where the post a clashing entry names came from, and so what alone may change it."""
    if clash.origin == "":
        rel = printable(clash.source.split(":", 1)[1])
        return f"written in {rel} in the content folder: only that file may change it"
    return f"brought by {clash.origin}: only that source may change it"


def origin_of(source: str) -> str:
    """What an import names its source by: a URL as given, a file by its absolute path (so the same file
    is the same source from any folder). A pull names it by the URL in the config: importing that
    URL by hand is the same source."""
    return source if "://" in source else os.path.abspath(source)


def import_source(config: Config, store: Store, source: str, now: datetime, *, author_key: str | None = None,
                  labels: Sequence[str] = ()) -> ImportReport:
    if author_key is not None and author_key not in store.authors.all():
        raise ImportFailed(f"--author {author_key!r} is not an author key in {config.path}")
    data, base = read_source(source, config)
    found = parse(data, base, source)
    report = ImportReport(source=source, kind=found.kind, skipped=found.skipped, problems=found.problems)
    import_entries(config, store, found.entries, now, report, origin=origin_of(source), author_key=author_key,
                   labels=labels)
    return report

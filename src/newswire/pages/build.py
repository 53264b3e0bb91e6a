"""What each page means: the model turned into ``Page`` values that ``render`` draws and
``read_back`` checks. Every string is cleaned here, once, so the two cannot disagree."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from urllib.parse import unquote

import html5lib

from ..config import JournalConfig
from ..formats import FORMATS
from ..model import PAGE_NAME, Author, Feed, FeedKind, Label, Post, page_document_path
from ..render import EntryView, FeedView, Site, entry_view
from ..text import one_line

HOME_PAGE = "index.html"  # the journal's home page, at the top of its own pages (its site_url)
DIRECTORY = "index.html"  # the feed directory (render/index.py), at the top of the feeds

# RFC 5005's archive links, as a page names them, in the order a reader meets them.
PAGING = {"current": "Newest posts", "next-archive": "Newer posts", "prev-archive": "Older posts"}

# Noncharacters past the Basic Multilingual Plane: XML carries them, but each is an HTML parse error.
_NONCHARACTERS = re.compile("[" + "".join(f"\\U{p:04x}fffe\\U{p:04x}ffff" for p in range(1, 17)) + "]")


def shown(text: str) -> str:
    """One line as a page shows it: what the feeds show, less what HTML forbids."""
    return one_line(_NONCHARACTERS.sub("", text))


@dataclass(frozen=True)
class Link:
    """A link as a page shows it; ``href`` '' is text with nowhere to go (a feed that does not exist)."""

    text: str
    href: str = ""


@dataclass(frozen=True)
class Alternate:
    """One feed document a page points to, for autodiscovery and in its subscribe box."""

    title: str
    format: str
    href: str

    @property
    def media_type(self) -> str:
        return FORMATS[self.format].media_type

    @property
    def format_name(self) -> str:
        return FORMATS[self.format].label


@dataclass(frozen=True)
class Item:
    """A post as a page lists it. Dates are in the journal's time zone."""

    id: str
    title: str
    link: str
    published: datetime
    updated: datetime
    author: Link
    labels: tuple[Link, ...]
    summary: str


@dataclass(frozen=True)
class Page:
    """Everything a page says: what ``render`` draws and ``read_back`` expects.

    ``kind`` is 'feed' (a feed's page or archive page), 'home', 'post' or 'gone'. ``path`` is
    where it goes: below the feeds' output folder for a feed's page, below the journal's own
    pages (its site_url) for the others.
    """

    kind: str
    path: str
    language: str
    title: str
    heading: str
    nav: tuple[Link, ...]
    subtitle: str = ""
    byline: str = ""
    canonical: str = ""
    noindex: bool = False
    alternates: tuple[Alternate, ...] = ()
    subscribe: tuple[Alternate, ...] = ()
    items: tuple[Item, ...] = ()
    pager: tuple[tuple[str, Link], ...] = ()  # (rel, link): the archive chain, or the home page's way to it
    post: Item | None = None  # the post page's post
    body: str = ""  # the post page's body, as html5lib serialises it
    gone: datetime | None = None  # when the gone page's post was deleted


def page_path(feed: Feed) -> str:
    """Where a feed's page goes below the output folder (see ``model.page_document_path``)."""
    return page_document_path(feed.dir)


def post_path(journal: JournalConfig, url: str) -> str | None:
    """Where a post's page goes below the journal's own pages: its permalink below ``site_url``,
    or None for a post whose address is elsewhere (an imported post that kept its own)."""
    if not url.startswith(journal.site_url):
        return None
    path = unquote(url[len(journal.site_url):].split("?")[0].split("#")[0])
    if not path or path.endswith("/"):
        path += PAGE_NAME
    return path if ".." not in path.split("/") else None


@dataclass(frozen=True)
class Links:
    """Where the journal's feeds and their pages are, so an entry's author and labels link to the
    pages of their feeds, when those feeds exist. ``feeds`` are the journal's feeds (a plan's
    ``every``); ``formats`` those it publishes."""

    journal: JournalConfig
    feeds: tuple[Feed, ...]
    formats: tuple[str, ...]

    @cached_property
    def _by_kind(self) -> dict[tuple[FeedKind, str], Feed]:
        return {(f.kind, f.label.slug if f.label else f.key): f for f in self.feeds}

    def page(self, feed: Feed) -> str:
        return self.journal.feed_url(page_path(feed))

    def journal_feed(self) -> Feed | None:
        return next((f for f in self.feeds if f.kind is FeedKind.JOURNAL), None)

    def author_feed(self, author: Author) -> Feed | None:
        return self._by_kind.get((FeedKind.AUTHOR, author.key))

    def label_feed(self, label: Label) -> Feed | None:
        return self._by_kind.get((FeedKind.LABEL, label.slug))

    def alternates(self, feed: Feed) -> tuple[Alternate, ...]:
        title = shown(feed.title)
        return tuple(Alternate(f"{title} ({FORMATS[fmt].label})", fmt, self.journal.feed_url(feed.path(fmt)))
                     for fmt in self.formats)

    def nav(self) -> tuple[Link, ...]:
        """Every page's way around: the journal's site, its feed's page and the feed directory."""
        journal = self.journal_feed()
        return ((Link(shown(self.journal.title), self.journal.site_url),)
                + ((Link("All posts", self.page(journal)),) if journal else ())
                + (Link("All feeds", self.journal.feed_url(DIRECTORY)),))


def _item(post: Post, view: EntryView, site: Site, links: Links) -> Item:
    author = links.author_feed(post.author)
    zone = site.journal.zone
    return Item(
        id=view.id,
        title=shown(view.title),
        link=view.link,
        published=view.published.astimezone(zone),
        updated=view.updated.astimezone(zone),
        author=Link(shown(view.author.signature), links.page(author) if author else ""),
        labels=tuple(Link(shown(name), links.page(feed) if (feed := links.label_feed(label)) else "")
                     for name, label in zip(view.labels, post.labels)),
        summary=shown(view.summary),
    )


def _items(posts: Iterable[Post], site: Site, links: Links) -> tuple[Item, ...]:
    return tuple(_item(post, entry_view(post, site, "summary"), site, links) for post in posts)


def _page_beside(url: str, journal: JournalConfig) -> str:
    """The page in the folder of a feed document (given by its URL): the pages follow the
    documents' RFC 5005 chain exactly, as ``feed_view`` made it."""
    folder = unquote(url[len(journal.feeds_url):]).rpartition("/")[0]
    return journal.feed_url(page_document_path(folder))


def feed_page(fv: FeedView, posts: Sequence[Post], site: Site, links: Links) -> Page:
    """A feed's page (or archive page): ``fv`` is its documents' view, ``posts`` their entries in order."""
    feed = fv.feed
    pager = tuple((rel, Link(text, _page_beside(next(iter(fv.paging[rel].values())), site.journal)))
                  for rel, text in PAGING.items() if fv.paging.get(rel))
    return Page(
        kind="feed",
        path=page_path(feed),
        language=site.journal.language,
        title=shown(fv.title),
        heading=shown(fv.title),
        nav=links.nav(),
        subtitle=shown(fv.subtitle),
        byline=shown(feed.author.affiliation) if feed.author else "",
        canonical=links.page(feed),
        alternates=links.alternates(feed),
        subscribe=links.alternates(feed),
        items=_items(posts, site, links),
        pager=pager,
    )


def home_page(fv: FeedView, posts: Sequence[Post], site: Site, links: Links) -> Page:
    """The journal's home page: its newest posts (``fv`` and ``posts`` as for the journal feed's
    page), at its ``site_url``, leading to the feed's page for the rest."""
    page = feed_page(fv, posts, site, links)
    return replace(page, kind="home", path=HOME_PAGE, canonical=site.journal.site_url,
                   pager=(("archives", Link("All posts", page.canonical)),))


def post_page(post: Post, site: Site, links: Links) -> Page:
    """A post's page at its permalink: its body, author, dates and labels, and the feeds that hold it."""
    view = entry_view(post, site, "full")
    item = _item(post, view, site, links)
    feeds = [links.journal_feed(), links.author_feed(post.author), *(links.label_feed(label) for label in post.labels)]
    return Page(
        kind="post",
        path=post_path(site.journal, post.url) or "",
        language=site.journal.language,
        title=f"{item.title} – {shown(site.journal.title)}",
        heading=item.title,
        nav=links.nav(),
        canonical=post.url,
        alternates=tuple(alt for feed in feeds if feed for alt in links.alternates(feed)),
        post=item,
        body=normal_body(view.content_html),
    )


def gone_page(post: Post, site: Site, links: Links) -> Page:
    """What a deleted post's address shows (served with 410 Gone): its title, and when it went."""
    title = shown(entry_view(post, site, "summary").title)
    journal = links.journal_feed()
    return Page(
        kind="gone",
        path=post_path(site.journal, post.url) or "",
        language=site.journal.language,
        title=f"Removed: {title} – {shown(site.journal.title)}",
        heading=title,
        nav=links.nav(),
        noindex=True,
        alternates=links.alternates(journal) if journal else (),
        gone=post.deleted_at.astimezone(site.journal.zone) if post.deleted_at else None,
    )


_PARSED_NEWLINE = ("pre", "textarea", "listing")  # a parser drops one newline at the start of these


_HEADINGS = {f"h{level}": level for level in range(1, 7)}


def normal_body(body: str) -> str:
    """A post's body as html5lib reads and writes it: well formed wherever the page puts it, and
    what ``read_back`` gets from the page again. A body with an <h1> has its headings moved one
    level down, below the page's own <h1> (the post's title), so the page's outline holds."""
    fragment = html5lib.parseFragment(_NONCHARACTERS.sub("", body), container="div", treebuilder="etree",
                                      namespaceHTMLElements=False)
    headings = [el for el in fragment.iter() if el.tag in _HEADINGS]
    if any(el.tag == "h1" for el in headings):
        for el in headings:
            el.tag = f"h{min(_HEADINGS[el.tag] + 1, 6)}"
    return serialize(fragment)


def serialize(tree: ET.Element) -> str:
    """An html5lib etree as HTML, attributes always quoted, every end tag written. A <pre> whose text
    starts with a newline gets one more, for the next parse to drop (the tree is changed)."""
    for el in tree.iter():
        if el.tag in _PARSED_NEWLINE and (el.text or "").startswith("\n"):
            el.text = "\n" + (el.text or "")
    return str(html5lib.serialize(tree, tree="etree", quote_attr_values="always", omit_optional_tags=False,
                                  use_trailing_solidus=False, resolve_entities=False))

"""Rendering: the model in, bytes out. No disk, no clock, so the same store gives the same bytes.

``EntryView`` and ``FeedView`` say what a document means, in any format; each format
(``newswire.formats``) renders them, an entry once into a fragment that every document
holding it reuses, and compares what it reads back with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..config import JournalConfig
from ..model import STYLESHEET, Author, Feed, Post
from ..text import absolutize, clean_html, one_line, parse_fragment, summarize


@dataclass(frozen=True)
class Site:
    """What every document of a journal shares."""

    journal: JournalConfig
    hubs: tuple[str, ...] = ()
    content: str = "full"


@dataclass(frozen=True)
class EntryView:
    """What an entry says, in any format: the values after cleaning and link fixing."""

    id: str
    title: str
    link: str
    published: datetime
    updated: datetime
    author: Author
    labels: tuple[str, ...]
    content_html: str
    summary: str


@dataclass(frozen=True)
class EntryStub:
    """The little of an entry that its document's own fields depend on: its id and date."""

    id: str
    updated: datetime


@dataclass(frozen=True)
class FeedView:
    """What a document says about itself, apart from its entries."""

    feed: Feed
    id: str
    title: str
    subtitle: str
    home: str
    hubs: tuple[str, ...]
    updated: datetime
    language: str
    urls: dict[str, str]
    paging: dict[str, dict[str, str]] = field(default_factory=dict)
    archive: bool = False
    complete: bool = True
    tombstones: tuple[tuple[str, datetime], ...] = ()

    def self_url(self, fmt: str) -> str:
        return self.urls[fmt]

    def stylesheet(self, fmt: str) -> str:
        """The feed view's XSLT, relative to the document, so it is same-origin wherever served."""
        return "../" * self.feed.path(fmt).count("/") + STYLESHEET


def entry_view(post: Post, site: Site, content: str | None = None) -> EntryView:
    """Every string cleaned here, so no renderer can meet a character XML cannot carry.

    ``content`` is 'full' (full text and summary) or 'summary'; default: the site's.
    """
    a = post.author
    author = Author(a.key, one_line(a.name), one_line(a.affiliation), a.email and one_line(a.email),
                    a.uri and one_line(a.uri))
    body = clean_html(post.body_html)
    root = parse_fragment(body) if body.strip() and not post.summary else None  # once, for summary and links
    summary = one_line(post.summary) or summarize(body, root=root)  # first: absolutize changes the tree
    return EntryView(
        id=post.entry_id,
        title=one_line(post.title),
        link=post.url,
        published=post.published,
        updated=post.updated,
        author=author,
        labels=tuple(one_line(label.name) for label in post.labels),
        content_html=absolutize(body, post.url, root).strip() if (content or site.content) == "full" else "",
        summary=summary,
    )




def feed_view(feed: Feed, entries: Sequence[EntryView | EntryStub], site: Site, formats: Sequence[str], *,
              main: Feed | None = None, page: int = 0, pages: int = 0, complete: bool = True,
              tombstones: Sequence[tuple[str, datetime]] = ()) -> FeedView:
    """A document's own fields. Its ``updated`` is its newest entry's (or tombstone's), never
    the build time. ``page``/``pages`` place it in the feed's RFC 5005 archive chain;
    ``complete`` says the feed has no older entries than these, in archives or not."""
    newest = max([e.updated for e in entries] + [when for _, when in tombstones], default=None)
    if newest is None:
        newest = datetime(int(site.journal.id_date[:4]), 1, 1, tzinfo=UTC)
    main = main or feed

    def urls(target: Feed) -> dict[str, str]:
        return {fmt: site.journal.feed_url(target.path(fmt)) for fmt in formats}

    paging: dict[str, dict[str, str]] = {}
    older = page - 1 if page else pages  # the main document's older neighbour is the newest page
    if older >= 1:
        paging["prev-archive"] = urls(main.archive(older))
    if page:
        paging["current"] = urls(main)
        if page < pages:
            paging["next-archive"] = urls(main.archive(page + 1))
    return FeedView(
        feed=feed,
        id=feed.feed_id,
        title=one_line(feed.title),
        subtitle=one_line(feed.subtitle),
        home=site.journal.site_url,
        hubs=site.hubs,
        updated=newest,
        language=site.journal.language,
        urls=urls(feed),
        paging=paging,
        archive=page > 0,
        complete=pages == 0 and complete,
        tombstones=tuple(tombstones),
    )

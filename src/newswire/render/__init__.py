"""Rendering: the model in, bytes out. No disk, no clock, so the same store gives the same bytes.

An entry is rendered once per format into a fragment that every document holding it
reuses; a document is its head, its fragments and its tail. ``EntryView`` and
``FeedView`` say what a document means; the verifier compares what it reads back
with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from types import ModuleType

from ..config import JournalConfig
from ..model import Author, Feed, Post
from ..text import absolutize, clean_html, one_line, summarize
from . import atom, jsonfeed, rss


@dataclass(frozen=True)
class Site:
    """What every document of a journal shares."""

    journal: JournalConfig
    hubs: tuple[str, ...] = ()
    content: str = "full"

    @property
    def generator(self) -> str:
        return "newswire"


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

    def self_url(self, fmt: str) -> str:
        return self.urls[fmt]


def entry_view(post: Post, site: Site) -> EntryView:
    """Every string cleaned here, so no renderer can meet a character XML cannot carry."""
    a = post.author
    author = Author(a.key, one_line(a.name), one_line(a.affiliation), a.email and one_line(a.email),
                    a.uri and one_line(a.uri))
    body = clean_html(post.body_html)
    return EntryView(
        id=post.entry_id,
        title=one_line(post.title),
        link=post.url,
        published=post.published,
        updated=post.updated,
        author=author,
        labels=tuple(one_line(label.name) for label in post.labels),
        content_html=absolutize(body, post.url).strip() if site.content == "full" else "",
        summary=one_line(post.summary) or summarize(body),
    )


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def feed_view(feed: Feed, entries: Sequence[EntryView], site: Site, formats: Sequence[str]) -> FeedView:
    """A feed's own fields. Its ``updated`` is its newest entry's, never the build time."""
    newest = max((e.updated for e in entries), default=None)
    if newest is None:
        newest = datetime(int(site.journal.id_date[:4]), 1, 1, tzinfo=timezone.utc)
    return FeedView(
        feed=feed,
        id=feed.feed_id,
        title=one_line(feed.title),
        subtitle=one_line(feed.subtitle),
        home=site.journal.site_url,
        hubs=site.hubs,
        updated=newest,
        language=site.journal.language,
        urls={fmt: site.journal.feed_url(feed.path(fmt)) for fmt in formats},
    )


RENDERERS: dict[str, ModuleType] = {"atom": atom, "rss": rss, "json": jsonfeed}


def render_entry(fmt: str, view: EntryView) -> bytes:
    return RENDERERS[fmt].entry(view)


def render_document(fmt: str, feed: FeedView, fragments: Sequence[bytes]) -> bytes:
    return RENDERERS[fmt].document(feed, fragments)

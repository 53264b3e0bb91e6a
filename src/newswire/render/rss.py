"""RSS 2.0 (RSS Advisory Board profile) through feedgen, one item fragment per post.

Readers take an item's ``description`` as HTML and every other element of RSS as plain
text (the profile, section 3.1): the plain-text summary is escaped as HTML before it goes
into ``description``, so every reader shows it as written, and plain text is written with
hexadecimal character references.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator

from .ext import RSS_NSMAP, ChannelExtension, ItemExtension
from .xml import fill_before, fragment, hexadecimal_references, skeleton_bytes, with_stylesheet

if TYPE_CHECKING:
    from . import EntryView, FeedView


def entry(view: EntryView) -> bytes:
    fe = FeedEntry()
    fe.register_extension("newswire", ItemExtension, atom=False, rss=True)
    fe.title(view.title)
    fe.link(href=view.link, rel="alternate")
    fe.guid(view.id, permalink=False)
    fe.pubDate(view.published)
    if view.summary:
        fe.description(escape(view.summary, quote=False))
    # Not fe.content(): with no description feedgen would move the full text into it.
    fe.newswire.encoded = view.content_html
    fe.newswire.affiliation = view.author.affiliation
    fe.newswire.creator = view.author.name  # RSS <author> must be an email address; the name goes here
    fe.newswire.updated = view.updated.isoformat()
    for label in view.labels:
        fe.category(term=label)
    return hexadecimal_references(fragment(fe.rss_entry(), RSS_NSMAP))


def skeleton(feed: FeedView) -> bytes:
    """The document without entries (see ``fill``)."""
    fg = FeedGenerator()
    fg.register_extension("channel", ChannelExtension, None, atom=False, rss=True)
    fg.title(feed.title)
    fg.description(feed.subtitle or feed.title)
    fg.link(href=feed.self_url("rss"), rel="self")
    fg.link(href=feed.home, rel="alternate")
    fg.language(feed.language)
    fg.lastBuildDate(feed.updated)
    fg.pubDate(feed.updated)
    fg.generator("newswire")
    fg.channel.links = [("hub", hub) for hub in feed.hubs] + [(rel, urls["rss"]) for rel, urls in feed.paging.items()]
    fg.channel.history = "archive" if feed.archive else "complete" if feed.complete else None
    return with_stylesheet(hexadecimal_references(skeleton_bytes(fg.rss_str(pretty=False), b"</channel>")),
                           feed.stylesheet("rss"))


def fill(skeleton: bytes, fragments: Sequence[bytes]) -> bytes:
    return fill_before(skeleton, b"</channel>", fragments, RSS_NSMAP)


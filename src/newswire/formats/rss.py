"""RSS 2.0 (RSS Advisory Board profile): rendered through feedgen, one item fragment per post; read
back by feedparser.

Readers take an item's ``description`` as HTML and every other element of RSS as plain
text (the profile, section 3.1): the plain-text summary is escaped as HTML before it goes
into ``description``, so every reader shows it as written, and plain text is written with
hexadecimal character references. So the read-back takes a description as the text its HTML shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

from ..text import html_text

if TYPE_CHECKING:
    from ..model import Problem
    from ..render import EntryView, FeedView
    from ..verify import Checker


class Rss:
    name = "rss"
    file_name = "rss.xml"
    media_type = "application/rss+xml"
    label = "RSS"
    opml_type = "RSS2"
    xml = True

    def entry(self, view: EntryView) -> bytes:
        from feedgen.entry import FeedEntry

        from .ext import ItemExtension
        from .xml import RSS_NSMAP, fragment, hexadecimal_references

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

    def skeleton(self, feed: FeedView) -> bytes:
        from feedgen.feed import FeedGenerator

        from .ext import ChannelExtension
        from .xml import hexadecimal_references, skeleton_bytes, with_stylesheet

        fg = FeedGenerator()
        fg.register_extension("channel", ChannelExtension, None, atom=False, rss=True)
        fg.title(feed.title)
        fg.description(feed.subtitle or feed.title)
        fg.link(href=feed.self_url(self.name), rel="self")
        fg.link(href=feed.home, rel="alternate")
        fg.language(feed.language)
        fg.lastBuildDate(feed.updated)
        fg.pubDate(feed.updated)
        fg.generator("newswire")
        fg.channel.links = ([("hub", hub) for hub in feed.hubs]
                            + [(rel, urls[self.name]) for rel, urls in feed.paging.items()])
        fg.channel.history = "archive" if feed.archive else "complete" if feed.complete else None
        return with_stylesheet(hexadecimal_references(skeleton_bytes(fg.rss_str(pretty=False), b"</channel>")),
                               feed.stylesheet(self.name))

    def fill(self, skeleton: bytes, fragments: Sequence[bytes]) -> bytes:
        from .xml import RSS_NSMAP, fill_before

        return fill_before(skeleton, b"</channel>", fragments, RSS_NSMAP)

    def read_back(self, data: bytes, feed: FeedView, entries: Sequence[EntryView], path: str) -> list[Problem]:
        from .xml import read_back

        return read_back(self.name, data, feed, entries, path, version="rss20", feed_id=False, tombstones=False,
                         summary=html_text)

    def entry_ids(self, data: bytes, check: Checker) -> list[str | None]:
        from .xml import entry_ids

        return entry_ids(data, check, "channel/item", "guid")

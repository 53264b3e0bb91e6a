"""Atom 1.0 (RFC 4287): rendered through feedgen, one entry fragment per post; read back by feedparser.

feedgen's extension mechanism adds what it lacks: RFC 5005 paging markers, RFC 6721
tombstones and the author's ``schema:affiliation``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..text import one_line

if TYPE_CHECKING:
    from ..model import Problem
    from ..render import EntryView, FeedView
    from ..verify import Checker


class Atom:
    name = "atom"
    file_name = "atom.xml"
    media_type = "application/atom+xml"
    label = "Atom"
    opml_type = "ATOM1"
    xml = True

    def entry(self, view: EntryView) -> bytes:
        from feedgen.entry import FeedEntry

        from .ext import AffiliationExtension
        from .xml import ATOM_NSMAP, fragment

        fe = FeedEntry()
        fe.register_extension("newswire", AffiliationExtension, atom=True, rss=False)
        fe.id(view.id)
        fe.title(view.title)
        fe.updated(view.updated)
        fe.published(view.published)
        author = {"name": view.author.name}
        if view.author.email:
            author["email"] = view.author.email
        if view.author.uri:
            author["uri"] = view.author.uri
        fe.author(author)
        fe.newswire.affiliation = view.author.affiliation
        fe.link(href=view.link, rel="alternate", type="text/html")
        if view.content_html:
            fe.content(view.content_html, type="html")
        if view.summary:
            fe.summary(view.summary)
        for label in view.labels:
            fe.category(term=label)
        return fragment(fe.atom_entry(), ATOM_NSMAP)

    def skeleton(self, feed: FeedView) -> bytes:
        from feedgen.feed import FeedGenerator

        from .ext import FeedHistoryExtension
        from .xml import skeleton_bytes, with_stylesheet

        fg = FeedGenerator()
        fg.register_extension("history", FeedHistoryExtension, None, atom=True, rss=False)
        fg.id(feed.id)
        fg.title(feed.title)
        if feed.subtitle:
            fg.subtitle(feed.subtitle)
        fg.updated(feed.updated)
        fg.language(feed.language)
        fg.generator("newswire")
        fg.link(href=feed.home, rel="alternate", type="text/html")
        fg.link(href=feed.self_url(self.name), rel="self", type=self.media_type)
        for hub in feed.hubs:
            fg.link(href=hub, rel="hub")
        for rel, urls in feed.paging.items():
            fg.link(href=urls[self.name], rel=rel, type=self.media_type)
        fg.history.history = "archive" if feed.archive else "complete" if feed.complete else None
        fg.history.tombstones = [(ref, when.isoformat()) for ref, when in feed.tombstones]
        return with_stylesheet(skeleton_bytes(fg.atom_str(pretty=False), b"</feed>"), feed.stylesheet(self.name))

    def fill(self, skeleton: bytes, fragments: Sequence[bytes]) -> bytes:
        from .xml import ATOM_NSMAP, fill_before

        return fill_before(skeleton, b"</feed>", fragments, ATOM_NSMAP)

    def read_back(self, data: bytes, feed: FeedView, entries: Sequence[EntryView], path: str) -> list[Problem]:
        from .xml import read_back

        return read_back(self.name, data, feed, entries, path, version="atom10", feed_id=True, tombstones=True,
                         summary=one_line)

    def entry_ids(self, data: bytes, check: Checker) -> list[str | None]:
        from .xml import ATOM_NS, entry_ids

        return entry_ids(data, check, f"{{{ATOM_NS}}}entry", f"{{{ATOM_NS}}}id")

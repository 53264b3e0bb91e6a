"""Atom 1.0 (RFC 4287) through feedgen, one entry fragment per post.

feedgen's extension mechanism adds what it lacks: RFC 5005 paging markers, RFC 6721
tombstones and the author's ``schema:affiliation``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator

from .ext import ATOM_NSMAP, AffiliationExtension, FeedHistoryExtension
from .xml import fill_before, fragment, skeleton_bytes, with_stylesheet

if TYPE_CHECKING:
    from . import EntryView, FeedView


def entry(view: EntryView) -> bytes:
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


def skeleton(feed: FeedView) -> bytes:
    """The document without entries (see ``fill``)."""
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
    fg.link(href=feed.self_url("atom"), rel="self", type="application/atom+xml")
    for hub in feed.hubs:
        fg.link(href=hub, rel="hub")
    for rel, urls in feed.paging.items():
        fg.link(href=urls["atom"], rel=rel, type="application/atom+xml")
    fg.history.history = "archive" if feed.archive else "complete" if feed.complete else None
    fg.history.tombstones = [(ref, when.isoformat()) for ref, when in feed.tombstones]
    return with_stylesheet(skeleton_bytes(fg.atom_str(pretty=False), b"</feed>"), feed.stylesheet("atom"))


def fill(skeleton: bytes, fragments: Sequence[bytes]) -> bytes:
    return fill_before(skeleton, b"</feed>", fragments, ATOM_NSMAP)

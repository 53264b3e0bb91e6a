"""Atom 1.0 (RFC 4287) through feedgen, one entry fragment per post."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator

from .xml import fragment, splice

if TYPE_CHECKING:
    from . import EntryView, FeedView


def entry(view: "EntryView") -> bytes:
    fe = FeedEntry()
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
    fe.link(href=view.link, rel="alternate", type="text/html")
    if view.content_html:
        fe.content(view.content_html, type="html")
    if view.summary:
        fe.summary(view.summary)
    for label in view.labels:
        fe.category(term=label)
    return fragment(fe.atom_entry(), {})


def document(feed: "FeedView", fragments: Sequence[bytes]) -> bytes:
    fg = FeedGenerator()
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
    return splice(fg.atom_str(pretty=False), b"</feed>", fragments)

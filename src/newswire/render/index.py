"""The feed directory: ``index.opml`` (OPML 2.0) for readers and ``index.html`` for people."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from html import escape
from importlib import resources

from ..config import JournalConfig
from ..formats import FORMATS
from ..model import Feed, FeedKind

GROUPS = ((FeedKind.JOURNAL, "The journal"), (FeedKind.AUTHOR, "Authors"), (FeedKind.LABEL, "Labels"))


@dataclass(frozen=True)
class Listing:
    """A feed as the directory shows it: with its post count and newest date."""

    feed: Feed
    posts: int
    updated: datetime | None


def _shown_name(feed: Feed) -> str:
    """What the directory calls a feed: an author as they sign, a label by its name."""
    return feed.author.signature if feed.author else feed.label.name if feed.label else feed.title


def _sort_key(name: str) -> tuple[str, str]:
    """Alphabetical for people in any locale, near enough: case and accents set aside first."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return bare.casefold(), name


def _groups(listings: Sequence[Listing]) -> list[tuple[str, list[Listing]]]:
    """The directory's groups that have feeds, each in the order of the names it shows (not of
    config keys or slugs: 'W. Craig Fugate' is under W, wherever his key 'afugate' sorts)."""
    groups = [(heading, sorted((entry for entry in listings if entry.feed.kind is kind),
                               key=lambda entry: _sort_key(_shown_name(entry.feed))))
              for kind, heading in GROUPS]
    return [(heading, members) for heading, members in groups if members]


def subscribed_format(formats: Sequence[str]) -> str:
    """The one format ``index.opml`` subscribes to each feed in: the first XML format configured.
    Readers import Atom and RSS outlines, while JSON Feed ones failed in every reader tried, so a
    JSON Feed document is listed only when a journal publishes nothing else."""
    return next((fmt for fmt in formats if FORMATS[fmt].xml), formats[0])


def opml(journal: JournalConfig, listings: Sequence[Listing], formats: Sequence[str]) -> bytes:
    """Each feed once, so that importing it subscribes a reader to each feed once.

    Written out as text (as lxml would serialise it): a journal's thousands of outlines as
    elements would cost ten times as much, at every publish that changes a count."""
    fmt = subscribed_format(formats)
    out = ["<?xml version='1.0' encoding='UTF-8'?>", '<opml version="2.0">', "  <head>",
           f"    <title>{_xml(journal.title)}: feeds</title>"]
    newest = max((entry.updated for entry in listings if entry.updated), default=None)
    if newest is not None:
        out.append(f"    <dateModified>{format_datetime(newest)}</dateModified>")
    out += ["    <docs>http://opml.org/spec2.opml</docs>", "  </head>", "  <body>"]
    home = _xml(journal.site_url)
    for heading, members in _groups(listings):
        out.append(f'    <outline text="{heading}">')
        for entry in members:
            title = _xml(entry.feed.title)
            out.append(f'      <outline type="rss" text="{title}" title="{title}" '
                       f'xmlUrl="{_xml(journal.feed_url(entry.feed.path(fmt)))}" htmlUrl="{home}" '
                       f'version="{FORMATS[fmt].opml_type}"/>')
        out.append("    </outline>")
    out += ["  </body>", "</opml>", ""]
    return "\n".join(out).encode("utf-8")


def _xml(text: str) -> str:
    """Text fit for an XML attribute or element (the listed names are single lines)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


_STYLE = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:48rem;padding:1rem;color:#1c1c1c}
header{border-bottom:1px solid #ddd;margin-bottom:1rem}h1{margin:.2rem 0}h2{margin-top:2rem;font-size:1.2rem}
ul{list-style:none;padding:0}li{padding:.6rem 0;border-bottom:1px solid #eee}
.meta{color:#555;font-size:.9rem}.formats a{margin-right:.8rem}
input{width:100%;font:inherit;font-size:.85rem;border:1px solid #ccc;border-radius:4px;padding:.2rem .4rem;box-sizing:border-box}
@media (prefers-color-scheme:dark){body{background:#161616;color:#eee}.meta{color:#aaa}li{border-color:#333}}
""".strip()


def html_page(journal: JournalConfig, listings: Sequence[Listing], formats: Sequence[str]) -> bytes:
    out = [
        "<!DOCTYPE html>",
        f'<html lang="{escape(journal.language)}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(journal.title)}: feeds</title>",
    ]
    for entry in listings:
        if entry.feed.kind is FeedKind.JOURNAL:
            for fmt in formats:
                out.append(f'<link rel="alternate" type="{FORMATS[fmt].media_type}" '
                           f'title="{escape(entry.feed.title)} ({escape(FORMATS[fmt].label)})" '
                           f'href="{escape(journal.feed_url(entry.feed.path(fmt)))}">')
    out += [f"<style>{_STYLE}</style>", "</head>", "<body>", "<header>",
            f"<h1>{escape(journal.title)}</h1>"]
    if journal.subtitle:
        out.append(f"<p>{escape(journal.subtitle)}</p>")
    out.append("<p>Subscribe in any feed reader: copy a feed's address into it.</p></header>")
    for heading, members in _groups(listings):
        out.append(f"<section><h2>{heading}</h2><ul>")
        for entry in members:
            f = entry.feed
            name = _shown_name(f)
            count = f"{entry.posts} post{'s' if entry.posts != 1 else ''}"
            first = journal.feed_url(f.path(formats[0]))
            out.append(f"<li><strong>{escape(name)}</strong> <span class=\"meta\">{count}</span>")
            out.append('<div class="formats">' + "".join(
                f'<a href="{escape(f.path(fmt))}" type="{FORMATS[fmt].media_type}">{escape(FORMATS[fmt].label)}</a>'
                for fmt in formats) + "</div>")
            out.append(f'<input readonly value="{escape(first)}" aria-label="Feed address of {escape(name)}"'
                       ' onfocus="this.select()"></li>')
        out.append("</ul></section>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out).encode("utf-8")


def feed_stylesheet(journal: JournalConfig, listings: Sequence[Listing], formats: Sequence[str]) -> bytes:
    """The XSLT every Atom and RSS document points to, for a readable view in a browser."""
    return resources.files("newswire").joinpath("assets/feed.xsl").read_bytes()

"""feedgen extensions for what it lacks: WebSub hub links in RSS, and per-item extras."""

from __future__ import annotations

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from lxml import etree

from .xml import AT_NS, ATOM_NS, ATOM_NSMAP, CONTENT_NS, DC_NS, FH_NS, RSS_NSMAP, SCHEMA_NS


class ChannelExtension(BaseExtension):
    """What feedgen's RSS channel lacks: ``atom:link`` for WebSub hubs and RFC 5005 paging,
    and ``fh:complete``/``fh:archive``. The prefixes of every namespace an RSS document may
    use are known to the root; only the used ones stay declared (``xml.skeleton_bytes``)."""

    def __init__(self) -> None:
        self.links: list[tuple[str, str]] = []
        self.history: str | None = None

    def extend_ns(self) -> dict[str, str]:
        return RSS_NSMAP

    def extend_rss(self, rss: etree._Element) -> etree._Element:
        channel = rss.find("channel")
        for rel, href in self.links:
            etree.SubElement(channel, f"{{{ATOM_NS}}}link", href=href, rel=rel)
        if self.history:
            etree.SubElement(channel, f"{{{FH_NS}}}{self.history}")
        return rss


class FeedHistoryExtension(BaseExtension):
    """Atom: ``fh:complete``/``fh:archive`` (RFC 5005) and ``at:deleted-entry`` (RFC 6721)."""

    def __init__(self) -> None:
        self.history: str | None = None
        self.tombstones: list[tuple[str, str]] = []

    def extend_ns(self) -> dict[str, str]:
        return ATOM_NSMAP

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        if self.history:
            etree.SubElement(feed, f"{{{FH_NS}}}{self.history}")
        for ref, when in self.tombstones:
            etree.SubElement(feed, f"{{{AT_NS}}}deleted-entry", ref=ref, when=when)
        return feed


class AffiliationExtension(BaseEntryExtension):
    """``schema:affiliation`` inside the Atom author (a Person construct allows extensions)."""

    def __init__(self) -> None:
        self.affiliation: str = ""

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        author = entry.find("author")
        if self.affiliation and author is not None:
            etree.SubElement(author, f"{{{SCHEMA_NS}}}affiliation").text = self.affiliation
        return entry


class ItemExtension(BaseEntryExtension):
    """RSS item extras: ``content:encoded`` (always the full text, never moved into
    ``description``), ``dc:creator`` (the author's name), ``schema:affiliation`` and
    ``atom:updated``."""

    def __init__(self) -> None:
        self.encoded: str = ""
        self.affiliation: str = ""
        self.creator: str | None = None
        self.updated: str | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"atom": ATOM_NS, "dc": DC_NS}

    def extend_rss(self, item: etree._Element) -> etree._Element:
        if self.encoded:
            etree.SubElement(item, f"{{{CONTENT_NS}}}encoded").text = self.encoded
        if self.creator:
            etree.SubElement(item, f"{{{DC_NS}}}creator").text = self.creator
        if self.affiliation:
            etree.SubElement(item, f"{{{SCHEMA_NS}}}affiliation").text = self.affiliation
        if self.updated:
            etree.SubElement(item, f"{{{ATOM_NS}}}updated").text = self.updated
        return item

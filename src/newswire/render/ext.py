"""feedgen extensions for what it lacks: WebSub hub links in RSS, and per-item extras."""

from __future__ import annotations

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from lxml import etree

from .xml import ATOM_NS, CONTENT_NS, DC_NS

RSS_NSMAP = {"atom": ATOM_NS, "content": CONTENT_NS, "dc": DC_NS}


class ChannelExtension(BaseExtension):
    """``<atom:link rel="hub">`` in an RSS channel (WebSub discovery), and the root
    declarations of every namespace the items use, so spliced items need none."""

    def __init__(self) -> None:
        self.hubs: list[str] = []

    def extend_ns(self) -> dict[str, str]:
        return RSS_NSMAP

    def extend_rss(self, rss: etree._Element) -> etree._Element:
        channel = rss.find("channel")
        for hub in self.hubs:
            etree.SubElement(channel, f"{{{ATOM_NS}}}link", href=hub, rel="hub")
        return rss


class ItemExtension(BaseEntryExtension):
    """RSS item extras: ``content:encoded`` (always the full text, never moved into
    ``description``), ``dc:creator`` (the author's name) and ``atom:updated``."""

    def __init__(self) -> None:
        self.encoded: str = ""
        self.creator: str | None = None
        self.updated: str | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"atom": ATOM_NS, "dc": DC_NS}

    def extend_rss(self, item: etree._Element) -> etree._Element:
        if self.encoded:
            etree.SubElement(item, f"{{{CONTENT_NS}}}encoded").text = self.encoded
        if self.creator:
            etree.SubElement(item, f"{{{DC_NS}}}creator").text = self.creator
        if self.updated:
            etree.SubElement(item, f"{{{ATOM_NS}}}updated").text = self.updated
        return item

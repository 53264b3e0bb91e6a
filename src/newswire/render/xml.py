"""Helpers shared by the XML formats: fragment serialisation and splicing."""

from __future__ import annotations

import re
from collections.abc import Sequence

from lxml import etree

ATOM_NS = "http://www.w3.org/2005/Atom"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"
FH_NS = "http://purl.org/syndication/history/1.0"    # RFC 5005 feed paging and archiving
AT_NS = "http://purl.org/atompub/tombstones/1.0"     # RFC 6721 deleted entries
SCHEMA_NS = "http://schema.org/"                     # schema:affiliation of an author


def fragment(element: etree._Element, nsmap: dict[str, str]) -> bytes:
    """Serialise an element as it will sit inside a root that declares ``nsmap``.

    The element is placed under a throw-away root declaring the namespaces, its
    redundant declarations are cleaned up, and only its own bytes are kept, so the
    fragment carries no namespace declarations of its own.
    """
    root = etree.Element("wrapper", nsmap=nsmap)
    root.append(element)
    etree.cleanup_namespaces(root, top_nsmap=nsmap)
    data = etree.tostring(root, encoding="utf-8")
    start = data.index(b">") + 1
    return data[start:-len(b"</wrapper>")]


_PLAIN_TEXT = re.compile(rb"(<[A-Za-z]+(?: [^>]*)?>)([^<]*&[^<]*)(?=</)")  # an element in no namespace, with text
_REFERENCE = re.compile(rb"&(amp|lt|gt);")
_HEXADECIMAL = {b"amp": b"&#x26;", b"lt": b"&#x3C;", b"gt": b"&#x3E;"}


def hexadecimal_references(data: bytes) -> bytes:
    """Serialised XML with '&', '<' and '>' in the text of every element in no namespace written
    as &#x26; &#x3C; &#x3E;: what the RSS Advisory Board profile asks of plain text in RSS, the
    form that the most aggregators read as the text it is. The same characters to an XML parser;
    namespaced elements (``content:encoded``) keep the shorter entities."""
    return _PLAIN_TEXT.sub(lambda m: m[1] + _REFERENCE.sub(lambda r: _HEXADECIMAL[r[1]], m[2]), data)


def skeleton_bytes(document: bytes, closing: bytes) -> bytes:
    """A document without entries, as serialised by feedgen, made ready for ``fill_before``.

    feedgen declares on the root every namespace its extensions might use; only those the
    document uses stay (the entries' own are declared as they are filled in). A line end goes
    before the last ``closing`` tag, where the entries will go.
    """
    root = etree.fromstring(document)
    etree.cleanup_namespaces(root)
    head = etree.tostring(root.getroottree(), encoding="UTF-8", xml_declaration=True)
    at = head.rindex(closing)
    return head[:at] + b"\n" + head[at:]


_START_TAG = re.compile(rb"<[A-Za-z]")


def fill_before(skeleton: bytes, closing: bytes, fragments: Sequence[bytes], nsmap: dict[str, str]) -> bytes:
    """Put entry fragments, each on a line of its own, before the last ``closing`` tag of a skeleton.

    Fragments declare no namespaces (see ``fragment``); the root declares, from ``nsmap``, each
    that a fragment uses and the skeleton does not, and no other. A prefix always names the same
    namespace, so a fragment reads the same in every document it is filled into.
    """
    if not fragments:
        return skeleton
    at = skeleton.rindex(closing)
    body = b"".join(f + b"\n" for f in fragments)
    root = _START_TAG.search(skeleton)
    assert root is not None
    end = skeleton.index(b">", root.start())  # lxml writes '>' in attribute values as &gt;
    tag = skeleton[root.start():end]
    declare = b"".join(b' xmlns:%s="%s"' % (prefix.encode(), uri.encode()) for prefix, uri in nsmap.items()
                       if b"<%s:" % prefix.encode() in body and b" xmlns:%s=" % prefix.encode() not in tag)
    return skeleton[:end] + declare + skeleton[end:at] + body + skeleton[at:]


def with_stylesheet(document: bytes, href: str) -> bytes:
    """Add an ``xml-stylesheet`` processing instruction right after the XML declaration."""
    end = document.index(b"?>") + 2 if document.startswith(b"<?xml") else 0
    pi = f'\n<?xml-stylesheet type="text/xsl" href="{href}"?>'.encode()
    return document[:end] + pi + document[end:]

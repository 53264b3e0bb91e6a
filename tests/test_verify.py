"""Reading back: feedparser, made quicker (cp1252 code points mapped by a list, expat given
directly and reporting whole texts), reads exactly what it read before."""

from __future__ import annotations

import xml.sax
from collections.abc import Iterator
from contextlib import contextmanager
from xml.sax.saxutils import escape

import feedparser
import feedparser.api
import feedparser.mixin
import pytest
from hypothesis import given
from hypothesis import strategies as st

from newswire.verify import FEEDPARSER_CP1252


def test_feedparser_s_cp1252_table_is_replaced_by_one_that_maps_every_code_point_alike() -> None:
    assert isinstance(FEEDPARSER_CP1252, dict) and len(FEEDPARSER_CP1252) == 27, "feedparser's table has changed"
    quick = feedparser.mixin._cp1252
    assert isinstance(quick, list)
    for code in range(0x110000):
        char = chr(code)
        assert char.translate(quick) == char.translate(FEEDPARSER_CP1252), hex(code)


# Text that is not XML-safe is left out: the point is what a well-formed document's strings become.
_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff",
                              min_codepoint=0x09).filter(lambda c: c >= " " or c in "\t\n\r"), max_size=60)


def _document(title: str, body: str, label: str) -> bytes:
    """An Atom document carrying the texts every way feedparser reads text: escaped, in CDATA, as
    XHTML, in an attribute, with line ends and character references."""
    cdata = body.replace("]]>", "]]]]><![CDATA[>")
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{escape(title)}</title><id>tag:x.test,2009:f</id><updated>2009-11-06T10:00:00Z</updated>"
            f'<entry><id>tag:x.test,2009:e</id><title>{escape(title)}</title>'
            f'<updated>2009-11-06T10:00:00Z</updated><category term="{escape(label, {chr(34): "&quot;"})}"/>'
            f'<content type="html">{escape(body)}</content><summary>{escape(body[::-1])}</summary></entry>'
            f'<entry><id>tag:x.test,2009:f</id><title type="html"><![CDATA[{cdata}]]></title>'
            f'<updated>2009-11-06T10:00:00Z</updated><content type="xhtml">'
            f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{escape(body)}</p>&#x4E2D;{escape(title)}</div></content>'
            f'<rights>{"".join(f"&#{ord(c)};" for c in label)}</rights></entry>'
            f"</feed>").encode()


@contextmanager
def _as_before() -> Iterator[None]:
    """feedparser as it comes: its own table, and the plain expat reader it falls back to."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(feedparser.mixin, "_cp1252", FEEDPARSER_CP1252)
        patch.setattr(feedparser.api, "PREFERRED_XML_PARSERS", ["xml.sax.expatreader"])
        yield


def _read(document: bytes) -> dict[str, object]:
    return dict(feedparser.parse(document, sanitize_html=False, resolve_relative_uris=False))


@given(title=_text, body=_text, label=_text)
def test_feedparser_reads_the_same_as_it_would_by_itself(title: str, body: str, label: str) -> None:
    document = _document(title, body, label)
    quick = _read(document)
    with _as_before():
        assert _read(document) == quick


def test_a_text_longer_than_the_reader_s_buffer_is_read_whole() -> None:
    body = "\n".join(f"line {i} & <b>{chr(0x80 + i % 32)}{chr(0x4E00 + i)}</b>" for i in range(6000))
    document = _document("T" * 70000, body, "l")
    quick = _read(document)
    assert quick["entries"][0]["content"][0]["value"] == body.translate(FEEDPARSER_CP1252)
    with _as_before():
        assert _read(document) == quick


def test_feedparser_is_given_expat_with_whole_texts_where_it_would_fall_back_to_expat() -> None:
    assert feedparser.api.PREFERRED_XML_PARSERS == ["newswire.verify"]
    reader = xml.sax.make_parser(feedparser.api.PREFERRED_XML_PARSERS)
    assert isinstance(reader, type(xml.sax.make_parser(["drv_libxml2"])))
    reader.reset()
    assert reader._parser.buffer_text

"""Reading back: feedparser, made quicker (cp1252 code points mapped by a string, expat asked for
directly), reads exactly what it read before."""

from __future__ import annotations

import xml.sax
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
    assert isinstance(quick, str)
    for code in range(0x110000):
        char = chr(code)
        assert char.translate(quick) == char.translate(FEEDPARSER_CP1252), hex(code)


# Text that is not XML-safe is left out: the point is what a well-formed document's strings become.
_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff",
                              min_codepoint=0x09).filter(lambda c: c >= " " or c in "\t\n\r"), max_size=60)


@given(title=_text, body=_text, label=_text)
def test_feedparser_reads_the_same_with_either_table(title: str, body: str, label: str) -> None:
    document = (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
                f"<title>{escape(title)}</title><id>tag:x.test,2009:f</id><updated>2009-11-06T10:00:00Z</updated>"
                f'<entry><id>tag:x.test,2009:e</id><title>{escape(title)}</title>'
                f'<updated>2009-11-06T10:00:00Z</updated><category term="{escape(label, {chr(34): "&quot;"})}"/>'
                f'<content type="html">{escape(body)}</content><summary>{escape(body[::-1])}</summary></entry>'
                f"</feed>").encode("utf-8")

    def read() -> object:
        parsed = feedparser.parse(document, sanitize_html=False, resolve_relative_uris=False)
        return parsed.bozo, parsed.feed.get("title"), [
            (e.get("title"), e.get("content"), e.get("summary"), e.get("tags")) for e in parsed.entries]

    quick = read()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(feedparser.mixin, "_cp1252", FEEDPARSER_CP1252)
        assert read() == quick


def test_feedparser_gets_the_sax_parser_it_would_have_found_without_searching_for_a_missing_one() -> None:
    assert feedparser.api.PREFERRED_XML_PARSERS == []
    assert type(xml.sax.make_parser([])) is type(xml.sax.make_parser(["drv_libxml2"]))

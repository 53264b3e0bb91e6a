"""Reading back: feedparser, made quicker (cp1252 code points mapped by a list, expat given
directly and reporting whole texts) while a document is read back, reads exactly what it
reads by itself; outside a read-back, and on versions not checked, feedparser is as it comes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import xml.sax
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import feedparser
import feedparser.api
import feedparser.html
import feedparser.mixin
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_render import EST, _post
from test_render import _document as _render

from newswire import feedparser_speedups, verify
from newswire.feedparser_speedups import installed
from newswire.formats import FORMATS
from newswire.job import check_published

from harness import Journal

FEEDPARSER_CP1252 = feedparser.html._cp1252  # feedparser's own table
IMPORT_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "import"


def _as_it_comes() -> tuple[object, list[str]]:
    return feedparser.mixin._cp1252, list(feedparser.api.PREFERRED_XML_PARSERS)


def test_feedparser_s_cp1252_table_is_replaced_by_one_that_maps_every_code_point_alike() -> None:
    assert isinstance(FEEDPARSER_CP1252, dict) and len(FEEDPARSER_CP1252) == 27, "feedparser's table has changed"
    with installed():
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


def _read(document: bytes) -> dict[str, object]:
    return dict(feedparser.parse(document, sanitize_html=False, resolve_relative_uris=False))


@given(title=_text, body=_text, label=_text)
def test_feedparser_reads_the_same_as_it_would_by_itself(title: str, body: str, label: str) -> None:
    document = _document(title, body, label)
    with installed():
        quick = _read(document)
    assert _read(document) == quick


def test_a_text_longer_than_the_reader_s_buffer_is_read_whole() -> None:
    body = "\n".join(f"line {i} & <b>{chr(0x80 + i % 32)}{chr(0x4E00 + i)}</b>" for i in range(6000))
    document = _document("T" * 70000, body, "l")
    with installed():
        quick = _read(document)
    assert quick["entries"][0]["content"][0]["value"] == body.translate(FEEDPARSER_CP1252)
    assert _read(document) == quick


def test_feedparser_is_given_expat_with_whole_texts_where_it_would_fall_back_to_expat() -> None:
    with installed():
        assert feedparser.api.PREFERRED_XML_PARSERS == ["newswire.feedparser_speedups"]
        reader = xml.sax.make_parser(feedparser.api.PREFERRED_XML_PARSERS)
    assert isinstance(reader, type(xml.sax.make_parser(["drv_libxml2"])))
    reader.reset()
    assert reader._parser.buffer_text


def test_the_speed_ups_are_in_place_only_while_installed_even_when_nested() -> None:
    before = _as_it_comes()
    with installed():
        with installed():
            assert feedparser_speedups.install()  # idempotent: nothing replaced twice
            inside = _as_it_comes()
        assert _as_it_comes() == inside
    assert inside != before and _as_it_comes() == before and feedparser.mixin._cp1252 is FEEDPARSER_CP1252


def test_reading_back_uses_the_speed_ups_and_leaves_feedparser_as_it_comes(journal: Journal,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    journal.post("a", title="Caf\u00e9 \u0080", body="Some text \u0093quoted\u0094.")
    journal.cli("publish", check=True)
    seen: list[tuple[object, list[str]]] = []
    parse = feedparser.parse

    def spied(*args: Any, **kwargs: Any) -> Any:
        seen.append(_as_it_comes())
        return parse(*args, **kwargs)

    monkeypatch.setattr(feedparser, "parse", spied)
    before = _as_it_comes()
    for name in ("atom.xml", "rss.xml"):
        assert verify.check_any((journal.feeds / name).read_bytes(), name)[1] == []
    assert len(seen) == 2
    assert all(isinstance(table, list) and parsers == ["newswire.feedparser_speedups"] for table, parsers in seen)
    assert _as_it_comes() == before


_IMPORT_AFTER = textwrap.dedent("""\
    import sys
    from pathlib import Path
    import feedparser.api, feedparser.html, feedparser.mixin
    from newswire import importer, job
    from newswire.config import load_config
    config, publish_first, sources = sys.argv[1], sys.argv[2] == "publish", sys.argv[3:]
    if publish_first:
        assert job.publish(load_config(Path(config)), ping=False).ok
    for source in sources:
        print(repr(importer.parse(Path(source).read_bytes(), "https://source.test/", source)))
    print(feedparser.mixin._cp1252 is feedparser.html._cp1252, feedparser.api.PREFERRED_XML_PARSERS)
""")


def test_import_after_a_publish_in_the_same_process_reads_as_in_a_fresh_process(journal: Journal) -> None:
    for n in range(30):  # enough for a publish to read back (and prove) several batches
        journal.post(f"p{n}", title=f"Post {n} \u201cquoted\u201d", body=f"Text {n} with \u0080 and \u00e9.")
    sources = [str(IMPORT_FIXTURES / name) for name in ("atom.xml", "rss2.xml", "rss10.rdf", "hostile-html.xml")]

    def run(mode: str) -> str:
        result = subprocess.run([sys.executable, "-c", _IMPORT_AFTER, str(journal.config_path), mode, *sources],
                                capture_output=True, text=True, timeout=300, cwd=journal.root)
        assert result.returncode == 0, result.stderr
        return result.stdout

    fresh = run("fresh")
    assert "Imported(" in fresh and fresh.rstrip().endswith("True ['drv_libxml2']")
    assert run("publish") == fresh
    assert (journal.feeds / "atom.xml").exists()


def test_an_unchecked_feedparser_version_reads_unpatched_and_verification_still_passes(
        journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    journal.post("a", title="Caf\u00e9 \u0080", body="Some text \u0093quoted\u0094.")
    journal.cli("publish", check=True)
    monkeypatch.setattr(feedparser_speedups, "KNOWN_VERSIONS", ())
    before = _as_it_comes()
    assert not feedparser_speedups.install()
    with installed():
        assert _as_it_comes() == before
    report = check_published(journal.config())
    assert report.ok and report.results and not report.failed
    assert _as_it_comes() == before


@pytest.mark.parametrize("fmt", ["atom", "rss", "json"])
def test_a_date_that_differs_is_named_in_iso_8601_with_its_zone(fmt: str) -> None:
    data, _, _ = _render(fmt, [_post(1)])  # published 2009-11-01 10:30 at UTC-5
    _, fv, views = _render(fmt, [_post(1, published=datetime(2009, 11, 1, 10, 31, tzinfo=EST))])
    problems = [str(p) for p in FORMATS[fmt].read_back(data, fv, views, "doc") if p.field == "published"]
    assert problems == ["doc: entry tag:journal.test,2009:post/1: published: "
                        "expected '2009-11-01T15:31:00+00:00', got '2009-11-01T15:30:00+00:00'"]

"""Text rules: cleaning, slugs, tag URIs, absolute links, summaries."""

from __future__ import annotations

import pytest

from newswire.text import absolutize, clean, relative_links, slugify, summarize, tag_uri


def test_clean_drops_what_xml_cannot_carry_and_keeps_unicode() -> None:
    assert clean("a\x00b\x0bc\x1fd\x7fe\x85f\ufffeg") == "abcdefg"
    assert clean("tab\tnew\nline\r") == "tab\tnew\nline\r"
    assert clean("Ciudad Juárez — “quoted” 東京 עברית") == "Ciudad Juárez — “quoted” 東京 עברית"


@pytest.mark.parametrize("text, slug", [
    ("Border Security", "border-security"),
    ("Café & Co", "café-co"),
    ("../../etc/passwd", "etc-passwd"),
    ("..", "label"),
    ("", "label"),
    ("CON", "con-label"),
    ("東京 ニュース", "東京-ニュース"),
    ("index", "index"),
    ("atom.xml", "atom-xml"),
])
def test_slugs_are_readable_and_cannot_leave_their_folder(text: str, slug: str) -> None:
    assert slugify(text, fallback="label") == slug
    assert "/" not in slug and "." not in slug and "\\" not in slug


def test_tag_uri_percent_encodes_what_rfc_4151_does_not_allow() -> None:
    assert tag_uri("journal.test", "2009", "post/a b") == "tag:journal.test,2009:post/a%20b"
    assert tag_uri("journal.test", "2009", "post/café") == "tag:journal.test,2009:post/caf%C3%A9"


def test_absolutize_resolves_relative_links_against_the_post() -> None:
    body = '<p><a href="/reports/a.html">r</a> <img src="images/x.jpg" alt="x"> <a href="https://o.test/">o</a></p>'
    out = absolutize(body, "https://journal.test/2009/11/post.html")
    assert 'href="https://journal.test/reports/a.html"' in out
    assert 'src="https://journal.test/2009/11/images/x.jpg"' in out
    assert 'href="https://o.test/"' in out
    assert relative_links(out) == []
    assert relative_links(body) == ["/reports/a.html", "images/x.jpg"]


def test_absolutize_leaves_absolute_bodies_byte_for_byte() -> None:
    body = '<p>a &amp; b <a href="https://o.test/x">x</a></p>\n'
    assert absolutize(body, "https://journal.test/") is body


def test_summary_is_first_paragraph_cut_at_a_word() -> None:
    assert summarize("<p>First <b>para</b>.</p><p>Second.</p>") == "First para."
    long = "<p>" + "word " * 200 + "</p>"
    s = summarize(long)
    assert len(s) <= 401 and s.endswith("…") and "wor…" not in s

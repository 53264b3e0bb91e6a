"""Text rules: cleaning, slugs, tag URIs, absolute links, summaries."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newswire import text as text_module
from newswire.model import PostInput, json_sha256
from newswire.text import absolutize, clean, is_absolute_iri, relative_links, slugify, summarize, tag_uri


def test_clean_drops_what_xml_cannot_carry_and_keeps_unicode() -> None:
    assert clean("a\x00b\x0bc\x1fd\x7fe\x85f\ufffeg") == "abcdefg"
    assert clean("tab\tnew\nline\r") == "tab\tnew\nline\r"
    assert clean("Ciudad Juárez — “quoted” 東京 עברית") == "Ciudad Juárez — “quoted” 東京 עברית"


_ANY_CHAR = st.characters(codec=None, categories=None) | st.sampled_from(
    "\x00\x08\t\n\x0b\x1f\x7f\x80\x85\x9f\xa0\ud800\udfff\ufdcf\ufdd0\ufdef\ufdf0\ufffd\ufffe\uffff\U0010ffff")


@settings(max_examples=300)
@given(st.text(_ANY_CHAR, max_size=40), st.integers(0, 600), st.text(_ANY_CHAR, max_size=40))
def test_clean_of_a_long_text_is_the_patterns_own(head: str, filler: int, tail: str) -> None:
    """Long text is looked at as bytes first: whatever it holds, the outcome is the pattern's."""
    text = head + "Juárez 東京 " * filler + tail
    assert clean(text) == text_module._BAD_CHARS.sub("", text)


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


@settings(max_examples=300)
@given(st.text(st.characters(max_codepoint=127) | st.sampled_from("-Ａéß"), max_size=120))
def test_a_slug_follows_the_one_rule_for_every_script(text: str) -> None:
    """ASCII text takes a quick way (lower case, runs of other characters as '-'): the rule is the same."""
    import re
    import unicodedata

    folded = unicodedata.normalize("NFKC", text).casefold()
    rule = re.sub("-{2,}", "-", "".join(c if unicodedata.category(c)[0] in "LNM" else "-" for c in folded)).strip("-")
    slug = slugify(text, fallback="x")
    if len(rule.encode()) > text_module.MAX_SLUG_BYTES:  # cut, and a hash of the whole added
        assert slug.startswith(rule[:20]) and len(slug.encode()) <= text_module.MAX_SLUG_BYTES
    elif rule in text_module._WINDOWS_RESERVED:
        assert slug == rule + "-x"
    else:
        assert slug == (rule or "x")


@given(st.text(max_size=12))
def test_a_label_is_kept_when_anything_in_it_is_visible(text: str) -> None:
    import unicodedata

    label = text_module.one_line(text)
    visible = any(unicodedata.category(c)[0] not in "CZ" for c in label)
    assert text_module.label_text(text) == (label if visible else "")


def test_tag_uri_percent_encodes_what_rfc_4151_does_not_allow() -> None:
    assert tag_uri("journal.test", "2009", "post/a b") == "tag:journal.test,2009:post/a%20b"
    assert tag_uri("journal.test", "2009", "post/café") == "tag:journal.test,2009:post/caf%C3%A9"


@given(st.text(max_size=30))
def test_a_tag_uri_is_percent_encoded_as_quote_would(specific: str) -> None:
    from urllib.parse import quote

    try:
        expected = quote(specific, safe=text_module._TAG_SAFE)
    except UnicodeEncodeError:  # a lone surrogate: neither encodes it
        with pytest.raises(UnicodeEncodeError):
            tag_uri("journal.test", "2009", specific)
        return
    assert tag_uri("journal.test", "2009", specific) == f"tag:journal.test,2009:{expected}"


@given(st.text(st.characters(codec=None, categories=None) | st.sampled_from(" \t\n\xa0\u2028\x85"), max_size=20))
def test_one_line_folds_every_space_and_drops_what_xml_cannot_carry(text: str) -> None:
    import re

    assert text_module.one_line(text) == re.sub(r"\s+", " ", text_module._BAD_CHARS.sub("", text)).strip()


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


# Start tags as authors write them: quoted values holding '>', no space before an attribute,
# upper case, new lines, unquoted values, attribute-like words in the text around them.
_attr_names = st.sampled_from(["href", "HREF", "src", "Src", "srcset", "poster", "cite", "title", "data-src", "alt"])
_values = st.sampled_from(["/a.html", "b/c.jpg", "https://x.test/d", "x.jpg 2x, /y.jpg 3x", "mailto:m@x.test",
                           "a>b", "#top", "", " /spaced ", "?q=1&amp;r=2", "//cdn.test/e.png"])
_quotes = st.sampled_from(['"', "'", ""])
_seps = st.sampled_from([" ", "\n", "  ", "/", "\t"])


@st.composite
def _tags(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(["a", "img", "A", "video", "blockquote", "q", "p", "source"]))
    attrs = ""
    for _ in range(draw(st.integers(0, 3))):
        quote, value = draw(_quotes), draw(_values)
        if not quote and (not value.strip() or any(c in value for c in " >")):
            quote = '"'
        attrs += f"{draw(_seps)}{draw(_attr_names)}={quote}{value}{quote}"
    return f"<{name}{attrs}>" + draw(st.sampled_from(["", "text", " href=/not-a-link ", "5 > 3"])) + f"</{name}>"


@given(st.lists(st.one_of(_tags(), st.sampled_from(["plain text ", "<p>", "</p>", " src=x "])), max_size=6))
@settings(max_examples=300, deadline=None)
def test_the_quick_look_for_relative_links_misses_nothing_lxml_finds(parts: list[str]) -> None:
    """relative_links looks inside start tags before it parses; it must find what a full parse finds."""
    body = "".join(parts)
    root = text_module.parse_fragment(body) if body.strip() else None
    want = []
    for el in root.iter() if root is not None else ():
        if isinstance(el.tag, str):
            want += [el.get(a).strip() for a in ("href", "src", "poster", "cite")
                     if el.get(a) is not None and not is_absolute_iri(el.get(a).strip())]
            want += [c.split()[0] for c in (el.get("srcset") or "").split(",")
                     if c.strip() and not is_absolute_iri(c.split()[0])]
    assert relative_links(body) == want
    assert relative_links(absolutize(body, "https://journal.test/2009/post.html")) == []


_JSON_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=100) | st.sampled_from(
    ['"quoted" \\ back', "tab\tline\nfeed\rreturn", "\x00\x08\x0c\x1f\x7f", "é 東京 \u2028 \U0001f600"])


@settings(max_examples=400)
@given(st.lists(_JSON_TEXT | st.none() | st.lists(_JSON_TEXT, max_size=4), max_size=7))
def test_the_content_hash_is_the_sha256_of_the_fields_as_json(values: list[str | None | list[str]]) -> None:
    """Every stored post's hash was made by ``json.dumps``; the quick path must give the same, or
    every edited-in-place file would look changed (and its post move its ``updated``)."""
    expected = hashlib.sha256(json.dumps(values, ensure_ascii=False).encode("utf-8")).hexdigest()
    assert json_sha256(values) == expected
    # a string may come as its UTF-8, which the caller had made already
    as_utf8 = [v.encode("utf-8") if isinstance(v, str) else v for v in values]
    assert json_sha256(as_utf8) == expected  # type: ignore[arg-type]
    # and UTF-8 known to be clean is not looked at again: the same hash for text that is clean
    if all(clean(v) == v for v in values if isinstance(v, str)):
        assert json_sha256(as_utf8, clean_bytes=True) == expected  # type: ignore[arg-type]


def test_a_post_keeps_the_content_hash_stores_hold() -> None:
    post = PostInput(source="md:a.md", key="a", title="Café \"Zürich\"", body="<p>a\\b\n\tc</p>\n",
                     author_key="jm", published=datetime(2009, 11, 6, tzinfo=UTC), labels=("Ports", "ÉTÉ"),
                     affiliation=None)
    # As every release before the quick path made it (and as stores hold it).
    assert post.content_hash() == "ce770afdd90ff5227352e826f638622118712ab20bd4c96ff2246b9a3d1df638"

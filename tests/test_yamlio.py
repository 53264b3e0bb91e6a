"""YAML with lines: the quick reading of simple front matter gives exactly what PyYAML gives."""

from __future__ import annotations

from datetime import date
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from newswire import yamlio
from newswire.yamlio import Located

# Scalars that look like text but are not always (YAML 1.1 booleans, nulls, numbers, dates,
# sexagesimals), text with YAML's indicators in awkward places, quotes, escapes and odd characters.
TRICKY = ["2009-11-06", "2009-11-06T09:30:00-05:00", "2009-11-06 09:30:00", "yes", "No", "ON", "off", "y", "n",
          "true", "False", "null", "Null", "~", "0", "12", "-3", "+4", "1_000", "0x1F", "0o17", "017", "1:30",
          "1.5", ".inf", "-.Inf", ".nan", "1e3", "6.8523015e+5", "a: b", "a:b", "http://x.example/a?b=c#d",
          "a #b", "a#b", "#a", "a:", ":a", "- a", "-a", "--", "? a", "[a, b]", "{a: b}", "a, b", "a [b]", "*a",
          "&a b", "!tag a", "!!str 1", "|", ">", "%a", "@a", "`a", "'a'", '"a"', "'it''s'", '"a\\"b"', '"\\t"',
          "it's", 'say "hi"', "a\\b", "<<", "=", "Zürich", "東京", "a  b", "a\tb", "\u00a0a", "a\u0085b",
          "a\u2028b", "\ufeffa", "😀", "C#", "R&D, 5 < 10 > 2", "'unclosed", '"unclosed', "...", "---", "a ..."]
KEYS = ["title", "date", "labels", "author", "draft", "id", "slug", "a-b", "_x", "yes", "null", "on", "1", "Title"]


def _scalar() -> st.SearchStrategy[str]:
    quoted = st.text(st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=12).flatmap(
        lambda t: st.sampled_from([t, f'"{t}"', f"'{t}'"]))
    words = st.lists(st.sampled_from(["Post", "cargo", "7:", "Zürich", "&", "a-b", "x.y", "(1)", "it's"]),
                     min_size=1, max_size=4).map(" ".join)
    return st.one_of(st.sampled_from(TRICKY), quoted, words, words, words, words.map(lambda t: f'"{t}"'),
                     st.lists(st.sampled_from(TRICKY), min_size=1, max_size=3).map(" ".join))


@st.composite
def front_matter(draw: st.DrawFn) -> str:
    lines = []
    for key in draw(st.lists(st.sampled_from(KEYS[:6]) | st.sampled_from(KEYS), min_size=1, max_size=4, unique=True)):
        space = draw(st.sampled_from([" ", "  ", ""]))
        if draw(st.booleans()):
            lines.append(f"{key}:{space}{draw(_scalar())}{draw(st.sampled_from(['', ' ', '  # note']))}")
        else:
            lines.append(f"{key}:{draw(st.sampled_from(['', ' ']))}")
            indent = draw(st.sampled_from(["", "  ", "    "]))
            for item in draw(st.lists(_scalar(), max_size=4)):
                gap = draw(st.sampled_from([" ", " ", "  ", ""]))
                lines.append(f"{indent if draw(st.integers(0, 9)) else ' '}-{gap}{item}")
        if draw(st.integers(0, 30)) == 0:
            lines.append(draw(st.sampled_from(["", "# a comment", "  continued", "---", "\t"])))
    return "\n".join(lines) + draw(st.sampled_from(["\n", ""]))


def _typed(node: Located | None) -> Any:
    """A tree that tells True from 1 and 1.0 (``Located`` equality would not)."""
    if node is None:
        return None
    value = node.value
    if isinstance(value, dict):
        return ("map", node.line, [(k, _typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", node.line, [_typed(v) for v in value])
    return (type(value).__name__, node.line, value)


@settings(max_examples=800, deadline=None)
@given(front_matter(), st.integers(1, 3))
def test_simple_front_matter_is_read_as_pyyaml_reads_it(text: str, first_line: int) -> None:
    quick = yamlio._simple(text, first_line)
    if quick is None:  # not simple: PyYAML reads it (and may refuse it)
        return
    assert _typed(quick) == _typed(yamlio._composed(text, first_line))
    plain = yaml.safe_load(text)  # and the values are PyYAML's own (dates aside, kept as text here)
    assert list(plain) == list(quick.value)
    for key, node in quick.value.items():
        got = [item.value for item in node.value] if isinstance(node.value, list) else [node.value]
        want = plain[key] if isinstance(node.value, list) else [plain[key]]
        assert len(got) == len(want), key
        for g, w in zip(got, want):
            if isinstance(w, date):  # the timestamp resolver is left out on purpose: the text is as written
                assert yaml.SafeLoader.resolve(yaml.SafeLoader, yaml.ScalarNode, g, (True, False)).endswith("timestamp")
            else:
                assert (type(g), g) == (type(w), w), key


def test_front_matter_as_written_is_read_the_quick_way() -> None:
    """What a journal's front matter usually is takes the quick path (else the test above proves little)."""
    text = ('title: "Post 7: Cargo & Zürich"\ndate: 2011-03-04T05:06:07-05:00\nauthor: a007\ndraft: false\n'
            "slug: cargo-zurich\nlabels:\n  - \"Topic 0001\"\n  - Topic 0002 — Überblick\n")
    quick = yamlio._simple(text, 2)
    assert quick is not None
    assert _typed(quick) == _typed(yamlio._composed(text, 2))
    assert quick.value["labels"].line == 8 and quick.value["draft"].value is False

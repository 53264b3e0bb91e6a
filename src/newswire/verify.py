"""Verification: what every format's read-back shares, and the checks of ``verify PATH_OR_URL``.

Each format reads its own documents back (``Format.read_back``) and compares what it reads
with the ``FeedView``/``EntryView`` the document was rendered from. What they share is here:
the ``Checker`` that collects problems, and the comparison of entries field by field: dates
as instants, text with white space folded, content byte for byte or, where the parser
normalised malformed markup, by its readable text. ``verify_assembled`` proves a document
assembled from fragments that were each proven already.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .model import Problem
from .text import html_text, link_targets, relative_links

if TYPE_CHECKING:
    from .formats import Format
    from .render import EntryStub, EntryView, FeedView

ZONED = re.compile(r"(Z|[+-]\d\d:\d\d)$")  # an RFC 3339 date's zone


def verify_assembled(fmt: Format, data: bytes, skeleton: bytes, feed: FeedView,
                     entries: Sequence[EntryView | EntryStub], path: str) -> list[Problem]:
    """Verify a document assembled from entry fragments that were each proven already.

    ``data`` is ``skeleton`` (the same document without entries) with the fragments
    spliced in. The skeleton is read back in full, which proves every feed-level field;
    the assembled bytes are parsed as XML or JSON, which proves they are well-formed
    and hold exactly the expected entries, in order, each once. Each fragment was
    proven by ``Format.read_back`` on a document of its own with the same root, whose
    prefixes name the same namespaces (a root declares only those its entries use, but
    a prefix always names the same one), and a fragment parses the same wherever it is
    spliced, so together this proves what reading the whole document proves
    (tests/test_verify_reuse.py checks that the two agree).
    """
    check = Checker(path)
    check.problems.extend(fmt.read_back(skeleton, feed, [], path))
    try:
        ids = fmt.entry_ids(data, check)
    except ValueError as exc:
        check.fail("", "document", "a well-formed document", str(exc))
        return check.problems
    check.same("", "entry ids in order", [e.id for e in entries], ids)
    check_unique(check, ids)
    return check.problems


class Checker:
    """The problems found in one document, each naming its entry (or none) and field."""

    def __init__(self, path: str):
        self.path = path
        self.problems: list[Problem] = []

    def same(self, entry: str, field: str, expected: Any, got: Any) -> None:
        if expected != got:
            self.problems.append(Problem(self.path, entry, field, _shown(expected), _shown(got)))

    def same_text(self, entry: str, field: str, expected: str, got: Any) -> None:
        if not same_text(expected, got):
            self.problems.append(Problem(self.path, entry, field, expected, str(got)))

    def fail(self, entry: str, field: str, expected: str, got: str) -> None:
        self.problems.append(Problem(self.path, entry, field, expected, got))


def _shown(value: Any) -> str:
    """A value as a problem names it; an instant in ISO 8601 with its zone."""
    return value.isoformat() if isinstance(value, datetime) else str(value)


def instant(when: datetime) -> datetime:
    """An instant as the documents carry it: in whole seconds, shown in UTC."""
    return when.astimezone(UTC).replace(microsecond=0)


def check_unique(check: Checker, ids: Sequence[object]) -> None:
    """No two entries of a document share an id (entries without one are counted elsewhere)."""
    counts = Counter(i for i in ids if i is not None)
    doubled = sorted(str(i) for i, n in counts.items() if n > 1)
    if doubled:
        check.fail("", "entry ids", "unique ids", ", ".join(doubled))


def same_text(want: str, got: object) -> bool:
    """Equal, or equal as feedparser reads it: it re-decodes text that looks like UTF-8
    misread as Latin-1 ('Â¡' becomes '¡'), which is its reading, not a defect of ours."""
    if want == got:
        return True
    try:
        return want.encode("latin-1").decode("utf-8") == got
    except (UnicodeEncodeError, UnicodeDecodeError):
        return False


def _same_content(want: str, got: str) -> bool:
    """Byte for byte; or, where the parser normalised malformed markup, the same readable
    text and the same link and image targets (so nothing can silently go missing)."""
    if same_text(want, got):
        return True
    return bool(got) and same_text(html_text(want), html_text(got)) and link_targets(want) == link_targets(got)


def verify_entries(check: Checker, entries: Sequence[EntryView], got: Sequence[dict[str, Any]]) -> None:
    """Compare what a format read of each entry (in the terms of ``EntryView``) with the entry."""
    check.same("", "entry count", len(entries), len(got))
    check_unique(check, [g["id"] for g in got])
    for want, g in zip(entries, got):
        eid = want.id
        check.same_text(eid, "id", want.id, g["id"])  # an id is text too: feedparser re-decodes it alike
        check.same_text(eid, "title", want.title, g["title"])
        check.same(eid, "link", want.link, g["link"])
        check.same(eid, "published", instant(want.published), g["published"])
        check.same(eid, "updated", instant(want.updated), g["updated"])
        check.same_text(eid, "author", want.author.name, g["author"])
        if len(want.labels) != len(g["labels"]) or not all(map(same_text, want.labels, g["labels"])):
            check.fail(eid, "labels", str(list(want.labels)), str(g["labels"]))
        if not _same_content(want.content_html, g["content_html"]):
            check.fail(eid, "content", want.content_html, g["content_html"])
        if want.summary:
            check.same_text(eid, "summary", want.summary, g["summary"])
        for link in relative_links(g["content_html"]):
            check.fail(eid, "content link", "an absolute URL", link)


def check_any(data: bytes, name: str) -> tuple[str, list[Problem]]:
    """Verify any feed without a model: it parses cleanly, ids are unique, dates and links sound."""
    from lxml import etree

    from .formats import jsonfeed, xml

    check = Checker(name)
    if data.lstrip()[:1] == b"{":
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            check.fail("", "document", "valid UTF-8 JSON", str(exc))
            return "not JSON", check.problems
        if jsonfeed.schema_problem(check, doc):
            return "JSON Feed with schema errors", check.problems
        items = doc["items"]
        ids = [i.get("id") for i in items]
        for item in items:
            for key in ("date_published", "date_modified"):
                if key in item:
                    jsonfeed.read_date(check, item.get("id", ""), key, item[key])
        kind = "JSON Feed 1.1"
    else:
        try:
            root = etree.fromstring(data, xml.SAFE)
        except etree.XMLSyntaxError as exc:
            check.fail("", "document", "well-formed XML", str(exc))
            return "not XML", check.problems
        parsed = xml.parse(data)
        if parsed.bozo:
            check.fail("", "document", "no parse errors", str(parsed.get("bozo_exception")))
        ids = [e.get("id") for e in parsed.entries]
        for el in root.iter(*xml.DATE_TAGS):
            xml.check_date(check, el)
        kind = parsed.version or "unknown format"
        items = parsed.entries
    if None in ids:
        check.fail("", "entry ids", "an id on every entry", f"{ids.count(None)} without")
    check_unique(check, ids)
    return f"{kind}, {len(items)} entries", check.problems

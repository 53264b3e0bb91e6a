"""Text rules shared by every stage: cleaning, slugs, tag URIs, links and summaries."""

from __future__ import annotations

import hashlib
import html
import re
import threading
import unicodedata
from typing import TYPE_CHECKING
from urllib.parse import quote, urljoin

if TYPE_CHECKING:
    import lxml.html

# Characters XML 1.0 cannot carry, plus C1 controls and noncharacters: removed, never escaped.
_BAD_CHARS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]"
)
_SPACE = re.compile(r"\s+")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
_TAG_SAFE = "/:@!$&'()*+,;=-._~?"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


def clean(text: str) -> str:
    """Drop control characters and other code points that XML 1.0 cannot carry.

    The one rule for every string that enters the store (import, pull, sync) and every string
    a document is rendered from: C0 controls but tab, line feed and carriage return, DEL and the
    C1 controls, lone surrogates, U+FDD0..U+FDEF, U+FFFE and U+FFFF are removed, never escaped.
    It is deterministic, so an id that loses characters here is the same id at every import.
    """
    if len(text) >= _LONG and _surely_clean(text.encode("utf-8", "surrogatepass")):
        return text  # a body, as good as always: looked at as bytes, 3x quicker than by the pattern
    return _BAD_CHARS.sub("", text)


_LONG = 256  # characters from which the byte-wise look pays for its encoding
# The forbidden characters in UTF-8 (surrogates kept by 'surrogatepass'): C0 controls and DEL are single
# bytes; C1 controls start with C2, surrogates with ED, U+FDD0..U+FDEF, U+FFFE and U+FFFF with EF.
_BAD_BYTES = bytes(c for c in range(32) if c not in b"\t\n\r") + b"\x7f"


def _surely_clean(data: bytes) -> bool:
    """False if the UTF-8 ``data`` may hold a character ``clean`` drops: it holds one of those single
    bytes, or a lead byte that starts one (most text holds none; for the rest, ask the pattern)."""
    return (len(data.translate(None, _BAD_BYTES)) == len(data)
            and b"\xc2" not in data and b"\xed" not in data and b"\xef" not in data)


def clean_id(text: str) -> str:
    """An entry id as every format reads it back: ``clean``, and no white space at its ends (feed
    readers strip it). Inside, white space is kept, as every format keeps it."""
    return clean(text).strip()


_CHAR_REF = re.compile(r"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));?")


def _xml_char(code: int) -> bool:
    return code < 0x110000 and not _BAD_CHARS.match(chr(code))


def clean_html(body: str) -> str:
    """``clean`` for HTML: also turns character references to forbidden code points into U+FFFD.

    An HTML parser would decode ``&#1;`` into a control character that no XML document
    can carry; the replacement character is what HTML5 gives for such references.
    """
    def fix(m: re.Match[str]) -> str:
        code = int(m.group(1), 16) if m.group(1) else int(m.group(2))
        return m.group(0) if _xml_char(code) else "\ufffd"
    return _CHAR_REF.sub(fix, clean(body))


def clean_html_utf8(body: str, utf8: bytes | None) -> tuple[str, bytes | None]:
    """``clean_html(body)``, and its UTF-8: ``utf8`` (``body``'s own, if given) when cleaning changes
    nothing, which is as good as always and seen in the bytes without the patterns (no character
    reference, no forbidden character); else None."""
    if utf8 is not None and (b"#" not in utf8 or b"&#" not in utf8) and _surely_clean(utf8):
        return body, utf8  # ('#' is looked for first: one byte is found by memchr, two bytes by a walk 30x slower)
    return clean_html(body), None


def one_line(text: str) -> str:
    """Clean text and fold all white space to single spaces (titles, names, labels)."""
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text  # as good as always: its only white space is single spaces inside, and nothing to clean
    return _SPACE.sub(" ", clean(text)).strip()


def label_text(text: str) -> str:
    """A label as one line, or '' when nothing in it is visible (only format or space characters):
    such a label is ignored like an empty one instead of becoming a feed no one can read."""
    label = one_line(text)
    if label[:1].isalnum():  # a letter or a digit first, as good as always: L or N
        return label
    return label if any(unicodedata.category(c)[0] not in "CZ" for c in label) else ""


def label_fold(name: str) -> str:
    """What every spelling of one label shares: canonically equivalent forms and case are one label."""
    return unicodedata.normalize("NFKC", name).casefold()


# A slug names a folder (labels/<slug>/) or a file (<slug>.html in a permalink), so it must fit one
# path segment everywhere it may go: 100 bytes of UTF-8 leave room under ext4's NAME_MAX (255 bytes)
# and eCryptfs's 143 for a uniqueness suffix ("-2") and an extension, and stay readable in a URL.
MAX_SLUG_BYTES = 100
_SLUG_HASH = 8  # hex digits of the hash a cut slug ends with
_NOT_ASCII_WORD = re.compile("[^a-z0-9]+")


def slugify(text: str, fallback: str = "item", max_bytes: int = MAX_SLUG_BYTES) -> str:
    """A readable, file-system-safe slug: letters, marks and digits of any script, and '-'.

    Never contains '/', '.', or '\\', so it cannot leave the folder it names. A slug longer
    than ``max_bytes`` of UTF-8 is cut at a character (at a word if one ends in its second
    half) and ends with a short hash of the whole text, so long names that differ only at
    their end keep different slugs.
    """
    text = text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).casefold()
    if text.isascii():  # (as good as every file name, and many titles) its letters and digits are its L and N
        slug = _NOT_ASCII_WORD.sub("-", text).strip("-")
    else:
        chars = [c if unicodedata.category(c)[0] in "LNM" else "-" for c in text]
        slug = re.sub("-{2,}", "-", "".join(chars)).strip("-")
    if len(slug.encode("utf-8")) > max_bytes:
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=_SLUG_HASH // 2).hexdigest()
        head = slug.encode("utf-8")[:max_bytes - _SLUG_HASH - 1].decode("utf-8", "ignore")  # whole characters
        word = head.rfind("-")
        head = head[:word] if word > len(head) // 2 else head
        slug = f"{head.strip('-')}-{digest}"
    if not slug:
        return fallback
    if slug in _WINDOWS_RESERVED:
        slug = f"{slug}-{fallback}"
    return slug


def is_absolute_iri(value: str) -> bool:
    return bool(_SCHEME.match(value))


def tag_uri(authority: str, date: str, specific: str) -> str:
    """An RFC 4151 tag URI; the specific part is percent-encoded where the RFC requires."""
    specific = _UNSAFE_IN_TAG.sub(_percent, specific.encode("utf-8")).decode("ascii")  # as quote() does, quicker
    return f"tag:{authority},{date}:{specific}"


_UNSAFE_IN_TAG = re.compile(b"[^A-Za-z0-9" + re.escape(_TAG_SAFE.encode()) + b"]+")


def _percent(run: re.Match[bytes]) -> bytes:
    return b"%" + run[0].hex("%").upper().encode("ascii")  # each byte as %XX


def absolutize(body: str, base: str, root: lxml.html.HtmlElement | None = None) -> str:
    """Make every relative href/src in an HTML fragment absolute against ``base``.

    Only attributes that are relative are touched, so the markup is otherwise kept as
    written; the rewrite is done on the parsed tree to be robust to any quoting.
    ``root`` is the fragment already parsed (``parse_fragment``), if it was; it is changed.
    """
    if not body.strip() or not _maybe_relative(body):
        return body
    root = root if root is not None else parse_fragment(body)
    if root is None:
        return body
    changed = False
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for attr in _LINK_ATTRS:
            value = el.get(attr)
            if value is not None and not is_absolute_iri(value.strip()):
                el.set(attr, _join(base, value.strip()))
                changed = True
        srcset = el.get("srcset")
        if srcset:
            el.set("srcset", ", ".join(_absolute_candidate(c, base) for c in srcset.split(",") if c.strip()))
            changed = True
    if not changed:
        return body
    from lxml.html import tostring

    inner = html.escape(root.text or "", quote=False)
    return clean(inner + "".join(tostring(child, encoding="unicode") for child in root))


def _absolute_candidate(candidate: str, base: str) -> str:
    parts = candidate.strip().split(None, 1)
    url = parts[0] if is_absolute_iri(parts[0]) else _join(base, parts[0])
    return " ".join([url, *parts[1:]])


def _join(base: str, value: str) -> str:
    """``value`` resolved against ``base``; white space inside it (a file name with a space) percent-encoded,
    as lxml does for href and src but not for poster or cite. A value urllib cannot split (an
    unclosed IPv6 host, '//[x') has its brackets percent-encoded, so they are plain characters."""
    try:
        joined = urljoin(base, value)
    except ValueError:
        joined = urljoin(base, value.replace("[", "%5B").replace("]", "%5D"))
    return re.sub(r"\s", lambda m: quote(m.group()), joined)


_TAG = re.compile(r"<[^>]*(?:>|$)")
_LINK_ATTRS = ("href", "src", "poster", "cite")
_START_TAG = re.compile(r"""<[a-zA-Z](?:[^>"']+|"[^"]*"|'[^']*')*""")  # quoted values may hold '>'
_ATTR = re.compile(r"""(?:href|src|srcset|poster|cite)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)


def _maybe_relative(body: str) -> bool:
    """A quick look for a link attribute whose value may be relative (lxml then decides).

    Generous rather than exact: attribute-like text anywhere inside a start tag counts.
    Looking only inside start tags, not at every space of the text, is what makes it quick.
    """
    for m in (m for tag in _START_TAG.finditer(body) for m in _ATTR.finditer(tag.group())):
        value = (m.group(1) or m.group(2) or m.group(3) or "").strip()
        if not is_absolute_iri(value) or "," in value:
            return True
    return False


def relative_links(body: str) -> list[str]:
    """Every href/src/srcset URL in an HTML fragment that is not absolute (used by verification)."""
    if not _maybe_relative(body):
        return []
    root = parse_fragment(body)
    found: list[str] = []
    for el in root.iter() if root is not None else ():
        if not isinstance(el.tag, str):
            continue
        for attr in _LINK_ATTRS:
            value = el.get(attr)
            if value is not None and not is_absolute_iri(value.strip()):
                found.append(value.strip())
        for candidate in (el.get("srcset") or "").split(","):
            if candidate.strip() and not is_absolute_iri(candidate.split()[0]):
                found.append(candidate.split()[0])
    return found


def link_targets(body: str) -> list[str]:
    """Every href/src value of an HTML fragment, in document order."""
    root = parse_fragment(body) if body.strip() else None
    if root is None:
        return []
    return [el.get(a) for el in root.iter() if isinstance(el.tag, str) for a in _LINK_ATTRS if el.get(a) is not None]


_PARSERS = threading.local()  # an lxml parser must not be shared between threads (the daemon's jobs)


def _html_parser() -> lxml.html.HTMLParser:
    """libxml2's HTML parser without its default limits: with them, a text or attribute value over
    10 MB, or nesting past 255 levels, silently ends the fragment there, and links after that point
    would be neither made absolute nor seen by verification. (Nesting is bounded where bodies
    enter the store, see ``nested_deeper``; size by the limits on files and fetches.)"""
    parser = getattr(_PARSERS, "html", None)
    if parser is None:
        from lxml.html import HTMLParser

        parser = _PARSERS.html = HTMLParser(huge_tree=True)
    return parser


def parse_fragment(body: str) -> lxml.html.HtmlElement | None:
    """An HTML fragment parsed under a <div>, or None if lxml cannot take it."""
    # lxml is imported when HTML is first read: a publish with nothing to do never reads any
    from lxml import etree
    from lxml.html import fragment_fromstring

    try:
        return fragment_fromstring(body, create_parent="div", parser=_html_parser())
    except (etree.ParserError, ValueError, AssertionError):  # lxml asserts on stray <html> tags
        return None


MAX_NESTING = 256  # levels of HTML elements a body may nest: far beyond any real page
# Elements that hold nothing, and those that the next of their kind closes (libxml2 and HTML5 agree on
# these): however many stand open, they do not deepen the tree.
_SHALLOW = frozenset(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                      "track", "wbr", "p", "li", "tr", "td", "th", "option"])
_TAG_NAME = re.compile(r"<(/?)([A-Za-z][^\s/>]*)")


def nested_deeper(body: str, limit: int = MAX_NESTING) -> bool:
    """Whether an HTML fragment may nest elements deeper than ``limit``.

    Parsers' work grows with depth (html5ever's, under nh3, with its square: 100,000 nested
    ``<div>``s take a minute), so bodies are measured before any parser sees them. This
    models a parser's stack from the tags alone: an end tag closes the innermost open element
    of its name and all inside it, and is ignored when none is open, as in HTML5. It may
    count deeper than a parser would (tags in comments), never much shallower.
    """
    if body.count("<") <= limit:
        return False
    stack: list[str] = []
    open_count: dict[str, int] = {}
    for m in _TAG_NAME.finditer(body):
        name = m.group(2).lower()
        if name in _SHALLOW:
            continue
        if not m.group(1):
            stack.append(name)
            open_count[name] = open_count.get(name, 0) + 1
            if len(stack) > limit:
                return True
        elif open_count.get(name):
            while True:
                top = stack.pop()
                open_count[top] -= 1
                if top == name:
                    break
    return False


def html_text(body: str) -> str:
    """The readable text of an HTML fragment, white space folded."""
    root = parse_fragment(body) if body.strip() else None
    if root is None:
        return one_line(_TAG.sub("", body))
    for bad in root.xpath("//script|//style"):
        bad.drop_tree()
    return one_line(root.text_content())


def summarize(body: str, limit: int = 400, root: lxml.html.HtmlElement | None = None) -> str:
    """Plain-text summary: the first paragraph, or the first ``limit`` characters cut at a word.

    ``root`` is the fragment already parsed (``parse_fragment``), if it was."""
    if root is None:
        root = parse_fragment(body) if body.strip() else None
    first = root.find(".//p") if root is not None else None
    text = one_line(first.text_content()) if first is not None else ""
    if not text:
        text = html_text(body)
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    return cut.rstrip(" ,;:.-") + "…"


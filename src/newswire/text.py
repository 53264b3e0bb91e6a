"""Text rules shared by every stage: cleaning, slugs, tag URIs, links and summaries."""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import quote, urljoin, urlsplit

import lxml.html
from lxml import etree

# Characters XML 1.0 cannot carry, plus C1 controls and noncharacters: removed, never escaped.
_BAD_CHARS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]"
)
_SPACE = re.compile(r"\s+")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
_TAG_SAFE = "/:@!$&'()*+,;=-._~?"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


def clean(text: str) -> str:
    """Drop control characters and other code points that XML 1.0 cannot carry."""
    return _BAD_CHARS.sub("", text)


def one_line(text: str) -> str:
    """Clean text and fold all white space to single spaces (titles, names, labels)."""
    return _SPACE.sub(" ", clean(text)).strip()


def slugify(text: str, fallback: str = "item", max_length: int = 80) -> str:
    """A readable, file-system-safe slug: letters, marks and digits of any script, and '-'.

    Never contains '/', '.', or '\\', so it cannot leave the folder it names.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    chars = [c if unicodedata.category(c)[0] in "LNM" else "-" for c in text]
    slug = re.sub("-{2,}", "-", "".join(chars)).strip("-")[:max_length].strip("-")
    if not slug:
        return fallback
    if slug in _WINDOWS_RESERVED:
        slug = f"{slug}-{fallback}"
    return slug


def is_absolute_iri(value: str) -> bool:
    return bool(_SCHEME.match(value))


def tag_uri(authority: str, date: str, specific: str) -> str:
    """An RFC 4151 tag URI; the specific part is percent-encoded where the RFC requires."""
    return f"tag:{authority},{date}:{quote(specific, safe=_TAG_SAFE)}"


def absolutize(body: str, base: str) -> str:
    """Make every relative href/src in an HTML fragment absolute against ``base``.

    Only attributes that are relative are touched, so the markup is otherwise kept as
    written; the rewrite is done on the parsed tree to be robust to any quoting.
    """
    if not body.strip() or not _maybe_relative(body):
        return body
    root = lxml.html.fragment_fromstring(body, create_parent="div")
    changed = False
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for attr in ("href", "src", "poster", "cite"):
            value = el.get(attr)
            if value is not None and not is_absolute_iri(value.strip()):
                el.set(attr, urljoin(base, value.strip()))
                changed = True
        srcset = el.get("srcset")
        if srcset:
            el.set("srcset", ", ".join(_absolute_candidate(c, base) for c in srcset.split(",") if c.strip()))
            changed = True
    if not changed:
        return body
    inner = root.text or ""
    inner = html.escape(inner, quote=False)
    return inner + "".join(lxml.html.tostring(child, encoding="unicode") for child in root)


def _absolute_candidate(candidate: str, base: str) -> str:
    parts = candidate.strip().split(None, 1)
    url = parts[0] if is_absolute_iri(parts[0]) else urljoin(base, parts[0])
    return " ".join([url, *parts[1:]])


_ATTR = re.compile(r"""\s(?:href|src|srcset|poster|cite)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)


def _maybe_relative(body: str) -> bool:
    for m in _ATTR.finditer(body):
        value = (m.group(1) or m.group(2) or m.group(3) or "").strip()
        if not is_absolute_iri(value) or "," in value:
            return True
    return False


def relative_links(body: str) -> list[str]:
    """Every href/src in an HTML fragment that is not absolute (used by verification)."""
    found = []
    for m in _ATTR.finditer(body):
        value = html.unescape((m.group(1) or m.group(2) or m.group(3) or "").strip())
        if m.group(0).lower().lstrip().startswith("srcset"):
            urls = [c.strip().split()[0] for c in value.split(",") if c.strip()]
        else:
            urls = [value]
        found.extend(u for u in urls if not is_absolute_iri(u))
    return found


def html_text(body: str) -> str:
    """The readable text of an HTML fragment, white space folded."""
    if not body.strip():
        return ""
    try:
        root = lxml.html.fragment_fromstring(body, create_parent="div")
    except (etree.ParserError, ValueError):
        return one_line(body)
    for bad in root.xpath("//script|//style"):
        bad.drop_tree()
    return one_line(root.text_content())


def summarize(body: str, limit: int = 400) -> str:
    """Plain-text summary: the first paragraph, or the first ``limit`` characters cut at a word."""
    if not body.strip():
        return ""
    try:
        root = lxml.html.fragment_fromstring(body, create_parent="div")
        first = root.find(".//p")
        text = one_line(first.text_content()) if first is not None else ""
    except (etree.ParserError, ValueError):
        text = ""
    if not text:
        text = html_text(body)
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    return cut.rstrip(" ,;:.-") + "…"


def url_host(url: str) -> str:
    return urlsplit(url).hostname or ""

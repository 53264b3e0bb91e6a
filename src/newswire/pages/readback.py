"""A page read back: parsed as a browser would, strictly (any HTML parse error is a problem), and
compared, fact by fact, with the ``Page`` it was rendered from.

Strictness comes from html5ever (through markupever), the parser Servo uses, which lists every
parse error the HTML standard names; its tree is slow to walk from Python, so the facts are read
from libxml2's tree (lxml), which for a document free of parse errors with every end tag written
(as ``build.serialize`` writes them) and no markup of an author's is the same tree (the tests
compare it with html5lib's, the standard's reference parser). html5lib, pure Python and ten times
slower, reads the pages that carry a post's body, and names the line of an error once one is found."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any

import html5lib
import lxml.html
import markupever

from ..model import Problem
from .build import Item, Link, Page, serialize
from .html import date_text

Facts = dict[str, str]
Element = Any  # an lxml.html element: the parts of ElementTree's API used here are the same


def _link(link: Link) -> str:
    return f"{link.text} <{link.href}>" if link.href else link.text


def _when(item: Item, attr: str) -> str:
    value = getattr(item, attr)
    return f"{value.isoformat()} ({date_text(value)})"


def _expected_item(item: Item, page: Page) -> Facts:
    facts = {"published": _when(item, "published"), "author": _link(item.author),
             "labels": " | ".join(_link(label) for label in item.labels)}
    if page.kind == "post":
        facts["updated"] = _when(item, "updated") if item.updated != item.published else ""
    else:
        facts |= {"title": item.title, "link": item.link, "summary": item.summary}
    return facts


def _expected(page: Page) -> Facts:
    alternates = page.alternates
    return {
        "lang": page.language,
        "title": page.title,
        "h1": page.heading,
        "subtitle": page.subtitle,
        "byline": page.byline,
        "canonical": page.canonical,
        "robots": "noindex" if page.noindex else "",
        "alternates": " | ".join(f"{a.media_type} {a.title} <{a.href}>" for a in alternates),
        "subscribe": " | ".join(f"{a.format_name} <{a.href}> {a.href}" for a in page.subscribe),
        "nav": " | ".join(_link(link) for link in page.nav),
        "pager": " | ".join(f"{rel}: {_link(link)}" for rel, link in page.pager),
        "body": page.body,
        "gone": f"{page.gone.isoformat()} ({date_text(page.gone)})" if page.gone else "",
    }


def _text(el: Element | None) -> str:
    return "".join(el.itertext()) if el is not None else ""


def _texts(els: Iterable[Element]) -> str:
    return " | ".join(_text(el) for el in els)


def _read_link(el: Element | None) -> str:
    if el is None:
        return ""
    return f"{_text(el)} <{el.get('href')}>" if el.tag == "a" else _text(el)


def _read_time(el: Element | None) -> str:
    return f"{el.get('datetime')} ({_text(el)})" if el is not None else ""


def _read_item(article: Element, kind: str) -> Facts:
    meta = article.find("p[@class='meta']")
    facts = {"published": _read_time(meta.find("time[@class='published']") if meta is not None else None),
             "author": _read_link(meta.find("*[@class='author']") if meta is not None else None),
             "labels": " | ".join(_read_link(el) for el in article.findall("ul[@class='labels']/li/*"))}
    if kind == "post":
        facts["updated"] = _read_time(meta.find("time[@class='updated']") if meta is not None else None)
    else:
        title = article.find("h3/a")
        facts |= {"title": _text(title), "link": title.get("href", "") if title is not None else "",
                  "summary": _text(article.find("p[@class='summary']"))}
    return facts


def _read_body(main: Element) -> str:
    body = main.find(".//div[@class='body']")
    if body is None:
        return ""
    return serialize(as_etree(body, attributes=False))[len("<div>"):-len("</div>")]


def _read(root: Element) -> tuple[Facts, list[Facts], Facts | None]:
    head = root.find("head")
    main = root.find("body/main")
    if head is None or main is None:
        raise ValueError("no <head> or no <main>")
    gone = main.find(".//time[@class='gone']")
    post = main.find("article[@class='post']")
    facts = {
        "lang": root.get("lang", ""),
        "title": _texts(head.findall("title")),
        "h1": _texts(main.findall("h1") + main.findall("article/h1")),  # not a post body's own
        "subtitle": _texts(main.findall(".//p[@class='subtitle']")),
        "byline": _texts(main.findall(".//p[@class='byline']")),
        "canonical": " | ".join(el.get("href", "") for el in head.findall("link[@rel='canonical']")),
        "robots": " | ".join(el.get("content", "") for el in head.findall("meta[@name='robots']")),
        "alternates": " | ".join(f"{el.get('type')} {el.get('title')} <{el.get('href')}>"
                                 for el in head.findall("link[@rel='alternate']")),
        "subscribe": " | ".join(f"{_text(a)} <{a.get('href')}> {_text(code)}"
                                for div in main.findall("section[@class='subscribe']/div[@class='address']")
                                for a, code in [(div.find("a"), div.find("code"))] if a is not None),
        "nav": " | ".join(_read_link(el) for el in root.findall("body/header/nav/*")),
        "pager": " | ".join(f"{el.get('rel')}: {_read_link(el)}" for el in main.findall("nav[@class='pager']/*")),
        "body": _read_body(main),
        "gone": _read_time(gone),
    }
    items = [_read_item(article, "feed") for article in main.findall("section[@class='posts']/article")]
    return facts, items, _read_item(post, "post") if post is not None else None


def read_back(data: bytes, expected: Page) -> list[Problem]:
    """Every difference between a rendered page and what it should say: its own fields, its
    entries in order (title, link, date, author, labels, summary), a post's body; and any HTML
    parse error, which a browser would have mended into something else."""
    try:
        facts, items, post = _read(parse(data, authored=bool(expected.body)))
    except ValueError as e:
        return [Problem(expected.path, "", "html", "a well-formed HTML page", str(e))]
    problems = [Problem(expected.path, "", name, want, facts[name])
                for name, want in _expected(expected).items() if facts[name] != want]
    if len(items) != len(expected.items):
        problems.append(Problem(expected.path, "", "entries", str(len(expected.items)), str(len(items))))
    for item, got in zip(expected.items, items):
        problems += [Problem(expected.path, item.id, name, want, got[name])
                     for name, want in _expected_item(item, expected).items() if got[name] != want]
    if expected.post is not None or post is not None:
        want_post = _expected_item(expected.post, expected) if expected.post else {}
        got_post = post or {}
        entry = expected.post.id if expected.post else ""
        problems += [Problem(expected.path, entry, name, want_post.get(name, ""), got_post.get(name, ""))
                     for name in sorted(want_post.keys() | got_post.keys())
                     if want_post.get(name, "") != got_post.get(name, "")]
    return problems


def parse(data: bytes, *, authored: bool = False) -> Element:
    """The page's tree, or ValueError naming the first parse error (with its line, where html5lib finds it).

    A page that carries HTML an author wrote (``authored``: a post's body) is read by html5lib: such
    markup may be sound HTML whose tree only the standard's rules build (a <p> inside a <b>, SVG),
    where libxml2 builds another."""
    if authored:
        return _html5lib_parse(data)
    parser = markupever.Parser(markupever.HtmlOptions(exact_errors=True))
    parser.process(data)
    parser.finish()
    errors = parser.errors()
    if errors:
        _html5lib_parse(data)  # names the line of the first error
        raise ValueError(errors[0])
    root = lxml.html.document_fromstring(data)
    for el in root.iter("pre", "listing", "textarea"):  # the newline after their start tag is not content in HTML
        if el.text and el.text.startswith("\n"):
            el.text = el.text[1:]
    return root


def as_etree(el: Element, attributes: bool = True) -> ET.Element:
    """An lxml element (and what is below it) as ElementTree's, as html5lib's etree builder makes it."""
    out = ET.Element(el.tag, dict(el.attrib) if attributes else {})
    out.text = el.text
    for child in el:
        copy: ET.Element[Any] = as_etree(child) if isinstance(child.tag, str) else ET.Comment(child.text)
        copy.tail = child.tail
        out.append(copy)
    return out


def _html5lib_parse(data: bytes) -> Element:
    """The page's tree as html5lib builds it, or ValueError naming the first error ('line 3:14: ...')."""
    parser = html5lib.HTMLParser(tree=html5lib.getTreeBuilder("etree"), strict=True, namespaceHTMLElements=False)
    try:
        return parser.parse(data)
    except html5lib.html5parser.ParseError as e:
        line, col = parser.errors[0][0] if parser.errors else ("?", "?")
        raise ValueError(f"line {line}:{col}: {e}") from None

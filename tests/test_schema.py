"""Every document a publish produces is valid for its format.

Atom documents are checked against the RFC 4287 RELAX NG schema (Appendix B) and the
schema's Schematron rules, which RELAX NG engines do not run and are implemented
here with XPath. RSS and JSON Feed documents are checked for the fields readers rely
on. The feeds are found the way a reader finds them: through ``index.opml``, which lists
each feed once; its documents in the other formats sit beside the listed one.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import pytest
from lxml import etree

from newswire.job import publish

import harness

ATOM_RNG = harness.ATOM_RNG
FEEDS_URL = "https://journal.test/feeds/"
ATOM_NS = "http://www.w3.org/2005/Atom"
NS = {"atom": ATOM_NS}
TOMBSTONES_NS = "http://purl.org/atompub/tombstones/1.0"
NOW = datetime(2010, 1, 15, 12, 0, 0, tzinfo=UTC)
FILE_NAMES = {"atom": "atom.xml", "rss": "rss.xml", "json": "feed.json"}
OPML_VERSIONS = {"ATOM1": "atom", "RSS2": "rss", "JSONFeed1.1": "json"}
NUMERIC_ZONE = re.compile(r"[+-]\d{4}$")
_SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@lru_cache(maxsize=1)
def atom_schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(ATOM_RNG)))


# --- the journal -------------------------------------------------------------------

# The feed folders of the labels "Border Security", "Immigration", "Cyber Security" and
# "../../etc/passwd" (the empty label makes no feed).
LABEL_DIRS = {"border-security", "immigration", "cyber-security", "etc-passwd"}
AUTHOR_DIRS = {"jmorton", "napolitano"}


def write_posts(journal: harness.Journal) -> None:
    """Posts by 2 authors under 3 labels, plus an empty label and a path-like one."""
    journal.post("secure-communities", title="Secure Communities", author="jmorton",
                 labels=("Border Security", "Immigration"), date="2009-11-06T10:00:00-05:00",
                 body="ICE expands **Secure Communities** to [more counties](/counties.html).")
    journal.post("worksite", title="Worksite enforcement & <audits>", author="jmorton",
                 labels=("Immigration",), date="2009-11-09T08:30:00-05:00",
                 body="Audits of I-9 forms <b>1,000</b> employers.\n\n<p>Raw &amp; HTML</p>")
    journal.post("cyber-month", title="Cyber Security Awareness Month", author="napolitano",
                 labels=("Cyber Security",), date="2009-10-01T09:00:00+02:00",
                 body="October is *National Cyber Security Awareness Month*.")
    journal.post("border-visit", title="Visit to the border", author="napolitano",
                 labels=("border security",), date="2009-11-10T14:00:00Z",
                 body="Remarks at the port of entry. ]]> <!-- not a comment")
    journal.post("empty-label", title="A post with an empty label", author="jmorton",
                 labels=("",), date="2009-11-11T09:00:00-05:00", body="Nothing to label.")
    journal.post("traversal", title="A path-like label", author="napolitano",
                 labels=("../../etc/passwd",), date="2009-11-12T09:00:00+05:30",
                 body="A label that looks like a path must stay a label.")
    journal.post("no-body", title="No body", author="jmorton", labels=(), date="2009-11-13", body="")


def files_below(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def publish_ok(journal: harness.Journal, now: datetime = NOW, **kw: bool):
    report = publish(journal.config(), now=now, **kw)
    assert report.ok, "publish failed:\n" + "\n".join(
        [str(p) for r in report.failed for p in r.problems] + report.errors
        + [str(e) for e in (report.sync.errors if report.sync else [])])
    return report


@pytest.fixture
def published(journal: harness.Journal) -> harness.Journal:
    before = files_below(journal.root)
    write_posts(journal)
    written = files_below(journal.root) - before
    publish_ok(journal)
    # Nothing is written outside the output folder but the store and its lock.
    outside = {f for f in files_below(journal.root) - before - written
               if not f.startswith("feeds/") and not f.startswith("newswire.db")}
    assert outside == set()
    return journal


# --- reading the directory -----------------------------------------------------------


def opml_feeds(journal: harness.Journal) -> list[dict[str, object]]:
    """Every feed index.opml lists: its URL, format, group and local file."""
    root = etree.parse(str(journal.feeds / "index.opml"), _SAFE).getroot()
    assert root.tag == "opml" and root.get("version") == "2.0"
    out = []
    for group in root.findall("body/outline"):
        for outline in group.findall("outline"):
            assert outline.get("type") == "rss", etree.tostring(outline)
            url = outline.get("xmlUrl")
            out.append({**_document(journal, url), "group": group.get("text"), "title": outline.get("text"),
                        "format": OPML_VERSIONS[outline.get("version")]})
    return out


def _document(journal: harness.Journal, url: str | None) -> dict[str, object]:
    assert url and url.startswith(FEEDS_URL), url
    rel = url[len(FEEDS_URL):]
    local = (journal.feeds / rel).resolve()
    assert local.is_relative_to(journal.feeds.resolve()), url
    return {"url": url, "rel": rel, "path": local}


def feeds_of(journal: harness.Journal, fmt: str) -> list[dict[str, object]]:
    """Every document of this format: one per feed index.opml lists, beside the listed one."""
    found = [{**_document(journal, url), "format": fmt} for url in journal.listed_documents()
             if url.endswith("/" + FILE_NAMES[fmt])]
    assert found, f"index.opml lists no feed with a {fmt} document"
    return found


# --- the Schematron rules of RFC 4287 Appendix B ---------------------------------------


def schematron_problems(root: etree._Element) -> list[str]:
    problems = []
    feeds = [root] if root.tag == f"{{{ATOM_NS}}}feed" else []
    for feed in feeds:
        # An atom:feed must have an atom:author unless all of its atom:entry children have one.
        if not feed.xpath("atom:author or not(atom:entry[not(atom:author)])", namespaces=NS):
            problems.append("atom:feed has no atom:author and some atom:entry has none either")
    for i, entry in enumerate(root.xpath("//atom:entry", namespaces=NS)):
        eid = entry.findtext(f"{{{ATOM_NS}}}id")
        # An atom:entry must have an alternate link or content.
        if not entry.xpath("atom:link[@rel='alternate'] or atom:link[not(@rel)] or atom:content",
                           namespaces=NS):
            problems.append(f"entry {i} ({eid}): no atom:link rel=alternate and no atom:content")
        # An atom:entry must have an atom:author if its feed does not (the same rule, seen from the entry).
        if not entry.xpath("atom:author or ../atom:author or atom:source/atom:author", namespaces=NS):
            problems.append(f"entry {i} ({eid}): no atom:author and its feed has none")
    return problems


def assert_valid_atom(path: Path, url: str) -> etree._Element:
    data = path.read_bytes()
    root = etree.fromstring(data, _SAFE)
    assert root.tag == f"{{{ATOM_NS}}}feed", path
    schema = atom_schema()
    assert schema.validate(root), f"{path} is not valid RFC 4287:\n{schema.error_log}"
    assert schematron_problems(root) == [], path
    assert unused_namespaces(data) == [], path
    self_links = root.xpath("atom:link[@rel='self']/@href", namespaces=NS)
    assert self_links == [url], path
    return root


def unused_namespaces(data: bytes) -> list[str]:
    """Every namespace a document declares where nothing below the declaration uses it."""
    root = etree.fromstring(data, _SAFE)
    found = []
    for el in root.iter(etree.Element):
        parent = el.getparent()
        inherited = parent.nsmap if parent is not None else {}
        for prefix, uri in el.nsmap.items():
            if inherited.get(prefix) == uri:
                continue
            used = any(etree.QName(e).namespace == uri or any(etree.QName(a).namespace == uri for a in e.attrib)
                       for e in el.iter(etree.Element))
            if not used:
                found.append(f"xmlns:{prefix}={uri} on {etree.QName(el).localname}" if prefix
                             else f"xmlns={uri} on {etree.QName(el).localname}")
    return found


# --- tests --------------------------------------------------------------------------------


def test_opml_lists_every_feed_once(published: harness.Journal) -> None:
    """One outline per feed, in the first configured XML format (Atom): a reader importing it
    subscribes to each feed once. Every document of every format is beside a listed one."""
    listed = opml_feeds(published)
    by_group: dict[str, list[str]] = {}
    for f in listed:
        assert f["path"].is_file(), f"index.opml lists {f['url']} but {f['path']} does not exist"
        folder, name = f["rel"].rpartition("/")[::2]
        assert (f["format"], name) == ("atom", "atom.xml"), f["url"]
        by_group.setdefault(f["group"], []).append(folder)
    assert by_group.keys() == {"The journal", "Authors", "Labels"}
    assert by_group["The journal"] == [""]
    assert sorted(by_group["Authors"]) == sorted(f"authors/{a}" for a in AUTHOR_DIRS)
    assert sorted(by_group["Labels"]) == sorted(f"labels/{s}" for s in LABEL_DIRS)
    assert "(Atom)" not in " ".join(f["title"] for f in listed)  # one subscription: no format in its name
    # Every document on disk is a listed feed's, in a configured format, and exists.
    documents = [f["rel"] for fmt in FILE_NAMES for f in feeds_of(published, fmt)]
    assert len(documents) == len(set(documents)) == 3 * len(listed)
    on_disk = {rel for rel in files_below(published.feeds) - {"index.opml", "index.html", "feed.xsl", "journal.html"}
               if not rel.endswith("/index.html")}  # less each feed's page for people, beside its documents
    assert on_disk == set(documents)
    # The path-like label stays a folder directly inside feeds/labels/.
    labels = published.feeds / "labels"
    for folder in labels.iterdir():
        assert folder.is_dir() and folder.resolve().parent == labels.resolve()


@pytest.mark.parametrize("formats, listed", [("[rss, json, atom]", "rss"), ("[json, atom]", "atom"),
                                             ("[json]", "json")])
def test_opml_subscribes_in_the_first_xml_format(journal: harness.Journal, formats: str, listed: str) -> None:
    """JSON Feed outlines fail in readers, so the OPML lists the first XML format configured;
    only a journal that publishes JSON Feed alone lists its JSON Feed documents."""
    journal.write_config(harness.CONFIG.replace("formats: [atom, rss, json]", f"formats: {formats}"))
    write_posts(journal)
    publish_ok(journal)
    feeds = opml_feeds(journal)
    assert {f["format"] for f in feeds} == {listed}
    assert len(feeds) == 1 + len(AUTHOR_DIRS) + len(LABEL_DIRS)
    for f in feeds:
        assert f["path"].is_file() and f["rel"].endswith(FILE_NAMES[listed]), f["url"]


def test_every_atom_document_is_valid_rfc4287(published: harness.Journal) -> None:
    entries = 0
    for f in feeds_of(published, "atom"):
        root = assert_valid_atom(f["path"], f["url"])
        entries += len(root.findall(f"{{{ATOM_NS}}}entry"))
    assert entries > 0


def test_journal_atom_has_every_post_with_author_and_zoned_dates(published: harness.Journal) -> None:
    root = assert_valid_atom(published.feeds / "atom.xml", FEEDS_URL + "atom.xml")
    entries = root.findall(f"{{{ATOM_NS}}}entry")
    assert len(entries) == 7
    for entry in entries:
        assert entry.xpath("atom:author/atom:name/text()", namespaces=NS)
        # Dates carry a zone, even though the schema does not demand it.
        for date in entry.xpath("atom:updated|atom:published", namespaces=NS):
            assert re.search(r"(Z|[+-]\d\d:\d\d)$", date.text), date.text


def test_every_rss_document(published: harness.Journal) -> None:
    items = 0
    for f in feeds_of(published, "rss"):
        data = f["path"].read_bytes()
        root = etree.fromstring(data, _SAFE)
        assert root.tag == "rss" and root.get("version") == "2.0", f["path"]
        assert unused_namespaces(data) == [], f["path"]
        channel = root.find("channel")
        assert channel is not None, f["path"]
        for name in ("title", "link", "description"):
            assert (channel.findtext(name) or "").strip(), f"{f['path']}: channel has no {name}"
        assert channel.findtext("link").startswith("https://")
        self_links = channel.xpath("atom:link[@rel='self']/@href", namespaces=NS)
        assert self_links == [f["url"]], f["path"]
        for item in channel.findall("item"):
            items += 1
            guid = item.find("guid")
            assert guid is not None and (guid.text or "").strip(), f"{f['path']}: item without guid"
            assert guid.get("isPermaLink") == "false", f"{f['path']}: guid {guid.text} isPermaLink"
            date = (item.findtext("pubDate") or "").strip()
            assert NUMERIC_ZONE.search(date), f"{f['path']}: pubDate {date!r} has no numeric zone"
        guids = [g.text for g in channel.findall("item/guid")]
        assert len(guids) == len(set(guids)), f["path"]
    assert items > 0


def test_every_json_feed(published: harness.Journal) -> None:
    items = 0
    for f in feeds_of(published, "json"):
        doc = json.loads(f["path"].read_text(encoding="utf-8"))
        assert doc["version"] == "https://jsonfeed.org/version/1.1", f["path"]
        assert doc["feed_url"] == f["url"], f["path"]
        assert doc["title"], f["path"]
        assert isinstance(doc["items"], list)
        ids = [item["id"] for item in doc["items"]]
        assert all(isinstance(i, str) and i for i in ids), f["path"]
        assert len(ids) == len(set(ids)), f"{f['path']}: duplicate item ids {ids}"
        items += len(ids)
        # JSON Feed 1.0 readers read the single ``author``: beside ``authors`` everywhere it is.
        for obj in [doc, *doc["items"]]:
            assert obj.get("author") == (obj.get("authors") or [None])[0], f["path"]
        assert all(item["author"]["name"] for item in doc["items"]), f["path"]
        assert ("author" in doc) == f["rel"].startswith("authors/"), f["path"]
    assert items > 0


def test_label_emptied_by_deletion_still_gives_valid_atom(published: harness.Journal) -> None:
    label_atom = published.feeds / "labels" / "cyber-security" / "atom.xml"
    assert len(etree.parse(str(label_atom)).getroot().findall(f"{{{ATOM_NS}}}entry")) == 1
    (published.content / "cyber-month.md").unlink()
    report = publish_ok(published, NOW + timedelta(hours=1))
    assert report.sync is not None and report.sync.deleted == 1
    # The label's feed has no entry left; whatever its documents are, they must be valid.
    for f in feeds_of(published, "atom"):
        assert_valid_atom(f["path"], f["url"])
    assert label_atom.is_file(), "the emptied label's Atom document is gone"
    root = assert_valid_atom(label_atom, FEEDS_URL + "labels/cyber-security/atom.xml")
    assert root.findall(f"{{{ATOM_NS}}}entry") == []
    # The deleted post's tombstone (RFC 6721) is there, its namespace declared where it is used;
    # the label feeds the post was never in declare no such namespace.
    assert root.findall(f"{{{TOMBSTONES_NS}}}deleted-entry") and TOMBSTONES_NS in root.nsmap.values()
    untouched = assert_valid_atom(published.feeds / "labels" / "immigration" / "atom.xml",
                                  FEEDS_URL + "labels/immigration/atom.xml")
    assert TOMBSTONES_NS not in untouched.nsmap.values()
    # With no entry, the feed still says who it is and when it last changed.
    assert root.findtext(f"{{{ATOM_NS}}}id") and root.findtext(f"{{{ATOM_NS}}}updated")
    for f in feeds_of(published, "rss"):
        channel = etree.parse(str(f["path"]), _SAFE).getroot().find("channel")
        assert channel.findtext("title") and channel.findtext("description")
    for f in feeds_of(published, "json"):
        doc = json.loads(f["path"].read_text(encoding="utf-8"))
        assert doc["feed_url"] == f["url"] and isinstance(doc["items"], list)


def test_every_atom_is_valid_with_every_post_gone(published: harness.Journal) -> None:
    """Every post deleted: every feed (journal, authors, labels) is empty and still valid."""
    for md in published.content.glob("*.md"):
        md.unlink()
    publish_ok(published, NOW + timedelta(days=1), allow_mass_delete=True)  # on purpose, as the operator says
    atoms = feeds_of(published, "atom")
    for f in atoms:
        root = assert_valid_atom(f["path"], f["url"])
        assert root.findall(f"{{{ATOM_NS}}}entry") == [], f["path"]


def test_the_checks_reject_what_rfc4287_forbids() -> None:
    """The schema and the Schematron rules above do reject invalid documents."""
    good = (f'<feed xmlns="{ATOM_NS}"><id>tag:x,2009:f</id><title>t</title>'
            '<updated>2009-11-06T10:00:00Z</updated>'
            '<entry><id>tag:x,2009:e</id><title>e</title><updated>2009-11-06T10:00:00Z</updated>'
            '<author><name>A</name></author><link href="https://x.test/e"/></entry></feed>')
    root = etree.fromstring(good)
    assert atom_schema().validate(root) and schematron_problems(root) == []
    no_id = etree.fromstring(good.replace("<id>tag:x,2009:e</id>", ""))
    assert not atom_schema().validate(no_id)
    no_author = etree.fromstring(good.replace("<author><name>A</name></author>", ""))
    assert atom_schema().validate(no_author)
    assert len(schematron_problems(no_author)) == 2
    no_link = etree.fromstring(good.replace('<link href="https://x.test/e"/>', ""))
    assert atom_schema().validate(no_link)
    assert schematron_problems(no_link) == ["entry 0 (tag:x,2009:e): no atom:link rel=alternate and no atom:content"]
    related_only = etree.fromstring(good.replace('<link href=', '<link rel="related" href='))
    assert len(schematron_problems(related_only)) == 1


def test_archive_pages_and_tombstones_declare_only_the_namespaces_they_use(published: harness.Journal) -> None:
    """With two entries a document, every feed has RFC 5005 archive pages; a deleted post leaves
    a tombstone. Every XML document, archive pages included, declares only what it uses."""
    published.write_config(published.config_path.read_text().replace("entries: 25", "entries: 2"))
    (published.content / "cyber-month.md").unlink()
    publish_ok(published, NOW + timedelta(hours=1))
    documents = sorted(p for p in published.feeds.rglob("*.xml"))
    assert any("/archive/" in p.as_posix() for p in documents)
    declared: set[str] = set()
    for path in documents:
        data = path.read_bytes()
        assert unused_namespaces(data) == [], path
        declared |= {uri for el in etree.fromstring(data, _SAFE).iter(etree.Element) for uri in el.nsmap.values()}
        if path.name == "atom.xml":
            assert_valid_atom(path, FEEDS_URL + path.relative_to(published.feeds).as_posix())
    assert TOMBSTONES_NS in declared  # the rule was tried on documents that use each namespace


# --- the example journal -----------------------------------------------------------------------

EXAMPLE_FEEDS_URL = "https://journal.example.gov/feeds/"
_BARE_AMPERSAND = re.compile(r"&(?!(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#[xX][0-9A-Fa-f]+);)")


def _html_text(markup: str) -> str:
    import html5lib

    return "".join(html5lib.parseFragment(markup, namespaceHTMLElements=False).itertext())


def test_example_journal_reads_as_written(example: harness.Journal) -> None:
    """The repository's own journal, published: every Atom document is valid RFC 4287, no
    document declares a namespace it does not use, and every RSS description, read as the HTML
    readers take it for, shows the entry's summary exactly, with no bare '&' (the W3C validator's
    complaint about 'R&D')."""
    documents = sorted(example.feeds.rglob("*.xml"))
    assert {"atom.xml", "rss.xml"} <= {p.name for p in documents}
    for path in documents:
        assert unused_namespaces(path.read_bytes()) == [], path
    for url in example.listed_documents():
        assert url.startswith(EXAMPLE_FEEDS_URL) and (example.feeds / url[len(EXAMPLE_FEEDS_URL):]).is_file(), url
    shown: list[str] = []
    for atom in (p for p in documents if p.name == "atom.xml"):
        root = assert_valid_atom(atom, EXAMPLE_FEEDS_URL + atom.relative_to(example.feeds).as_posix())
        summaries = {e.findtext(f"{{{ATOM_NS}}}id"): e.findtext(f"{{{ATOM_NS}}}summary")
                     for e in root.iter(f"{{{ATOM_NS}}}entry")}
        json_items = json.loads((atom.parent / "feed.json").read_text(encoding="utf-8"))["items"]
        assert {i["id"]: i["summary"] for i in json_items} == summaries, atom
        rss = etree.fromstring((atom.parent / "rss.xml").read_bytes(), _SAFE)
        assert [i.findtext("guid") for i in rss.iter("item")] == list(summaries), atom
        for item in rss.iter("item"):
            description = item.findtext("description")
            assert not _BARE_AMPERSAND.search(description), (atom.parent, description)
            assert _html_text(description) == summaries[item.findtext("guid")], (atom.parent, description)
            shown.append(_html_text(description))
    assert any("R&D" in text for text in shown)  # the rule was tried on text that needs it

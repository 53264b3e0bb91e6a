"""Full history (RFC 5005), tombstones (RFC 6721), per-kind settings and the affiliation element."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import feedparser
import pytest
from lxml import etree

from newswire.job import check_published, publish

from harness import ATOM_RNG, CONFIG, Journal

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
FEEDS_URL = "https://journal.test/feeds/"
FH = "{http://purl.org/syndication/history/1.0}"
AT = "{http://purl.org/atompub/tombstones/1.0}"


def _journal(journal: Journal, posts: int, entries: int = 3) -> None:
    journal.write_config(CONFIG.replace("entries: 25", f"entries: {entries}"))
    for i in range(posts):
        journal.post(f"p{i:02d}", title=f"Post {i:02d}", date=(datetime(2009, 1, 1, 9) + timedelta(days=i)).isoformat(),
                     labels=("Border Security",) if i % 2 else ("Cyber",))


def _local(journal: Journal, url: str):  # type: ignore[no-untyped-def]
    assert url.startswith(FEEDS_URL), url
    return journal.feeds / url.removeprefix(FEEDS_URL)


def _walk(journal: Journal, start: str, fmt: str) -> list[list[str]]:
    """Follow prev-archive links (next_url for JSON) from a main document; the ids of each page."""
    pages, path, seen = [], journal.feeds / start, set()
    for _ in range(100):
        assert path not in seen, f"loop at {path}"
        seen.add(path)
        data = path.read_bytes()
        if fmt == "json":
            doc = json.loads(data)
            pages.append([item["id"] for item in doc["items"]])
            nxt = doc.get("next_url")
        else:
            parsed = feedparser.parse(data)
            assert parsed.bozo == 0
            pages.append([e.id for e in parsed.entries])
            nxt = next((k.href for k in parsed.feed.links if k.rel == "prev-archive"), None)
        if nxt is None:
            return pages
        path = _local(journal, nxt)
    raise AssertionError("archive chain longer than 100 pages")


def test_walking_the_archive_chain_reaches_every_entry_exactly_once(journal: Journal) -> None:
    _journal(journal, posts=11, entries=3)
    report = publish(journal.config(), now=NOW)
    assert report.ok, report.failed
    all_ids = {e.id for e in feedparser.parse((journal.feeds / "atom.xml").read_bytes()).entries}
    for feed in ("", "labels/border-security/", "labels/cyber/", "authors/jmorton/"):
        for fmt, name in (("atom", "atom.xml"), ("rss", "rss.xml"), ("json", "feed.json")):
            pages = _walk(journal, feed + name, fmt)
            flat = [i for page in pages for i in page]
            assert len(flat) == len(set(flat)), f"{feed}{name}: an entry is reached twice"
            assert len(pages[0]) == min(3, len(flat))  # the main document holds the newest N
            if feed in ("", "authors/jmorton/"):
                assert len(flat) == 11
            all_ids |= set(flat)
    assert len(all_ids) == 11


def test_archive_pages_are_marked_and_linked_and_main_is_complete_only_when_it_holds_all(journal: Journal) -> None:
    _journal(journal, posts=8, entries=3)
    publish(journal.config(), now=NOW)
    main = etree.parse(str(journal.feeds / "atom.xml")).getroot()
    assert main.find(f"{FH}complete") is None and main.find(f"{FH}archive") is None
    oldest = etree.parse(str(journal.feeds / "archive/1/atom.xml")).getroot()
    assert oldest.find(f"{FH}archive") is not None
    links = {ln.get("rel"): ln.get("href") for ln in oldest.iter("{http://www.w3.org/2005/Atom}link")}
    assert links["current"] == FEEDS_URL + "atom.xml"
    assert links["next-archive"] == FEEDS_URL + "archive/2/atom.xml" and "prev-archive" not in links
    label = etree.parse(str(journal.feeds / "labels/cyber/atom.xml")).getroot()  # 4 posts > 3: archived
    assert label.find(f"{FH}complete") is None
    small = Journal(journal.root.parent / "small")
    small.root.mkdir()
    small.content.mkdir()
    _journal(small, posts=2, entries=3)
    publish(small.config(), now=NOW)
    assert etree.parse(str(small.feeds / "atom.xml")).getroot().find(f"{FH}complete") is not None
    assert not (small.feeds / "archive").exists()


def test_full_archive_pages_are_never_rewritten_and_an_edit_rewrites_only_its_page(journal: Journal) -> None:
    _journal(journal, posts=10, entries=3)
    publish(journal.config(), now=NOW)
    before = journal.files()
    journal.post("p10", title="Post 10", date="2009-01-11T09:00:00", labels=("Cyber",))
    publish(journal.config(), now=NOW)
    after = journal.files()
    changed = {p for p in after if after[p] != before.get(p)}
    assert not any(p.startswith("archive/1/") or p.startswith("archive/2/") for p in changed), changed
    assert "atom.xml" in changed
    before = after
    journal.post("p01", title="Post 01, corrected", date="2009-01-02T09:00:00", labels=("Border Security",))
    publish(journal.config(), now=NOW.replace(hour=13))
    after = journal.files()
    changed = {p for p in after if after[p] != before.get(p) and not p.startswith("index.")}
    assert changed == {f"{d}{n}" for d in ("archive/1/", "authors/jmorton/archive/1/",
                                            "labels/border-security/archive/1/")
                       for n in ("atom.xml", "rss.xml", "feed.json", "index.html")}, changed


def test_tombstones_appear_in_the_document_that_carried_the_entry_then_expire(journal: Journal) -> None:
    _journal(journal, posts=5, entries=3)
    publish(journal.config(), now=NOW)
    gone = {e.title: e.id for e in feedparser.parse((journal.feeds / "atom.xml").read_bytes()).entries}["Post 03"]
    (journal.content / "p03.md").unlink()
    publish(journal.config(), now=NOW + timedelta(hours=1))
    root = etree.parse(str(journal.feeds / "atom.xml")).getroot()
    stones = [(el.get("ref"), el.get("when")) for el in root.iter(f"{AT}deleted-entry")]
    assert stones == [(gone, "2026-11-30T13:00:00+00:00")]
    assert gone not in [e.id for e in feedparser.parse((journal.feeds / "atom.xml").read_bytes()).entries]
    schema = etree.RelaxNG(etree.parse(str(ATOM_RNG)))
    assert schema.validate(root), schema.error_log
    publish(journal.config(), now=NOW + timedelta(days=31))
    root = etree.parse(str(journal.feeds / "atom.xml")).getroot()
    assert list(root.iter(f"{AT}deleted-entry")) == []


def test_documents_carry_the_stylesheet_and_still_parse_and_validate(journal: Journal) -> None:
    _journal(journal, posts=5, entries=3)
    publish(journal.config(), now=NOW)
    schema = etree.RelaxNG(etree.parse(str(ATOM_RNG)))
    for rel, href in (("atom.xml", "feed.xsl"), ("labels/cyber/atom.xml", "../../feed.xsl"),
                      ("archive/1/rss.xml", "../../feed.xsl")):
        data = (journal.feeds / rel).read_bytes()
        assert f'<?xml-stylesheet type="text/xsl" href="{href}"?>'.encode() in data.split(b"\n", 2)[1]
        assert feedparser.parse(data).bozo == 0
        if rel.endswith("atom.xml"):
            assert schema.validate(etree.fromstring(data)), schema.error_log
    assert (journal.feeds / "feed.xsl").read_bytes().startswith(b"<?xml")


def test_per_kind_entries_and_content(journal: Journal) -> None:
    journal.write_config(CONFIG.replace("  content: full\n",
                                        "  content: full\n  label_feeds: {entries: 2, content: summary}\n"))
    for i in range(4):
        journal.post(f"p{i}", title=f"P{i}", date=f"2009-01-0{i + 1}T09:00:00", body=f"Body {i} text.")
    publish(journal.config(), now=NOW)
    label = feedparser.parse((journal.feeds / "labels/border-security/atom.xml").read_bytes())
    assert len(label.entries) == 2 and all("content" not in e for e in label.entries)
    journal_feed = feedparser.parse((journal.feeds / "atom.xml").read_bytes())
    assert len(journal_feed.entries) == 4 and all("content" in e for e in journal_feed.entries)


def test_affiliation_is_a_namespaced_element_not_part_of_the_name(journal: Journal) -> None:
    journal.post("p", title="P")
    publish(journal.config(), now=NOW)
    atom = etree.parse(str(journal.feeds / "atom.xml")).getroot()
    author = atom.find("{http://www.w3.org/2005/Atom}entry/{http://www.w3.org/2005/Atom}author")
    assert author.findtext("{http://www.w3.org/2005/Atom}name") == "John Morton"
    assert author.findtext("{http://schema.org/}affiliation") == "U.S. Immigration and Customs Enforcement"
    rss = etree.parse(str(journal.feeds / "rss.xml")).getroot()
    assert rss.findtext("channel/item/{http://schema.org/}affiliation") == "U.S. Immigration and Customs Enforcement"
    doc = json.loads((journal.feeds / "feed.json").read_text())
    assert doc["items"][0]["authors"][0]["_newswire"]["affiliation"] == "U.S. Immigration and Customs Enforcement"
    author_feed = feedparser.parse((journal.feeds / "authors/jmorton/atom.xml").read_bytes()).feed
    assert "U.S. Immigration and Customs Enforcement" in author_feed.title
    assert "U.S. Immigration and Customs Enforcement" in author_feed.subtitle


def test_a_new_archive_page_re_renders_only_its_neighbour_and_the_main_document(journal: Journal) -> None:
    _journal(journal, posts=9, entries=3)  # 6 archived: two full pages
    publish(journal.config(), now=NOW)
    journal.post("p09", title="Post 09", date="2009-01-10T09:00:00", labels=("Cyber",))
    report = publish(journal.config(), now=NOW)
    written = {r.path for r in report.results if r.status == "written"}
    journal_pages = sorted(p for p in written if p.startswith("archive/"))
    # Page 2 gains a next-archive link (JSON Feed pages only towards older items: unchanged), and so
    # does its page for people; page 3 is new.
    assert journal_pages == sorted(["archive/2/atom.xml", "archive/2/rss.xml", "archive/2/index.html",
                                    "archive/3/atom.xml", "archive/3/rss.xml", "archive/3/feed.json",
                                    "archive/3/index.html"])
    # journal and jmorton: main + pages 2 and 3; Cyber: main + its page, each with its page for people.
    # Page 1 is not even rendered.
    assert report.rendered == (3 + 3 + 2) * 4


def test_without_archives_each_feed_is_its_newest_entries_and_nothing_claims_completeness(journal: Journal) -> None:
    _journal(journal, posts=7, entries=3)
    publish(journal.config(), now=NOW)
    assert (journal.feeds / "archive").is_dir()
    journal.write_config(CONFIG.replace("entries: 25", "entries: 3\n  archives: false"))
    report = publish(journal.config(), now=NOW + timedelta(hours=1))
    assert report.ok, report.failed
    assert not any(p.name == "archive" for p in journal.feeds.rglob("*")), "archive pages were not taken down"
    main = _walk(journal, "atom.xml", "atom")
    assert len(main) == 1 and len(main[0]) == 3  # no prev-archive link, the three newest
    root = etree.parse(str(journal.feeds / "atom.xml")).getroot()
    assert root.find(f"{FH}complete") is None and root.find(f"{FH}archive") is None
    assert [e.title for e in feedparser.parse((journal.feeds / "rss.xml").read_bytes()).entries] == \
        ["Post 06", "Post 05", "Post 04"]
    # A feed whose entries all fit says so; index.html still counts every post.
    journal.write_config(CONFIG.replace("entries: 25", "entries: 10\n  archives: false"))
    assert publish(journal.config(), now=NOW + timedelta(hours=2)).ok
    root = etree.parse(str(journal.feeds / "atom.xml")).getroot()
    assert root.find(f"{FH}complete") is not None
    assert "7 posts" in (journal.feeds / "index.html").read_text(encoding="utf-8")


# --- unpublishing is announced like a deletion (RFC 6721) ---------------------------------------


def _rewrite(journal: Journal, i: int, **front: object) -> None:
    """Post i of ``_journal`` written again, with other front matter (its date, draft: true ...)."""
    journal.post(f"p{i:02d}", title=f"Post {i:02d}", date=str(front.pop("date", _date(i))),
                 labels=("Border Security",) if i % 2 else ("Cyber",), **front)


def _date(i: int) -> str:
    return (datetime(2009, 1, 1, 9) + timedelta(days=i)).isoformat()


def _stones(journal: Journal, rel: str) -> list[tuple[str, str]]:
    root = etree.parse(str(journal.feeds / rel)).getroot()
    return [(el.get("ref"), el.get("when")) for el in root.iter(f"{AT}deleted-entry")]


def _holding(journal: Journal, entry_id: str) -> list[str]:
    """Every document (any format) that lists the entry."""
    out = []
    for path in sorted(journal.feeds.rglob("*")):
        if path.name in ("atom.xml", "rss.xml"):
            ids = [e.id for e in feedparser.parse(path.read_bytes()).entries]
        elif path.name == "feed.json":
            ids = [item["id"] for item in json.loads(path.read_bytes())["items"]]
        else:
            continue
        if entry_id in ids:
            out.append(path.relative_to(journal.feeds).as_posix())
    return out


def _all_stones(journal: Journal) -> dict[str, list[tuple[str, str]]]:
    return {p.relative_to(journal.feeds).as_posix(): s for p in sorted(journal.feeds.rglob("atom.xml"))
            if (s := _stones(journal, p.relative_to(journal.feeds).as_posix()))}


def _id_of(journal: Journal, title: str, rel: str = "atom.xml") -> str:
    return {e.title: e.id for e in feedparser.parse((journal.feeds / rel).read_bytes()).entries}[title]


CARRIERS = ("atom.xml", "authors/jmorton/atom.xml", "labels/border-security/atom.xml")  # what held Post 03


def test_a_post_made_a_draft_gets_a_tombstone_where_it_was_and_comes_back_with_its_id(journal: Journal) -> None:
    _journal(journal, posts=5, entries=3)
    assert publish(journal.config(), now=NOW).ok
    gone = _id_of(journal, "Post 03")
    _rewrite(journal, 3, draft=True)
    assert publish(journal.config(), now=NOW + timedelta(hours=1)).ok
    assert _holding(journal, gone) == []
    assert _all_stones(journal) == {rel: [(gone, "2026-11-30T13:00:00+00:00")] for rel in CARRIERS}
    schema = etree.RelaxNG(etree.parse(str(ATOM_RNG)))
    assert schema.validate(etree.parse(str(journal.feeds / "atom.xml"))), schema.error_log

    _rewrite(journal, 3)  # published again
    assert publish(journal.config(), now=NOW + timedelta(hours=2)).ok
    assert _id_of(journal, "Post 03") == gone
    assert set(_holding(journal, gone)) >= {f"{d}{n}" for d in ("", "authors/jmorton/", "labels/border-security/")
                                            for n in ("atom.xml", "rss.xml", "feed.json")}
    assert _all_stones(journal) == {}


def test_a_post_re_dated_into_the_future_gets_a_tombstone_until_its_new_date(journal: Journal) -> None:
    _journal(journal, posts=5, entries=3)
    assert publish(journal.config(), now=NOW).ok
    gone = _id_of(journal, "Post 03")
    later = NOW + timedelta(days=2)
    _rewrite(journal, 3, date=later.isoformat())
    assert publish(journal.config(), now=NOW + timedelta(hours=1)).ok
    assert _holding(journal, gone) == []
    assert _all_stones(journal) == {rel: [(gone, "2026-11-30T13:00:00+00:00")] for rel in CARRIERS}
    assert publish(journal.config(), now=later + timedelta(seconds=1)).ok  # its new time has come
    entries = feedparser.parse((journal.feeds / "atom.xml").read_bytes()).entries
    assert entries[0].id == gone and entries[0].title == "Post 03"  # the newest now, same id
    assert _all_stones(journal) == {}


def test_a_tombstone_for_an_unpublished_post_expires_like_a_deletions(journal: Journal) -> None:
    journal.write_config(CONFIG.replace("entries: 25", "entries: 3\n  tombstone_days: 2"))
    for i in range(5):
        _rewrite(journal, i)
    assert publish(journal.config(), now=NOW).ok
    gone = _id_of(journal, "Post 03")
    _rewrite(journal, 3, draft=True)
    assert publish(journal.config(), now=NOW + timedelta(hours=1)).ok
    assert publish(journal.config(), now=NOW + timedelta(days=2)).ok
    assert _stones(journal, "atom.xml") == [(gone, "2026-11-30T13:00:00+00:00")]
    report = publish(journal.config(), now=NOW + timedelta(days=2, hours=1, seconds=1))
    assert report.ok and report.written > 0
    assert _all_stones(journal) == {}


def test_an_old_post_made_a_draft_is_tombstoned_in_its_archive_page_and_nothing_else_is_rewritten(
        journal: Journal) -> None:
    _journal(journal, posts=8, entries=3)  # journal: archive/1 holds posts 0-2; Border Security's holds 1
    assert publish(journal.config(), now=NOW).ok
    gone = next(e.id for e in feedparser.parse((journal.feeds / "archive/1/atom.xml").read_bytes()).entries
                if e.title == "Post 01")
    _rewrite(journal, 1, draft=True)
    report = publish(journal.config(), now=NOW + timedelta(hours=1))
    assert report.ok
    pages = ("archive/1/", "authors/jmorton/archive/1/", "labels/border-security/archive/1/")
    assert _all_stones(journal) == {f"{page}atom.xml": [(gone, "2026-11-30T13:00:00+00:00")] for page in pages}
    written = {r.path for r in report.results if r.status == "written"}
    assert written - {"index.opml", "index.html"} == {f"{page}{name}" for page in pages
                                                      for name in ("atom.xml", "rss.xml", "feed.json", "index.html")}


def test_what_was_never_published_gets_no_tombstone(journal: Journal) -> None:
    _journal(journal, posts=3, entries=3)
    journal.post("draft", title="Always a draft", draft=True)
    journal.post("soon", title="Scheduled", date=(NOW + timedelta(days=1)).isoformat())
    assert publish(journal.config(), now=NOW).ok
    journal.post("soon", title="Scheduled", date=(NOW + timedelta(days=1)).isoformat(), draft=True)
    journal.post("draft", title="Always a draft", date=(NOW + timedelta(days=3)).isoformat())
    assert publish(journal.config(), now=NOW + timedelta(hours=1)).ok
    assert publish(journal.config(), now=NOW + timedelta(days=2)).ok  # "Scheduled"'s date passed: still a draft
    assert _all_stones(journal) == {}


def _hide_by_store(journal: Journal, when: datetime) -> None:
    from newswire.job import open_store

    with open_store(journal.config()) as store:
        assert store.posts.mark_deleted(store.posts.find("md:p03.md"), when, by="user")  # type: ignore[arg-type]


def _restore_by_store(journal: Journal, when: datetime) -> None:
    from newswire.job import open_store

    with open_store(journal.config()) as store:
        assert store.posts.restore(store.posts.find("md:p03.md"))  # type: ignore[arg-type]


# Ways a live post leaves the feeds while it stays in the store, each followed by a way back. Every
# step is a list of edits with a publish after each; times count from NOW.
HIDE = {
    "draft": [lambda j, t: _rewrite(j, 3, draft=True)],
    "dated after now": [lambda j, t: _rewrite(j, 3, date=(NOW + timedelta(days=2)).isoformat())],
    "draft and dated after now": [lambda j, t: _rewrite(j, 3, draft=True, date=(NOW + timedelta(days=2)).isoformat())],
    "file removed": [lambda j, t: (j.content / "p03.md").unlink()],
    "post delete": [_hide_by_store],
    "file removed, then back as a draft": [lambda j, t: (j.content / "p03.md").unlink(),
                                           lambda j, t: _rewrite(j, 3, draft=True)],
    "draft, then file removed": [lambda j, t: _rewrite(j, 3, draft=True),
                                 lambda j, t: (j.content / "p03.md").unlink()],
    "dated after now, then a draft": [lambda j, t: _rewrite(j, 3, date=(NOW + timedelta(days=2)).isoformat()),
                                      lambda j, t: _rewrite(j, 3, draft=True,
                                                            date=(NOW + timedelta(days=2)).isoformat())],
}
BACK = {
    "file as it was": lambda j, t: _rewrite(j, 3),
    "time passes": lambda j, t: None,
    "post restore": _restore_by_store,
}


@pytest.mark.parametrize("hide, back", [
    ("draft", "file as it was"), ("dated after now", "file as it was"), ("dated after now", "time passes"),
    ("draft and dated after now", "file as it was"), ("file removed", "file as it was"),
    ("post delete", "post restore"), ("file removed, then back as a draft", "file as it was"),
    ("draft, then file removed", "file as it was"), ("dated after now, then a draft", "file as it was"),
])
def test_every_way_out_of_the_feeds_leaves_a_tombstone_and_every_way_back_removes_it(
        journal: Journal, hide: str, back: str) -> None:
    _journal(journal, posts=5, entries=3)
    assert publish(journal.config(), now=NOW).ok
    gone = _id_of(journal, "Post 03")
    for step, edit in enumerate(HIDE[hide], 1):
        when = NOW + timedelta(hours=step)
        edit(journal, when)
        assert publish(journal.config(), now=when).ok
        assert _holding(journal, gone) == [], f"after step {step}"
        stones = _all_stones(journal)
        assert set(stones) == set(CARRIERS) and all(s == [stones["atom.xml"][0]] for s in stones.values()), stones
        assert stones["atom.xml"][0][0] == gone
        # dated when it left: by its deletion, or by the publish that found it gone
        assert stones["atom.xml"][0][1] == "2026-11-30T13:00:00+00:00", stones
    BACK[back](journal, NOW + timedelta(days=3))
    assert publish(journal.config(), now=NOW + timedelta(days=3)).ok
    assert _id_of(journal, "Post 03") == gone
    assert _all_stones(journal) == {}


def test_a_post_re_dated_in_the_past_is_published_with_its_new_date(journal: Journal) -> None:
    """A new date that leaves the order as it was still changes the documents (and is no news)."""
    journal.post("only", title="The only post", date="2009-07-06T00:00:00+00:00")
    assert publish(journal.config(), now=NOW).ok
    journal.post("only", title="The only post", date="2009-01-01T00:00:00+00:00")
    report = publish(journal.config(), now=NOW + timedelta(hours=1))
    assert report.ok and report.written
    for rel in ("atom.xml", "authors/jmorton/atom.xml", "labels/border-security/rss.xml"):
        assert [e.published_parsed[:3] for e in feedparser.parse((journal.feeds / rel).read_bytes()).entries] \
            == [(2009, 1, 1)], rel
    assert check_published(journal.config(), now=NOW + timedelta(hours=1)).ok


@pytest.mark.parametrize("edit, shown", [
    ({"draft": True}, False),  # it stays out, with its tombstone
    ({"title": "Post 03, rewritten while deleted"}, True),
    ({"date": (NOW + timedelta(days=1)).isoformat()}, False),
])
def test_a_post_restored_after_post_delete_takes_what_its_file_says_now(journal: Journal, edit: dict[str, object],
                                                                         shown: bool) -> None:
    """'post delete' keeps a post out whatever its file says; 'post restore' gives the file its say
    again, with the edits made meanwhile (the sync skipped them while the post was deleted)."""
    _journal(journal, posts=5, entries=3)
    assert publish(journal.config(), now=NOW).ok
    gone = _id_of(journal, "Post 03")
    _hide_by_store(journal, NOW)
    assert publish(journal.config(), now=NOW + timedelta(hours=1)).ok
    front = {"title": "Post 03", "date": _date(3), "labels": ("Border Security",), **edit}
    title = str(front["title"])
    journal.post("p03", **front)  # type: ignore[arg-type]
    assert publish(journal.config(), now=NOW + timedelta(hours=2)).ok  # the user's deletion still holds
    assert _holding(journal, gone) == []
    _restore_by_store(journal, NOW)
    assert publish(journal.config(), now=NOW + timedelta(hours=3)).ok
    entries = {e.id: e.title for e in feedparser.parse((journal.feeds / "atom.xml").read_bytes()).entries}
    assert (entries.get(gone) == title) if shown else (gone not in entries and _stones(journal, "atom.xml")), entries

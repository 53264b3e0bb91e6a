"""The publish job through the library API: what is produced, what is left alone, what is refused."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

import newswire.proof as proof_module
from newswire.job import check_published, publish
from newswire.verify import Problem

from harness import CONFIG, Journal

pytestmark = pytest.mark.both_backends

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _example(journal: Journal) -> None:
    journal.post("atlas", title="Operation ATLAS", date="2009-11-06T10:30:00-05:00", author="jmorton",
                 labels=("Cash Smuggling", "International Cooperation"),
                 body="See [the report](/reports/atlas.html) and ![map](images/map.png).")
    journal.post("border", title="Southwest Border", date="2009-04-07T18:05:00-07:00", author="napolitano",
                 labels=("Border Security", "International Cooperation"), body="Border text & more.")
    journal.post("fugitives", title="ICE Focus on Immigration Fugitives", date="2009-02-04", author="John Torres",
                 affiliation="ICE Acting Assistant Secretary", labels=("Immigration Enforcement", ""))
    journal.post("draft", title="Not yet", date="2009-12-01", draft=True, labels=("Secret Label",))
    journal.post("future", title="Scheduled", date="2030-01-15T09:00:00-05:00", labels=("Later Label",))


def _opml_paths(journal: Journal) -> list[str]:
    return [url.removeprefix("https://journal.test/feeds/") for url in journal.listed_documents()]


def _entries(journal: Journal, path: str = "atom.xml") -> list[feedparser.FeedParserDict]:
    return feedparser.parse((journal.feeds / path).read_bytes()).entries


def test_publish_produces_every_feed_in_every_format_listed_in_opml(journal: Journal) -> None:
    _example(journal)
    report = publish(journal.config(), now=NOW)
    assert report.ok, report.failed
    feeds = ["", "authors/jmorton/", "authors/napolitano/", "authors/john-torres/",
             "labels/cash-smuggling/", "labels/international-cooperation/", "labels/border-security/",
             "labels/immigration-enforcement/"]
    expected = sorted(f"{d}{name}" for d in feeds for name in ("atom.xml", "rss.xml", "feed.json"))
    assert sorted(_opml_paths(journal)) == expected
    pages = ["journal.html"] + [f"{d}index.html" for d in feeds if d]  # each feed's page for people
    assert sorted(journal.files()) == sorted(expected + pages + ["feed.xsl", "index.html", "index.opml"])
    assert [e.title for e in _entries(journal)] == ["Operation ATLAS", "Southwest Border",
                                                   "ICE Focus on Immigration Fugitives"]


def test_author_feed_title_says_who_and_label_feed_holds_only_its_posts(journal: Journal) -> None:
    _example(journal)
    publish(journal.config(), now=NOW)
    atom = feedparser.parse((journal.feeds / "authors/john-torres/atom.xml").read_bytes())
    assert atom.feed.title == "Test Journal: John Torres, ICE Acting Assistant Secretary"
    assert [e.title for e in _entries(journal, "labels/international-cooperation/atom.xml")] == [
        "Operation ATLAS", "Southwest Border"]


def test_relative_links_become_absolute_against_the_post(journal: Journal) -> None:
    _example(journal)
    publish(journal.config(), now=NOW)
    content = _entries(journal)[0].content[0].value
    assert 'href="https://journal.test/reports/atlas.html"' in content
    assert 'src="https://journal.test/2009/11/images/map.png"' in content


def test_feed_updated_is_its_newest_entry_not_the_build_time(journal: Journal) -> None:
    _example(journal)
    publish(journal.config(), now=NOW)
    parsed = feedparser.parse((journal.feeds / "atom.xml").read_bytes())
    assert parsed.feed.updated == "2009-11-06T10:30:00-05:00"


def test_same_store_gives_the_same_bytes(journal: Journal, tmp_path: Path) -> None:
    _example(journal)
    twin = Journal(tmp_path / "twin")
    shutil.copytree(journal.root, twin.root)
    publish(journal.config(), now=NOW)
    publish(twin.config(), now=NOW.replace(hour=23))
    assert journal.files() == twin.files()


def test_second_publish_touches_nothing_and_renders_nothing(journal: Journal) -> None:
    _example(journal)
    publish(journal.config(), now=NOW)
    stats = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in journal.feeds.rglob("*") if p.is_file()}
    report = publish(journal.config(), now=NOW.replace(minute=15))
    assert report.ok and report.rendered == 0 and report.written == 0
    assert {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in journal.feeds.rglob("*") if p.is_file()} == stats


def test_one_changed_post_rewrites_only_the_feeds_that_hold_it(journal: Journal) -> None:
    _example(journal)
    publish(journal.config(), now=NOW)
    before = journal.files()
    journal.post("border", title="Southwest Border, revisited", date="2009-04-07T18:05:00-07:00",
                 author="napolitano", labels=("Border Security", "International Cooperation"),
                 body="Border text & more.")
    report = publish(journal.config(), now=NOW.replace(hour=13))
    after = journal.files()
    changed = sorted(p for p in after if after[p] != before.get(p) and not p.startswith("index."))
    feeds = ("", "authors/napolitano/", "labels/border-security/", "labels/international-cooperation/")
    assert changed == sorted([f"{d}{n}" for d in feeds for n in ("atom.xml", "rss.xml", "feed.json")]
                             + ["journal.html"] + [f"{d}index.html" for d in feeds if d])
    assert report.rendered == 16


def test_retitled_post_keeps_its_id(journal: Journal) -> None:
    _example(journal)
    publish(journal.config(), now=NOW)
    first = {e.title: e.id for e in _entries(journal)}["Southwest Border"]
    journal.post("border", title="A new title", slug="new-slug", date="2009-04-07T18:05:00-07:00",
                 author="napolitano", labels=("Border Security",))
    publish(journal.config(), now=NOW.replace(hour=13))
    entry = {e.title: e for e in _entries(journal)}["A new title"]
    assert entry.id == first
    assert entry.link == "https://journal.test/2009/04/new-slug.html"
    assert entry.updated == "2026-11-30T13:00:00+00:00"


def test_drafts_stay_out_and_scheduled_posts_appear_when_due(journal: Journal) -> None:
    _example(journal)
    publish(journal.config(), now=NOW)
    titles = [e.title for e in _entries(journal)]
    assert "Not yet" not in titles and "Scheduled" not in titles
    assert not (journal.feeds / "labels/secret-label").exists()
    assert not (journal.feeds / "labels/later-label").exists()
    publish(journal.config(), now=datetime(2030, 1, 15, 14, 0, 1, tzinfo=UTC))
    assert _entries(journal)[0].title == "Scheduled"
    assert (journal.feeds / "labels/later-label/atom.xml").exists()


def test_entries_are_newest_first_and_limited(journal: Journal) -> None:
    journal.write_config(CONFIG.replace("entries: 25", "entries: 3"))
    for day in range(1, 8):
        journal.post(f"p{day}", title=f"Post {day}", date=f"2009-11-0{day}T09:00:00Z")
    publish(journal.config(), now=NOW)
    assert [e.title for e in _entries(journal)] == ["Post 7", "Post 6", "Post 5"]


def test_summary_mode_publishes_summaries_only(journal: Journal) -> None:
    journal.write_config(CONFIG.replace("content: full", "content: summary"))
    journal.post("p", title="P", body="First paragraph here.\n\nSecond paragraph.", summary="")
    journal.post("q", title="Q", date="2009-11-07", body="Body.", summary="Written summary")
    publish(journal.config(), now=NOW)
    entries = _entries(journal)
    assert [e.summary for e in entries] == ["Written summary", "First paragraph here."]
    assert all("content" not in e for e in entries)
    rss = feedparser.parse((journal.feeds / "rss.xml").read_bytes()).entries
    assert [e.summary for e in rss] == ["Written summary", "First paragraph here."]


def test_hub_and_self_links_in_every_format(journal: Journal) -> None:
    journal.write_config(CONFIG + "notify:\n  websub: [https://hub.test/, https://hub2.test/]\n")
    journal.post("p", title="P")
    publish(journal.config(), now=NOW)
    for name in ("atom.xml", "rss.xml"):
        links = feedparser.parse((journal.feeds / name).read_bytes()).feed.links
        assert sorted(k.href for k in links if k.rel == "hub") == ["https://hub.test/", "https://hub2.test/"]
        assert [k.href for k in links if k.rel == "self"] == [f"https://journal.test/feeds/{name}"]
    import json
    doc = json.loads((journal.feeds / "feed.json").read_text())
    assert doc["hubs"] == [{"type": "WebSub", "url": "https://hub.test/"}, {"type": "WebSub", "url": "https://hub2.test/"}]
    assert doc["feed_url"] == "https://journal.test/feeds/feed.json"


def test_deleted_post_leaves_every_feed(journal: Journal) -> None:
    _example(journal)
    publish(journal.config(), now=NOW)
    (journal.content / "atlas.md").unlink()
    report = publish(journal.config(), now=NOW.replace(hour=13))
    assert report.ok and report.sync is not None and report.sync.deleted == 1
    assert "Operation ATLAS" not in [e.title for e in _entries(journal)]
    assert _entries(journal, "labels/cash-smuggling/atom.xml") == []


def test_a_document_failing_verification_keeps_its_last_good_version(journal: Journal,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _example(journal)
    publish(journal.config(), now=NOW)
    before = journal.files()
    real = proof_module.verify_assembled

    def fail_one(fmt, data, skeleton, fv, entries, path):  # type: ignore[no-untyped-def]
        if path == "labels/border-security/rss.xml":
            return [Problem(path, entries[0].id, "title", "expected", "got")]
        return real(fmt, data, skeleton, fv, entries, path)

    monkeypatch.setattr(proof_module, "verify_assembled", fail_one)
    journal.post("border", title="Changed", date="2009-04-07T18:05:00-07:00", author="napolitano",
                 labels=("Border Security",))
    report = publish(journal.config(), now=NOW.replace(hour=13))
    assert not report.ok
    assert [r.path for r in report.failed] == ["labels/border-security/rss.xml"]
    after = journal.files()
    assert after["labels/border-security/rss.xml"] == before["labels/border-security/rss.xml"]
    assert after["labels/border-security/atom.xml"] != before["labels/border-security/atom.xml"]
    assert after["rss.xml"] != before["rss.xml"]
    monkeypatch.setattr(proof_module, "verify_assembled", real)
    retry = publish(journal.config(), now=NOW.replace(hour=14))
    assert retry.ok and [r.path for r in retry.results if r.status == "written"] == ["labels/border-security/rss.xml"]


def test_edited_or_missing_files_are_reported_and_restored(journal: Journal) -> None:
    _example(journal)
    publish(journal.config(), now=NOW)
    good = journal.files()
    (journal.feeds / "rss.xml").write_bytes(b"<rss>defaced</rss>")
    (journal.feeds / "labels/border-security/feed.json").unlink()
    check = check_published(journal.config(), now=NOW)
    assert sorted(r.path for r in check.failed) == ["labels/border-security/feed.json", "rss.xml"]
    report = publish(journal.config(), now=NOW)
    assert sorted(r.path for r in report.results if r.status == "written") == [
        "labels/border-security/feed.json", "rss.xml"]
    assert journal.files() == good
    assert check_published(journal.config(), now=NOW).ok


def test_dry_run_writes_nothing(journal: Journal) -> None:
    _example(journal)
    report = publish(journal.config(), now=NOW, dry_run=True)
    assert report.ok and report.rendered > 0 and report.sync is not None and report.sync.added == 5
    assert not journal.feeds.exists()
    assert journal.rows("SELECT count(*) FROM posts")[0][0] == 0
    assert journal.rows("SELECT count(*) FROM publish_log")[0][0] == 0


def test_a_publish_with_nothing_changed_does_not_even_plan_but_every_change_is_seen(
        journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    import newswire.job as job_module
    from newswire.job import open_store

    journal.post("old", title="Old", date="2026-11-01T10:00:00Z")
    journal.post("gone", title="Gone soon", date="2026-11-02T10:00:00Z")
    journal.post("later", title="Later", date="2026-12-05T10:00:00Z")  # scheduled
    assert publish(journal.config(), now=NOW).ok
    planned: list[datetime] = []
    real = job_module.make_plan
    monkeypatch.setattr(job_module, "make_plan", lambda c, s, now, *rest: planned.append(now) or real(c, s, now, *rest))

    def titles() -> list[str]:
        return [e.title for e in feedparser.parse((journal.feeds / "atom.xml").read_bytes()).entries]

    assert publish(journal.config(), now=NOW + timedelta(hours=1)).written == 0 and planned == []
    # A store change (a deletion outside any file) is seen...
    with open_store(journal.config()) as store:
        assert store.posts.mark_deleted(store.posts.find("gone-soon"), NOW + timedelta(hours=2), by="user")
    assert publish(journal.config(), now=NOW + timedelta(hours=2)).written > 0 and len(planned) == 1
    assert titles() == ["Old"]
    # ... a hand-edited document is put back ...
    (journal.feeds / "rss.xml").write_text("edited", encoding="utf-8")
    assert publish(journal.config(), now=NOW + timedelta(hours=3)).written == 1 and len(planned) == 2
    # ... a scheduled post comes due with no change to the store ...
    assert publish(journal.config(), now=NOW + timedelta(days=4)).written == 0 and len(planned) == 2
    assert publish(journal.config(), now=NOW + timedelta(days=6)).written > 0 and len(planned) == 3
    assert titles() == ["Later", "Old"]
    # ... the tombstone of the deleted post expires after feeds.tombstone_days ...
    assert publish(journal.config(), now=NOW + timedelta(days=33)).written > 0 and len(planned) == 4
    assert b"deleted-entry" not in (journal.feeds / "atom.xml").read_bytes()
    # ... and a changed setting re-plans.
    journal.write_config(CONFIG.replace("entries: 25", "entries: 1"))
    assert publish(journal.config(), now=NOW + timedelta(days=34)).written > 0 and len(planned) == 5
    assert titles() == ["Later"]
    assert publish(journal.config(), now=NOW + timedelta(days=35)).written == 0 and len(planned) == 5


def test_a_change_plans_only_the_feeds_it_touches_and_publishes_what_a_full_publish_would(
        journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    """A post's change touches the journal, its author's feed and its labels' feeds (before and after):
    only those are planned. After each such publish a full one finds nothing to write."""
    from datetime import timedelta

    import newswire.job as job_module

    _example(journal)
    journal.post("ports", title="Ports of entry", date="2009-05-01", author="napolitano", labels=("Ports",))
    assert publish(journal.config(), now=NOW).ok
    plans = []
    real = job_module.make_plan
    monkeypatch.setattr(job_module, "make_plan", lambda *args: plans.append(real(*args)) or plans[-1])
    step = iter(range(1, 100))

    def publish_and_compare(touched: set[str] | None) -> None:
        """Publish; check which feeds were planned (None: all); then a full publish must change nothing."""
        at = NOW + timedelta(hours=next(step))
        report = publish(journal.config(), now=at)
        assert report.ok, report.as_json()
        plan = plans[-1]
        assert plan.partial == (touched is not None)
        if touched is not None:
            assert {pf.main.dir or "journal" for pf in plan.feeds} == touched
            assert {r.feed for r in report.results if r.status == "written"} <= touched | {"index"}
        assert len([r for r in report.results]) == report.documents
        full = publish(journal.config(), full=True, now=at)
        assert full.ok and full.written == 0, [r.path for r in full.results if r.status == "written"]
        assert check_published(journal.config(), now=at).ok

    journal.post("new", title="A new post", date="2009-12-24", author="jmorton", labels=("Border Security",))
    publish_and_compare({"journal", "authors/jmorton", "labels/border-security"})
    # Moved to another author and from one label to another: both sides are touched; 'Ports' loses
    # its only post, so it has no feed to plan any more, and its documents are taken down.
    journal.post("ports", title="Ports of entry", date="2009-05-01", author="jmorton", labels=("Cash Smuggling",))
    publish_and_compare({"journal", "authors/napolitano", "authors/jmorton", "labels/cash-smuggling"})
    assert not (journal.feeds / "labels" / "ports").exists()
    # A hand-edited document of a feed no change touched is planned (and put back) too.
    (journal.feeds / "labels" / "international-cooperation" / "rss.xml").write_text("edited", encoding="utf-8")
    (journal.content / "new.md").unlink()
    publish_and_compare({"journal", "authors/jmorton", "labels/border-security", "labels/international-cooperation"})
    # A change to an author (here a new one) touches every feed.
    journal.post("guest", title="A guest post", date="2009-12-25", author="A Guest", labels=("Ports",))
    publish_and_compare(None)
    # A killed publish leaves the running mark: the next one plans everything.
    with job_module.open_store(journal.config()) as store:
        store.state.set("running", True)
    journal.post("after", title="After a crash", date="2009-12-26", author="jmorton", labels=("Ports",))
    publish_and_compare(None)


def test_one_feed_counted_alone_has_the_count_all_feeds_counted_together_give(journal: Journal) -> None:
    """``live_count`` (a partial publish) and ``visible_counts`` (a full one) agree, drafts, deleted
    and scheduled posts included, before and after the scheduled post comes due."""
    from datetime import timedelta

    from newswire.content import sync
    from newswire.job import open_store

    _example(journal)
    journal.post("gone", title="Deleted", date="2009-03-01", author="jmorton", labels=("Cash Smuggling",))
    journal.post("also", title="Also later", date="2030-02-01", author="jmorton", labels=("Border Security",))
    config = journal.config()
    with open_store(config) as store:
        sync(config, store, NOW)
        gone = store.db.execute("SELECT id FROM posts WHERE title = 'Deleted'").fetchone()[0]
        assert store.posts.mark_deleted(gone, NOW, by="user")
        slugs = [r[0] for r in store.db.execute("SELECT slug FROM labels")]
        authors = [r[0] for r in store.db.execute("SELECT key FROM authors")]
        for when in (NOW, NOW + timedelta(days=365 * 5)):
            together = store.feeds.visible_counts(when)
            alone = {("journal", ""): store.feeds.live_count("journal", "", when)}
            alone.update((("author", key), store.feeds.live_count("author", key, when)) for key in authors)
            alone.update((("label", slug), store.feeds.live_count("label", slug, when)) for slug in slugs)
            assert {k: v for k, v in alone.items() if v} == together
        assert together[("label", "later-label")] == 1 and ("label", "secret-label") not in together


# --- one wrong clock does not publish embargoed posts for ever --------------------------------

AT = "{http://purl.org/atompub/tombstones/1.0}"
YEARS = timedelta(days=5 * 365)


def _titles(journal: Journal, path: str = "atom.xml") -> list[str]:
    return [e.title for e in _entries(journal, path)]


def _stone_refs(journal: Journal, path: str = "atom.xml") -> list[str]:
    return [el.get("ref") for el in etree.parse(str(journal.feeds / path)).getroot().iter(f"{AT}deleted-entry")]


def test_after_one_run_with_the_clock_years_ahead_a_later_scheduled_post_waits_for_its_time(journal: Journal) -> None:
    """The example: the CLI (real clock) after one library publish with a clock five years ahead."""
    real = datetime.now(UTC).replace(microsecond=0)
    journal.post("old", title="An old post", date="2009-11-06T10:30:00-05:00")
    assert publish(journal.config(), now=real + YEARS).ok
    journal.post("embargo", title="Embargoed until tomorrow", date=(real + timedelta(days=1)).isoformat(),
                 labels=("Embargo",))
    result = journal.cli("publish")
    assert result.returncode == 0, result
    assert "Embargoed until tomorrow" not in _titles(journal)
    assert not (journal.feeds / "labels/embargo").exists()
    warning = result.stderr.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("newswire: warning: the clock (") \
        and "behind the last publish" in warning[0], result.stderr
    listed = [line for line in journal.cli("post", "list", check=True).stdout.splitlines() if "Embargoed" in line]
    assert len(listed) == 1 and " scheduled " in listed[0], listed
    report = json.loads(journal.cli("publish", "--json").stdout)
    assert report["ok"] and len(report["warnings"]) == 1 and "behind the last publish" in report["warnings"][0]
    quiet = journal.cli("publish", "-q")
    assert quiet.returncode == 0 and quiet.stdout == quiet.stderr == ""
    status = journal.cli("status", check=True).stdout
    assert f"next scheduled post: {(real + timedelta(days=1)):%Y-%m-%d %H:%M:%S}Z" in status, status
    # Its time comes (still behind the wrong publish): it goes out.
    later = publish(journal.config(), now=real + timedelta(days=1, seconds=1))
    assert later.ok and later.warnings
    assert _titles(journal)[0] == "Embargoed until tomorrow"


def test_posts_a_clock_ahead_released_early_go_back_to_scheduled_and_come_back_at_their_time(
        journal: Journal) -> None:
    journal.post("old", title="An old post", date="2009-11-06T10:30:00-05:00")
    journal.post("week", title="Next week", date=(NOW + timedelta(days=7)).isoformat())
    assert publish(journal.config(), now=NOW + YEARS).ok  # the clock is years ahead: out it goes
    week = next(e.id for e in _entries(journal) if e.title == "Next week")
    report = publish(journal.config(), now=NOW)  # the clock is right again
    assert report.ok and report.warnings
    assert _titles(journal) == ["An old post"]
    assert _stone_refs(journal) == [week]  # readers are told to drop it
    stone = etree.parse(str(journal.feeds / "atom.xml")).getroot().find(f"{AT}deleted-entry")
    assert stone is not None and stone.get("when") == (NOW + YEARS).isoformat()  # no date goes back
    assert check_published(journal.config(), now=NOW).ok
    assert publish(journal.config(), now=NOW + timedelta(days=7, seconds=1)).ok
    assert _titles(journal) == ["Next week", "An old post"]
    assert next(e.id for e in _entries(journal) if e.title == "Next week") == week
    assert _stone_refs(journal) == []


def test_a_wrong_clock_leaves_new_dates_held_at_the_last_publish_but_not_the_schedule(journal: Journal) -> None:
    """'Never behind the last publish' still holds for the dates a publish writes."""
    journal.post("old", title="An old post", date="2009-11-06T10:30:00-05:00")
    assert publish(journal.config(), now=NOW + YEARS).ok
    journal.post("old", title="An old post, edited", date="2009-11-06T10:30:00-05:00")
    journal.post("soon", title="Soon", date=(NOW + timedelta(hours=1)).isoformat())
    assert publish(journal.config(), now=NOW).ok
    entries = _entries(journal)
    assert [e.title for e in entries] == ["An old post, edited"]
    assert datetime(*entries[0].updated_parsed[:6], tzinfo=UTC) == NOW + YEARS


@given(ahead=st.integers(1, 10 * 365 * 86400), back=st.integers(0, 10 * 365 * 86400),
       dates=st.lists(st.integers(-30 * 86400, 10 * 365 * 86400), min_size=1, max_size=5))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_whatever_the_wrong_clock_the_feeds_hold_exactly_the_posts_due_by_the_real_one(
        tmp_path_factory: pytest.TempPathFactory, ahead: int, back: int, dates: list[int]) -> None:
    """One publish with the clock ``ahead`` seconds fast, then one at a real time up to ``back``
    seconds after the first real time: the feeds hold the posts due by then, tombstones for those
    the wrong clock released early, and the next scheduled post is the first one not yet due."""
    journal = Journal(tmp_path_factory.mktemp("clock") / "journal")
    journal.root.mkdir()
    journal.write_config(CONFIG)
    for i, offset in enumerate(dates):
        journal.post(f"p{i}", title=f"Post {i}", date=(NOW + timedelta(seconds=offset + i)).isoformat())
    wrong, real = NOW + timedelta(seconds=ahead), NOW + timedelta(seconds=min(back, ahead - 1))
    assert publish(journal.config(), now=wrong).ok
    ids = {e.title: e.id for e in _entries(journal)}
    report = publish(journal.config(), now=real)
    assert report.ok and bool(report.warnings) == (real < wrong)
    when = {f"Post {i}": NOW + timedelta(seconds=offset + i) for i, offset in enumerate(dates)}
    due = sorted((t for t in when if when[t] <= real), key=when.__getitem__, reverse=True)
    assert _titles(journal) == due
    assert sorted(_stone_refs(journal)) == sorted(ids[t] for t in when if real < when[t] <= wrong)
    assert check_published(journal.config(), now=real).ok
    from newswire.job import open_store

    with open_store(journal.config()) as store:
        assert store.feeds.next_scheduled(real) == min((w for w in when.values() if w > real), default=None)


def test_an_expired_tombstone_stays_expired_when_the_clock_goes_back(journal: Journal) -> None:
    """Tombstones age by the time a publish dates by, which never goes back: one that expired
    does not come back (nor does verify expect it to) because the clock went back."""
    journal.write_config(CONFIG.replace("entries: 25", "entries: 25\n  tombstone_days: 1"))
    journal.post("kept", title="Kept", date="2009-11-06T10:30:00-05:00")
    journal.post("gone", title="Gone", date="2009-11-07T10:30:00-05:00")
    assert publish(journal.config(), now=NOW).ok
    (journal.content / "gone.md").unlink()
    assert publish(journal.config(), now=NOW).ok and len(_stone_refs(journal)) == 1
    assert publish(journal.config(), now=NOW + timedelta(days=2)).ok and _stone_refs(journal) == []
    report = publish(journal.config(), now=NOW + timedelta(hours=1))
    assert report.ok and report.warnings and report.written == 0
    assert _stone_refs(journal) == []
    assert check_published(journal.config(), now=NOW + timedelta(hours=1)).ok

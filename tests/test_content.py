"""Markdown → store: front matter rules, errors with file:line, and what sync never loses."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newswire import content as content_module
from newswire.content import SourceError, diff_listings, read_post, split_front_matter, sync
from newswire.job import open_store, publish

from harness import CONFIG, ROOT, Journal, Row

pytestmark = pytest.mark.both_backends

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _sync(journal: Journal, now: datetime = NOW, **kw: bool):  # type: ignore[no-untyped-def]
    config = journal.config()
    with open_store(config) as store:
        return sync(config, store, now, **kw)


def _rows(journal: Journal) -> list[Row]:
    return journal.rows("SELECT * FROM posts ORDER BY id")


def test_front_matter_becomes_a_post(journal: Journal) -> None:
    path = journal.post("atlas", title="Operation ATLAS", date="2009-11-06", labels=("Cash Smuggling", "", "  "),
                        body="Text with [a link](/x.html).\n\n<div class='raw'>kept</div>")
    post = read_post(path, "atlas.md", journal.config(), {"jmorton"})
    assert post.title == "Operation ATLAS"
    assert post.published.isoformat() == "2009-11-06T00:00:00-05:00"  # the journal's zone
    assert post.labels == ("Cash Smuggling",)  # empty labels are ignored
    assert "<div class='raw'>kept</div>" in post.body
    assert post.author_key == "jmorton" and post.author_name is None
    assert post.proposed_id == "tag:journal.test,2009:post/2009-11-06/operation-atlas"


@pytest.mark.parametrize("markdown, html", [
    # CommonMark spec examples, as the spec writes their HTML (0.31.2, examples 237 and 176)
    (">\n", "<blockquote>\n</blockquote>\n"),
    ("<table><tr><td>\n<pre>\n**Hello**,\n\n_world_.\n</pre>\n</td></tr></table>\n",
     "<table><tr><td>\n<pre>\n**Hello**,\n<p><em>world</em>.\n</pre></p>\n</td></tr></table>\n"),
    # GFM spec: strikethrough is <del>, from two tildes here (one stays a tilde), and tables
    ("~~Hi~~ Hello, ~there~ world!\n", "<p><del>Hi</del> Hello, ~there~ world!</p>\n"),
    ("| a | b |\n| --- | :-: |\n| 1 | 2 |\n",
     '<table>\n<thead>\n<tr>\n<th>a</th>\n<th align="center">b</th>\n</tr>\n</thead>\n'
     '<tbody>\n<tr>\n<td>1</td>\n<td align="center">2</td>\n</tr>\n</tbody>\n</table>\n'),
])
def test_markdown_is_rendered_as_the_specs_write_it(journal: Journal, markdown: str, html: str) -> None:
    path = journal.post("spec", body=markdown)
    assert read_post(path, "spec.md", journal.config(), {"jmorton"}).body == html


def test_unknown_author_name_is_added(journal: Journal) -> None:
    journal.post("guest", author="Rand Beers", affiliation="Under Secretary")
    report = _sync(journal)
    assert report.added == 1
    config = journal.config()
    with open_store(config) as store:
        author, slug = store.authors.all()["rand-beers"]
    assert author.name == "Rand Beers" and author.affiliation == "Under Secretary" and slug == "rand-beers"


@pytest.mark.parametrize("text, line, message", [
    ("no front matter\n", 1, "must start with a '---' line"),
    ("---\ntitle: x\n", 2, "never closed"),
    ("---\ntitle: A\ndate: 2009-13-45\nauthor: jmorton\n---\nbody\n", 3, "'date'"),
    ("---\ntitle: A\nauthor: jmorton\n---\nbody\n", 2, "needs 'date'"),
    ("---\ntitle: A\ndate: 2009-01-01\nauthor: jmorton\nlabels: [a, {b: c}]\n---\n", 5, "each label must be text"),
    ("---\ntitle: A\ndate: 2009-01-01\nauthor: jmorton\ncolour: red\n---\n", 5, "unknown front matter key 'colour'"),
    ("---\ntitle: [A\ndate: 2009-01-01\n---\n", 3, "not valid YAML"),
    ("---\ntitle: A\ndate: 2009-01-01\nauthor: jmorton\ndraft: maybe\n---\n", 5, "'draft' must be true or false"),
])
def test_bad_files_are_reported_with_their_line(journal: Journal, text: str, line: int, message: str) -> None:
    path = journal.raw_post("bad", text)
    with pytest.raises(SourceError) as info:
        read_post(path, "bad.md", journal.config(), {"jmorton"})
    assert str(info.value).startswith(f"bad.md:{line}: "), str(info.value)
    assert message in str(info.value)


def test_a_bad_edit_leaves_the_stored_post_exactly_as_it_was(journal: Journal) -> None:
    path = journal.post("p", title="Good title", body="Good body")
    _sync(journal)
    before = [dict(r) for r in _rows(journal)]
    path.write_text("---\ntitle: Broken\ndate: not a date\nauthor: jmorton\n---\nNew body\n", encoding="utf-8")
    report = _sync(journal)
    assert [str(e) for e in report.errors] == [
        "p.md:3: 'date': 'not a date' is not an ISO 8601 date (write e.g. 2009-11-06 or 2009-11-06T09:30:00-05:00)"]
    assert report.deleted == 0
    assert [dict(r) for r in _rows(journal)] == before


def test_sync_twice_changes_nothing(journal: Journal) -> None:
    journal.post("a", title="A")
    journal.post("b", title="B", date="2009-11-07")
    assert _sync(journal).added == 2
    before = [dict(r) for r in _rows(journal)]
    again = _sync(journal, NOW.replace(hour=13))
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    assert [dict(r) for r in _rows(journal)] == before


def test_retitled_post_keeps_its_id_and_updated_moves_only_on_real_change(journal: Journal) -> None:
    path = journal.post("p", title="First title")
    _sync(journal)
    (first,) = _rows(journal)
    journal.post("p", title="Second title")
    _sync(journal, NOW.replace(day=30, hour=14))
    (second,) = _rows(journal)
    assert second["entry_id"] == first["entry_id"]
    assert second["updated"] == "2026-11-30T14:00:00Z" and first["updated"] == first["published"]
    path.touch()
    _sync(journal, NOW.replace(hour=15))
    (third,) = _rows(journal)
    assert third["updated"] == second["updated"]


def test_updated_never_goes_backwards_when_the_clock_does(journal: Journal) -> None:
    journal.post("p", title="One")
    _sync(journal, NOW)
    journal.post("p", title="Two")
    _sync(journal, NOW.replace(hour=18))
    journal.post("p", title="Three")
    _sync(journal, NOW.replace(hour=1))  # the clock went back
    (row,) = _rows(journal)
    assert row["updated"] == "2026-11-30T18:00:01Z"


def test_removed_file_deletes_its_post_and_a_returning_file_restores_it(journal: Journal) -> None:
    path = journal.post("p", title="Kept")
    _sync(journal)
    text = path.read_text()
    path.unlink()
    assert _sync(journal, allow_mass_delete=True).deleted == 1  # the journal's only post: on purpose
    (row,) = _rows(journal)
    assert row["deleted_at"] is not None and row["deleted_by"] == "sync"
    path.write_text(text)
    assert _sync(journal).restored == 1
    (row,) = _rows(journal)
    assert row["deleted_at"] is None


def test_duplicate_explicit_ids_are_refused(journal: Journal) -> None:
    journal.post("a", title="A", id="same-key")
    journal.post("b", title="B", id="same-key")
    report = _sync(journal)
    assert report.added == 1
    assert [str(e) for e in report.errors] == [
        "b.md:7: id 'tag:journal.test,2009:post/same-key' is already used by a.md"]


def test_an_id_taken_by_an_unchanged_file_is_refused_on_a_later_sync(journal: Journal) -> None:
    journal.post("a", title="A", id="same-key")
    _sync(journal)
    journal.post("b", title="B", id="same-key")
    report = _sync(journal)
    assert [str(e) for e in report.errors] == [
        "b.md:7: id 'tag:journal.test,2009:post/same-key' is already used by a.md"]
    assert [(r["source"], r["title"]) for r in _rows(journal)] == [("md:a.md", "A")]
    assert _sync(journal).errors and [(r["source"], r["title"]) for r in _rows(journal)] == [("md:a.md", "A")]


def test_absolute_iri_id_is_kept_and_labels_match_without_case(journal: Journal) -> None:
    journal.post("a", title="A", id="urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427", labels=("Border",))
    journal.post("b", title="B", labels=("BORDER", "border"))
    _sync(journal)
    rows = _rows(journal)
    assert rows[0]["entry_id"] == "urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    assert [tuple(r) for r in journal.rows("SELECT name, slug FROM labels")] == [("Border", "border")]
    assert journal.rows("SELECT count(*) FROM post_labels")[0][0] == 2


def _many(journal: Journal, count: int) -> None:
    for i in range(count):
        extra = {"id": "shared"} if i in (10, 240) else {}
        journal.post(f"p{i:03d}", title=f"Post {i}", date=f"2009-{i % 12 + 1:02d}-{i % 28 + 1:02d}T10:00:00Z",
                     labels=(f"Topic {i % 7}",), body=f"Body *{i}* with [a link](/x/{i}).", **extra)
    journal.raw_post("p100", "---\ntitle: [broken\n---\nbody\n")


def test_a_large_sync_reads_on_every_core_and_stores_what_a_small_one_would(
        journal: Journal, make_journal: Callable[[str], Journal], monkeypatch: pytest.MonkeyPatch) -> None:
    import newswire.content as content_module

    _many(journal, 260)
    parallel = _sync(journal)
    serial_journal = make_journal("serial")
    _many(serial_journal, 260)
    monkeypatch.setattr(content_module, "PARALLEL_FILES", 10**9)
    serial = _sync(serial_journal)
    # The same outcome, errors in file order: the first file keeps the shared id.
    errors = [str(e) for e in parallel.errors]
    assert errors == [str(e) for e in serial.errors]
    assert len(errors) == 2 and errors[0].startswith("p100.md:3: front matter is not valid YAML")
    assert errors[1] == "p240.md:7: id 'tag:journal.test,2009:post/shared' is already used by p010.md"
    assert parallel.added == serial.added == 258
    columns = ("entry_id", "source", "title", "body", "published", "updated", "content_hash")
    assert [tuple(r[c] for c in columns) for r in _rows(journal)] == \
        [tuple(r[c] for c in columns) for r in _rows(serial_journal)]


def test_an_indented_dash_line_inside_a_value_does_not_end_the_front_matter(journal: Journal) -> None:
    journal.post("dashes", title="Before\n---\nAfter", body="The body.")
    assert "  ---" in (journal.content / "dashes.md").read_text(encoding="utf-8")  # how YAML writes it
    report = _sync(journal)
    assert report.added == 1 and not report.errors, report.errors
    assert _rows(journal)[0]["title"] == "Before --- After"


def test_an_unchanged_directory_is_recognised_without_reading_any_file(journal: Journal) -> None:
    """A second sync of the same files only scans; a broken file is still read, and reported, every time."""
    journal.post("a", title="A")
    journal.post("b", title="B", date="2009-11-07")
    assert _sync(journal).added == 2
    quiet = _sync(journal)
    assert (quiet.added, quiet.updated, quiet.unchanged, quiet.errors) == (0, 0, 2, [])

    bad = journal.raw_post("bad", "---\ntitle: Broken\ndate: not a date\nauthor: jmorton\n---\n")
    for _ in range(2):  # not remembered as done: the file is read again and the error shown again
        report = _sync(journal)
        assert [str(e).split(":")[0] for e in report.errors] == ["bad.md"]
    bad.unlink()

    # An edit in place that keeps the size still moves the stamp, so the file is read.
    path = journal.root / "content" / "a.md"
    text = path.read_text(encoding="utf-8")
    before = path.stat().st_mtime_ns
    path.write_text(text.replace("title: A", "title: Z"), encoding="utf-8")
    os.utime(path, ns=(before + 1_000_000, before + 1_000_000))
    assert _sync(journal).updated == 1
    assert [r["title"] for r in _rows(journal)] == ["Z", "B"]


def test_a_post_deleted_by_the_user_is_not_revived_by_the_next_sync(journal: Journal) -> None:
    journal.post("a", title="A")
    _sync(journal)
    config = journal.config()
    with open_store(config) as store:
        assert store.posts.mark_deleted(_rows(journal)[0]["id"], NOW, by="user")
    report = _sync(journal)
    assert (report.added, report.updated, report.restored) == (0, 0, 0)
    assert _rows(journal)[0]["deleted_by"] == "user"


def test_a_file_edited_while_its_post_was_deleted_is_taken_when_the_post_is_restored(journal: Journal) -> None:
    """While the user keeps a post deleted its file is not taken; so it must be read again on restore."""
    journal.post("a", title="A")
    journal.post("b", title="B", date="2009-11-07")
    _sync(journal)
    config = journal.config()
    post_id = _by_source(journal)["a.md"]["id"]
    with open_store(config) as store:
        assert store.posts.mark_deleted(post_id, NOW, by="user")
    journal.post("a", title="A, edited while deleted")
    assert _sync(journal).kept_deleted == 1
    assert _by_source(journal)["a.md"]["title"] == "A"
    with open_store(config) as store:
        assert store.posts.restore(post_id)
    assert _sync(journal).updated == 1
    assert _by_source(journal)["a.md"]["title"] == "A, edited while deleted"


# Names and stamps from small alphabets, so the common head and tail of two listings end in every
# kind of place: inside a name, inside a stamp, on a separator, and in names or stamps that share ends.
_names = st.lists(st.text("ab\n/é", min_size=0, max_size=3).map(lambda n: n + ".md"), unique=True, max_size=12)
_stamps = st.sampled_from(["", "1:1:1", "11:1:1", "1:1:11", "2:1:1"])


def _listing(pairs: list[tuple[str, str]]) -> bytes:
    return "".join(f"{rel}\0{stamp}\0" for rel, stamp in pairs).encode()


@given(old=_names.flatmap(lambda names: st.lists(_stamps, min_size=len(names), max_size=len(names)).map(
           lambda stamps: list(zip(names, stamps)))),
       edits=st.lists(st.tuples(st.sampled_from(["drop", "stamp", "add", "move"]), st.integers(0, 20), _stamps,
                                st.text("abé", max_size=2)), max_size=4))
def test_comparing_listings_by_their_differing_run_finds_what_comparing_every_file_does(
        old: list[tuple[str, str]], edits: list[tuple[str, int, str, str]]) -> None:
    new = list(old)
    for what, at, stamp, name in edits:
        at = at % (len(new) + 1)
        if what == "add" and name + "x.md" not in dict(new):
            new.insert(at, (name + "x.md", stamp))
        elif new and at < len(new):
            if what == "drop":
                del new[at]
            elif what == "stamp":
                new[at] = (new[at][0], stamp)
            elif what == "move":
                new.insert(len(new) - 1 - at % len(new), new.pop(at))
    was, now = dict(old), dict(new)
    expected = ({rel: stamp for rel, stamp in now.items() if was.get(rel) != stamp}, was.keys() - now.keys())
    assert diff_listings(_listing(new), _listing(old)) == expected


def test_a_sync_against_the_last_listing_stores_what_a_sync_against_every_stamp_does(
        journal: Journal, make_journal: Callable[[str], Journal]) -> None:
    """The same edits synced twice over: into a store that keeps the last sync's listing, and into
    one made to forget it before every sync (so it compares each post's stored stamp)."""
    config = journal.config()
    other = make_journal("twin")
    twin = dataclasses.replace(config, paths=dataclasses.replace(config.paths, store=other.config().paths.store,
                                                                 store_url=other.store_url))
    content = journal.root / "content"

    def both(when: datetime = NOW) -> None:
        with open_store(config) as store:
            got = sync(config, store, when)
        with open_store(twin) as store:
            store.db.execute("DELETE FROM content_scan")
            want = sync(twin, store, when)
        assert ((got.added, got.updated, got.restored, got.deleted, [str(e) for e in got.errors])
                == (want.added, want.updated, want.restored, want.deleted, [str(e) for e in want.errors]))
        assert _rows(journal) == _rows(other)

    for name in "abcdef":
        journal.post(name, title=name.upper(), date=f"2009-11-0{'abcdef'.index(name) + 1}")
    both()
    journal.post("g", title="G", date="2009-11-08")  # a new file
    both()
    path = content / "b.md"  # an edit in place that keeps the size
    before = path.stat().st_mtime_ns
    path.write_text(path.read_text(encoding="utf-8").replace("title: B", "title: Y"), encoding="utf-8")
    os.utime(path, ns=(before + 1_000_000, before + 1_000_000))
    both()
    (content / "c.md").unlink()  # a file removed
    both()
    broken = journal.raw_post("h", "---\ntitle: Broken\ndate: not a date\nauthor: jmorton\n---\n")
    both()
    both()  # still broken: read and reported again
    (content / "d.md").unlink()
    both()
    broken.unlink()
    journal.post("h", title="H", date="2009-11-09")  # the broken file, mended
    both()
    journal.post("i", title="I", date="2009-11-10", id="shared")
    journal.post("j", title="J", date="2009-11-11", id="shared")  # an id already taken
    both()
    (content / "i.md").unlink()  # the owner goes; the other file takes the id
    journal.post("k", title="K", date="2009-11-12")
    both()
    (content / "e.md").rename(content / "e2.md")  # a rename: one file gone, one new
    both()
    journal.post("c", title="C again", date="2009-11-03")  # a removed file comes back
    both()


# --- an emptied content folder is not a deletion of the journal ------------------------------------------


def _example(journal: Journal) -> Journal:
    """The repository's example journal (16 posts), published."""
    shutil.rmtree(journal.content)
    shutil.copytree(ROOT / "content", journal.content)
    journal.write_config((ROOT / "config.yaml").read_text(encoding="utf-8"))
    journal.cli("publish", "--no-ping", check=True)
    return journal


def _snapshot(journal: Journal) -> tuple[object, ...]:
    """Everything a sync could change or a publish announce: the feeds, the posts, the labels, the outbox."""
    tables = tuple([tuple(r) for r in journal.rows(f"SELECT * FROM {t} ORDER BY 1")] for t in ("posts", "labels", "outbox"))
    return journal.files(), tables


def test_an_emptied_content_folder_deletes_nothing_until_the_operator_says_so(journal: Journal) -> None:
    _example(journal)
    before = _snapshot(journal)
    journal.content.rename(journal.root / "c.bak")  # an unmounted disk, a failed checkout
    journal.content.mkdir()

    for command in (("publish", "--no-ping"), ("sync",), ("publish", "--no-ping")):  # refused every time
        result = journal.cli(*command)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert lines[0].startswith(f"newswire: {journal.content}: ") and "would delete all 16 posts" in lines[0]
        assert "--allow-mass-delete" in lines[0] and "nothing was changed" in lines[0], lines[0]
        assert _snapshot(journal) == before, f"{command} changed the journal"

    result = journal.cli("publish", "--no-ping", "--allow-mass-delete")  # on purpose
    assert result.returncode == 0, result.stderr
    assert journal.rows("SELECT count(*) FROM posts WHERE deleted_at IS NULL")[0][0] == 0
    assert json.loads((journal.feeds / "feed.json").read_text(encoding="utf-8"))["items"] == []


def test_a_missing_content_folder_is_an_error_not_an_empty_journal(journal: Journal) -> None:
    _example(journal)
    before = _snapshot(journal)
    shutil.rmtree(journal.content)
    for command in (("publish", "--no-ping"), ("sync",), ("publish", "--no-ping", "--allow-mass-delete")):
        result = journal.cli(*command)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and "does not exist" in lines[0] and str(journal.content) in lines[0], result.stderr
        assert _snapshot(journal) == before
    journal.content.write_text("not a folder", encoding="utf-8")
    result = journal.cli("sync")
    assert result.returncode == 1 and "is not a folder" in result.stderr, result.stderr


def _posts_and_gone(journal: Journal, posts: int, delete: int, add: int, settings: str) -> None:
    journal.write_config(CONFIG + (f"sync: {{{settings}}}\n" if settings else ""))
    for i in range(posts):
        journal.post(f"p{i:02d}", title=f"Post {i}", date=f"2009-01-{i % 28 + 1:02d}T{i % 24:02d}:00:00Z")
    assert _sync(journal).added == posts
    for i in range(delete):
        (journal.content / f"p{i:02d}.md").unlink()
    for i in range(add):
        journal.post(f"new{i}", title=f"New {i}", date="2010-01-01")


# (posts, deleted, added, sync settings, refused): a share AND a count, so ordinary edits of a small
# journal pass; and never every post, whatever the settings.
MASS = [
    (2, 1, 0, "", False),                                          # 1 of 2: an ordinary deletion
    (1, 1, 0, "", True),                                           # the only post: every post
    (1, 1, 1, "", False),                                          # ... but replaced by a new one
    (14, 5, 0, "", False),                                         # max_delete_count (5)
    (14, 6, 0, "", True),
    (40, 10, 0, "", False),                                        # max_delete_share (25 %)
    (40, 11, 0, "", True),
    (14, 7, 0, "max_delete_share: 0.5", False),
    (14, 8, 0, "max_delete_share: 0.5", True),
    (3, 1, 0, "max_delete_count: 0, max_delete_share: 0", True),   # a journal that deletes by hand only
    (14, 14, 0, "max_delete_share: 1", True),                      # every post is refused, whatever the share
    (14, 13, 0, "max_delete_share: 1", False),
]


@pytest.mark.parametrize("posts, delete, add, settings, refused", MASS)
def test_a_sync_deleting_too_many_posts_is_refused_whole(journal: Journal, posts: int, delete: int, add: int,
                                                          settings: str, refused: bool) -> None:
    _posts_and_gone(journal, posts, delete, add, settings)
    before = [tuple(r) for r in _rows(journal)]

    report = _sync(journal)

    assert report.refused == refused, report.summary()
    if refused:
        assert [str(e).split(": ")[0] for e in report.errors] == [str(journal.content)]
        assert f"would delete {'all' if delete == posts else f'{delete} of {posts}'}" in str(report.errors[0])
        assert [tuple(r) for r in _rows(journal)] == before, "a refused sync changed the store"
        assert _sync(journal).refused, "a refused sync must be refused again, not remembered as done"
        report = _sync(journal, allow_mass_delete=True)
    assert (report.deleted, report.added, report.errors) == (delete, add, [])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(posts=st.integers(1, 12), data=st.data(), share=st.sampled_from([0, 0.1, 0.25, 0.5, 1]),
       count=st.integers(0, 6))
def test_the_deletion_guard_refuses_exactly_what_its_rule_says(tmp_path_factory: pytest.TempPathFactory, posts: int,
                                                               data: st.DataObject, share: float, count: int) -> None:
    delete = data.draw(st.integers(0, posts), label="delete")
    journal = Journal(tmp_path_factory.mktemp("guard") / "journal")
    journal.root.mkdir()
    journal.content.mkdir()
    _posts_and_gone(journal, posts, delete, 0, f"max_delete_share: {share}, max_delete_count: {count}")
    before = [tuple(r) for r in _rows(journal)]
    report = _sync(journal)
    expected = delete > 0 and (delete == posts or delete > max(count, int(share * posts)))
    assert report.refused == expected, (report.summary(), [str(e) for e in report.errors])
    assert (report.deleted == 0) if expected else (report.deleted == delete)
    if expected:
        assert [tuple(r) for r in _rows(journal)] == before


def test_a_refused_sync_leaves_nothing_for_a_dry_run_to_show(journal: Journal) -> None:
    """The dry run's own transaction holds the sync: the refused part must be undone inside it."""
    _posts_and_gone(journal, 3, 0, 0, "")
    assert publish(journal.config(), ping=False).ok
    for path in journal.content.glob("*.md"):
        path.unlink()
    report = publish(journal.config(), dry_run=True, ping=False)
    assert report.sync is not None and report.sync.refused and not report.ok
    assert report.written == 0, [(r.path, r.status) for r in report.results if r.status != "unchanged"]


def test_the_daemon_reports_a_refused_sync_at_every_run_and_deletes_nothing(journal: Journal) -> None:
    for name in ("a", "b"):
        journal.post(name, title=name.upper())
    journal.cli("publish", "--no-ping", check=True)
    before = _snapshot(journal)
    for path in journal.content.glob("*.md"):
        path.unlink()
    for _ in range(2):
        result = journal.cli("run", "--once", timeout=60)
        assert "Traceback" not in result.stderr, result.stderr
        publish_lines = [line for line in result.stderr.splitlines() if " publish: " in line]
        assert len(publish_lines) == 1 and "would delete all 2 posts" in publish_lines[0], result.stderr
        assert _snapshot(journal) == before


# --- moving a file keeps its post --------------------------------------------------------------------


def test_moving_posts_into_a_folder_keeps_them_and_publishes_nothing(journal: Journal) -> None:
    _example(journal)
    before = _snapshot(journal)
    rows = {r["entry_id"]: r for r in _rows(journal)}
    (journal.content / "2009").mkdir()
    for path in journal.content.glob("2009-*.md"):
        path.rename(journal.content / "2009" / path.name)

    result = journal.cli("publish", "--no-ping")

    assert result.returncode == 0 and result.stderr == "", result.stderr
    after = {r["entry_id"]: r for r in _rows(journal)}
    assert after.keys() == rows.keys(), "a moved file made a new post"
    for entry_id, row in after.items():
        same = ("id", "published", "updated", "deleted_at", "content_hash")
        assert [row[c] for c in same] == [rows[entry_id][c] for c in same], entry_id
    assert sum(r["source"].startswith("md:2009/") for r in after.values()) == 9
    files, (_, labels, outbox) = _snapshot(journal)
    assert files == before[0], "moving files changed the feeds"
    assert (labels, outbox) == before[1][1:], "moving files queued pings or changed labels"


def _write(journal: Journal, rel: str, title: str = "A post", date: str = "2009-11-06T10:00:00-05:00",
           body: str = "Some text.", **extra: object) -> None:
    path = journal.content / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"title": title, "date": date, "author": "jmorton", "labels": ["Border Security"], **extra}
    front = "".join(f"{k}: {json.dumps(v, ensure_ascii=False)}\n" for k, v in meta.items())
    path.write_text(f"---\n{front}---\n{body}\n", encoding="utf-8")


def _move(journal: Journal, old: str, new: str) -> None:
    (journal.content / new).parent.mkdir(parents=True, exist_ok=True)
    (journal.content / old).rename(journal.content / new)


def _by_source(journal: Journal) -> dict[str, Row]:
    """The stored posts by the file they come from."""
    return {r["source"].removeprefix("md:"): r for r in _rows(journal)}


# (case, files before as (path, title, date, body, extra), what happens to them, then: for each stored
# post by its first path, the path it must have after the sync or None for "deleted", and the files
# that must be new posts).
A = ("a.md", "Alpha", "2009-11-06T10:00:00-05:00", "Alpha body.", {})
B = ("b.md", "Beta", "2009-11-07T10:00:00-05:00", "Beta body.", {})
TWIN = ("twin.md", "Alpha", "2009-11-06T10:00:00-05:00", "Alpha body.", {})  # the same as A, another file
MOVES: list[tuple[str, list[tuple[str, str, str, str, dict[str, str]]], list[tuple[str, ...]],
                  dict[str, str | None], list[str]]] = [
    ("rename", [A, B], [("move", "a.md", "alpha.md")], {"a.md": "alpha.md", "b.md": "b.md"}, []),
    ("into-a-folder", [A, B], [("move", "a.md", "2009/a.md")], {"a.md": "2009/a.md"}, []),
    ("out-of-a-folder", [("x/a.md", *A[1:]), B], [("move", "x/a.md", "a.md")], {"x/a.md": "a.md"}, []),
    ("folder-to-folder-renamed", [("x/a.md", *A[1:]), B], [("move", "x/a.md", "y/z/other.md")],
     {"x/a.md": "y/z/other.md"}, []),
    ("moved-and-body-edited", [A, B], [("move", "a.md", "x/a.md"), ("write", "x/a.md", "Alpha", A[2], "New body.")],
     {"a.md": "x/a.md"}, []),
    ("renamed-and-body-edited", [A, B], [("move", "a.md", "z.md"), ("write", "z.md", "Alpha", A[2], "New body.")],
     {"a.md": "z.md"}, []),
    ("moved-and-retitled", [A, B], [("move", "a.md", "x/a.md"), ("write", "x/a.md", "Other", A[2], A[3])],
     {"a.md": None}, ["x/a.md"]),                 # neither content nor slug says it is the same post
    ("moved-and-redated", [A, B], [("move", "a.md", "x/a.md"), ("write", "x/a.md", "Alpha", "2009-11-08", A[3])],
     {"a.md": None}, ["x/a.md"]),
    ("moved-edited-with-explicit-id", [("a.md", *A[1:4], {"id": "alpha"}), B],
     [("move", "a.md", "x/y.md"), ("write", "x/y.md", "Other title", "2009-11-09", "Other body.", "alpha")],
     {"a.md": "x/y.md"}, []),
    ("copied", [A, B], [("copy", "a.md", "x/a.md")], {"a.md": "a.md"}, ["x/a.md"]),
    ("two-identical-files-moved", [A, TWIN, B], [("move", "a.md", "x/a.md"), ("move", "twin.md", "x/twin.md")],
     {"a.md": "x/a.md", "twin.md": "x/twin.md"}, []),
    ("two-identical-files-swapped-folders", [("x/a.md", *A[1:]), ("y/a.md", *A[1:]), B],
     [("move", "x/a.md", "tmp.md"), ("move", "y/a.md", "x/a.md"), ("move", "tmp.md", "y/a.md")],
     {"x/a.md": "x/a.md", "y/a.md": "y/a.md"}, []),
    ("one-of-two-identical-deleted", [A, TWIN, B], [("delete", "twin.md")], {"a.md": "a.md", "twin.md": None}, []),
    ("deleted-then-moved-back-later", [A, B], [("delete", "a.md"), ("sync",), ("write", "x/a.md", *A[1:4])],
     {"a.md": "x/a.md"}, []),             # the post that was deleted comes back, with its id
    ("renamed-onto-a-deleted-posts-name", [A, B, ("c.md", "Gamma", "2009-11-05", "Gamma body.", {})],
     [("delete", "c.md"), ("sync",), ("move", "a.md", "c.md")], {"a.md": "c.md", "c.md": None}, []),
    ("names-swapped", [A, B], [("move", "a.md", "t.md"), ("move", "b.md", "a.md"), ("move", "t.md", "b.md")],
     {"a.md": "b.md", "b.md": "a.md"}, []),
    ("renumbered", [("1.md", *A[1:]), ("2.md", *B[1:]), ("3.md", "Gamma", "2009-11-05", "Gamma body.", {})],
     [("move", "3.md", "4.md"), ("move", "2.md", "3.md"), ("move", "1.md", "2.md")],
     {"1.md": "2.md", "2.md": "3.md", "3.md": "4.md"}, []),
    ("moved-away-and-a-new-post-in-its-place", [A, B],
     [("move", "a.md", "x.md"), ("write", "a.md", "Delta", "2009-11-09", "Delta body.")], {"a.md": "x.md"}, ["a.md"]),
    ("copied-then-the-original-edited", [A, B],
     [("copy", "a.md", "b2.md"), ("write", "a.md", "Alpha", A[2], "Edited body.")], {"a.md": "a.md"}, ["b2.md"]),
    ("explicit-id-taken-by-another-file", [("a.md", *A[1:4], {"id": "alpha"}), B],
     [("delete", "a.md"), ("write", "b.md", "Beta", B[2], B[3], "alpha")], {"a.md": "b.md", "b.md": None}, []),
]


def _apply(journal: Journal, step: tuple[str, ...]) -> None:
    what, *args = step
    if what == "move":
        _move(journal, args[0], args[1])
    elif what == "copy":
        (journal.content / args[1]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(journal.content / args[0], journal.content / args[1])
    elif what == "delete":
        (journal.content / args[0]).unlink()
    elif what == "write":
        _write(journal, args[0], args[1], args[2], args[3], **({"id": args[4]} if len(args) > 4 else {}))
    else:
        assert _sync(journal, NOW.replace(hour=13)).errors == []


@pytest.mark.parametrize("forget", [False, True], ids=["last-listing", "every-stamp"])
@pytest.mark.parametrize("case, files, steps, after, new", MOVES, ids=[m[0] for m in MOVES])
def test_a_moved_or_renamed_file_keeps_its_post(journal: Journal, case: str, files: list[tuple[str, str, str, str,
                                                dict[str, str]]], steps: list[tuple[str, ...]],
                                                after: dict[str, str | None], new: list[str], forget: bool) -> None:
    for rel, title, date, body, extra in files:
        _write(journal, rel, title, date, body, **extra)
    assert _sync(journal).added == len(files)
    before = _by_source(journal)
    for step in steps:
        _apply(journal, step)
    config = journal.config()
    with open_store(config) as store:
        if forget:  # as after any other change to the store: each post's own stamp is compared
            store.db.execute("DELETE FROM content_scan")
        report = sync(config, store, NOW.replace(hour=14))

    assert report.errors == [], report.errors
    rows = _rows(journal)
    by_id = {r["id"]: r for r in rows}
    for rel, where in after.items():
        row = by_id[before[rel]["id"]]
        assert row["entry_id"] == before[rel]["entry_id"]
        if where is None:
            assert row["deleted_at"] is not None, f"{rel}'s post should be deleted"
        else:
            assert row["source"] == "md:" + where and row["deleted_at"] is None, (rel, dict(row))
    old_ids = {r["id"] for r in before.values()}
    assert sorted(r["source"][3:] for r in rows if r["id"] not in old_ids) == sorted(new)
    assert len({r["source"] for r in rows}) == len(rows)


def test_a_moved_file_keeps_its_dates_and_an_edit_moves_only_updated(journal: Journal) -> None:
    _write(journal, "a.md", "Alpha", body="First body.")
    _sync(journal)
    (first,) = _rows(journal)
    _move(journal, "a.md", "x/a.md")
    assert _sync(journal, NOW.replace(hour=13)).moved == 1
    (moved,) = _rows(journal)
    assert dict(moved) == {**dict(first), "source": "md:x/a.md", "source_stamp": moved["source_stamp"]}
    _move(journal, "x/a.md", "y/b.md")
    _write(journal, "y/b.md", "Alpha", body="Second body.")
    report = _sync(journal, NOW.replace(hour=15))
    assert (report.moved, report.updated, report.added, report.deleted) == (1, 1, 0, 0)
    (edited,) = _rows(journal)
    assert (edited["id"], edited["entry_id"], edited["published"]) == (first["id"], first["entry_id"], first["published"])
    assert edited["updated"] == "2026-11-30T15:00:00Z"


def test_a_moved_post_deleted_by_the_user_stays_deleted_and_makes_no_new_post(journal: Journal) -> None:
    _write(journal, "a.md", "Alpha")
    _write(journal, "b.md", "Beta", date="2009-11-07")
    _sync(journal)
    config = journal.config()
    with open_store(config) as store:
        assert store.posts.mark_deleted(_by_source(journal)["a.md"]["id"], NOW, by="user")
    _move(journal, "a.md", "x/a.md")
    report = _sync(journal)
    assert (report.added, report.deleted, report.moved) == (0, 0, 1)
    row = _by_source(journal)["x/a.md"]
    assert row["deleted_by"] == "user" and len(_rows(journal)) == 2


# Paths a file may move to: folders in and out, names that sort before and after the others.
_paths = st.lists(st.sampled_from(["", "x/", "y/", "x/y/", "2009/"]).flatmap(
    lambda folder: st.text("abz0-", min_size=1, max_size=4).map(lambda name: f"{folder}{name}.md")),
    min_size=1, max_size=8, unique=True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), forget=st.booleans())
def test_any_moves_and_renames_keep_every_post(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject,
                                                forget: bool) -> None:
    """Files moved among folders and renamed at will (some also edited, keeping title and date), any
    number of them identical: no post is added or deleted, and each keeps its id, row and dates."""
    journal = Journal(tmp_path_factory.mktemp("moves") / "journal")
    journal.root.mkdir()
    journal.write_config(CONFIG)
    olds = data.draw(_paths, label="before")
    news = data.draw(st.lists(st.sampled_from(["", "x/", "y/", "q/"]).flatmap(
        lambda folder: st.text("abz0-", min_size=1, max_size=4).map(lambda name: f"{folder}{name}.md")),
        min_size=len(olds), max_size=len(olds), unique=True), label="after")
    same = data.draw(st.lists(st.integers(0, 2), min_size=len(olds), max_size=len(olds)), label="groups")
    edited = data.draw(st.lists(st.booleans(), min_size=len(olds), max_size=len(olds)), label="edited")
    for rel, group in zip(olds, same):  # posts of one group are identical files
        _write(journal, rel, f"Post {group}", f"2009-11-0{group + 1}T10:00:00Z", f"Body {group}.")
    assert _sync(journal).added == len(olds)
    before = _by_source(journal)
    staged = journal.root / "staged"
    journal.content.rename(staged)
    journal.content.mkdir()
    for rel, to, group, edit in zip(olds, news, same, edited):
        (journal.content / to).parent.mkdir(parents=True, exist_ok=True)
        (staged / rel).rename(journal.content / to)
        if edit:
            _write(journal, to, f"Post {group}", f"2009-11-0{group + 1}T10:00:00Z", f"Body {group}, edited.")
    config = journal.config()
    with open_store(config) as store:
        if forget:
            store.db.execute("DELETE FROM content_scan")
        report = sync(config, store, NOW.replace(hour=14))

    assert (report.added, report.deleted, report.errors) == (0, 0, []), report.summary()
    rows = _rows(journal)
    assert len(rows) == len(olds) and all(r["deleted_at"] is None for r in rows)
    assert {r["entry_id"] for r in rows} == {r["entry_id"] for r in before.values()}
    assert sorted(r["source"] for r in rows) == sorted("md:" + n for n in news)
    for rel, to, edit in zip(olds, news, edited):
        now_row = _by_source(journal)[to]
        was = before[rel]
        if not edit and same.count(same[olds.index(rel)]) == 1:  # a unique file moved unedited: the very same row
            assert (now_row["id"], now_row["updated"]) == (was["id"], was["updated"])
        assert now_row["published"] == was["published"]


@pytest.mark.parametrize("setting, key", [
    ("max_delete_share: 1.5", "sync.max_delete_share"),
    ("max_delete_share: half", "sync.max_delete_share"),
    ("max_delete_count: -1", "sync.max_delete_count"),
    ("max_delete_count: 2.5", "sync.max_delete_count"),
    ("max_file_bytes: 10", "sync.max_file_bytes"),
    ("max_deletes: 3", "sync.max_deletes"),
])
def test_a_bad_sync_setting_names_its_key_and_changes_nothing(journal: Journal, setting: str, key: str) -> None:
    journal.post("a", title="A")
    journal.write_config(CONFIG + f"sync:\n  {setting}\n")
    result = journal.cli("sync")
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"newswire: {journal.config_path}:") and key in line, line
    if journal.store_url is None:
        assert not (journal.root / "newswire.db").exists()
    else:
        assert journal.rows("SELECT count(*) FROM posts")[0][0] == 0


@pytest.mark.parametrize("files", [30, 240])  # read here, or by worker processes that send each row back
def test_a_first_sync_stores_new_posts_in_bulk_as_one_by_one_would(
        journal: Journal, make_journal: Callable[[str], Journal], files: int) -> None:
    from newswire.content import PARALLEL_FILES, parse_post

    assert (files >= PARALLEL_FILES) == (files == 240)
    for i in range(files):  # labels and authors new and shared, repeated, in other spellings; one id taken twice
        journal.post(f"p{i:02d}", title="Same title" if i % 10 == 3 else f"Post {i}", date=f"2009-0{i % 3 + 1}-05",
                     author="Guest Writer" if i % 4 == 0 else "jmorton",
                     labels=(f"Topic {i % 5}", f"topic {i % 5}", "Ünïcode", f"New {i % 3}"),
                     # (a character reference cleaning changes, or one cmark writes as a byte that is not UTF-8: the
                     # body's UTF-8 is then made anew, not the renderer's)
                     body=f"Body {i}: Zürich, 東京 😀." + (" &#1; &#xFFFE;"[i % 3 * 6:] if i % 7 == 0 else ""))
    config = journal.config()
    with open_store(config) as store:
        assert sync(config, store, NOW).added == files
    one = make_journal("one")
    with open_store(one.config()) as store:
        for path in sorted(journal.content.glob("*.md")):
            post = parse_post(path, path.name, config, {a.key for a in config.authors}).post
            assert store.posts.upsert(post, NOW) == "added"
            store.posts.set_source_stamp(post.source, "x")
    tables = {"posts": "SELECT * FROM posts ORDER BY id", "post_labels": "SELECT * FROM post_labels ORDER BY 1, 2",
              "labels": "SELECT * FROM labels ORDER BY id", "authors": "SELECT * FROM authors ORDER BY key",
              "dirty": "SELECT kind, key FROM dirty ORDER BY 1, 2", "state": "SELECT * FROM state WHERE key = 'generation'",
              # the triggers stood in for are all back, as they were
              "schema": "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY 1, 2"
              if journal.store_url is None else
              "SELECT tgname, tgenabled, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1",
              "index": "PRAGMA integrity_check" if journal.store_url is None else "SELECT 1"}
    generation = int(journal.rows(tables["state"])[0][1])
    assert generation > files  # one step a row, as the triggers would have moved it
    for name, query in tables.items():
        got = [tuple(r) for r in journal.rows(query)]
        want = [tuple(r) for r in one.rows(query)]
        if name == "posts":  # the stamps (column 17) differ: the bulk sync's are its files'
            got, want = [r[:17] + r[18:] for r in got], [r[:17] + r[18:] for r in want]
        assert got == want, name


@pytest.mark.sqlite_only  # counted by SQLite's statement trace; the repositories' SQL is the same on both
def test_a_first_sync_asks_the_store_about_entry_ids_per_batch_not_per_post(journal: Journal) -> None:
    for i in range(40):  # two files propose the same entry id (same title, same date): only its "-2" is asked alone
        journal.post(f"p{i:02d}", title="Twin" if i in (7, 30) else f"Post {i}", date="2009-03-05")
    config = journal.config()
    asked: list[str] = []
    with open_store(config) as store:
        store.db.set_trace_callback(asked.append)
        assert sync(config, store, NOW).added == 40
        store.db.set_trace_callback(None)
        ids = [r[0] for r in store.db.execute("SELECT entry_id FROM posts ORDER BY id")]
    alone = [sql for sql in asked if sql.startswith("SELECT 1 FROM posts WHERE entry_id")]
    assert len(alone) == 1, len(alone)
    assert len(set(ids)) == 40 and ids[30] == ids[7] + "-2"


def test_rendering_markdown_keeps_no_memory_per_post() -> None:
    import subprocess
    import sys

    script = """
import resource
from newswire.content import _markdown
render, body = _markdown(), ("| a | b |\\n| - | - |\\n| 1 | 2 |\\n\\n" + "Some *text* with [a link](/x) and <b>HTML</b>.\\n\\n" * 400).encode()
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
render(body)
before = peak()
for _ in range(3000):
    render(body)
print((peak() - before) // 1024)
"""
    grown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert int(grown) < 20, f"{grown} MB more after rendering a post 3,000 times"  # leaking, it was 200 MB or more


_FRONT_PIECES = st.sampled_from(["---", "...", " ---", "--- ", "\n", "\r", "\r\n", "\u2028", "\x0b", "\x85",
                                 "\ufeff", "key: v", "a", "  "])


@settings(max_examples=3000, deadline=None)
@given(st.lists(_FRONT_PIECES, max_size=30))
def test_the_front_matter_found_in_the_head_is_the_one_found_in_the_whole_text(parts: list[str]) -> None:
    """The end of the front matter is looked for in the text's head first (a long body is not cut
    into lines): with a head of 12 characters, every cut of a line, or of a CR LF, is met."""
    text = "".join(parts)

    def split(head: int) -> tuple[str, str, int] | tuple[str, int]:
        saved = content_module.FRONT_HEAD
        content_module.FRONT_HEAD = head
        try:
            return split_front_matter(text, "a.md")
        except SourceError as exc:
            return exc.message, exc.line
        finally:
            content_module.FRONT_HEAD = saved

    assert split(12) == split(len(text) + 1)


_BODY_PARTS = st.sampled_from([
    "Plain *text*.\n", "\n", "\r\n", "\r", "Zürich 東京 😀 ", "&#1; &#x85; &#xFFFE; &#xFDD0; &#0;", "&amp; &#233;",
    "\x85 \x9f \ufdd0 \ufffd ", "<div>raw\x01</div>\n", "| a |\n| - |\n| 1 |\n", "~~gone~~ ", "\ufeff", "\x00",
    "`code \\` ", "[a](/x \"t\") ", "<b>&#1;</b>", "\n<div>\n&#1; &#xFFFE; &#233;\n</div>\n\n",
    '<a title="&#x9f;">a</a> ', "&#xFFFF; ",
]) | st.text(max_size=8)


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(bom=st.booleans(), parts=st.lists(_BODY_PARTS, max_size=12))
def test_a_body_read_as_bytes_is_the_one_read_as_text(journal: Journal, bom: bool, parts: list[str]) -> None:
    """cmark is fed the file's own bytes and its HTML is hashed as cmark wrote it, when nothing was changed
    on the way: whatever a file holds, the post and its hash are those of the text it reads as."""
    from newswire.text import clean_html

    body = "".join(parts)
    head = "\ufeff" if bom else ""
    path = journal.content / "bytes.md"
    path.write_bytes(f"{head}---\ntitle: T\ndate: 2009-11-06\nauthor: jmorton\n---\n{body}".encode("utf-8", "surrogatepass"))
    try:
        parsed = content_module.parse_post(path, "bytes.md", journal.config(), {"jmorton"})
    except SourceError as exc:
        assert "not UTF-8" in exc.message  # (a lone surrogate)
        return
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    html = content_module._markdown()(text.encode("utf-8")).decode("utf-8", "replace")
    assert parsed.post.body == clean_html(html)
    assert parsed.content_hash == parsed.post.content_hash()


@pytest.mark.parametrize("when", [datetime(2009, 11, 6, 23, 30, tzinfo=UTC), datetime(999, 12, 31, 20, tzinfo=UTC),
                                  datetime(1000, 1, 1, tzinfo=UTC), datetime(9998, 12, 31, tzinfo=UTC)])
def test_a_proposed_id_names_its_day_as_ids_always_did(when: datetime) -> None:
    assert content_module._day(when) == f"{when:%Y-%m-%d}"

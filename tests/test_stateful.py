"""Stateful property test: a journal edited, deleted, restored, published and killed at random.

A hypothesis ``RuleBasedStateMachine`` drives one journal in a temporary folder. Its
rules are what editors and operators do: add a Markdown post (hostile titles, bodies
and labels: markup, ``&``, ``]]>``, control characters, right-to-left text, emoji, front
matter syntax; 1-4 labels from a small pool with case and accent variants), edit its
title/body/labels, rewrite its file without changing what it says (another YAML
spelling, CRLF, a BOM, a comment, a ``...`` end marker; its labels in another case,
Unicode form or width, order, spacing or repeated), delete its file, delete it in the
store (``newswire post delete``: ``Store.mark_deleted``), restore it (``Store.restore``
or by putting the file back), make it a draft and publish it again (``draft: true`` and
back), date it after the clock (a few minutes to days ahead, so that the clock's steps
release it, and take it back when the clock goes back) or back into the past, publish
in-process with a clock that mostly advances but sometimes goes backwards, and publish
in a forked child killed with SIGKILL after a short random delay (a draft "sentinel"
post, rewritten before each kill, tells whether the killed publish's sync committed).

The machine keeps a model of what the store must hold (which posts are live, deleted by
the sync or by the user, drafts, their dates, content, ids and deletion times), and of
what the feeds have shown: which posts a publish has shown, and when each that is hidden
now (a draft, deleted, or dated after the clock) left the feeds (the dates it was shown
under kept, when a killed publish may or may not have recorded them, until the feeds
tell). A publish dates what it writes at the clock's time, or at the last recorded
publish's time if the clock went back before it (newswire's rule: no date goes back);
which posts are out it decides by the clock itself. After every publish it checks the
guarantees of DESIGN.md:

- every file under feeds/ parses (feedparser, bozo false, for Atom/RSS; json for JSON);
- ``check_published`` (what ``newswire verify`` runs), at the clock's time, passes;
- each live post appears exactly once in the journal's feed (main document and its
  archive pages), in its author's feeds and in each of its labels' feeds; the main
  document holds the newest ``entries`` places, newest first; titles, labels and dates
  are those of the post's file; Atom, RSS and JSON documents list the same entries;
- an entry keeps the id it got when first added, whatever edits follow;
- an entry's ``updated`` never goes backwards (even when the clock does), stays put
  when the content did not change and moves when it did;
- a hidden post (deleted, a draft, or dated after the clock) is in no document; one that a
  publish showed, and a deleted one, keeps its place and is an RFC 6721
  ``at:deleted-entry`` in the journal's Atom feed (in the main document when its place is
  among the newest) exactly while within ``feeds.tombstone_days`` of when it left (its
  deletion time, or the publish that found it gone), counted by the time the publish
  dates by (so that one expired stays expired); a never-shown draft or scheduled
  post has none, nor does a live post, which keeps its id when it comes back;
- a second publish right after writes, renders and syncs nothing and leaves every
  file's mtime and inode alone;
- the feeds are byte-identical to a ``--full`` republish of a copy of the journal;
- nothing outside feeds/ and the store is written;
- after a kill, every visible file still parses, nothing is left outside feeds/ and the
  store, and the store holds either everything the killed publish's sync did or none of it.
"""

from __future__ import annotations

import calendar
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import tempfile
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote

import feedparser
import yaml
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule
from lxml import etree

from newswire.config import load_config
from newswire.content import SourceError, read_post
from newswire.job import check_published, publish
from newswire.store import SqliteStore
from newswire.text import one_line

import harness

UTC = UTC
ENTRIES = 3  # small, so that archive pages (RFC 5005) come into play
TOMBSTONE_DAYS = 1  # small, so that the clock's steps take tombstones out of their window
CONFIG = harness.CONFIG.replace("entries: 25", f"entries: {ENTRIES}\n  tombstone_days: {TOMBSTONE_DAYS}")
FEEDS_URL = "https://journal.test/feeds/"
JOURNAL_TITLE = "Test Journal"
START = datetime(2030, 1, 1, tzinfo=UTC)  # posts are dated 2009-2020, or re-dated a little after the clock
AT_DELETED = "{http://purl.org/atompub/tombstones/1.0}deleted-entry"
STORE_FILES = {"newswire.db", "newswire.db-wal", "newswire.db-shm", "newswire.db-journal", "newswire.db.lock"}
MAX_POSTS = 5
SENTINEL = "zz-sentinel.md"  # a draft, rewritten before each killed publish: tells whether its sync committed
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# --- strategies ---------------------------------------------------------------------------

# Markup, entities and CDATA ends.
MARKUP = ["&", "&amp;", "&bogus;", "&#0;", "&#x1;", "]]>", "<![CDATA[", "<b>", "</b>", "<script>alert(1)</script>",
          "<p>", "</p>", '<a href="/rel">', "</a>", '<img src="x.png">', "<!--", "-->", "<", ">", '"', "'"]
# Control characters and awkward white space, line and paragraph separators included.
CONTROLS = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1f", "\x7f", "\x85", "\x9f", "\ufffe", "\ufeff", "\u2028",
            "\u2029", "\t", "\r", "\n", "\r\n", "\xa0"]
# Right-to-left, bidi controls, combining marks, emoji, astral characters, mojibake.
SCRIPTS = ["\u202e", "\u200f", "\u05e9\u05dc\u05d5\u05dd", "\u0645\u0631\u062d\u0628\u0627", "e\u0301", "\u200b",
           "\U0001f600", "\U0001f1fa\U0001f1f8", "\U0001d11e", "\u00c3\u00a9"]
# YAML and front-matter syntax, document markers on a line of their own included.
YAMLISH = [": ", "- ", "# ", "%", "{", "}", "[", "]", "*", "|", ">-", "!", "@", "`", "---", "...", "\n---\n",
           "\n...\n", "\u2028---\u2028"]
fragments = st.one_of(st.text(max_size=6), st.sampled_from(MARKUP), st.sampled_from(CONTROLS),
                      st.sampled_from(SCRIPTS), st.sampled_from(YAMLISH),
                      st.sampled_from(["Border", "news", "café", "Zürich", " "]))
MARKDOWN = ["\n\n", "# Heading\n", "* item\n", "1. one\n", "    code\n", "```\n", "> quote\n", "[link](/rel/path)",
            "![img](pic.png)", "**bold**", "<pre>", "</pre>", "<div>", "</div>", "---\n", "\\", "  \n"]
# Labels from a small pool: the same label in other cases and accents, and ones that are no label at all.
LABELS = ["Border Security", "border security", "BORDER  SECURITY", "Café", "Cafe\u0301", "CAFÉ", "cafe",
          "AT&T", "Ports <and> Harbours", "]]>", "\u05e9\u05dc\u05d5\u05dd", "\U0001f600 Emoji", "Straße",
          "STRASSE", "../x", "", " "]
AUTHORS = ["jmorton", "napolitano", "Ana Núñez & <Co>"]
OFFSETS = [0, -300, 330, 840, -720]


def dump_front(meta: dict[str, object], style: int) -> str:
    """The same front matter in one of three YAML spellings."""
    if style == 1:
        return yaml.safe_dump(meta, allow_unicode=True, sort_keys=True, default_flow_style=True, width=60)
    if style == 2:
        return yaml.safe_dump(meta, allow_unicode=False, sort_keys=False, width=1000)
    return yaml.safe_dump(meta, allow_unicode=True, sort_keys=False)


def load_front(front: str) -> dict[str, object]:
    """Front matter as a YAML reader reads it (line endings normalised as for any text file)."""
    return yaml.load(front.replace("\r\n", "\n").replace("\r", "\n"), Loader=_Loader)


def title_of(title: str, style: int = 0) -> str:
    return one_line(str(load_front(dump_front({"title": title}, style))["title"]))


titles = st.lists(fragments, min_size=1, max_size=5).map("".join).filter(lambda t: title_of(t) != "")
bodies = st.lists(st.one_of(fragments, st.sampled_from(MARKDOWN)), max_size=8).map("".join)
label_lists = st.lists(st.sampled_from(LABELS), min_size=1, max_size=4)
# Clock steps: a second to two days forward, a second to three days back; often a round step,
# so that tombstone windows are crossed and recrossed.
forward = st.sampled_from([60, 3600, 20 * 3600, 86400 + 3600, 2 * 86400]) | st.integers(1, 2 * 86400)
backward = st.sampled_from([-1, -3600, -86400, -2 * 86400]) | st.integers(-3 * 86400, -1)
picks = st.integers(0, 63)


def fold(label: str) -> str:
    """One label, however spelt: case and Unicode form (composed, decomposed, compatibility) do not matter."""
    return unicodedata.normalize("NFKC", label).casefold()


def instant(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    assert when.tzinfo is not None, f"{text!r} has no zone"
    return when.astimezone(UTC)


def parsed_instant(struct: time.struct_time) -> datetime:
    return datetime.fromtimestamp(calendar.timegm(struct), UTC)


# --- the model ------------------------------------------------------------------------------


@dataclass
class PostModel:
    key: int
    published: datetime
    author: str
    title: str
    body: str
    labels: list[str]
    style: int = 0
    wrap: tuple[bool, bool, bool, bool] = (False, False, False, False)  # BOM, CRLF, comment, '...' end
    file_present: bool = True
    draft: bool = False  # the file says draft: true
    state: str = "absent"  # absent (never synced) | live | sync (file removed) | user (post delete)
    store_published: datetime | None = None  # the date and draft flag the store took
    store_draft: bool = False
    first_date: datetime | None = None  # the date the store took first: an unedited entry's updated
    # What the feeds have shown, as the possible (shown by a publish, when it left them) pairs: one,
    # unless a killed publish may or may not have recorded it.
    seen: frozenset[tuple[bool, datetime | None]] = frozenset({(False, None)})
    entry_id: str | None = None
    store_key: str | None = None  # content hash the store holds
    store_title: str = ""
    store_folds: frozenset[str] = frozenset()
    store_visible: tuple[object, ...] = ()  # (title, label folds, body text, author) the store took
    deleted_at: datetime | None = None  # as the store must hold it, once known
    deleted_floor: datetime | None = None  # the time the deletion was asked for
    changed: bool = False  # the store's content changed since `updated` was last seen
    last_updated: datetime | None = None
    offered: bool = False  # a publish (maybe killed) ran while its file was there: it may be in the store

    @property
    def name(self) -> str:
        return f"post-{self.key}.md"

    @property
    def source(self) -> str:
        return "md:" + self.name

    def meta(self) -> dict[str, object]:
        return {"title": self.title, "date": self.published.isoformat(), "author": self.author,
                "labels": list(self.labels), **({"draft": True} if self.draft else {})}

    def visible(self, clock: datetime) -> bool:
        """In the feeds at ``clock`` (by the store's account of the post)."""
        return (self.state == "live" and not self.store_draft and self.store_published is not None
                and self.store_published <= clock)

    def left_feeds(self, clock: datetime, now: datetime, seen: tuple[bool, datetime | None]) -> tuple[
            bool, datetime | None]:
        """A publish at ``clock`` (dating at ``now``): what the record of the shown post becomes."""
        shown, left = seen
        if self.visible(clock):
            return True, None
        if shown and left is None:
            return True, self.deleted_at if self.state in ("sync", "user") else now
        return shown, left

    def text(self) -> str:
        bom, crlf, comment, dots = self.wrap
        text = ("---\n" + ("# reformatted, same post\n" if comment else "") + dump_front(self.meta(), self.style)
                + ("...\n" if dots else "---\n") + self.body + "\n")
        if crlf:
            text = re.sub(r"(?<!\r)\n", "\r\n", text)
        return ("\ufeff" if bom else "") + text

    def expected(self, style: int | None = None) -> tuple[str, frozenset[str], str, str]:
        """(title, label folds, date, author) as a reader of the file finds them."""
        meta = load_front(dump_front(self.meta(), self.style if style is None else style))
        labels = meta.get("labels") or []
        folds = frozenset(fold(one_line(str(x))) for x in labels if one_line(str(x)))
        return one_line(str(meta["title"])), folds, str(meta["date"]), str(meta["author"])


def describe(p: PostModel) -> str:
    return (f"{p.name} [{p.state}{', draft' if p.store_draft else ''}{'' if p.file_present else ', no file'}] "
            f"date={p.store_published} seen={sorted(p.seen, key=str)} title={p.title!r} labels={p.labels!r} "
            f"body={p.body!r}")


# --- the machine ------------------------------------------------------------------------------


class JournalMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="newswire-stateful-"))
        self.root = self.tmp / "journal"
        self.root.mkdir()
        (self.root / "config.yaml").write_text(CONFIG, encoding="utf-8")
        self.content = self.root / "content"
        self.content.mkdir()
        self.feeds = self.root / "feeds"
        self.config = load_config(self.root / "config.yaml")
        self.author_keys = {a.key for a in self.config.authors}
        self.posts: list[PostModel] = []
        self.clock = START
        self.floor: datetime | None = None  # the last recorded publish's time: a publish never goes before it
        self.sentinel = 0
        self.copies = 0

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- helpers ------------------------------------------------------------------------

    def _pick(self, pick: int, ok) -> PostModel:  # type: ignore[no-untyped-def]
        eligible = [p for p in self.posts if ok(p)]
        return eligible[pick % len(eligible)]

    def _effective(self, now: datetime) -> datetime:
        """A publish's time: the clock, or the last recorded publish's if the clock went back before it."""
        return now if self.floor is None else max(now, self.floor)

    def _recorded_floor(self, where: str, candidates: tuple[datetime | None, ...]) -> None:
        """Read back the last recorded publish's time; it must be one the test used."""
        with SqliteStore(self.config.paths.store) as store:
            last = store.documents.last_publish()
        got = None if last is None else last.started_at
        assert got in candidates, f"{where}: the last publish is recorded at {got}, expected one of {candidates}"
        self.floor = got

    def _offer(self) -> None:
        for p in self.posts:
            p.offered = p.offered or p.file_present

    def _write(self, p: PostModel) -> None:
        (self.content / p.name).write_bytes(p.text().encode("utf-8"))
        p.file_present = True

    def _file_content(self, p: PostModel) -> tuple[str, str, frozenset[str]]:
        """(content hash newswire gives the file, expected title, expected label folds)."""
        try:
            post = read_post(self.content / p.name, p.name, self.config, self.author_keys)
        except SourceError as exc:
            raise AssertionError(f"newswire rejects a well-formed post file: {exc}\n"
                                 f"file: {p.text()!r}") from None
        title, folds, _, _ = p.expected()
        return post.content_hash(), title, folds

    def _sync_model(self, now: datetime, clock: datetime) -> None:
        """What a sync at ``now`` must do: the content directory is the truth, except for posts the
        user deleted with 'post delete' (they stay deleted, whatever their file says)."""
        for p in self.posts:
            if p.file_present:
                if p.state == "user":
                    continue
                key, title, folds = self._file_content(p)
                visible = (title, folds, p.body, p.author)
                if p.state == "absent":
                    p.changed, p.first_date = False, p.published.astimezone(UTC)
                elif key != p.store_key and visible != p.store_visible:
                    # a real change (the same title, labels, body and author is never one, whatever
                    # the spelling of the file; a new body that renders alike may not be one)
                    p.changed = True
                p.state, p.deleted_at, p.deleted_floor = "live", None, None
                p.store_key, p.store_title, p.store_folds, p.store_visible = key, title, folds, visible
                p.store_published, p.store_draft = p.published.astimezone(UTC), p.draft
            elif p.state == "live":
                p.state, p.deleted_at, p.deleted_floor = "sync", None, now

    def _store_rows(self) -> dict[str, object]:
        """Every post the store holds, by source (None if there is no store yet)."""
        if not self.config.paths.store.exists():
            return {}
        with SqliteStore(self.config.paths.store) as store:
            rows = store.db.execute("SELECT source, id, deleted_by FROM posts WHERE source LIKE 'md:%'").fetchall()
            posts = store.posts.load([post_id for _, post_id, _ in rows], self.config.journal.post_url)
            return {source: (posts[post_id], deleted_by) for source, post_id, deleted_by in rows}

    def _check_store(self, where: str) -> None:
        """The store holds what the model says: states, ids, deletion times and content."""
        rows = self._store_rows()
        for p in self.posts:
            row = rows.get(p.source)
            if p.state == "absent":
                assert row is None, f"{where}: {p.name} is in the store but was never synced"
                continue
            assert row is not None, f"{where}: {p.name} is missing from the store"
            post, deleted_by = row
            if p.entry_id is None:
                p.entry_id = post.entry_id
                assert p.entry_id.startswith("tag:journal.test,2009:post/"), p.entry_id
                others = [q.entry_id for q in self.posts if q is not p and q.entry_id is not None]
                assert p.entry_id not in others, f"{where}: {p.name} was given an id already in use: {p.entry_id}"
            assert post.entry_id == p.entry_id, (f"{where}: the entry id of {p.name} changed from {p.entry_id} "
                                                 f"to {post.entry_id}")
            want = {"live": None, "sync": "sync", "user": "user"}[p.state]
            assert deleted_by == want and (post.deleted_at is None) == (p.state == "live"), (
                f"{where}: {p.name} should be {p.state} but the store has deleted_by={deleted_by!r}, "
                f"deleted_at={post.deleted_at}")
            if p.state != "live" and p.deleted_at is None:
                # the deletion is dated when it was asked for, or at the post's last change if later
                # (so that no feed's date goes back when the clock does), or at the last publish's
                # time if later still
                low = max(p.deleted_floor, post.updated)  # type: ignore[type-var]
                high = max(low, self.floor or low)
                assert low <= post.deleted_at <= high, (  # type: ignore[operator]
                    f"{where}: {p.name} deleted at {post.deleted_at}, expected between {low} and {high} (asked at "
                    f"{p.deleted_floor}, updated {post.updated}, last publish {self.floor})")
                p.deleted_at = post.deleted_at
            elif p.state != "live":
                assert post.deleted_at == p.deleted_at, (f"{where}: {p.name}'s deletion time moved from "
                                                         f"{p.deleted_at} to {post.deleted_at}")
            assert post.content_hash == p.store_key, (
                f"{where}: the store holds stale content for {p.name} (title {post.title!r}) - the file says "
                f"title {p.store_title!r}, labels {sorted(p.store_folds)}\n  {describe(p)}")

    def _outside(self) -> dict[str, tuple[int, int, str]]:
        out = {}
        for path in sorted(self.root.rglob("*")):
            rel = path.relative_to(self.root).as_posix()
            if rel == "feeds" or rel.startswith("feeds/") or rel in STORE_FILES or not path.is_file():
                continue
            st_ = path.stat()
            out[rel] = (st_.st_size, st_.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
        return out

    def _check_outside(self, before: dict[str, tuple[int, int, str]], where: str) -> None:
        after = self._outside()
        added = sorted(set(after) - set(before))
        assert not added, f"{where}: files written outside feeds/ and the store: {added}"
        touched = sorted(rel for rel in before if after.get(rel) != before[rel])
        assert not touched, f"{where}: files outside feeds/ changed or removed: {touched}"

    def _feed_files(self, root: Path | None = None) -> dict[str, bytes]:
        base = root or self.feeds
        if not base.exists():
            return {}
        return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*"))
                if p.is_file() and not (p.name.startswith(".") and p.name.endswith(".tmp"))}

    def _read_all(self, where: str) -> dict[str, object]:
        """Every visible document, parsed: it must parse."""
        docs: dict[str, object] = {}
        for rel, data in self._feed_files().items():
            if rel.endswith((".xml", ".opml", ".xsl")):
                try:
                    tree = etree.fromstring(data)
                except etree.XMLSyntaxError as exc:
                    raise AssertionError(f"{where}: {rel} is not well-formed XML: {exc}") from None
                docs[rel] = tree
            if rel.endswith(".xml"):
                parsed = feedparser.parse(data)
                assert parsed.bozo == 0, f"{where}: {rel}: feedparser bozo: {parsed.get('bozo_exception')!r}"
                docs[rel] = (parsed, docs[rel])
            elif rel.endswith(".json"):
                try:
                    docs[rel] = json.loads(data.decode("utf-8"))
                except ValueError as exc:
                    raise AssertionError(f"{where}: {rel} is not JSON: {exc}") from None
            elif rel.endswith(".html"):
                assert data.rstrip().endswith(b"</html>"), f"{where}: {rel} is cut short"
        return docs

    def _chain(self, docs: dict[str, object], folder: str, where: str) -> list[str]:
        """The folders of a feed's main document and its archive pages (JSON next_url, to older)."""
        pages, rel = [], f"{folder}/feed.json" if folder else "feed.json"
        while True:
            assert rel in docs, f"{where}: {rel} is missing"
            assert len(pages) < 50 and rel.rpartition("/")[0] not in pages, f"{where}: an archive loop at {rel}"
            pages.append(rel.rpartition("/")[0])
            nxt = docs[rel].get("next_url")  # type: ignore[union-attr]
            if not nxt:
                return pages
            assert nxt.startswith(FEEDS_URL), f"{where}: {rel}: next_url {nxt}"
            rel = unquote(nxt.removeprefix(FEEDS_URL))

    @staticmethod
    def _doc(folder: str, name: str) -> str:
        return f"{folder}/{name}" if folder else name

    # --- the checks after a publish -----------------------------------------------------------

    def _shown_model(self, clock: datetime, now: datetime, maybe: bool = False) -> None:
        """What a publish at ``clock`` (dating at ``now``) records of what the feeds show (see
        ``Store.note_shown``); a killed one may or may not have recorded it."""
        for p in self.posts:
            if p.state != "absent":
                after = {p.left_feeds(clock, now, seen) for seen in p.seen}
                p.seen = frozenset(after | p.seen if maybe else after)

    def _journal_expected(self, clock: datetime, now: datetime, world: dict[int, tuple[bool, datetime | None]]
                          ) -> tuple[list[str], dict[str, tuple[datetime, bool]]]:
        """In one possible world (a (shown, left) pair per post): the ids the journal's main document
        lists at ``clock``, and each tombstone's date (within TOMBSTONE_DAYS of ``now``, the time the
        publish dates by: never back, so an expired tombstone stays expired) and whether it is in the
        main document."""
        def slotted(p: PostModel) -> bool:  # deleted ones keep their place; a shown one that left too
            shown, left = world[p.key]
            return (not p.store_draft and p.store_published <= clock) or (shown and left is not None)  # type: ignore[operator]

        slots = sorted((p for p in self.posts if p.state != "absent" and slotted(p)),
                       key=lambda p: p.store_published)  # type: ignore[arg-type,return-value]
        newest = slots[-ENTRIES:]
        keep_after = now - timedelta(days=TOMBSTONE_DAYS)
        stones = {}
        for p in slots:
            if not p.visible(clock):
                when = world[p.key][1] or p.deleted_at
                assert when is not None, f"{p.name}: hidden, in its place, but neither deleted nor left"
                if when >= keep_after:
                    stones[p.entry_id] = (when, p in newest)
        return [p.entry_id for p in reversed(newest) if p.visible(clock)], stones  # type: ignore[misc]

    def _check_feeds(self, now: datetime, clock: datetime, where: str) -> None:
        docs = self._read_all(where)
        live = {p.entry_id: p for p in self.posts if p.visible(clock)}
        by_id = {p.entry_id: p for p in self.posts if p.entry_id}

        # Atom, RSS and JSON Feed say the same thing: same entries, same order, same updated.
        for rel, doc in docs.items():
            if not rel.endswith("feed.json"):
                continue
            folder = rel.rpartition("/")[0]
            items = doc["items"]  # type: ignore[index]
            ids = [item["id"] for item in items]
            assert len(ids) <= ENTRIES, f"{where}: {rel} holds {len(ids)} entries, more than {ENTRIES}"
            strays = [i for i in ids if i not in live]
            assert not strays, (f"{where}: {rel} holds entries that are not live posts: "
                                f"{[describe(by_id[i]) if i in by_id else i for i in strays]}")
            for fmt in ("atom.xml", "rss.xml"):
                parsed, _ = docs[self._doc(folder, fmt)]  # type: ignore[misc]
                got = [e.get("id") for e in parsed.entries]
                assert got == ids, f"{where}: {self._doc(folder, fmt)} lists {got}, {rel} lists {ids}"
            dates = [instant(item["date_published"]) for item in items]
            assert dates == sorted(dates, reverse=True), f"{where}: {rel} is not newest first: {dates}"
            atom_parsed, _ = docs[self._doc(folder, "atom.xml")]  # type: ignore[misc]
            for item, entry in zip(items, atom_parsed.entries):
                assert instant(item["date_modified"]) == parsed_instant(entry.updated_parsed), (
                    f"{where}: {folder or 'journal'}: {item['id']}: JSON and Atom give different updated")

        # The journal: the main document holds the newest ENTRIES places (deleted posts, and shown
        # ones that left, keep theirs), newest first, and an RFC 6721 tombstone for each hidden one
        # within TOMBSTONE_DAYS of when it left; the archive pages hold the rest.
        pages = self._chain(docs, "", where)
        main_ids = [item["id"] for item in docs["feed.json"]["items"]]  # type: ignore[index]
        stones: dict[str, list[tuple[int, datetime]]] = {}
        for index, page in enumerate(pages):
            _, tree = docs[self._doc(page, "atom.xml")]  # type: ignore[misc]
            for el in tree.iter(AT_DELETED):  # type: ignore[union-attr]
                stones.setdefault(el.get("ref"), []).append((index, instant(el.get("when"))))
        twice = {ref: found for ref, found in stones.items() if len(found) > 1}
        assert not twice, f"{where}: entries with more than one tombstone: {twice}"
        got_stones = {ref: (found[0][1], found[0][0] == 0) for ref, found in stones.items()}
        revived = sorted(set(stones) & set(live))
        assert not revived, f"{where}: live posts carry a tombstone: {[describe(live[i]) for i in revived]}"
        # One world unless a killed publish left it open what the feeds had shown; the feeds tell.
        posts = [p for p in self.posts if p.state != "absent"]
        worlds = [dict(zip((p.key for p in posts), choice))
                  for choice in itertools.product(*(sorted(p.seen, key=str) for p in posts))]
        fits = [w for w in worlds if self._journal_expected(clock, now, w) == (main_ids, got_stones)]
        if not fits:
            want_main, want_stones = self._journal_expected(clock, now, worlds[0])
            raise AssertionError(
                f"{where}: the journal's main document lists {main_ids} with tombstones {got_stones}, expected "
                f"{want_main} with {want_stones} ({len(worlds)} possible worlds)\n  "
                + "\n  ".join(describe(p) for p in sorted(posts, key=lambda p: p.store_published)))  # type: ignore[arg-type,return-value]
        for p in posts:
            p.seen = frozenset(w[p.key] for w in fits)
        seen = Counter(item["id"] for page in pages for item in docs[self._doc(page, "feed.json")]["items"])  # type: ignore[index]
        assert seen == Counter(list(live)), (f"{where}: the journal's pages hold {dict(seen)}, expected each live post "
                                       f"once: {sorted(live)}")

        # What each live entry says: the file's title and labels, the post's date, its id, and an
        # `updated` that moves forward exactly when the content changed.
        for page in pages:
            for item in docs[self._doc(page, "feed.json")]["items"]:  # type: ignore[index]
                p = live[item["id"]]
                assert item["title"] == p.store_title, (f"{where}: {p.name}: the feed says title {item['title']!r}, "
                                                        f"the file says {p.store_title!r}\n  {describe(p)}")
                folds = frozenset(fold(t) for t in item.get("tags", []))
                assert folds == p.store_folds, (f"{where}: {p.name}: the feed's labels {sorted(folds)} differ from "
                                                f"the file's {sorted(p.store_folds)}\n  {describe(p)}")
                assert instant(item["date_published"]) == p.store_published, (
                    f"{where}: {p.name}: published {item['date_published']}, its date is {p.store_published}")
                updated = instant(item["date_modified"])
                if p.last_updated is None:
                    if p.changed:
                        assert updated > p.first_date, f"{where}: {p.name}: edited, but updated {updated} not moved"  # type: ignore[operator]
                    else:
                        assert updated == p.first_date, (f"{where}: {p.name}: never edited, but updated {updated} "
                                                         f"is not its first date {p.first_date}")
                else:
                    assert updated >= p.last_updated, (f"{where}: {p.name}: updated went backwards from "
                                                       f"{p.last_updated} to {updated}\n  {describe(p)}")
                    if p.changed:
                        assert updated > p.last_updated, (f"{where}: {p.name}: its content changed but updated "
                                                          f"stayed {updated}\n  {describe(p)}")
                    else:
                        assert updated == p.last_updated, (f"{where}: {p.name}: its content did not change but "
                                                           f"updated moved from {p.last_updated} to {updated}\n  "
                                                           f"{describe(p)}")
                p.last_updated, p.changed = updated, False

        # Author feeds: together, each live post exactly once.
        authored: Counter[str] = Counter()
        for rel in docs:
            m = re.fullmatch(r"authors/([^/]+)/feed\.json", rel)
            if m:
                for page in self._chain(docs, f"authors/{m.group(1)}", where):
                    authored.update(item["id"] for item in docs[self._doc(page, "feed.json")]["items"])  # type: ignore[index]
        assert authored == Counter(list(live)), f"{where}: the author feeds hold {dict(authored)}, expected {sorted(live)}"

        # Label feeds: each holds exactly the live posts with that label (in any case).
        labelled: dict[str, Counter[str]] = {}
        for rel, doc in docs.items():
            m = re.fullmatch(r"labels/([^/]+)/feed\.json", rel)
            if m:
                title = doc["title"]  # type: ignore[index]
                assert title.startswith(JOURNAL_TITLE + ": "), f"{where}: {rel}: title {title!r}"
                name = fold(title.removeprefix(JOURNAL_TITLE + ": "))
                assert name not in labelled, f"{where}: two label feeds for {name!r}"
                labelled[name] = Counter(item["id"] for page in self._chain(docs, f"labels/{m.group(1)}", where)
                                         for item in docs[self._doc(page, "feed.json")]["items"])  # type: ignore[index]
        folds_in_use = {f for p in live.values() for f in p.store_folds}
        missing = sorted(folds_in_use - set(labelled))
        assert not missing, f"{where}: no label feed for {missing}"
        for name, got in labelled.items():
            want = Counter(i for i, p in live.items() if name in p.store_folds)
            assert got == want, f"{where}: the label feed {name!r} holds {dict(got)}, expected {dict(want)}"

    def _do_publish(self, clock: datetime) -> None:
        now = self._effective(clock)
        where = f"publish at {clock.isoformat()}" + (f" (runs at {now.isoformat()})" if now != clock else "")
        self._offer()
        before = self._outside()
        # The editors here mean every deletion, even of the journal's last post (see test_content for the guard).
        report = publish(self.config, ping=False, now=clock, allow_mass_delete=True)
        problems = ([str(p) for r in report.failed for p in r.problems] + report.errors
                    + [str(e) for e in (report.sync.errors if report.sync else [])])
        assert report.ok, f"{where} failed:\n" + "\n".join(problems)
        self._check_outside(before, where)
        self._sync_model(now, clock)
        self._check_store(where)
        self._recorded_floor(where, (now,))
        self._shown_model(clock, now)
        self._check_feeds(now, clock, where)

        verified = check_published(self.config, now=clock)
        assert verified.ok, f"{where}: check_published (newswire verify) fails:\n" + "\n".join(
            [str(p) for r in verified.failed for p in r.problems] + verified.errors)

        # Twice in a row: the second publish does nothing.
        stats = {p.relative_to(self.feeds).as_posix(): (p.stat().st_mtime_ns, p.stat().st_ino)
                 for p in self.feeds.rglob("*") if p.is_file()}
        again = publish(self.config, ping=False, now=clock)
        assert again.ok, f"{where}: the second publish failed"
        assert (again.written, again.rendered, again.removed) == (0, 0, 0), (
            f"{where}: a second publish right after wrote {again.written}, rendered {again.rendered}, removed "
            f"{again.removed}: {[(r.path, r.status) for r in again.results if r.status != 'unchanged']}")
        sync = again.sync
        assert sync is not None and (sync.added, sync.updated, sync.restored, sync.deleted) == (0, 0, 0, 0), (
            f"{where}: the second publish's sync changed posts: {sync and sync.summary()}")
        stats_again = {p.relative_to(self.feeds).as_posix(): (p.stat().st_mtime_ns, p.stat().st_ino)
                       for p in self.feeds.rglob("*") if p.is_file()}
        assert stats_again == stats, (f"{where}: the second publish touched "
                                      f"{sorted(k for k in stats_again.keys() | stats.keys() if stats.get(k) != stats_again.get(k))}")

        # Same store in, same bytes out: a --full republish of a copy gives the same files.
        self.copies += 1
        copy = self.tmp / f"copy-{self.copies}"
        shutil.copytree(self.root, copy)
        try:
            full = publish(load_config(copy / "config.yaml"), full=True, sync=False, ping=False, now=clock)
            assert full.ok, f"{where}: the --full republish of a copy failed"
            mine, theirs = self._feed_files(), self._feed_files(copy / "feeds")
            differ = sorted(rel for rel in mine.keys() | theirs.keys() if mine.get(rel) != theirs.get(rel))
            assert not differ, f"{where}: the feeds differ from a --full republish: {differ}"
        finally:
            shutil.rmtree(copy, ignore_errors=True)

    # --- rules ------------------------------------------------------------------------------------

    @initialize(title=titles, body=bodies, labels=label_lists, author=st.sampled_from(AUTHORS),
                day=st.integers(0, 4000), offset=st.sampled_from(OFFSETS))
    def first_post(self, title: str, body: str, labels: list[str], author: str, day: int, offset: int) -> None:
        """A journal with one post, published: the rules start from a store that holds something."""
        self.add_post(title, body, labels, author, day, offset)
        note(f"publish at {self.clock.isoformat()}")
        self._do_publish(self.clock)

    @precondition(lambda self: len(self.posts) < MAX_POSTS)
    @rule(title=titles, body=bodies, labels=label_lists, author=st.sampled_from(AUTHORS),
          day=st.integers(0, 4000), offset=st.sampled_from(OFFSETS))
    def add_post(self, title: str, body: str, labels: list[str], author: str, day: int, offset: int) -> None:
        key = len(self.posts)
        # distinct instants (the day, plus the post's number in seconds), so the order is known
        when = (datetime(2009, 1, 1, tzinfo=UTC) + timedelta(days=day, seconds=key)).astimezone(
            timezone(timedelta(minutes=offset)))
        p = PostModel(key, when, author, title, body, list(labels))
        self.posts.append(p)
        self._write(p)
        note(f"add {describe(p)}")

    @precondition(lambda self: any(p.file_present for p in self.posts))
    @rule(pick=picks, what=st.sampled_from(["title", "body", "labels", "all"]), title=titles, body=bodies,
          labels=label_lists)
    def edit_post(self, pick: int, what: str, title: str, body: str, labels: list[str]) -> None:
        p = self._pick(pick, lambda q: q.file_present)
        if what in ("title", "all"):
            p.title = title
        if what in ("body", "all"):
            p.body = body
        if what in ("labels", "all"):
            p.labels = list(labels)
        self._write(p)
        note(f"edit {what}: {describe(p)}")

    @precondition(lambda self: any(p.file_present for p in self.posts))
    @rule(pick=picks, style=st.integers(0, 2), flag=st.integers(0, 3))
    def reformat_post(self, pick: int, style: int, flag: int) -> None:
        """Rewrite the file in another YAML style, line ending, BOM, comment or end marker: same post."""
        p = self._pick(pick, lambda q: q.file_present)
        if p.expected(style) == p.expected():  # some YAML spellings do not read back alike: keep those
            p.style = style
        wrap = list(p.wrap)
        wrap[flag] = not wrap[flag]
        p.wrap = tuple(wrap)  # type: ignore[assignment]
        self._write(p)
        note(f"reformat {p.name}: style {p.style}, wrap {p.wrap}")

    @precondition(lambda self: any(p.file_present for p in self.posts))
    @rule(pick=picks, how=st.sampled_from(["upper", "lower", "decomposed", "fullwidth", "reversed", "spaced",
                                           "repeated"]))
    def respell_labels(self, pick: int, how: str) -> None:
        """The same labels spelt otherwise (case, Unicode form, width, order, spacing, repeats): same post."""
        p = self._pick(pick, lambda q: q.file_present)
        spell = {
            "upper": str.upper, "lower": str.lower,
            "decomposed": lambda x: unicodedata.normalize("NFD", x),
            "fullwidth": lambda x: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in x),
            "spaced": lambda x: " " + "  ".join(x.split(" ")) + " ",
        }.get(how, lambda x: x)
        labels = [spell(x) for x in p.labels]
        p.labels = labels[::-1] if how == "reversed" else labels + labels[:1] if how == "repeated" else labels
        self._write(p)
        note(f"respell labels ({how}): {describe(p)}")

    @precondition(lambda self: any(p.file_present for p in self.posts))
    @rule(pick=picks)
    def toggle_draft(self, pick: int) -> None:
        """``draft: true`` in the front matter, or taken out again: unpublished, or published again."""
        p = self._pick(pick, lambda q: q.file_present)
        p.draft = not p.draft
        self._write(p)
        note(f"{'draft' if p.draft else 'no longer a draft'}: {describe(p)}")

    @precondition(lambda self: any(p.file_present for p in self.posts))
    @rule(pick=picks, ahead=st.sampled_from([1, 60, 24 * 60, 2 * 24 * 60]) | st.integers(1, 3 * 24 * 60),
          day=st.integers(0, 4000), future=st.booleans())
    def redate_post(self, pick: int, ahead: int, day: int, future: bool) -> None:
        """A new date: ``ahead`` minutes after the clock (scheduled; the clock's steps release it, or
        take it back when the clock goes back), or a day in the past."""
        p = self._pick(pick, lambda q: q.file_present)
        if future:  # whole minutes plus the post's number in seconds: never the instant of another post
            when = self.clock.replace(second=0) + timedelta(minutes=ahead, seconds=p.key)
        else:
            when = datetime(2009, 1, 1, tzinfo=UTC) + timedelta(days=day, seconds=p.key)
        p.published = when.astimezone(p.published.tzinfo)
        self._write(p)
        note(f"re-dated: {describe(p)} to {p.published.isoformat()}")

    @precondition(lambda self: any(p.file_present for p in self.posts))
    @rule(pick=picks)
    def delete_file(self, pick: int) -> None:
        p = self._pick(pick, lambda q: q.file_present)
        (self.content / p.name).unlink()
        p.file_present = False
        note(f"delete file {p.name}")

    @precondition(lambda self: any(not p.file_present for p in self.posts))
    @rule(pick=picks)
    def restore_file(self, pick: int) -> None:
        p = self._pick(pick, lambda q: not q.file_present)
        self._write(p)
        note(f"put back file {p.name}")

    # (Which posts a rule may pick depends only on the steps, never on how far a killed publish
    # got, so that hypothesis can replay a run; a post the killed sync never added is skipped.)
    @precondition(lambda self: any(p.offered for p in self.posts))
    @rule(pick=picks)
    def store_delete(self, pick: int) -> None:
        """``newswire post delete``: only a post that is not deleted yet becomes deleted (by the user)."""
        p = self._pick(pick, lambda q: q.offered)
        if p.state == "absent":  # a killed publish offered it, and died before its sync committed
            assert self._store_rows().get(p.source) is None, f"{p.name} is in the store but was never synced"
            return
        with SqliteStore(self.config.paths.store) as store:
            post_id = store.posts.find(p.source)
            assert post_id is not None, f"{p.name} ({p.state}) is not in the store"
            done = store.posts.mark_deleted(post_id, self.clock, by="user")
        assert done == (p.state == "live"), f"post delete {p.name} ({p.state}) answered {done}"
        if done:
            p.state, p.deleted_at, p.deleted_floor = "user", None, self.clock
        note(f"post delete {p.name} at {self.clock.isoformat()}: {done}")
        self._check_store(f"after post delete {p.name}")

    @precondition(lambda self: any(p.offered for p in self.posts))
    @rule(pick=picks)
    def store_restore(self, pick: int) -> None:
        """``newswire post restore``: a deleted post comes back (a file-less one leaves again at the sync)."""
        p = self._pick(pick, lambda q: q.offered)
        if p.state == "absent":  # a killed publish offered it, and died before its sync committed
            assert self._store_rows().get(p.source) is None, f"{p.name} is in the store but was never synced"
            return
        with SqliteStore(self.config.paths.store) as store:
            post_id = store.posts.find(p.source)
            assert post_id is not None, f"{p.name} ({p.state}) is not in the store"
            done = store.posts.restore(post_id)
        assert done == (p.state in ("sync", "user")), f"post restore {p.name} ({p.state}) answered {done}"
        if done:
            p.state, p.deleted_at, p.deleted_floor = "live", None, None
        self._check_store(f"after post restore {p.name}")
        note(f"post restore {p.name}: {done}")

    @rule(step=forward)
    def publish_later(self, step: int) -> None:
        self.clock += timedelta(seconds=step)
        note(f"publish at {self.clock.isoformat()}")
        self._do_publish(self.clock)

    @rule(step=backward)
    def publish_clock_back(self, step: int) -> None:
        self.clock += timedelta(seconds=step)
        note(f"publish at {self.clock.isoformat()} (the clock went back)")
        self._do_publish(self.clock)

    @rule(step=st.one_of(forward, backward), delay=st.sampled_from([0.0, 0.005, 0.02, 0.05, 0.1, 0.2, 0.35]))
    def publish_killed(self, step: int, delay: float) -> None:
        """A publish in a forked child, killed with SIGKILL after ``delay`` seconds."""
        self.clock += timedelta(seconds=step)
        clock, now = self.clock, self._effective(self.clock)
        self.sentinel += 1
        (self.content / SENTINEL).write_text(
            f"---\ntitle: sentinel {self.sentinel}\ndate: 2009-01-01T00:00:00Z\nauthor: jmorton\ndraft: true\n---\n",
            encoding="utf-8")
        self._offer()
        before = self._outside()
        pid = os.fork()
        if pid == 0:  # the child: publish, and leave without running any of the parent's clean-up
            code = 0
            try:
                publish(load_config(self.root / "config.yaml"), ping=False, now=clock, allow_mass_delete=True)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        time.sleep(delay)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        note(f"publish at {clock.isoformat()} killed after {delay} s (killed: {killed})")
        where = f"after a publish at {clock.isoformat()} (runs at {now.isoformat()}) killed after {delay} s"
        assert killed or (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0), f"{where}: the publish failed"
        self._read_all(where)  # no half-written file is ever visible
        self._check_outside(before, where)
        # The sync is one transaction: the store has all of it (the sentinel draft says so) or none.
        synced = False
        if self.config.paths.store.exists():
            with SqliteStore(self.config.paths.store) as store:
                sid = store.posts.find("md:" + SENTINEL)
                if sid is not None:
                    synced = store.posts.load([sid], self.config.journal.post_url)[sid].title == f"sentinel {self.sentinel}"
        if synced:
            self._sync_model(now, clock)
            self._recorded_floor(where, (self.floor, now))
        note(f"  its sync {'committed' if synced else 'did not commit'}")
        self._check_store(f"{where} (its sync {'committed' if synced else 'did not commit'})")
        if synced:
            self._shown_model(clock, now, maybe=True)


JournalMachine.TestCase.settings = settings(
    max_examples=25, stateful_step_count=12, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
test_journal_state_machine = JournalMachine.TestCase

"""The publish job: plan → render → verify → write → record, under the journal's lock.

Only documents whose fingerprint changed (or whose file on disk is missing or was
altered) are rendered; only bytes that differ are written; a document that fails
verification is not written and keeps its last good version. The store records a
document only after its file is in place, so a crash at any moment leaves readers
the previous version and the next run converges.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from . import content, notify
from .config import Config
from .lock import journal_lock
from .model import STYLESHEET, DocumentState, DocumentStatus, EntryRef, Post, Problem
from .plan import Plan, PlannedFeed, feed_folder, journal_feed, make_plan, settings_digest
from .store import SqliteStore, Store, from_utc_text, to_utc_text
from .workers import run_tasks

if TYPE_CHECKING:
    from . import proof
    from .render import Site
from .writer import WriteError, Written, clean_temporaries, digest, file_digest, remove, write_atomic

INDEX_FILES = ("index.opml", "index.html", STYLESHEET)
Progress = Callable[[int, int], None]


@dataclass
class DocumentResult:
    path: str
    feed: str
    status: DocumentStatus
    problems: list[Problem] = field(default_factory=list)


@dataclass
class PublishReport:
    feeds: int = 0
    documents: int = 0
    rendered: int = 0
    written: int = 0
    removed: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    results: list[DocumentResult] = field(default_factory=list)
    sync: content.SyncReport | None = None
    errors: list[str] = field(default_factory=list)
    queued: int = 0
    pings: notify.DeliveryReport | None = None
    warnings: list[str] = field(default_factory=list)  # worth a look, but nothing failed

    @property
    def failed(self) -> list[DocumentResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.errors and not (self.sync and self.sync.errors)

    def summary(self) -> str:
        changed = len({r.feed for r in self.results if r.status == "written" and r.feed != "index"})
        failed = len({r.feed for r in self.failed})
        verb = "would publish" if self.dry_run else "published"
        pings = f", {self.queued} ping{'s' if self.queued != 1 else ''} queued"
        if self.pings is not None and (self.pings.delivered or self.pings.retrying or self.pings.failed
                                       or self.pings.deferred):
            pings += f" ({self.pings.summary()})"
        return (f"{verb} {changed} of {self.feeds} feeds ({self.written} of {self.documents} documents written, "
                f"{self.rendered} rendered), {failed} failed{pings} in {self.seconds:.1f} s")

    def as_json(self) -> dict[str, object]:
        return {
            "ok": self.ok, "dry_run": self.dry_run, "feeds": self.feeds, "documents": self.documents,
            "rendered": self.rendered, "written": self.written, "removed": self.removed,
            "seconds": round(self.seconds, 3), "errors": self.errors, "pings_queued": self.queued,
            "pings": None if self.pings is None else {
                "delivered": self.pings.delivered, "retrying": self.pings.retrying, "failed": self.pings.failed,
                "deferred": self.pings.deferred,
                "errors": self.pings.errors},
            "sync_errors": [str(e) for e in self.sync.errors] if self.sync else [], "warnings": self.warnings,
            "results": [{"path": r.path, "feed": r.feed, "status": r.status,
                         "problems": [str(p) for p in r.problems]} for r in self.results],
        }


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def site_of(config: Config) -> Site:
    from .render import Site  # rendering libraries: loaded only when something is rendered

    return Site(journal=config.journal, hubs=config.notify.websub, content=config.feeds.content)


def open_store(config: Config) -> Store:
    store = SqliteStore(config.paths.store, timeout=config.paths.store_wait)
    store.authors.sync(config.authors)
    return store


def publish(config: Config, *, full: bool = False, dry_run: bool = False, sync: bool = True, ping: bool = True,
            now: datetime | None = None, wait: float = 0.0, progress: Progress | None = None,
            allow_mass_delete: bool = False) -> PublishReport:
    """Run one publish of the journal; see the module docstring for the guarantees.

    Notifications for what changed are queued with the record of the documents, then
    (unless ``ping`` is false) whatever is due is delivered. A failed ping does not
    fail the publish: it stays queued and the report says so.
    """
    started = time.monotonic()
    now = now or utcnow()
    with journal_lock(config.lock_path, wait), open_store(config) as store:
        clock = _not_before_last_publish(store, now)
        report = PublishReport(dry_run=dry_run, warnings=_clock_warnings(now, clock))
        with store.scratch() if dry_run else nullcontext():  # a dry run's sync is undone
            if sync:  # a missing content folder is reported, not taken for an empty one
                report.sync = content.sync(config, store, clock, allow_mass_delete=allow_mass_delete)
            generation = store.state.generation()
            if full or dry_run or not _nothing_changed(config, store, now, generation, report):
                store.feeds.note_shown(now, clock)
                states = store.documents.all()  # read once: for the feeds to skip and for the run
                mark, touched = (None, None) if dry_run else store.feeds.take_touched()
                skip = set() if full or touched is None else _untouched_feeds(config, store, now, touched, states)
                plan = make_plan(config, store, now, clock, skip)
                _publish_plan(config, store, plan, report, full, dry_run, progress, generation, mark, states)
        if ping and not dry_run:
            report.pings = notify.deliver(config, store, now + timedelta(seconds=time.monotonic() - started))
        report.seconds = time.monotonic() - started
        if not dry_run:
            detail = report.as_json()  # the log keeps what happened, not the long list of unchanged documents
            detail["results"] = [r for r in detail["results"] if r["status"] != "unchanged"]  # type: ignore
            store.documents.log_publish(clock, utcnow(), "ok" if report.ok else "failed", report.feeds, report.written,
                              len(report.failed), detail)
        return report


FAR = datetime(9999, 1, 1, tzinfo=UTC)


def _last_good_publish(config: Config, store: Store, now: datetime) -> dict[str, object] | None:
    """What the last publish that succeeded recorded, if a publish at ``now`` can build on it: it
    finished (no killed publish since), the settings are the same, no post has come due nor
    tombstone expired since, and the clock is not behind a post it showed ('since')."""
    mark = store.state.get("published")
    if (not isinstance(mark, dict) or store.state.get("running") or mark.get("settings") != settings_digest(config)
            or not mark.get("since", "~") <= to_utc_text(now) < mark.get("until", "")
            or to_utc_text(_not_before_last_publish(store, now)) >= mark.get("expires", "")):
        return None
    return mark


def _nothing_changed(config: Config, store: Store, now: datetime, generation: int, report: PublishReport) -> bool:
    """True when the last publish left every document good and nothing they show can have changed.

    Nothing changed when the store's generation (moved by every change to posts, labels
    or authors) and the output on disk are as the last good publish left them. Then
    there is nothing to plan.
    """
    mark = _last_good_publish(config, store, now)
    if mark is None or mark.get("generation") != generation:
        return False
    states = store.documents.all()
    if not all(on_disk_as_recorded(config.paths.output, state) for state in states.values()):
        return False  # drift: the full path restores the file
    report.feeds, report.documents = mark["feeds"], mark["documents"]  # type: ignore[assignment]
    report.results = [DocumentResult(path, _feed_of(path), "unchanged") for path in sorted(states)]
    return True


def _untouched_feeds(config: Config, store: Store, now: datetime, touched: set[str],
                     states: dict[str, DocumentState]) -> set[str]:
    """The feeds (folders) a publish need not plan: those the last good publish listed, less those a
    change touched since and those whose files are not as it recorded them. Empty when every feed
    must be planned."""
    listed = store.state.get("listings")
    if "all" in touched or not isinstance(listed, dict) or _last_good_publish(config, store, now) is None:
        return set()
    out = config.paths.output
    drifted = {_feed_of(s.path) for s in states.values() if not on_disk_as_recorded(out, s)}
    return set(listed) - touched - drifted


def _feed_of(path: str) -> str:
    """The feed a document belongs to, from its path: its folder, less any archive page."""
    if path in INDEX_FILES:
        return "index"
    folder = path.rpartition("/")[0]
    if "archive/" in folder:
        folder = re.sub(r"/?archive/\d+$", "", folder)
    return folder or "journal"


def _publish_plan(config: Config, store: Store, plan: Plan, report: PublishReport, full: bool, dry_run: bool,
                  progress: Progress | None, generation: int, touched: int | None,
                  states: dict[str, DocumentState]) -> None:
    """Render, verify and write what the plan says changed; remember a clean result for the next run
    (and forget the feeds touched up to ``touched``, which it has published)."""
    if dry_run:
        _Run(config, store, plan, report, full, dry_run, progress, states=states).run()
        return
    if store.state.get("running"):  # the last publish was killed: its temporary files may be lying about
        clean_temporaries(config.paths.output)
    store.state.set("running", True)
    run = _Run(config, store, plan, report, full, dry_run, progress, states=states)
    run.run()
    store.state.set("running", False)
    if not report.failed and not report.errors:
        days = config.feeds.tombstone_days
        expires = store.feeds.next_tombstone_expiry(plan.clock, days) or FAR
        with store.transaction():
            store.state.set("published", {"generation": generation, "settings": settings_digest(config),
                                          "since": store.feeds.newest_live(plan.now),
                                          "until": to_utc_text(store.feeds.next_scheduled(plan.now) or FAR),
                                          "expires": to_utc_text(expires), "feeds": report.feeds,
                                          "documents": report.documents})
            store.state.set("listings", run.listings)
            if touched is not None:
                store.feeds.clear_touched(touched)


def on_disk_as_recorded(out: Path, state: DocumentState) -> bool:
    """The file is the one the store recorded: same size and mtime, or else the same bytes."""
    path = os.path.join(out, state.path)  # not pathlib: this runs for every document of a journal
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    if st.st_size != state.size:
        return False
    return st.st_mtime_ns == state.mtime_ns or file_digest(Path(path)) == state.sha256


def _not_before_last_publish(store: Store, now: datetime) -> datetime:
    """The time a publish dates what it writes (updates, deletions, tombstones, its log): the clock,
    or the last publish's time if the clock is behind it, so that no date in a feed goes back.
    Which posts are out is decided by the clock itself: a clock once ahead releases nothing early."""
    last = store.documents.last_publish()
    return now if last is None else max(now, last.started_at)


def _clock_warnings(now: datetime, clock: datetime) -> list[str]:
    """What a run on a clock behind the last publish tells the operator (it is not an error)."""
    if clock <= now:
        return []
    return [f"the clock ({to_utc_text(now)}) is behind the last publish ({to_utc_text(clock)}): dates are written "
            "as of the last publish until the clock passes it; posts still go out at their own time by the clock"]


def check_published(config: Config, *, now: datetime | None = None) -> PublishReport:
    """Compare every published document with what the store says it should be (no writes).

    Reports missing files, files changed on disk and documents the store has moved
    past; every expected document is also read back and verified.
    """
    started = time.monotonic()
    with open_store(config) as store:
        now = now or utcnow()
        report = PublishReport(dry_run=True)
        plan = make_plan(config, store, now, _not_before_last_publish(store, now))
        _Run(config, store, plan, report, full=True, dry_run=True, progress=None, check=True).run()
        report.seconds = time.monotonic() - started
        return report


class _Run:
    """One publish's state: what to render, what was written, what changed for subscribers."""

    def __init__(self, config: Config, store: Store, plan: Plan, report: PublishReport, full: bool,
                 dry_run: bool, progress: Progress | None, check: bool = False,
                 states: dict[str, DocumentState] | None = None):
        self.config, self.store, self.plan, self.report = config, store, plan, report
        self.full, self.dry_run, self.progress, self.check = full, dry_run, progress, check
        self.out = config.paths.output
        self.states = store.documents.all() if states is None else states
        self.recorded: list[DocumentState] = []
        self.changed: dict[str, dict[str, str]] = {}
        self.changed_entries: dict[int, EntryRef] = {}
        self.listings: dict[str, list[object]] = {}  # every feed's [live posts, newest update] for the index pages
        # Documents of feeds a partial plan leaves alone: kept as they are
        untouched = {feed_folder(feed) for feed in plan.every} - {feed_folder(pf.main) for pf in plan.feeds}
        self.kept = sorted(path for path in self.states if _feed_of(path) in untouched) if plan.partial else []

    def run(self) -> None:
        todo = []
        for pf in self.plan.feeds:
            for fmt in self.config.feeds.formats:
                if self.full or not self._in_place(pf.feed.path(fmt), pf.fingerprint):
                    todo.append((pf, fmt))
                else:
                    self.report.results.append(DocumentResult(pf.feed.path(fmt), pf.main.dir or "journal",
                                                              "unchanged"))
        self.report.results += [DocumentResult(path, _feed_of(path), "unchanged") for path in self.kept]
        self.report.feeds = len(self.plan.every)
        self.report.documents = (len(self.plan.feeds) * len(self.config.feeds.formats) + len(self.kept)
                                 + len(INDEX_FILES))
        self._render(todo)
        self._publish_indexes()
        self._remove_orphans()
        if not self.dry_run and self.recorded:
            fresh = self.store.documents.unannounced(self.changed_entries.values())
            notes = notify.changes(self.config, sorted(self.changed.items()), [ref.entry_id for ref in fresh])
            self.store.documents.record(self.recorded, self.plan.now, notes, fresh)
            self.report.queued = len(notes)

    def _render(self, todo: list[tuple[PlannedFeed, str]]) -> None:
        """Prove every entry the documents hold, then assemble, verify and write them (see ``proof``)."""
        from . import proof  # rendering and parsing libraries: loaded only when something is rendered

        keys = sorted({(ref.post_id, fmt, pf.content) for pf, fmt in todo for ref in pf.entries})
        parallel = len(keys) >= proof.PARALLEL_THRESHOLD
        total, done = len(keys) + len(todo), 0
        work = proof.Work(site_of(self.config), journal_feed(self.config), self.config.feeds.formats, self.out,
                          proof.open_spool(self.config.paths.store.parent), todo, dry_run=self.dry_run)
        proof.WORK.append(work)
        try:
            for result in run_tasks(proof.prove_posts, keys, parallel=parallel, prepare=self._with_posts):
                proof.spool(work, [result])
                done += 1
                if self.progress:
                    self.progress(done, total)
            for outcome in run_tasks(proof.publish_documents, range(len(todo)), parallel=parallel,
                                     prepare=list, waits=True):
                self._take(todo[outcome.index], outcome)
                done += 1
                if self.progress:
                    self.progress(done, total)
        finally:
            proof.WORK.remove(work)
            os.close(work.spool)

    def _with_posts(self, keys: list[tuple[int, str, str]]) -> list[tuple[tuple[int, str, str], Post]]:
        posts = self.store.posts.load({key[0] for key in keys}, self.config.journal.post_url)
        return [(key, posts[key[0]]) for key in keys]

    def _in_place(self, path: str, fingerprint: str) -> bool:
        """True if the recorded document has this fingerprint and its file is as written."""
        state = self.states.get(path)
        return state is not None and state.fingerprint == fingerprint and on_disk_as_recorded(self.out, state)

    def _take(self, job: tuple[PlannedFeed, str], outcome: proof.DocumentOutcome) -> None:
        """Record what became of one document, and whether subscribers have news."""
        pf, fmt = job
        self.report.rendered += 1
        if outcome.error:
            self.report.errors.append(outcome.error)
        if outcome.status == "failed":
            self.report.results.append(DocumentResult(outcome.path, pf.main.dir or "journal", "failed",
                                                      list(outcome.problems)))
            return
        self._note(outcome.path, pf.main.dir or "journal", pf.fingerprint, outcome.status == "written",
                   outcome.written)
        previous = self.states.get(outcome.path)
        if pf.is_main and outcome.written and (previous is None or previous.sha256 != outcome.written.sha256):
            # New bytes for subscribers (a restored hand-edited file is not news).
            self.changed.setdefault(pf.feed.dir, {})[fmt] = self.config.journal.feed_url(outcome.path)
            self.changed_entries.update((ref.post_id, ref) for ref in pf.entries)

    def _note(self, path: str, feed: str, fingerprint: str, changed: bool, written: Written | None) -> None:
        """A document that is in place (or, in a dry run, would be): report it, and record it once written."""
        if self.dry_run and self.check and changed:
            self.report.results.append(DocumentResult(path, feed, "failed", [self._drift(path)]))
            return
        if written is not None:
            self.recorded.append(DocumentState(path, fingerprint, written.sha256, written.size, written.mtime_ns))
        self.report.results.append(DocumentResult(path, feed, "written" if changed else "unchanged"))
        self.report.written += changed

    def _write(self, path: str, feed: str, data: bytes, fingerprint: str) -> None:
        """Write one of the index files (small, made here rather than by the workers)."""
        if self.dry_run:
            self._note(path, feed, fingerprint, file_digest(self.out / path) != digest(data), None)
            return
        try:
            written = write_atomic(self.out, path, data)
        except WriteError as exc:
            self.report.errors.append(str(exc))
            self.report.results.append(DocumentResult(path, feed, "failed"))
            return
        self._note(path, feed, fingerprint, written.changed, written)

    def _drift(self, path: str) -> Problem:
        """How a published file differs from what the store says it should be."""
        state = self.states.get(path)
        on_disk = file_digest(self.out / path)
        if on_disk is None:
            return Problem(path, "", "file", "present", "missing")
        if state is not None and state.sha256 != on_disk:
            return Problem(path, "", "file", "the bytes newswire wrote", "changed on disk since then")
        return Problem(path, "", "file", "up to date with the store", "older (run 'newswire publish')")

    def _publish_indexes(self) -> None:
        from .render.index import Listing, feed_stylesheet, html_page, opml

        for pf in self.plan.mains:
            newest = max((ref.updated for ref in pf.entries), default=None)
            self.listings[feed_folder(pf.feed)] = [self.plan.live_posts(pf.feed), newest]
        if self.plan.partial:  # the other feeds are as the last good publish listed them
            before = self.store.state.get("listings")
            assert isinstance(before, dict)
            self.listings = {folder: self.listings.get(folder) or before[folder]
                             for folder in map(feed_folder, self.plan.every)}
        listings = [Listing(feed, posts, from_utc_text(newest) if newest else None)  # type: ignore[arg-type]
                    for feed, (posts, newest) in ((feed, self.listings[feed_folder(feed)]) for feed in self.plan.every)]
        fingerprint = hashlib.sha256(json.dumps(
            [settings_digest(self.config)] + [[lst.feed.dir, lst.feed.title, lst.posts, str(lst.updated)]
                                              for lst in listings]).encode()).hexdigest()
        makers = {"index.opml": opml, "index.html": html_page, STYLESHEET: feed_stylesheet}
        for name in INDEX_FILES:
            if self.full or not self._in_place(name, fingerprint):
                self._write(name, "index", makers[name](self.config.journal, listings, self.config.feeds.formats),
                            fingerprint)

    def _remove_orphans(self) -> None:
        """Documents of feeds or formats that no longer exist are taken down."""
        wanted = ({pf.feed.path(fmt) for pf in self.plan.feeds for fmt in self.config.feeds.formats}
                  | set(INDEX_FILES) | set(self.kept))
        gone = [path for path in self.states if path not in wanted]
        if gone and not self.dry_run:
            removed = []
            for path in gone:
                try:
                    remove(self.out, path)
                except WriteError as exc:
                    self.report.errors.append(str(exc))
                else:
                    removed.append(path)
            self.store.documents.forget(removed)
        self.report.removed = len(gone)


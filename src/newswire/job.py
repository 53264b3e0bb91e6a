"""The publish job: plan → render → verify → write → record, under the journal's lock.

Only documents whose fingerprint changed (or whose file on disk is missing or was
altered) are rendered; only bytes that differ are written; a document that fails
verification is not written and keeps its last good version. The store records a
document only after its file is in place, so a crash at any moment leaves readers
the previous version and the next run converges.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from . import content, memory
from .config import Bucket, Config
from .lock import journal_lock
from .memory import FeedListing, Memory
from .model import (
    STYLESHEET,
    DocumentState,
    DocumentStatus,
    EntryRef,
    FeedKind,
    Post,
    Problem,
    document_path,
    feed_dir,
    folder_name,
    named_folder,
    page_document_path,
)
from .plan import Plan, PlannedFeed, journal_feed, make_plan, page_fingerprint, settings_digest
from .sinks import Kind, Placed, Refused, Sink, document
from .sinks.directory import Directory
from .sinks.dryrun import Check, DryRun
from .sinks.split import Split, is_site, site_path
from .store import Store, from_utc_text, open_at, to_utc_text
from .workers import run_tasks

if TYPE_CHECKING:
    from . import notify, proof
    from .render import Site

INDEX_FILES = ("index.opml", "index.html", STYLESHEET)
Progress = Callable[[int, int], None]


@dataclass(slots=True)
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
    removed_paths: list[str] = field(default_factory=list)

    @property
    def changed_paths(self) -> list[str]:
        """The documents this publish put new bytes in or took down."""
        return sorted({r.path for r in self.results if r.status == "written"} | set(self.removed_paths))

    @property
    def failed(self) -> list[DocumentResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.errors and not (self.sync and self.sync.errors)

    def summary(self) -> str:
        changed = len({r.feed for r in self.results if r.status == "written" and r.feed not in ("index", "site")})
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


def output_sink(config: Config, store: Store, *, survey: bool = False) -> Sink:
    """The one place the output is chosen: its folder, or a bucket (``sinks.s3``, which takes what is
    there from the store's record, or with ``survey`` lists it), and the journal's pages folder when
    it has one (see ``sinks.split``)."""
    feeds: Sink
    if isinstance(config.paths.output, Bucket):
        from .sinks.s3 import S3  # boto3: loaded only for a bucket

        feeds = S3.open(config.paths.output, config.output, store.documents.all(), survey=survey)
    else:
        feeds = Directory(config.paths.output)
    return Split(feeds, Directory(config.paths.pages)) if config.paths.pages is not None else feeds


def publish_digest(config: Config) -> str:
    """What a publish must build on: the settings that shape the documents, and whether it makes
    the journal's own pages (a publish that begins to make them cannot skip as nothing changed)."""
    return hashlib.sha256(f"{settings_digest(config)}\npages:{config.paths.pages is not None}".encode()).hexdigest()


def open_store(config: Config) -> Store:
    """The journal's store, SQLite's or PostgreSQL's (``paths.store``), with the config's authors in it."""
    store = open_at(config.store_at, timeout=config.paths.store_wait)
    store.authors.sync(config.authors)
    return store


def publish(config: Config, *, full: bool = False, dry_run: bool = False, sync: bool = True, ping: bool = True,
            now: datetime | None = None, wait: float = 0.0, progress: Progress | None = None,
            allow_mass_delete: bool = False, force_revision: bool = False, sink: Sink | None = None) -> PublishReport:
    """Run one publish of the journal into ``sink`` (the output folder unless given); see the module
    docstring for the guarantees.

    Notifications for what changed are queued with the record of the documents, then
    (unless ``ping`` is false) whatever is due is delivered. A failed ping does not
    fail the publish: it stays queued and the report says so.
    """
    started = time.monotonic()
    now = now or utcnow()
    with journal_lock(config.lock_path, wait), open_store(config) as store:
        clock = _not_before_last_publish(store, now)
        report = PublishReport(dry_run=dry_run, warnings=_clock_warnings(now, clock))
        target = sink or output_sink(config, store)
        sink = DryRun(target) if dry_run else target
        with store.scratch() if dry_run else nullcontext():  # a dry run's sync is undone
            if sync:  # a missing content folder is reported, not taken for an empty one
                report.sync = content.sync(config, store, clock, allow_mass_delete=allow_mass_delete,
                                           force_revision=force_revision)
                if report.sync.behind:  # not an error: a host behind publishes the store's newer posts
                    report.warnings.append(report.sync.behind)
            generation = store.state.generation()
            last = _last_good_publish(config, store, now, clock)
            if full or dry_run or not _nothing_changed(config, store, sink, last, generation, report):
                store.feeds.note_shown(now, clock)
                states = store.documents.all()  # read once: for the feeds to skip and for the run
                mark, touched = (None, None) if dry_run else store.feeds.take_touched()
                skip = (set() if full or touched is None or last is None
                        else _untouched_feeds(config, sink, last, touched, states))
                plan = make_plan(config, store, now, clock, skip)
                _publish_plan(config, store, plan, report, full, sink, progress, generation, mark, states, last)
        if not dry_run and (config.output.purge_command or config.output.purge_url):
            from . import purge

            report.warnings += purge.purge(config, report.changed_paths)
        if ping and not dry_run:
            from . import notify  # only when pinging: a publish with --no-ping never loads it

            report.pings = notify.deliver(config, store, now + timedelta(seconds=time.monotonic() - started))
        report.seconds = time.monotonic() - started
        if not dry_run:
            detail = report.as_json()  # the log keeps what happened, not the long list of unchanged documents
            detail["results"] = [r for r in detail["results"] if r["status"] != "unchanged"]  # type: ignore
            store.documents.log_publish(clock, utcnow(), "ok" if report.ok else "failed", report.feeds, report.written,
                              len(report.failed), detail)
        return report


FAR = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class _SiteJob:
    """One of the journal's own pages a publish keeps: ``path`` as recorded (``sinks.split.site_path``),
    what it is ('post', 'gone' or 'home'), its fingerprint, and its post or (home) the journal feed."""

    path: str
    what: str
    fingerprint: str
    post_id: int = 0
    feed: PlannedFeed | None = None


def _digest(parts: list[str]) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _last_good_publish(config: Config, store: Store, now: datetime, clock: datetime) -> Memory | None:
    """What the last publish that succeeded left (see ``memory``), if a publish at ``now`` dating by
    ``clock`` can build on it."""
    last = memory.load(store)
    return last if last is not None and last.holds(publish_digest(config), now, clock) else None


def _nothing_changed(config: Config, store: Store, sink: Sink, last: Memory | None, generation: int,
                     report: PublishReport) -> bool:
    """True when the last publish left every document good and nothing they show can have changed.

    Nothing changed when the store's generation (moved by every change to posts, labels
    or authors) and what is in the sink are as the last good publish left them. Then
    there is nothing to plan.
    """
    if last is None or last.generation != generation:
        return False
    states = store.documents.all()
    if not all(sink.as_recorded(state) for state in states.values()):
        return False  # drift: the full path restores the file
    report.feeds, report.documents = last.feeds, last.documents
    report.results = sorted([DocumentResult(path, folder, "unchanged") for folder in last.listings
                             for path in _recorded(folder, config.feeds.formats, states)]
                            + [DocumentResult(path, "index", "unchanged") for path in INDEX_FILES if path in states]
                            + [DocumentResult(path, "site", "unchanged") for path in states if is_site(path)],
                            key=lambda r: r.path)
    return True


def _untouched_feeds(config: Config, sink: Sink, last: Memory, touched: set[tuple[str, str]],
                     states: dict[str, DocumentState]) -> set[str]:
    """The feeds (folders) a publish need not plan: those the last good publish listed, less those a
    change touched since and those whose documents are not as it recorded them. Empty when every feed
    must be planned."""
    if any(kind == "all" for kind, _ in touched):
        return set()
    changed = {folder_name(feed_dir(FeedKind(kind), slug)) for kind, slug in touched}
    formats = config.feeds.formats
    return {folder for folder in set(last.listings) - changed
            if (paths := _recorded(folder, formats, states)) and all(sink.as_recorded(states[p]) for p in paths)}


def _recorded(folder: str, formats: tuple[str, ...], states: dict[str, DocumentState]) -> list[str]:
    """The documents the store records for the feed named ``folder``: its main documents and its
    archive pages (numbered from 1 with no gap), in every format, each with its page for people."""
    out: list[str] = []
    page = 0
    while paths := [path for fmt in formats if (path := document_path(named_folder(folder), fmt, page)) in states]:
        out += paths + [path for path in (page_document_path(named_folder(folder), page),) if path in states]
        page += 1
    return out


def _publish_plan(config: Config, store: Store, plan: Plan, report: PublishReport, full: bool, sink: Sink,
                  progress: Progress | None, generation: int, touched: int | None,
                  states: dict[str, DocumentState], last: Memory | None) -> None:
    """Render, verify and put in place what the plan says changed; if the sink records, remember a
    clean result for the next run (and forget the feeds touched up to ``touched``, which it has published)."""
    run = _Run(config, store, plan, report, full, sink, progress, states, last)
    if not sink.records:
        run.run()
        return
    if store.state.get("running"):  # the last publish was killed: it may have left things half done
        sink.recover()
    store.state.set("running", True)
    run.run()
    store.state.set("running", False)
    if not report.failed and not report.errors:
        expires = store.feeds.next_tombstone_expiry(plan.clock, config.feeds.tombstone_days) or FAR
        with store.transaction():
            memory.save(store, Memory(generation, publish_digest(config), store.feeds.newest_live(plan.now),
                                      to_utc_text(store.feeds.next_scheduled(plan.now) or FAR), to_utc_text(expires),
                                      report.feeds, report.documents, run.listings))
            if touched is not None:
                store.feeds.clear_touched(touched)


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
        states = store.documents.all()
        sink = Check(output_sink(config, store, survey=True), states)
        _Run(config, store, plan, report, True, sink, None, states, None).run()
        store.documents.distrust(states[r.path] for r in report.failed if r.path in states)  # put again next time
        report.seconds = time.monotonic() - started
        return report


class _Run:
    """One publish's state: what to render, what was put in place, what changed for subscribers.
    Where documents go, and whether that is recorded, is its sink's affair."""

    def __init__(self, config: Config, store: Store, plan: Plan, report: PublishReport, full: bool, sink: Sink,
                 progress: Progress | None, states: dict[str, DocumentState], last: Memory | None):
        self.config, self.store, self.plan, self.report = config, store, plan, report
        self.full, self.sink, self.progress, self.states = full, sink, progress, states
        self.recorded: list[DocumentState] = []
        self.changed: dict[str, dict[str, str]] = {}
        self.changed_entries: dict[int, EntryRef] = {}
        self.listings: dict[str, FeedListing] = {}  # every feed's listing, for the index pages
        self.site_wanted: set[str] = set()  # the journal's own pages to keep (see ``_site_todo``)
        self.gone: list[str] = []  # those that are deleted posts' pages
        self.before = last.listings if last is not None else {}  # the listings of feeds a partial plan skips
        # Documents of feeds a partial plan leaves alone: kept as they are
        untouched = {feed.folder for feed in plan.every} - {pf.main.folder for pf in plan.feeds}
        self.kept = ([(path, folder) for folder in sorted(untouched)
                      for path in _recorded(folder, config.feeds.formats, states)] if plan.partial else [])

    def run(self) -> None:
        todo = []
        for pf in self.plan.feeds:
            for fmt in self.config.feeds.formats:
                if self.full or not self._in_place(pf.feed.path(fmt), pf.fingerprint):
                    todo.append((pf, fmt))
                else:
                    self.report.results.append(DocumentResult(pf.feed.path(fmt), pf.main.folder, "unchanged"))
        self.report.results += [DocumentResult(path, folder, "unchanged") for path, folder in self.kept]
        self.report.feeds = len(self.plan.every)
        self.report.documents = (len(self.plan.feeds) * (len(self.config.feeds.formats) + 1) + len(self.kept)
                                 + len(INDEX_FILES))
        site = self._site_todo() if self.config.paths.pages is not None else []
        page_work = self._page_work()
        # A post's page is in place before a feed links to it; the home page (it links to the
        # journal feed's page) and the list of gone pages with the index pages, last.
        self._publish_site(page_work, [job for job in site if job.what != "home"])
        self._render(todo, self._pages_todo(), page_work)
        self._publish_indexes()
        self._publish_site(page_work, [job for job in site if job.what == "home"])
        if self.config.paths.pages is not None:
            self._publish_gone_list()
        self._remove_orphans()
        if self.sink.records and self.recorded:
            fresh = self.store.documents.unannounced(self.changed_entries.values())
            from . import notify

            notes = notify.changes(self.config, sorted(self.changed.items()), [ref.entry_id for ref in fresh])
            self.store.documents.record(self.recorded, self.plan.now, notes, fresh)
            self.report.queued = len(notes)

    def _page_work(self) -> proof.PageWork:
        from . import proof
        from .pages import Links

        return proof.PageWork(site_of(self.config), Links(self.config.journal, self.plan.every,
                                                          self.config.feeds.formats), self.sink)

    def _site_todo(self) -> list[_SiteJob]:
        """The journal's own pages this publish must render (the others are reported unchanged), and
        (in ``site_wanted``) every one it keeps: a page for each post the feeds show, a gone page for
        each deleted post they showed (none for a post withdrawn to a draft or a later date), and the
        home page. Each has a fingerprint: the post's (its digest covers what its page shows), its
        state, and the journal's feeds, which its page links to and names for autodiscovery."""
        from .pages import HOME_PAGE, post_path

        journal, settings = self.config.journal, settings_digest(self.config)
        shown = {ref.post_id: ref for ref in self.store.feeds.journal_slots(self.plan.now)}
        feeds = sorted(f.dir for f in self.plan.every)
        jobs: dict[str, _SiteJob] = {}
        for post in reversed(self.store.posts.summaries()):  # oldest first: of two posts at one address, the newer
            ref = shown.get(post.id)
            if ref is None or (ref.deleted_at is not None and post.deleted_at is None):
                continue  # never out, or withdrawn: it has no page
            path = post_path(journal, journal.post_url(post.slug, post.published))
            what = "gone" if post.deleted_at else "post"
            if path is None or (what == "gone" and getattr(jobs.get(site_path(path)), "what", "") == "post"):
                continue  # elsewhere, or the address is a live post's
            fingerprint = _digest([settings, what, ref.entry_id, ref.published, ref.digest, str(post.deleted_at),
                                   *feeds])
            jobs[site_path(path)] = _SiteJob(site_path(path), what, fingerprint, post.id)
        home = site_path(HOME_PAGE)
        main = next((pf for pf in self.plan.mains if pf.feed.kind is FeedKind.JOURNAL), None)
        self.site_wanted = set(jobs) | {home}  # a partial plan that leaves the journal feed keeps its home page
        if main is not None:
            jobs[home] = _SiteJob(home, "home", _digest([page_fingerprint(main, self.plan.every), "home"]), feed=main)
        todo = []
        for job in jobs.values():
            if self.full or not self._in_place(job.path, job.fingerprint):
                todo.append(job)
            else:
                self.report.results.append(DocumentResult(job.path, "site", "unchanged"))
        self.report.documents += len(self.site_wanted)
        self.gone = sorted(path for path, job in jobs.items() if job.what == "gone")
        return todo

    def _publish_site(self, work: proof.PageWork, todo: list[_SiteJob]) -> None:
        """Render, read back and put in place these pages of the journal's own (see ``_site_todo``)."""
        from . import proof

        parallel = len(todo) >= proof.PARALLEL_THRESHOLD
        for outcome in run_tasks(proof.publish_site, work, list(range(len(todo))), parallel=parallel,
                                 prepare=functools.partial(self._site_pages, todo), waits=True):
            job = todo[outcome.index]
            self.report.rendered += 1
            if outcome.status == "failed" or outcome.written is None:
                self._failed(outcome.path, "site", outcome.error, outcome.problems)
            else:
                self._note("site", job.fingerprint, outcome.written)

    def _site_pages(self, todo: list[_SiteJob], indices: list[int]) -> list[proof.SitePage]:
        from . import proof

        entries = {i: [ref.post_id for ref in feed.entries] if (feed := todo[i].feed) else [todo[i].post_id]
                   for i in indices}
        posts = self.store.posts.load({post_id for ids in entries.values() for post_id in ids},
                                      self.config.journal.post_url)
        return [proof.SitePage(i, todo[i].what, posts[entries[i][0]] if todo[i].what != "home" else None,
                               todo[i].feed, tuple(posts[post_id] for post_id in entries[i])) for i in indices]

    def _publish_gone_list(self) -> None:
        """The list of deleted posts' pages (see ``serve.GONE_LIST``), put with the index pages."""
        from .serve import GONE_LIST, gone_list

        data = gone_list(self.config.journal, [path.removeprefix("/") for path in self.gone])
        path = site_path(GONE_LIST)
        self.site_wanted.add(path)
        self.report.documents += 1
        fingerprint = hashlib.sha256(data).hexdigest()
        if self.full or not self._in_place(path, fingerprint):
            self._put_index(path, data, fingerprint, "site")
        else:
            self.report.results.append(DocumentResult(path, "site", "unchanged"))

    def _render(self, todo: list[tuple[PlannedFeed, str]], pages: list[tuple[PlannedFeed, str]],
                page_work: proof.PageWork) -> None:
        """Prove every entry the documents hold, then assemble, verify and put them in place (see
        ``proof``), each kind with its feeds' pages for people: archive pages first, then main
        documents, so no main document links to a page that is not in place yet.

        A feed published for the first time with archive pages (a big journal's first run) gets
        its main documents first, before its archive exists, without the link to it (``_early``):
        readers have the current feed within moments, not after the whole history. They are
        put again, linked, once the archive is in place; only those are recorded."""
        from . import proof  # rendering and parsing libraries: loaded only when something is rendered

        early = self._early(todo)
        keys = sorted({(ref.post_id, fmt, pf.content) for pf, fmt in todo for ref in pf.entries})
        first = sorted({(ref.post_id, fmt, pf.content) for pf, fmt in early for ref in pf.entries})
        parallel = len(keys) >= proof.PARALLEL_THRESHOLD
        total, done = len(keys) + len(todo), 0
        work = proof.Work(page_work.site, journal_feed(self.config), self.config.feeds.formats, self.sink,
                          proof.open_spool(self.config.spool_folder), [*todo, *early])
        try:
            parts = [first, sorted(set(keys) - set(first))] if early else [keys]
            del keys, first  # each part is let go once proven: with archives there are some 300,000 keys
            for step in range(len(parts)):
                part, parts[step] = parts[step], []
                for result in run_tasks(proof.prove_posts, work, part, parallel=parallel, prepare=self._with_posts):
                    proof.spool(work, [result])
                    done += 1
                    if self.progress:
                        self.progress(done, total)
                del part
                if early and step == 0:
                    indices = list(range(len(todo), len(todo) + len(early)))
                    for _ in run_tasks(proof.publish_documents, work, indices, parallel=parallel, prepare=list,
                                       waits=True):
                        pass  # what becomes of an early document is the linked one's to say
            for kind in (Kind.PAGE, Kind.MAIN):
                indices = [i for i, (pf, _) in enumerate(todo) if (Kind.MAIN if pf.is_main else Kind.PAGE) is kind]
                for outcome in run_tasks(proof.publish_documents, work, indices, parallel=parallel,
                                         prepare=list, waits=True):
                    self._take(todo[outcome.index], outcome)
                    done += 1
                    if self.progress:
                        self.progress(done, total)
                self._publish_pages(page_work, pages, kind)
        finally:
            os.close(work.spool.fd)

    def _early(self, todo: list[tuple[PlannedFeed, str]]) -> list[tuple[PlannedFeed, str]]:
        """The main documents to put before their archive (see ``_render``): those of feeds with
        archive pages to put whose main document was never published, unlinked (no pages)."""
        archiving = {pf.main.folder for pf, _ in todo if not pf.is_main}
        return [(replace(pf, pages=0), fmt) for pf, fmt in todo
                if pf.is_main and pf.pages and pf.main.folder in archiving and pf.feed.path(fmt) not in self.states]

    def _pages_todo(self) -> list[tuple[PlannedFeed, str]]:
        """The planned feeds whose page for people must be rendered, with its fingerprint (see
        ``plan.page_fingerprint``); the others are reported unchanged."""
        todo: list[tuple[PlannedFeed, str]] = []
        for pf in self.plan.feeds:
            path, fingerprint = page_document_path(pf.feed.dir), page_fingerprint(pf, self.plan.every)
            if self.full or not self._in_place(path, fingerprint):
                todo.append((pf, fingerprint))
            else:
                self.report.results.append(DocumentResult(path, pf.main.folder, "unchanged"))
        return todo

    def _publish_pages(self, work: proof.PageWork, todo: list[tuple[PlannedFeed, str]], kind: Kind) -> None:
        """Render, read back and put in place the pages of ``todo`` of this kind (archive or main)."""
        from . import proof

        indices = [i for i, (pf, _) in enumerate(todo) if (Kind.MAIN if pf.is_main else Kind.PAGE) is kind]
        parallel = sum(len(todo[i][0].entries) for i in indices) >= proof.PARALLEL_THRESHOLD
        for outcome in run_tasks(proof.publish_pages, work, indices, parallel=parallel,
                                 prepare=functools.partial(self._pages_with_posts, todo), waits=True,
                                 weight=lambda i: len(todo[i][0].entries)):
            pf, fingerprint = todo[outcome.index]
            self.report.rendered += 1
            if outcome.status == "failed" or outcome.written is None:
                self._failed(outcome.path, pf.main.folder, outcome.error, outcome.problems)
            else:
                self._note(pf.main.folder, fingerprint, outcome.written)

    def _pages_with_posts(self, todo: list[tuple[PlannedFeed, str]],
                          indices: list[int]) -> list[tuple[int, PlannedFeed, list[Post]]]:
        posts = self.store.posts.load({ref.post_id for i in indices for ref in todo[i][0].entries},
                                      self.config.journal.post_url)
        return [(i, todo[i][0], [posts[ref.post_id] for ref in todo[i][0].entries]) for i in indices]

    def _with_posts(self, keys: list[tuple[int, str, str]]) -> list[tuple[tuple[int, str, str], Post]]:
        posts = self.store.posts.load({key[0] for key in keys}, self.config.journal.post_url)
        return [(key, posts[key[0]]) for key in keys]

    def _in_place(self, path: str, fingerprint: str) -> bool:
        """True if the recorded document has this fingerprint and is in place as recorded."""
        state = self.states.get(path)
        return state is not None and state.fingerprint == fingerprint and self.sink.as_recorded(state)

    def _take(self, job: tuple[PlannedFeed, str], outcome: proof.DocumentOutcome) -> None:
        """Record what became of one document, and whether subscribers have news."""
        pf, fmt = job
        self.report.rendered += 1
        if outcome.status == "failed" or outcome.written is None:
            self._failed(outcome.path, pf.main.folder, outcome.error, outcome.problems)
            return
        self._note(pf.main.folder, pf.fingerprint, outcome.written)
        previous = self.states.get(outcome.path)
        if pf.is_main and outcome.written.changed and (previous is None
                                                       or previous.sha256 != outcome.written.sha256):
            # New bytes for subscribers (a restored hand-edited file is not news).
            self.changed.setdefault(pf.feed.dir, {})[fmt] = self.config.journal.feed_url(outcome.path)
            self.changed_entries.update((ref.post_id, ref) for ref in pf.entries)

    def _failed(self, path: str, feed: str, error: str, problems: tuple[Problem, ...]) -> None:
        if error:
            self.report.errors.append(error)
        self.report.results.append(DocumentResult(path, feed, "failed", list(problems)))

    def _note(self, feed: str, fingerprint: str, placed: Placed) -> None:
        """A document that is in place (or would be): report it, and record it if the sink records."""
        if self.sink.records:
            self.recorded.append(DocumentState(placed.path, fingerprint, placed.sha256, placed.size,
                                               placed.mtime_ns, placed.etag))
        self.report.results.append(DocumentResult(placed.path, feed, "written" if placed.changed else "unchanged"))
        self.report.written += placed.changed

    def _put_index(self, path: str, data: bytes, fingerprint: str, feed: str = "index") -> None:
        """Put one of the index files (small, made here rather than by the workers)."""
        result = self.sink.put([document(path, data, Kind.INDEX)])[0]
        if isinstance(result, Refused):
            self._failed(path, feed, result.error, result.problems)
        else:
            self._note(feed, fingerprint, result)

    def _publish_indexes(self) -> None:
        from .render.index import Listing, feed_stylesheet, html_page, opml

        for pf in self.plan.mains:
            newest = max((ref.updated for ref in pf.entries), default=None)
            self.listings[pf.feed.folder] = FeedListing(self.plan.live_posts(pf.feed), newest)
        if self.plan.partial:  # the other feeds are as the last good publish listed them
            self.listings = {feed.folder: self.listings.get(feed.folder) or self.before[feed.folder]
                             for feed in self.plan.every}
        listings = [Listing(feed, listed.live_posts, from_utc_text(listed.newest) if listed.newest else None)
                    for feed, listed in ((feed, self.listings[feed.folder]) for feed in self.plan.every)]
        fingerprint = hashlib.sha256(json.dumps(
            [settings_digest(self.config)] + [[lst.feed.dir, lst.feed.title, lst.posts, str(lst.updated)]
                                              for lst in listings]).encode()).hexdigest()
        makers = {"index.opml": opml, "index.html": html_page, STYLESHEET: feed_stylesheet}
        for name in INDEX_FILES:
            if self.full or not self._in_place(name, fingerprint):
                self._put_index(name, makers[name](self.config.journal, listings, self.config.feeds.formats),
                                fingerprint)

    def _remove_orphans(self) -> None:
        """Documents of feeds or formats that no longer exist are taken down, once all that is new is in place."""
        wanted = ({pf.feed.path(fmt) for pf in self.plan.feeds for fmt in self.config.feeds.formats}
                  | {page_document_path(pf.feed.dir) for pf in self.plan.feeds}
                  | set(INDEX_FILES) | {path for path, _ in self.kept} | self.site_wanted)
        gone = [path for path in self.states if path not in wanted]
        removed = []
        for path in gone:
            # With no pages folder now, the store forgets the pages it recorded (it cannot know where they are).
            error = None if is_site(path) and self.config.paths.pages is None else self.sink.remove(path)
            if error:
                self.report.errors.append(error)
            else:
                removed.append(path)
        if self.sink.records and removed:
            self.store.documents.forget(removed)
        self.report.removed = len(gone)
        self.report.removed_paths = removed

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
import multiprocessing
import os
import signal
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import nullcontext
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from . import content, notify
from .config import Config
from .lock import forget_inherited_locks, journal_lock
from .model import Author, Feed, Post
from .plan import Plan, PlannedFeed, journal_feed, make_plan, settings_digest
from .render import STYLESHEET, EntryView, Site, entry_view, feed_view, render_document, render_entry
from .render.index import Listing, feed_stylesheet, html_page, opml
from .store import DocumentState, EntryRef, Store, from_utc_text
from .verify import Problem, verify_assembled, verify_document
from .writer import WriteError, clean_temporaries, file_digest, remove, write_atomic

INDEX_FILES = ("index.opml", "index.html", STYLESHEET)
Progress = Callable[[int, int], None]


@dataclass
class DocumentResult:
    path: str
    feed: str
    status: str  # written | unchanged | failed
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
        if self.pings is not None and (self.pings.delivered or self.pings.retrying or self.pings.failed):
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
                "errors": self.pings.errors},
            "sync_errors": [str(e) for e in self.sync.errors] if self.sync else [],
            "results": [{"path": r.path, "feed": r.feed, "status": r.status,
                         "problems": [str(p) for p in r.problems]} for r in self.results],
        }


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def site_of(config: Config) -> Site:
    return Site(journal=config.journal, hubs=config.notify.websub, content=config.feeds.content)


def open_store(config: Config) -> Store:
    store = Store(config.paths.store, timeout=config.paths.store_wait)
    store.sync_authors(Author(a.key, a.name, a.affiliation, a.email, a.uri) for a in config.authors)
    return store


def publish(config: Config, *, full: bool = False, dry_run: bool = False, sync: bool = True, ping: bool = True,
            now: datetime | None = None, wait: float = 0.0, progress: Progress | None = None) -> PublishReport:
    """Run one publish of the journal; see the module docstring for the guarantees.

    Notifications for what changed are queued with the record of the documents, then
    (unless ``ping`` is false) whatever is due is delivered. A failed ping does not
    fail the publish: it stays queued and the report says so.
    """
    started = time.monotonic()
    now = now or utcnow()
    with journal_lock(config.lock_path, wait), open_store(config) as store:
        report = PublishReport(dry_run=dry_run)
        with store.scratch() if dry_run else nullcontext():  # a dry run's sync is undone
            if sync and config.paths.content.is_dir():
                report.sync = content.sync(config, store, now)
            plan = make_plan(config, store, now)
            _Run(config, store, plan, report, full, dry_run, progress).run()
        if ping and not dry_run:
            report.pings = notify.deliver(config, store, now + timedelta(seconds=time.monotonic() - started))
        report.seconds = time.monotonic() - started
        if not dry_run:
            store.log_publish(now, utcnow(), "ok" if report.ok else "failed", report.feeds, report.written,
                              len(report.failed), report.as_json())
        return report


def check_published(config: Config, *, now: datetime | None = None) -> PublishReport:
    """Compare every published document with what the store says it should be (no writes).

    Reports missing files, files changed on disk and documents the store has moved
    past; every expected document is also read back and verified.
    """
    started = time.monotonic()
    now = now or utcnow()
    with open_store(config) as store:
        report = PublishReport(dry_run=True)
        _Run(config, store, make_plan(config, store, now), report, full=True, dry_run=True, progress=None,
             check=True).run()
        report.seconds = time.monotonic() - started
        return report


PARALLEL_THRESHOLD = 400  # entry proofs; below this, starting worker processes costs more than it saves


def prove_entry(site: Site, wrapper: Feed, formats: Sequence[str], fmt: str, view: EntryView,
                fragment: bytes) -> list[Problem]:
    """An entry's fragment read back in a one-entry document with the journal's root."""
    fv = feed_view(wrapper, [view], site, formats)
    return verify_document(fmt, render_document(fmt, fv, [fragment]), fv, [view], "")


_WORKER: dict[str, object] = {}


def _worker_init(site: Site, wrapper: Feed, formats: Sequence[str]) -> None:
    forget_inherited_locks()
    _die_with_parent()
    _WORKER.update(site=site, wrapper=wrapper, formats=formats)


def _die_with_parent() -> None:
    """Linux: a worker gets SIGKILL when the publish that started it dies (no orphans)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the request took effect
        os._exit(1)


def _worker_prove(jobs: list[tuple[tuple[int, str, str], Post]]) -> list[tuple[tuple[int, str, str], EntryView, bytes,
                                                                             list[Problem]]]:
    site, wrapper, formats = _WORKER["site"], _WORKER["wrapper"], _WORKER["formats"]
    out = []
    for key, post in jobs:
        _, fmt, content = key
        view = entry_view(post, site, content)  # type: ignore[arg-type]
        fragment = render_entry(fmt, view)
        out.append((key, view, fragment, prove_entry(site, wrapper, formats, fmt, view, fragment)))  # type: ignore[arg-type]
    return out


class _Run:
    """One publish's state: what to render, the entries rendered so far, what was written."""

    def __init__(self, config: Config, store: Store, plan: Plan, report: PublishReport, full: bool,
                 dry_run: bool, progress: Progress | None, check: bool = False):
        self.config, self.store, self.plan, self.report = config, store, plan, report
        self.full, self.dry_run, self.progress, self.check = full, dry_run, progress, check
        self.site = site_of(config)
        self.formats = config.feeds.formats
        self.out = config.paths.output
        self.states = store.documents()
        self.posts: dict[int, Post] = {}
        self.views: dict[tuple[int, str], EntryView] = {}
        self.fragments: dict[tuple[int, str, str], bytes] = {}
        self.proofs: dict[tuple[int, str, str], list[Problem]] = {}
        self.wrapper = journal_feed(config)
        self.recorded: list[DocumentState] = []
        self.changed: dict[str, dict[str, str]] = {}
        self.changed_entries: dict[int, EntryRef] = {}

    def run(self) -> None:
        if not self.dry_run:
            clean_temporaries(self.out)
        todo = []
        for pf in self.plan.feeds:
            for fmt in self.formats:
                if self.full or not self._in_place(pf.feed.path(fmt), pf.fingerprint):
                    todo.append((pf, fmt))
                else:
                    self.report.results.append(DocumentResult(pf.feed.path(fmt), pf.main.dir or "journal",
                                                              "unchanged"))
        self.report.feeds = len(self.plan.mains)
        self.report.documents = len(self.plan.feeds) * len(self.formats) + len(INDEX_FILES)
        self._load_views([pf for pf, _ in todo])
        self._prove_in_parallel(todo)
        for done, (pf, fmt) in enumerate(todo, 1):
            self._publish_document(pf, fmt)
            if self.progress:
                self.progress(done, len(todo))
        self._publish_indexes()
        self._remove_orphans()
        if not self.dry_run and self.recorded:
            fresh = self.store.unannounced(self.changed_entries.values())
            notes = notify.changes(self.config, sorted(self.changed.items()), [ref.entry_id for ref in fresh])
            self.store.record_documents(self.recorded, self.plan.now, notes, fresh)
            self.report.queued = len(notes)

    def _in_place(self, path: str, fingerprint: str) -> bool:
        """True if the recorded document has this fingerprint and its file is as written."""
        state = self.states.get(path)
        if state is None or state.fingerprint != fingerprint:
            return False
        try:
            st = (self.out / path).stat()
        except FileNotFoundError:
            return False
        if st.st_size == state.size and st.st_mtime_ns == state.mtime_ns:
            return True
        return st.st_size == state.size and file_digest(self.out / path) == state.sha256

    def _load_views(self, feeds: list[PlannedFeed]) -> None:
        self.posts = self.store.posts(self.plan.post_ids(feeds), self.config.journal.post_url)

    def _view(self, post_id: int, content: str) -> EntryView:
        key = (post_id, content)
        if key not in self.views:
            self.views[key] = entry_view(self.posts[post_id], self.site, content)
        return self.views[key]

    def _fragment(self, post_id: int, fmt: str, content: str) -> bytes:
        key = (post_id, fmt, content)
        if key not in self.fragments:
            self.fragments[key] = render_entry(fmt, self._view(post_id, content))
        return self.fragments[key]

    def _proof(self, post_id: int, fmt: str, content: str) -> list[Problem]:
        """Read one entry's fragment back, once, in a document of its own (see verify_assembled)."""
        key = (post_id, fmt, content)
        if key not in self.proofs:
            view = self._view(post_id, content)
            self.proofs[key] = prove_entry(self.site, self.wrapper, self.formats, fmt, view,
                                           self._fragment(post_id, fmt, content))
        return self.proofs[key]

    def _prove_in_parallel(self, todo: list[tuple[PlannedFeed, str]]) -> None:
        """Render and prove every entry a large run needs on all cores (reading back dominates)."""
        keys = sorted({(ref.post_id, fmt, pf.content) for pf, fmt in todo for ref in pf.entries})
        if len(keys) < PARALLEL_THRESHOLD or (os.cpu_count() or 1) < 2:
            return
        jobs = [(key, self.posts[key[0]]) for key in keys]
        size = max(1, len(jobs) // ((os.cpu_count() or 2) * 8))
        # fork: the workers run only pure rendering and parsing, and leave with os._exit, so
        # nothing inherited (the store's connection, other threads' locks) is ever touched.
        context = multiprocessing.get_context("fork")
        try:
            with ProcessPoolExecutor(os.cpu_count(), mp_context=context, initializer=_worker_init,
                                     initargs=(self.site, self.wrapper, self.formats)) as pool:
                for batch in pool.map(_worker_prove, [jobs[i:i + size] for i in range(0, len(jobs), size)]):
                    for key, view, fragment, problems in batch:
                        self.views[(key[0], key[2])] = view
                        self.fragments[key] = fragment
                        self.proofs[key] = problems
        except (OSError, BrokenProcessPool):
            pass  # whatever is not proven yet is proven in this process, entry by entry

    def _publish_document(self, pf: PlannedFeed, fmt: str) -> None:
        path = pf.feed.path(fmt)
        name = pf.main.dir or "journal"
        entries = [self._view(ref.post_id, pf.content) for ref in pf.entries]
        fv = feed_view(pf.feed, entries, self.site, self.formats, main=pf.main, page=pf.page, pages=pf.pages,
                       tombstones=[(t.entry_id, from_utc_text(t.when)) for t in pf.tombstones])
        data = render_document(fmt, fv, [self._fragment(ref.post_id, fmt, pf.content) for ref in pf.entries])
        self.report.rendered += 1
        problems = [replace(p, path=path) for ref in pf.entries for p in self._proof(ref.post_id, fmt, pf.content)]
        problems += verify_assembled(fmt, data, render_document(fmt, fv, []), fv, entries, path)
        if problems:
            self.report.results.append(DocumentResult(path, name, "failed", problems))
            return
        sha = self._write(path, name, data, pf.fingerprint)
        previous = self.states.get(path)
        if pf.is_main and sha is not None and (previous is None or previous.sha256 != sha):
            # New bytes for subscribers (a restored hand-edited file is not news).
            self.changed.setdefault(pf.feed.dir, {})[fmt] = self.config.journal.feed_url(path)
            self.changed_entries.update((ref.post_id, ref) for ref in pf.entries)

    def _write(self, path: str, feed: str, data: bytes, fingerprint: str) -> str | None:
        """Write one document; returns its digest once it is in place (None in a dry run or on failure)."""
        if self.dry_run:
            changed = file_digest(self.out / path) != hashlib.sha256(data).hexdigest()
            if self.check and changed:
                self.report.results.append(DocumentResult(path, feed, "failed", [self._drift(path)]))
                return
            self.report.results.append(DocumentResult(path, feed, "written" if changed else "unchanged"))
            self.report.written += changed
            return None
        try:
            written = write_atomic(self.out, path, data)
        except WriteError as exc:
            self.report.errors.append(str(exc))
            self.report.results.append(DocumentResult(path, feed, "failed"))
            return None
        self.recorded.append(DocumentState(path, fingerprint, written.sha256, written.size, written.mtime_ns))
        self.report.results.append(DocumentResult(path, feed, "written" if written.changed else "unchanged"))
        self.report.written += written.changed
        return written.sha256

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
        visible: dict[str, int] = {}  # a feed's posts: the entries of all its pages, derived from the plan
        for pf in self.plan.feeds:
            visible[pf.main.dir] = visible.get(pf.main.dir, 0) + len(pf.entries)
        listings = []
        for pf in self.plan.mains:
            newest = max((ref.updated for ref in pf.entries), default=None)
            listings.append(Listing(pf.feed, visible[pf.feed.dir], from_utc_text(newest) if newest else None))
        digest = hashlib.sha256(json.dumps(
            [settings_digest(self.config)] + [[lst.feed.dir, lst.feed.title, lst.posts, str(lst.updated)]
                                              for lst in listings]).encode()).hexdigest()
        makers = {"index.opml": opml, "index.html": html_page, STYLESHEET: feed_stylesheet}
        for name in INDEX_FILES:
            if self.full or not self._in_place(name, digest):
                self._write(name, "index", makers[name](self.config.journal, listings, self.formats), digest)

    def _remove_orphans(self) -> None:
        """Documents of feeds or formats that no longer exist are taken down."""
        wanted = {pf.feed.path(fmt) for pf in self.plan.feeds for fmt in self.formats} | set(INDEX_FILES)
        gone = [path for path in self.states if path not in wanted]
        if gone and not self.dry_run:
            for path in gone:
                remove(self.out, path)
            self.store.forget_documents(gone)
        self.report.removed = len(gone)


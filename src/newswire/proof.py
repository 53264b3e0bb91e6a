"""Rendering and proving a publish's documents, on every core, in bounded memory.

Two passes over the work a publish has planned:

1. **Entries.** Every entry a changed document holds is rendered once per format into
   a fragment and read back: fragments of one format are spliced, a batch at a time,
   into a document with the journal's root, and that document is verified in full
   (feedparser, or the JSON Feed schema). A batch with a document-level problem is
   proven again entry by entry, so a problem always names its entry. The fragments go
   to a spool file that nobody else can see (unlinked at creation), so the parent
   holds offsets, not bytes.
2. **Documents.** Each document is assembled from spooled fragments, checked with
   ``verify_assembled`` (its skeleton read back in full, its entry sequence with lxml)
   and handed to the publish's sink (see ``sinks``).

A feed's page for people (see ``pages``) is one more document of the feed, but made
whole, not from fragments: ``publish_pages`` renders it from the feed's posts, reads it
back (html5lib, strict) and hands it to the sink like the feed's documents.

Both passes run on every core (``workers.run_tasks``) when the work is large, and
in the calling process otherwise; either way the same functions do the work, so
the two can never differ. Workers get the ``Work`` through their pool's initializer
and small task lists, never the store's connection.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .formats import FORMATS, document
from .model import DocumentStatus, Feed, Post
from .plan import PlannedFeed
from .render import EntryStub, EntryView, FeedView, Site, entry_view, feed_view
from .sinks import Kind, Placed, Refused, Sink
from .sinks import document as placed_document
from .store import from_utc_text
from .verify import Problem, verify_assembled

if TYPE_CHECKING:
    from .pages import Links, Page

PROOF_BATCH = 100  # entries read back per document: amortises the parser's start-up; a failed batch is split
PARALLEL_THRESHOLD = 400  # entries; below this, starting worker processes costs more than it saves

Key = tuple[int, str, str]  # (post id, format, content mode)


@dataclass(frozen=True, slots=True)
class Proven:
    """Where an entry's proven fragment lies in the spool, and what its proof found."""

    offset: int
    length: int
    updated: datetime
    problems: tuple[Problem, ...] = ()


class Proofs:
    """Every proven entry's ``Proven``, kept packed in one int: a publish with archives holds one
    for each post in each format (300,000 at 100,000 posts), and an object or four apiece would be
    most of its memory. Only entries with problems have more."""

    _MICRO, _ZONE, _LENGTH = 64, 18, 32  # bits: the date (from year 1 to 9999), its offset, the length
    _EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

    def __init__(self) -> None:
        self._packed: dict[Key, int] = {}
        self._problems: dict[Key, tuple[Problem, ...]] = {}

    def __len__(self) -> int:
        return len(self._packed)

    def add(self, key: Key, proven: Proven) -> None:
        post_id, fmt, content = key  # often unpickled, its strings made anew for each chunk: shared again here
        key = (post_id, sys.intern(fmt), sys.intern(content))
        zone = proven.updated.utcoffset() or timedelta(0)
        micros = (proven.updated - self._EPOCH) // timedelta(microseconds=1) + (1 << (self._MICRO - 1))
        seconds = int(zone.total_seconds()) + (1 << (self._ZONE - 1))
        packed = proven.offset << self._LENGTH | proven.length
        self._packed[key] = ((packed << self._ZONE | seconds) << self._MICRO) | micros
        if proven.problems:
            self._problems[key] = proven.problems

    def __getitem__(self, key: Key) -> Proven:
        packed = self._packed[key]
        micros = (packed & ((1 << self._MICRO) - 1)) - (1 << (self._MICRO - 1))
        packed >>= self._MICRO
        seconds = (packed & ((1 << self._ZONE) - 1)) - (1 << (self._ZONE - 1))
        packed >>= self._ZONE
        updated = (self._EPOCH + timedelta(microseconds=micros)).astimezone(_offset(seconds))
        return Proven(packed >> self._LENGTH, packed & ((1 << self._LENGTH) - 1), updated,
                      self._problems.get(key, ()))


@functools.lru_cache(maxsize=256)
def _offset(seconds: int) -> timezone:
    return timezone(timedelta(seconds=seconds))


@dataclass(frozen=True)
class DocumentOutcome:
    """What became of one document: written (or unchanged), failed, or a dry run's finding."""

    index: int
    path: str
    status: DocumentStatus
    problems: tuple[Problem, ...] = ()
    written: Placed | None = None
    error: str = ""


def prove_entries(site: Site, wrapper: Feed, formats: Sequence[str], fmt: str, views: Sequence[EntryView],
                  fragments: Sequence[bytes]) -> list[tuple[Problem, ...]]:
    """Each fragment's problems, read back in a document of the journal's root (see module doc)."""
    fv = feed_view(wrapper, views, site, formats)
    form = FORMATS[fmt]
    problems = form.read_back(document(form, fv, fragments), fv, views, "")
    if len(views) == 1:
        return [tuple(replace(p, entry=p.entry or views[0].id) for p in problems)]
    ids = {v.id for v in views}
    if any(p.entry not in ids for p in problems):  # a problem no single entry owns: split the batch
        return [found for v, f in zip(views, fragments)
                for found in prove_entries(site, wrapper, formats, fmt, [v], [f])]
    by_entry: dict[str, list[Problem]] = {}
    for p in problems:
        by_entry.setdefault(p.entry, []).append(p)
    return [tuple(by_entry.get(v.id, ())) for v in views]


@dataclass(frozen=True)
class Spool:
    """The spool's file descriptor. A worker that does not fork from the publish gets a duplicate
    as it starts (pickled only then, see ``multiprocessing.reduction.DupFd``)."""

    fd: int

    def __reduce__(self) -> tuple[Callable[[_Duplicate], Spool], tuple[_Duplicate]]:
        from multiprocessing import reduction

        return _attached, (reduction.DupFd(self.fd),)


class _Duplicate(Protocol):
    def detach(self) -> int: ...


def _attached(dup: _Duplicate) -> Spool:
    return Spool(dup.detach())


@dataclass
class Work:
    """Everything both passes need: each worker gets it once, as it starts (``workers.run_tasks``)."""

    site: Site
    wrapper: Feed
    formats: tuple[str, ...]
    sink: Sink
    spool: Spool
    todo: list[tuple[PlannedFeed, str]] = field(default_factory=list)
    proven: Proofs = field(default_factory=lambda: Proofs())


def prove_posts(work: Work, batch: list[tuple[Key, Post]]) -> list[tuple[Key, bytes, datetime, tuple[Problem, ...]]]:
    """Pass 1: render and prove these entries; returns each fragment with its proof."""
    views: dict[tuple[int, str], EntryView] = {}  # one view per post and content mode, for every format
    groups: dict[tuple[str, str], list[tuple[Key, EntryView]]] = {}
    for key, post in batch:
        post_id, fmt, content = key
        if (post_id, content) not in views:
            views[(post_id, content)] = entry_view(post, work.site, content)
        groups.setdefault((fmt, content), []).append((key, views[(post_id, content)]))
    out = []
    for (fmt, _), items in groups.items():
        render = FORMATS[fmt].entry
        for i in range(0, len(items), PROOF_BATCH):
            chunk = items[i:i + PROOF_BATCH]
            fragments = [render(view) for _, view in chunk]
            proofs = prove_entries(work.site, work.wrapper, work.formats, fmt, [v for _, v in chunk], fragments)
            out += [(key, fragment, view.updated, problems)
                    for (key, view), fragment, problems in zip(chunk, fragments, proofs)]
    return out


def spool(work: Work, results: Iterable[tuple[Key, bytes, datetime, tuple[Problem, ...]]]) -> None:
    """In the parent: append proven fragments to the spool and remember where they are."""
    offset = os.lseek(work.spool.fd, 0, os.SEEK_END)
    for key, fragment, updated, problems in results:
        os.write(work.spool.fd, fragment)
        work.proven.add(key, Proven(offset, len(fragment), updated, problems))
        offset += len(fragment)


def publish_documents(work: Work, indices: list[int]) -> list[DocumentOutcome]:
    """Pass 2: assemble and verify these documents of ``work.todo``, then put the sound ones in place together."""
    return _put(work.sink, [_assemble(work, i) for i in indices], [_kind(work.todo[i][0]) for i in indices])


def _kind(pf: PlannedFeed) -> tuple[Kind, bool]:
    """A document's kind, and whether it lasts: a full archive page (older than the newest, which
    may still be filling) is never given another entry."""
    return Kind.MAIN if pf.is_main else Kind.PAGE, 0 < pf.page < pf.pages


def _put(sink: Sink, checked: list[tuple[DocumentOutcome, bytes | None]],
         kinds: list[tuple[Kind, bool]]) -> list[DocumentOutcome]:
    """Put the sound documents (each of its kind) in place together."""
    placed = iter(sink.put([placed_document(o.path, data, *kind)
                            for (o, data), kind in zip(checked, kinds) if data is not None]))
    return [o if data is None else _placed(o, next(placed)) for o, data in checked]


def _view(pf: PlannedFeed, stubs: Sequence[EntryStub], site: Site, formats: Sequence[str]) -> FeedView:
    """A planned document's own fields, its entries given as stubs (id and date)."""
    return feed_view(pf.feed, stubs, site, formats, main=pf.main, page=pf.page, pages=pf.pages,
                     complete=pf.complete, tombstones=[(t.entry_id, from_utc_text(t.when)) for t in pf.tombstones])


def _assemble(work: Work, index: int) -> tuple[DocumentOutcome, bytes | None]:
    """One document's bytes, with its outcome so far: failed (no bytes) or ready to write."""
    pf, fmt = work.todo[index]
    path = pf.feed.path(fmt)
    proofs = [work.proven[(ref.post_id, fmt, pf.content)] for ref in pf.entries]
    stubs = [EntryStub(ref.entry_id, p.updated) for ref, p in zip(pf.entries, proofs)]
    fv = _view(pf, stubs, work.site, work.formats)
    form = FORMATS[fmt]
    skeleton = form.skeleton(fv)
    data = form.fill(skeleton, [os.pread(work.spool.fd, p.length, p.offset) for p in proofs])
    problems = [replace(problem, path=path) for p in proofs for problem in p.problems]
    problems += verify_assembled(form, data, skeleton, fv, stubs, path)
    if problems:
        return DocumentOutcome(index, path, "failed", tuple(problems)), None
    return DocumentOutcome(index, path, "written"), data


@dataclass(frozen=True)
class PageWork:
    """What rendering feed pages needs, given once to each worker like ``Work``."""

    site: Site
    links: Links
    sink: Sink


def publish_pages(work: PageWork, batch: list[tuple[int, PlannedFeed, list[Post]]]) -> list[DocumentOutcome]:
    """Each planned feed's page (``index`` its place in the caller's list, ``posts`` the feed's
    entries in order): rendered, read back, and the sound ones put in place together."""
    return _put(work.sink, [_page(work, *job) for job in batch], [_kind(pf) for _, pf, _ in batch])


def _page(work: PageWork, index: int, pf: PlannedFeed, posts: list[Post]) -> tuple[DocumentOutcome, bytes | None]:
    """One feed page's bytes, or its problems (each names the page's path, the entry and the field)."""
    from . import pages

    stubs = [EntryStub(ref.entry_id, from_utc_text(ref.updated)) for ref in pf.entries]
    page = pages.feed_page(_view(pf, stubs, work.site, work.links.formats), posts, work.site, work.links)
    return _proven_page(index, page, page.path)


def _proven_page(index: int, page: Page, path: str) -> tuple[DocumentOutcome, bytes | None]:
    """A page's bytes (its document at ``path``) once read back, or the problems reading back found."""
    from . import pages

    data = pages.render(page)
    problems = pages.read_back(data, page)
    if problems:
        return DocumentOutcome(index, path, "failed", tuple(problems)), None
    return DocumentOutcome(index, path, "written"), data


@dataclass(frozen=True)
class SitePage:
    """One of the journal's own pages to make (see ``pages``): ``what`` is 'post' or 'gone' (``post``
    is its post) or 'home' (``feed`` is the journal feed's main document, ``posts`` its entries)."""

    index: int
    what: str
    post: Post | None = None
    feed: PlannedFeed | None = None
    posts: tuple[Post, ...] = ()


def publish_site(work: PageWork, batch: list[SitePage]) -> list[DocumentOutcome]:
    """Each of these pages rendered, read back, and the sound ones put in place together below the
    journal's pages (named by ``sinks.split.site_path``)."""
    return _put(work.sink, [_site_page(work, job) for job in batch], [(Kind.PAGE, False)] * len(batch))


def _site_page(work: PageWork, job: SitePage) -> tuple[DocumentOutcome, bytes | None]:
    from . import pages
    from .sinks.split import site_path

    if job.feed is not None:
        stubs = [EntryStub(ref.entry_id, from_utc_text(ref.updated)) for ref in job.feed.entries]
        page = pages.home_page(_view(job.feed, stubs, work.site, work.links.formats), job.posts, work.site,
                               work.links)
    else:
        assert job.post is not None
        make = pages.gone_page if job.what == "gone" else pages.post_page
        page = make(job.post, work.site, work.links)
    return _proven_page(job.index, page, site_path(page.path))


def _placed(outcome: DocumentOutcome, result: Placed | Refused) -> DocumentOutcome:
    if isinstance(result, Refused):
        return replace(outcome, status="failed", error=result.error, problems=result.problems)
    return replace(outcome, status="written" if result.changed else "unchanged", written=result)


def open_spool(near: Path) -> Spool:
    """An anonymous file beside the store: never visible, gone when the publish ends or dies.

    Made nameless (O_TMPFILE) where the system can: a named one, unlinked at once, is left
    behind by a publish killed in between."""
    try:
        return Spool(os.open(near, os.O_TMPFILE | os.O_RDWR, 0o600))
    except (AttributeError, OSError):  # not Linux, or a file system without O_TMPFILE
        fd, name = tempfile.mkstemp(dir=near, prefix=".newswire-spool-")
        os.unlink(name)
        return Spool(fd)

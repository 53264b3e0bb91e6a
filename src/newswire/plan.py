"""The plan: which feeds exist, which entries each document holds, and a fingerprint of each.

A feed's history is every post it ever published, oldest first, deleted ones
included: they keep their place, so deleting an old post touches only the page that
held it. The main document holds the newest N places; older places fill archive
pages of N from the oldest (RFC 5005), so a full page never changes unless one of
its entries does. Deleted posts appear as tombstones (RFC 6721) for a while.

A document's fingerprint covers everything it is made from (settings, the feed's
own fields, its paging, and the ordered ids, dates and digests of its entries and
tombstones), so a publish can tell without rendering whether it can have changed.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta

from .config import Config
from .model import Author, EntryRef, Feed, FeedKind, Label, feed_dir
from .store import Store, to_utc_text

# Bump when rendering changes in a way that alters bytes, so every feed is redone once.
RENDER_VERSION = 5


@dataclass(frozen=True)
class Tombstone:
    """An RFC 6721 deleted-entry: which entry, and when it was deleted (UTC text)."""

    entry_id: str
    when: str


@dataclass(frozen=True)
class PlannedFeed:
    """One document set: a feed's main document (page 0) or one of its archive pages."""

    feed: Feed
    main: Feed
    entries: tuple[EntryRef, ...]
    fingerprint: str
    content: str = "full"
    page: int = 0
    pages: int = 0
    tombstones: tuple[Tombstone, ...] = ()
    complete: bool = True  # the main document holds every entry the feed has

    @property
    def is_main(self) -> bool:
        return self.page == 0


@dataclass(frozen=True)
class Plan:
    """What a publish renders: every feed's documents, or (``partial``) only those of the feeds a
    change touched, while ``every`` still names all the journal's feeds."""

    feeds: tuple[PlannedFeed, ...]
    now: datetime  # which posts are out: the clock's time
    clock: datetime  # how old tombstones are: the time the publish dates by (see job), never going back
    counts: dict[tuple[str, str], int] = field(default_factory=dict)  # live posts per planned feed (see Store)
    every: tuple[Feed, ...] = ()
    partial: bool = False

    def live_posts(self, feed: Feed) -> int:
        return self.counts.get(count_key(feed), 0)

    @property
    def mains(self) -> list[PlannedFeed]:
        return [pf for pf in self.feeds if pf.is_main]

    def post_ids(self, feeds: list[PlannedFeed] | None = None) -> set[int]:
        return {ref.post_id for pf in (self.feeds if feeds is None else feeds) for ref in pf.entries}


def journal_feed(config: Config) -> Feed:
    j = config.journal
    return Feed(FeedKind.JOURNAL, "journal", feed_dir(FeedKind.JOURNAL, ""), j.tag("feed"), j.title, j.subtitle)


def author_feed(config: Config, author: Author, slug: str) -> Feed:
    j = config.journal
    subtitle = f"Posts by {author.name}" + (f" ({author.affiliation})" if author.affiliation else "")
    return Feed(FeedKind.AUTHOR, author.key, feed_dir(FeedKind.AUTHOR, slug), j.tag(f"feed/author/{slug}"),
                f"{j.title}: {author.signature}", f"{subtitle} in {j.title}", author=author)


def label_feed(config: Config, label: Label) -> Feed:
    j = config.journal
    return Feed(FeedKind.LABEL, label.slug, feed_dir(FeedKind.LABEL, label.slug), j.tag(f"feed/label/{label.slug}"),
                f"{j.title}: {label.name}", f"Posts labelled “{label.name}” in {j.title}", label=label)


@functools.lru_cache(maxsize=4)
def settings_digest(config: Config) -> str:
    """Everything outside the store that shapes a document's bytes (asked for several times a publish)."""
    data = {
        "render": RENDER_VERSION,
        "journal": asdict(config.journal),
        "authors": [asdict(a) for a in config.authors],
        "feeds": asdict(config.feeds),
        "hubs": list(config.notify.websub),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _fingerprint(settings: str, pf: PlannedFeed) -> str:
    h = hashlib.sha256(settings.encode())
    feed = pf.feed
    # Only what the document shows of the paging: the main document links to the newest page; a
    # page to its neighbours. So a new archive page re-renders just the main and the previous newest.
    paging = pf.pages if pf.is_main else pf.page < pf.pages
    h.update(json.dumps([feed.feed_id, feed.title, feed.subtitle, feed.dir, pf.content, pf.page, paging, pf.complete,
                         asdict(feed.author) if feed.author else None], sort_keys=True).encode())
    for ref in pf.entries:  # (an entry's date is not in its digest, which says whether subscribers have news)
        h.update(f"\n{ref.entry_id}\t{ref.published}\t{ref.digest}".encode())
    for stone in pf.tombstones:
        h.update(f"\n-{stone.entry_id}\t{stone.when}".encode())
    return h.hexdigest()


def page_fingerprint(pf: PlannedFeed, every: Sequence[Feed]) -> str:
    """The fingerprint of a feed's page (see ``pages``): its documents' (entries, paging, settings,
    which cover the formats and feeds_url), and which feeds the journal has, since the page's entries
    link their author's and labels' pages only where those feeds exist."""
    return hashlib.sha256("\n".join([pf.fingerprint, "page", *sorted(f.dir for f in every)]).encode()).hexdigest()


def paginate(feed: Feed, slots: list[EntryRef], entries: int, content: str, clock: datetime,
             tombstone_days: int, settings: str, archives: bool = True) -> list[PlannedFeed]:
    """A feed's main document and archive pages from its history (oldest first), with the
    tombstones dated within ``tombstone_days`` of ``clock``.

    Without archives the main document alone is published: the newest places, and
    no claim (fh:complete) to hold the whole feed once older ones fall out of it.
    """
    keep_after = to_utc_text(clock - timedelta(days=tombstone_days))
    archived = max(len(slots) - entries, 0)
    pages = -(-archived // entries) if archives else 0  # ceil: the newest archive page may still be filling
    chunks = [(0, slots[archived:])] + [(k, slots[(k - 1) * entries:min(k * entries, archived)])
                                        for k in range(1, pages + 1)]
    out = []
    for page, chunk in chunks:
        visible = tuple(ref for ref in reversed(chunk) if ref.deleted_at is None)
        stones = tuple(Tombstone(ref.entry_id, ref.deleted_at) for ref in reversed(chunk)
                       if ref.deleted_at is not None and ref.deleted_at >= keep_after)
        draft = PlannedFeed(feed.archive(page) if page else feed, feed, visible, "", content, page, pages, stones,
                            complete=not archived)
        out.append(replace(draft, fingerprint=_fingerprint(settings, draft)))
    return out


def count_key(feed: Feed) -> tuple[str, str]:
    return feed.kind.value, "" if feed.kind is FeedKind.JOURNAL else feed.key


def make_plan(config: Config, store: Store, now: datetime, clock: datetime,
              skip: set[str] | frozenset[str] = frozenset()) -> Plan:
    """Every feed the journal has at ``now``, with its pages and tombstones as of ``clock``, from
    one indexed query per feed, but for those in ``skip`` (feed folders, see ``Feed.folder``):
    feeds known to be as published.

    Without archives only each feed's newest places are read (one more than a
    document holds, to know whether it holds them all), so the cost of a plan does
    not grow with the journal. With archives it holds every slot of every feed, so a
    post's slot is one object shared by the feeds it is in (a post is in five or so).
    """
    settings = settings_digest(config)
    feeds: list[tuple[Feed, Callable[[int | None], list[EntryRef]]]] = [
        (journal_feed(config), functools.partial(store.feeds.journal_slots, now))]
    if config.feeds.authors:
        authors = store.authors.all()
        for key in store.feeds.feed_authors(now):
            author, slug = authors[key]
            feeds.append((author_feed(config, author, slug),
                          functools.partial(store.feeds.author_slots, key, now)))
    if config.feeds.labels:
        for label in store.feeds.feed_labels(now):
            feeds.append((label_feed(config, label),
                          functools.partial(store.feeds.label_slots, label.slug, now)))
    planned: list[PlannedFeed] = []
    shared: dict[int, EntryRef] = {}  # a post's slot, held once however many feeds it is in
    for feed, slots in feeds:
        if feed.folder not in skip:
            kind = config.feeds.settings(feed.kind.value)
            newest = None if config.feeds.archives else kind.entries + 1
            refs = [ref if (held := shared.setdefault(ref.post_id, ref)) != ref else held for ref in slots(newest)]
            planned.extend(paginate(feed, refs, kind.entries, kind.content, clock,
                                    config.feeds.tombstone_days, settings, config.feeds.archives))
    if skip:
        counts = {count_key(pf.feed): store.feeds.live_count(*count_key(pf.feed), now) for pf in planned if pf.is_main}
    else:
        counts = store.feeds.visible_counts(now)
    return Plan(tuple(planned), now, clock, counts, tuple(feed for feed, _ in feeds), partial=bool(skip))

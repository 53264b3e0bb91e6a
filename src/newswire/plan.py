"""The plan: which feeds exist, which entries each holds, and a fingerprint of each.

A feed's fingerprint covers everything its documents are made from (settings, the
feed's own fields, and the ordered ids and digests of its entries), so a publish can
tell without rendering whether a document can have changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime

from .config import Config
from .model import Author, Feed, FeedKind, Label
from .store import EntryRef, Store

# Bump when rendering changes in a way that alters bytes, so every feed is redone once.
RENDER_VERSION = 2


@dataclass(frozen=True)
class PlannedFeed:
    feed: Feed
    entries: tuple[EntryRef, ...]
    fingerprint: str


@dataclass(frozen=True)
class Plan:
    feeds: tuple[PlannedFeed, ...]
    now: datetime

    def post_ids(self, feeds: list[PlannedFeed] | None = None) -> set[int]:
        return {ref.post_id for pf in (self.feeds if feeds is None else feeds) for ref in pf.entries}


def journal_feed(config: Config) -> Feed:
    j = config.journal
    return Feed(FeedKind.JOURNAL, "journal", "", j.tag("feed"), j.title, j.subtitle)


def author_feed(config: Config, author: Author, slug: str) -> Feed:
    j = config.journal
    subtitle = f"Posts by {author.name}" + (f" ({author.affiliation})" if author.affiliation else "")
    return Feed(FeedKind.AUTHOR, author.key, f"authors/{slug}", j.tag(f"feed/author/{slug}"),
                f"{j.title}: {author.signature}", f"{subtitle} in {j.title}", author=author)


def label_feed(config: Config, label: Label) -> Feed:
    j = config.journal
    return Feed(FeedKind.LABEL, label.slug, f"labels/{label.slug}", j.tag(f"feed/label/{label.slug}"),
                f"{j.title}: {label.name}", f"Posts labelled “{label.name}” in {j.title}", label=label)


def settings_digest(config: Config) -> str:
    """Everything outside the store that shapes a document's bytes."""
    data = {
        "render": RENDER_VERSION,
        "journal": asdict(config.journal),
        "authors": [asdict(a) for a in config.authors],
        "feeds": asdict(config.feeds),
        "hubs": list(config.notify.websub),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _fingerprint(settings: str, feed: Feed, entries: list[EntryRef]) -> str:
    h = hashlib.sha256(settings.encode())
    h.update(json.dumps([feed.feed_id, feed.title, feed.subtitle, feed.dir,
                         asdict(feed.author) if feed.author else None], sort_keys=True).encode())
    for ref in entries:
        h.update(f"\n{ref.entry_id}\t{ref.digest}".encode())
    return h.hexdigest()


def make_plan(config: Config, store: Store, now: datetime) -> Plan:
    """Every feed the journal has at ``now``, each with its newest entries, by indexed queries."""
    settings = settings_digest(config)
    limit = config.feeds.entries
    planned: list[PlannedFeed] = []

    def add(feed: Feed, entries: list[EntryRef]) -> None:
        planned.append(PlannedFeed(feed, tuple(entries), _fingerprint(settings, feed, entries)))

    add(journal_feed(config), store.journal_entries(now, limit))
    if config.feeds.authors:
        authors = store.authors()
        for key in store.feed_authors(now):
            author, slug = authors[key]
            add(author_feed(config, author, slug), store.author_entries(key, now, limit))
    if config.feeds.labels:
        for label in store.feed_labels(now):
            add(label_feed(config, label), store.label_entries(label.slug, now, limit))
    return Plan(tuple(planned), now)

"""What the last good publish leaves for the next one, so an incremental publish can skip feeds.

A publish that left every document good remembers the store's generation, the settings
digest and the window of time in which nothing it showed can change by itself, and for
every feed its listing (live posts, newest update) for the index pages. The next publish
builds on it only while all of that still holds; otherwise it plans every feed.

It is kept under two of the store's state keys, ``published`` and ``listings``, in the
JSON shape they have always had, so a store written by any earlier version is read as is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from .store import Store, to_utc_text

PUBLISHED, LISTINGS = "published", "listings"  # the state keys


@dataclass(frozen=True)
class FeedListing:
    """A feed as the index pages list it."""

    live_posts: int
    newest: str | None  # the newest entry's update (UTC text); None for an empty feed


@dataclass(frozen=True)
class Memory:
    """The last good publish, as far as the next one can build on it."""

    generation: int  # the store's generation it published (see ``Store.generation``)
    settings: str  # the settings digest it published under
    since: str  # the newest post live then (UTC text, '' if none): a clock behind it may hide posts again
    until: str  # the next scheduled post then: from its time on, a post comes out by itself
    expires: str  # when the oldest tombstone shown then leaves the feeds
    feeds: int
    documents: int
    listings: dict[str, FeedListing] = field(default_factory=dict)  # by feed folder (``Feed.folder``)

    def holds(self, settings: str, now: datetime, clock: datetime) -> bool:
        """True while a publish at ``now`` (dating by ``clock``) under ``settings`` can build on this one."""
        return (self.settings == settings and self.since <= to_utc_text(now) < self.until
                and to_utc_text(clock) < self.expires)


def load(store: Store) -> Memory | None:
    """The memory the store holds, or None if there is none or it cannot be read (then every feed is planned).

    A publish killed after it began (``running`` still set) leaves none: its files may be anything."""
    mark, listed = store.state.get(PUBLISHED), store.state.get(LISTINGS)
    if store.state.get("running") or not isinstance(mark, dict) or not isinstance(listed, dict):
        return None
    try:
        return Memory(int(mark["generation"]), str(mark["settings"]), str(mark.get("since", "~")),
                      str(mark.get("until", "")), str(mark.get("expires", "")), int(mark["feeds"]),
                      int(mark["documents"]),
                      {str(folder): FeedListing(int(posts), None if newest is None else str(newest))
                       for folder, (posts, newest) in listed.items()})
    except (KeyError, TypeError, ValueError):
        return None


def save(store: Store, memory: Memory) -> None:
    """Keep ``memory`` for the next publish, in the shape ``load`` reads (and earlier versions wrote)."""
    mark = asdict(memory)
    listings = {folder: [lst.live_posts, lst.newest] for folder, lst in memory.listings.items()}
    del mark["listings"]
    with store.transaction():
        store.state.set(PUBLISHED, mark)
        store.state.set(LISTINGS, listings)

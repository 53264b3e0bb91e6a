"""What the command line asks of a journal, one call per command: each opens the store (and takes
the journal's lock where it writes a batch), does one thing, and returns what it found."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from . import content, upkeep
from .config import Config
from .errors import StoreError, UsageError
from .job import open_store, utcnow
from .lock import journal_lock
from .model import Notification, Post, PostState, PostSummary, PublishRecord, post_state
from .store import Store, failure

if TYPE_CHECKING:  # importing and pulling load feedparser and requests: only the commands that need them do
    from . import notify
    from .importer import ImportReport
    from .pull import PullResult

BATCH_LOCK_WAIT = 30  # seconds a sync, an import or a pull waits for a publish to finish


def store_failure(exc: Exception, config: Config | None) -> StoreError | None:
    """The message for a store failure that reached the command line unexpected (None if ``exc`` is not one)."""
    return failure(exc, config.store_at if config else None)


def sync(config: Config, *, allow_mass_delete: bool = False, force_revision: bool = False) -> content.SyncReport:
    """Bring the content directory into the store (see ``content.sync``)."""
    with journal_lock(config.lock_path, wait=BATCH_LOCK_WAIT), open_store(config) as store:
        return content.sync(config, store, utcnow(), allow_mass_delete=allow_mass_delete,
                            force_revision=force_revision)


def import_feed(config: Config, source: str, *, author_key: str | None = None,
                labels: tuple[str, ...] = ()) -> ImportReport:
    """Import a feed or an export file (see ``importer.import_source``)."""
    from .importer import import_source

    with journal_lock(config.lock_path, wait=BATCH_LOCK_WAIT), open_store(config) as store:
        return import_source(config, store, source, utcnow(), author_key=author_key, labels=labels)


def pull(config: Config, *, force: bool = False) -> list[PullResult]:
    """Pull the partner sources the config names."""
    from .pull import pull as pull_sources

    with journal_lock(config.lock_path, wait=BATCH_LOCK_WAIT), open_store(config) as store:
        return pull_sources(config, store, utcnow(), force=force)


def ping(config: Config, *, everything: bool = False) -> notify.DeliveryReport:
    from . import notify  # loads requests: only the commands that deliver need it

    with open_store(config) as store:
        return notify.deliver(config, store, utcnow(), everything=everything)


@dataclass(frozen=True)
class Status:
    """The last publish, the notifications waiting, and when the next scheduled post is due."""

    last_publish: PublishRecord | None
    waiting: list[Notification]
    summary: list[str]  # a line for each target waiting, with its last error and next attempt
    next_scheduled: datetime | None

    @property
    def pending(self) -> int:
        return sum(n.state == "pending" for n in self.waiting)


def status(config: Config) -> Status:
    from . import notify

    with open_store(config) as store:
        waiting = store.outbox.list(("pending", "failed"))
        return Status(store.documents.last_publish(), waiting, notify.pending_summary(config, waiting),
                      store.feeds.next_scheduled(utcnow()))


@dataclass(frozen=True)
class ListedPost:
    post: PostSummary
    state: PostState


def list_posts(config: Config) -> list[ListedPost]:
    """Every post, newest first, with its state now."""
    with open_store(config) as store:
        now = utcnow()
        return [ListedPost(p, p.state(now)) for p in store.posts.summaries()]


def _post_id(store: Store, ref: str) -> int:
    post_id = store.posts.find(ref)
    if post_id is None:
        raise UsageError(f"no post {ref!r} (use a number from 'newswire post list', an entry id or a slug)")
    return post_id


@dataclass(frozen=True)
class ShownPost:
    number: int
    post: Post
    state: PostState


def show_post(config: Config, ref: str) -> ShownPost:
    """The post ``ref`` names (a number, an entry id, a slug or a source), with its number and state now."""
    with open_store(config) as store:
        post_id = _post_id(store, ref)
        p = store.posts.load([post_id], config.journal.post_url)[post_id]
    return ShownPost(post_id, p, post_state(deleted=p.deleted_at is not None, draft=p.draft,
                                            published=p.published, now=utcnow()))


def delete_post(config: Config, ref: str) -> bool:
    """Take a post out of the feeds; False if it was deleted already."""
    with open_store(config) as store:
        return store.posts.mark_deleted(_post_id(store, ref), utcnow(), by="user")


def restore_post(config: Config, ref: str) -> bool:
    """Bring a deleted post back; False if it was not deleted."""
    with open_store(config) as store:
        return store.posts.restore(_post_id(store, ref))


def restore_store(config: Config, backup: Path, *, wait: float = 0.0) -> None:
    """Replace the store with ``backup`` under the journal's lock (see ``upkeep.restore``)."""
    with journal_lock(config.lock_path, wait):
        upkeep.restore(backup, config.store_at)

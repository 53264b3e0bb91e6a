"""The domain: what a journal holds and what a feed is, independent of any format."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from .settings import EMAIL, NAME, URL, setting


@dataclass(frozen=True)
class Author:
    """An author as the config declares it (``authors: {key: {...}}``) and the store keeps it."""

    key: str
    name: str = setting(doc="The name the author signs with.", rule=NAME)
    affiliation: str = setting("", "Shown after the name: 'John Morton, U.S. Immigration and Customs Enforcement'.")
    email: str | None = setting(None, "The author's email address, published in Atom feeds.", rule=EMAIL)
    uri: str | None = setting(None, "The author's home page, published in Atom and JSON feeds.", rule=URL)

    @property
    def signature(self) -> str:
        """How the journal signs a post: 'John Morton, U.S. Immigration and Customs Enforcement'."""
        return f"{self.name}, {self.affiliation}" if self.affiliation else self.name


@dataclass(frozen=True)
class Label:
    name: str
    slug: str


@dataclass(frozen=True)
class Post:
    """A post as it stands in the store. Dates are timezone-aware, whole seconds."""

    entry_id: str
    source: str
    slug: str
    title: str
    body_html: str
    summary: str
    author: Author
    labels: tuple[Label, ...]
    published: datetime
    updated: datetime
    url: str
    content_hash: str
    draft: bool = False
    deleted_at: datetime | None = None


PostState = Literal["live", "draft", "scheduled", "deleted"]
"""Where a post stands: in the feeds, kept out as a draft, due later, or taken out."""


def post_state(*, deleted: bool, draft: bool, published: datetime, now: datetime) -> PostState:
    """A post's state at ``now``: deleted before draft before scheduled (a future date)."""
    return "deleted" if deleted else "draft" if draft else "scheduled" if published > now else "live"


OutboxState = Literal["pending", "delivered", "failed", "merged"]
"""A queued notification: still to send (perhaps backing off), sent, given up, or folded into a newer one."""

PublishStatus = Literal["ok", "failed"]
"""How one publish ended, as the publish log keeps it."""

DocumentStatus = Literal["written", "unchanged", "failed"]
"""What one publish did with one document: wrote new bytes, left it as it was, or failed to prove it."""


class FeedKind(str, enum.Enum):
    JOURNAL = "journal"
    AUTHOR = "author"
    LABEL = "label"


@dataclass(frozen=True)
class Feed:
    """One feed: a selection of posts published in every configured format.

    ``dir`` is the folder below the output directory (see ``feed_dir``); each format's
    document lives in it under a fixed file name.
    """

    kind: FeedKind
    key: str
    dir: str
    feed_id: str
    title: str
    subtitle: str
    author: Author | None = None
    label: Label | None = None

    def path(self, fmt: str) -> str:
        return document_path(self.dir, fmt)

    @property
    def folder(self) -> str:
        """The name the feed goes by in reports and in the store's records: its folder, 'journal' for the journal."""
        return folder_name(self.dir)

    def archive(self, page: int) -> Feed:
        """The same feed's archive page ``page`` (1 is the oldest), in its own folder."""
        return replace(self, dir=_within(self.dir, f"archive/{page}"))


JOURNAL_FOLDER = "journal"


def feed_dir(kind: FeedKind, slug: str) -> str:
    """The folder below the output directory that holds a feed's documents: '' for the journal,
    'authors/<slug>', 'labels/<slug>'. The one place a feed's folder is named."""
    return {FeedKind.JOURNAL: "", FeedKind.AUTHOR: f"authors/{slug}", FeedKind.LABEL: f"labels/{slug}"}[kind]


def document_path(folder: str, fmt: str, page: int = 0) -> str:
    """Where a feed's document in ``fmt`` lives below the output, given the feed's folder
    (``feed_dir``): in it, or for archive page ``page`` (1 is the oldest) in its 'archive/<page>'."""
    return _within(_within(folder, f"archive/{page}") if page else folder, FILE_NAMES[fmt])


def _within(folder: str, rel: str) -> str:
    return f"{folder}/{rel}" if folder else rel


def folder_name(folder: str) -> str:
    """How a feed folder is named in reports and records: the journal's ('') as 'journal'."""
    return folder or JOURNAL_FOLDER


def named_folder(name: str) -> str:
    """The folder a feed named ``name`` (see ``folder_name``) has below the output."""
    return "" if name == JOURNAL_FOLDER else name


FILE_NAMES = {"atom": "atom.xml", "rss": "rss.xml", "json": "feed.json"}
STYLESHEET = "feed.xsl"  # beside the journal's feeds; every feed links to it
MEDIA_TYPES = {
    "atom": "application/atom+xml",
    "rss": "application/rss+xml",
    "json": "application/feed+json",
}


@dataclass(frozen=True)
class Problem:
    """One difference between a document and the model: which feed, entry and field (found by ``verify``)."""

    path: str
    entry: str
    field: str
    expected: str
    got: str

    def __str__(self) -> str:
        where = f"{self.path}: entry {self.entry}" if self.entry else self.path
        return f"{where}: {self.field}: expected {_short(self.expected)}, got {_short(self.got)}"


def _short(value: str, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"

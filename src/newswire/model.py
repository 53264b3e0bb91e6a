"""The domain: what a journal holds and what a feed is, independent of any format."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime

from .formats import FORMATS
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


class FeedKind(str, enum.Enum):
    JOURNAL = "journal"
    AUTHOR = "author"
    LABEL = "label"


@dataclass(frozen=True)
class Feed:
    """One feed: a selection of posts published in every configured format.

    ``dir`` is the folder below the output directory ('' for the journal, 'authors/x',
    'labels/y'); each format's document lives in it under a fixed file name.
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
        name = FORMATS[fmt].file_name
        return f"{self.dir}/{name}" if self.dir else name

    def archive(self, page: int) -> Feed:
        """The same feed's archive page ``page`` (1 is the oldest), in its own folder."""
        return replace(self, dir=f"{self.dir}/archive/{page}" if self.dir else f"archive/{page}")


STYLESHEET = "feed.xsl"  # beside the journal's feeds; every feed links to it


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

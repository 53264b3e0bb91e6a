"""The domain: what a journal holds and what a feed is, independent of any format."""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime
from json.encoder import encode_basestring  # how json.dumps(ensure_ascii=False) writes a string (in C)
from typing import Literal, NamedTuple

from .formats import FORMATS
from .settings import EMAIL, NAME, URL, setting
from .text import label_fold


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
    return _within(_within(folder, f"archive/{page}") if page else folder, FORMATS[fmt].file_name)


PAGE_NAME = "index.html"  # a feed's page, in the feed's folder beside its documents
# The journal feed's page: its folder (the output's top) already holds the feed directory as index.html.
JOURNAL_PAGE = "journal.html"


def page_document_path(folder: str, page: int = 0) -> str:
    """Where a feed's page for people lives below the output, given the feed's folder (``feed_dir``):
    ``index.html`` beside its documents (archive page ``page``'s in theirs), or ``journal.html``
    for the journal's main feed, whose folder holds the feed directory."""
    where = _within(folder, f"archive/{page}") if page else folder
    return f"{where}/{PAGE_NAME}" if where else JOURNAL_PAGE


def _within(folder: str, rel: str) -> str:
    return f"{folder}/{rel}" if folder else rel


def folder_name(folder: str) -> str:
    """How a feed folder is named in reports and records: the journal's ('') as 'journal'."""
    return folder or JOURNAL_FOLDER


def named_folder(name: str) -> str:
    """The folder a feed named ``name`` (see ``folder_name``) has below the output."""
    return "" if name == JOURNAL_FOLDER else name


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


# --- what the store takes and gives back (see store.protocol) ----------------------------


@dataclass(frozen=True)
class PostInput:
    """A post as a source (a Markdown file, an imported feed) describes it.

    ``entry_id`` is an id the source fixes (matched and kept as is); otherwise the
    post is matched by ``source`` and, when new, gets ``proposed_id`` (made unique).
    ``origin`` is the feed or file an imported or pulled post came from ('' for content/):
    feed ids are public, so a post may be changed only from where it came (see ``may_change``).
    """

    source: str
    key: str
    title: str
    body: str
    author_key: str
    published: datetime
    labels: tuple[str, ...] = ()
    slug: str = ""
    summary: str = ""
    updated: datetime | None = None
    draft: bool = False
    entry_id: str | None = None
    proposed_id: str = ""
    author_name: str | None = None
    affiliation: str | None = None
    origin: str = ""

    def content_hash(self, body_utf8: bytes | None = None) -> str:
        """What counts as the post's content: a change here moves ``updated``. The SHA-256 of
        the fields as JSON, the encoding every stored hash was made from (``json_sha256``).
        ``body_utf8``, if given, is the body's UTF-8, which the caller had made already from the
        cleaned body (``text.clean_html_utf8``), so it holds no control character to escape."""
        body: str | bytes = self.body if body_utf8 is None else body_utf8
        return json_sha256([self.title, body, self.summary, self.author_key, self.affiliation,
                            sorted({label_fold(label) for label in self.labels})], clean_bytes=body_utf8 is not None)


# Control characters JSON writes as \b, \f or \u00XX: never in cleaned text (see ``text.clean``).
_RARE_CONTROLS = bytes(c for c in range(32) if c not in b"\t\n\r")


_SHORT = 64  # characters of a string json_sha256 escapes as text; a longer one, as its UTF-8


def json_sha256(values: list[str | bytes | None | list[str]], *, clean_bytes: bool = False) -> str:
    """``sha256(json.dumps(values, ensure_ascii=False).encode("utf-8"))``, 3× quicker for long text
    (a sync hashes every post it reads). A ``bytes`` value stands for the string whose UTF-8 it
    is, and so is a long string: they are escaped as bytes, where only ``"``, ``\\``, tab, line
    feed and carriage return may need it (``json`` escapes long non-ASCII text one character at
    a time). A short string goes through the escaping ``json`` itself does (in C); a bytes value
    with any other control character, or a value of another type, through ``json.dumps``
    (tests/test_text.py proves them equal). Each part is hashed as it is made, not joined.
    ``clean_bytes``: the ``bytes`` values are known to hold no such control character (their text
    was cleaned, see ``text.clean``), so they are not looked at again."""
    h = hashlib.sha256(b"[")
    for i, value in enumerate(values):
        if i:
            h.update(b", ")
        checked = clean_bytes and type(value) is bytes
        if type(value) is str and len(value) > _SHORT:
            value = value.encode("utf-8")
        if type(value) is str:
            h.update(encode_basestring(value).encode("utf-8"))
        elif value is None:
            h.update(b"null")
        elif type(value) is bytes and (checked or len(value.translate(None, _RARE_CONTROLS)) == len(value)):
            h.update(b'"')
            h.update(value.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\n", b"\\n")
                     .replace(b"\r", b"\\r").replace(b"\t", b"\\t"))
            h.update(b'"')
        elif type(value) is list and all(type(item) is str for item in value):
            h.update(("[" + ", ".join(map(encode_basestring, value)) + "]").encode("utf-8"))
        else:
            strings = [v.decode("utf-8") if isinstance(v, bytes) else v for v in values]
            return hashlib.sha256(json.dumps(strings, ensure_ascii=False).encode("utf-8")).hexdigest()
    h.update(b"]")
    return h.hexdigest()


class NewPost(NamedTuple):
    """A post that no stored post is (no explicit entry id, and no post has its source) as the row
    it becomes, made where it was read (a sync worker; see ``store.new_post``): its content hash,
    its times as UTC text and offsets, its labels' folds. A flat tuple, quick to send between
    processes and to store; ``stamp`` is its file's.

    The body is its UTF-8, as the Markdown renderer wrote it: the store keeps text as UTF-8, so
    it goes in as it is, neither encoded for sending nor decoded on arrival (8% of a
    50,000-post first sync's time went into that)."""

    proposed_id: str
    source: str
    slug: str
    title: str
    body: bytes  # UTF-8
    summary: str
    author_key: str
    author_name: str | None
    affiliation: str | None
    published: str
    published_offset: int
    updated: str
    updated_offset: int
    content_hash: str
    draft: bool
    origin: str
    stamp: str | None
    labels: tuple[tuple[str, str], ...]  # (name, fold) of each label, in the post's order


@dataclass
class Tally:
    """How many posts each upsert outcome had; 'deleted' means kept deleted by the user."""

    added: int = 0
    updated: int = 0
    restored: int = 0
    unchanged: int = 0
    kept_deleted: int = 0

    def count(self, outcome: str) -> None:
        field_name = "kept_deleted" if outcome == "deleted" else outcome
        setattr(self, field_name, getattr(self, field_name) + 1)

    @property
    def total(self) -> int:
        return self.added + self.updated + self.restored + self.unchanged + self.kept_deleted


class NotOwned(Exception):
    """An upsert from outside that would change a post another source brought; nothing was changed."""

    def __init__(self, entry_id: str, post_id: int, source: str, origin: str | None):
        super().__init__(f"{entry_id!r} is post {post_id}")
        self.entry_id, self.post_id, self.source, self.origin = entry_id, post_id, source, origin


def may_change(stored: str | None, origin: str) -> bool:
    """Whether a post from ``origin`` may replace one that came from ``stored``. content/ ('') may
    take any post (a file that states an imported entry's id adopts it); an outside source only its
    own, or one imported before origins were recorded (NULL), which it then claims."""
    return not origin or stored == origin or stored is None


@dataclass(frozen=True, slots=True)
class EntryRef:
    """The little a plan needs to know about an entry: who, when, and a digest of it (a plan with
    archives holds one for every post: slotted, it is half the size)."""

    post_id: int
    entry_id: str
    published: str
    updated: str
    digest: str
    deleted_at: str | None = None


@dataclass(frozen=True)
class PostPlace:
    """Where a post's file was, and what tells it from another wherever its file went (see content._Moves).
    ``published`` is UTC text, as ``EntryRef``'s."""

    id: int
    source: str
    published: str
    content_hash: str
    slug: str


@dataclass(frozen=True)
class PostSummary:
    """One line of the post list: number, date, state, author and title."""

    id: int
    entry_id: str
    slug: str
    title: str
    published: datetime
    draft: bool
    deleted_at: datetime | None
    author: str

    def state(self, now: datetime) -> PostState:
        return post_state(deleted=self.deleted_at is not None, draft=self.draft, published=self.published, now=now)


@dataclass(frozen=True, slots=True)
class DocumentState:
    """A published document as it was written: what it holds (``fingerprint``) and its file's bytes."""

    path: str
    fingerprint: str
    sha256: str
    size: int
    mtime_ns: int
    etag: str | None = None  # the ETag an object store gave its PUT (see ``sinks.s3``); None for a file


@dataclass(frozen=True)
class PublishRecord:
    """One publish as the log keeps it."""

    started_at: datetime
    finished_at: datetime
    status: str
    feeds_total: int
    written: int
    failed: int


@dataclass(frozen=True)
class Notification:
    """One message to one target: a hub (topic = feed URL), a ping service, a webhook."""

    kind: str
    target: str
    topic: str
    payload: dict[str, object]
    id: int = 0
    state: OutboxState = "pending"
    attempts: int = 0
    created_at: datetime | None = None
    next_at: datetime | None = None
    last_error: str | None = None
    claimed_by: str | None = None  # the delivery round that holds it (see ``OutboxStore.claim``)


@dataclass(frozen=True)
class ContentRevision:
    """What the content folder was when a sync read it: its git checkout's HEAD commit, whether
    the folder held uncommitted changes, and which checkout it was ('host:/path')."""

    commit: str
    dirty: bool
    checkout: str


@dataclass(frozen=True)
class SourceState:
    """What a pulled source last answered, for conditional GET and backoff."""

    url: str
    etag: str | None
    last_modified: str | None
    next_at: datetime
    failures: int
    last_status: str | None
    last_pulled: datetime | None

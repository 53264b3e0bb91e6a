"""Feed formats: each is one object that knows its facts and renders and reads back its documents.

``FORMATS`` is the one registry: config's ``feeds.formats``, the documents' paths, ``serve``'s
media types, the directory and OPML, the proof, verification and notification all read it.
Adding a format is a module with its class and one line here.

Every command reads the registry, and most render nothing, so a format's module imports its
rendering and parsing libraries (and the modules that use them) in the methods that need them.
"""

from __future__ import annotations

import mimetypes
import posixpath
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from . import atom, jsonfeed, rss

if TYPE_CHECKING:
    from ..model import Problem
    from ..render import EntryView, FeedView
    from ..verify import Checker


class Format(Protocol):
    """A feed format: what it is called and served as, and how its documents are made and read.

    A document is a skeleton (all its own fields) filled with entry fragments: each entry is
    rendered once and the fragment reused in every document that holds it, so a fragment must
    read the same wherever it is filled in."""

    name: str  # as config's feeds.formats names it
    file_name: str  # the document's name in its feed's folder
    media_type: str  # without parameters (documents are always UTF-8)
    label: str  # for people, on the directory page
    opml_type: str  # an OPML outline's ``version``
    xml: bool  # feed readers import it from OPML; a browser shows it through the feed stylesheet

    def entry(self, view: EntryView) -> bytes:
        """One entry as a fragment, the same bytes in every document that holds it."""

    def skeleton(self, feed: FeedView) -> bytes:
        """The document without entries: all its own fields, and room for entry fragments."""

    def fill(self, skeleton: bytes, fragments: Sequence[bytes]) -> bytes:
        """The document a skeleton becomes with these entry fragments, in order."""

    def read_back(self, data: bytes, feed: FeedView, entries: Sequence[EntryView], path: str) -> list[Problem]:
        """Parse a document as readers do and compare it, field by field, with what it was meant to say."""

    def entry_ids(self, data: bytes, check: Checker) -> list[str | None]:
        """The ids of a document's entries in order, one per entry (None where it has no single id),
        read with no more than a well-formedness parse; what that parse shows wrong with the document
        itself goes to ``check``. Raises ValueError for a document that does not parse."""


FORMATS: dict[str, Format] = {fmt.name: fmt for fmt in (
    atom.Atom(),
    rss.Rss(),
    jsonfeed.JsonFeed(),
)}


def document(fmt: Format, feed: FeedView, fragments: Sequence[bytes]) -> bytes:
    """A whole document: its skeleton filled with these fragments."""
    return fmt.fill(fmt.skeleton(feed), fragments)


def of_path(path: str) -> Format | None:
    """The format of a published document, by its file name (None for any other file)."""
    name = posixpath.basename(path)
    return next((fmt for fmt in FORMATS.values() if fmt.file_name == name), None)


MEDIA_TYPES = {  # the other files a publish writes beside the feed documents, whose formats give theirs
    ".opml": "text/x-opml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".xsl": "text/xsl; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


def media_type(name: str) -> str:
    """What a published file is served and uploaded as, by its name."""
    fmt = of_path(name)
    if fmt is not None:
        return f"{fmt.media_type}; charset=utf-8"
    for suffix, kind in MEDIA_TYPES.items():
        if name.endswith(suffix):
            return kind
    return mimetypes.guess_type(name)[0] or "application/octet-stream"

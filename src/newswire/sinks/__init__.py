"""Where a publish puts its documents: a ``Sink``.

A publish renders and verifies documents, then hands them to its sink, which puts
them in place (the output folder, ``directory``), or only says what would change
(``dryrun.DryRun``), or checks that what is in place is what the store recorded
(``dryrun.Check``, the ``verify`` command). The sink speaks of documents (a path
relative to the output, bytes, a media type, a kind that orders them), of what is
there now and of removal, never of local files, so another backend (object storage,
say) is one more module.

The publish calls a sink in this order, whatever it is: ``recover`` if the last
publish was killed; ``put`` for archive pages and per-feed documents, then for main
documents, then for the index pages, so nothing links to a document that is not yet
in place; ``remove`` for documents no longer wanted, once everything new is in place.
The store records what a sink ``records`` only after ``put`` said it is in place.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..formats import media_type
from ..model import DocumentState, Problem


class Kind(enum.IntEnum):
    """What a document is, in the order a publish puts documents in place."""

    PAGE = 0  # an archive page: only its feed's main document and neighbour pages link to it
    MAIN = 1  # a feed's main document, which subscribers fetch
    INDEX = 2  # the index pages, which link to every feed


@dataclass(frozen=True)
class Document:
    """One verified document to put in place."""

    path: str  # below the output, '/'-separated, as in a feed's URL
    data: bytes
    media_type: str
    kind: Kind
    lasting: bool = False  # a full archive page: its bytes stay as they are, so a cache may keep it long


@dataclass(frozen=True)
class Placed:
    """A document in place (or, for a sink that changes nothing, as it would be), as the store records it."""

    path: str
    sha256: str
    size: int
    mtime_ns: int  # the version mark the sink gives what it holds (a file's mtime)
    changed: bool  # new bytes were put (or would be)
    etag: str | None = None  # the object store's ETag for it (see ``sinks.s3``); None for a file


@dataclass(frozen=True)
class Refused:
    """A document the sink did not put in place; what was there stays."""

    path: str
    error: str = ""  # why it could not be put (a full disk ...)
    problems: tuple[Problem, ...] = ()  # how what is there differs from what should be (a check)


class Sink(Protocol):
    """Where a publish's documents go; see the module docstring for the order of calls."""

    @property
    def records(self) -> bool:
        """True if what ``put`` places is really there: the store records it, forgets what ``remove``
        took down, and subscribers hear of it. False for a sink that only looks."""

    def recover(self) -> None:
        """Clear what a killed publish may have left half done (never a document)."""

    def put(self, documents: Sequence[Document]) -> list[Placed | Refused]:
        """Put each document in place, each whole or not at all; one result per document, in order.
        A document whose bytes are there already is left alone (``changed`` false)."""

    def digest(self, path: str) -> str | None:
        """The SHA-256 of the document there now, or None if there is none."""

    def as_recorded(self, state: DocumentState) -> bool:
        """True if the document there now is the one the store recorded (cheaply: size and version mark)."""

    def remove(self, path: str) -> str | None:
        """Take a document down (gone already is fine); the reason it could not be, or None."""


def document(path: str, data: bytes, kind: Kind, lasting: bool = False) -> Document:
    """A document with the media type it is served with (the one ``serve`` gives it)."""
    return Document(path, data, media_type(path), kind, lasting)

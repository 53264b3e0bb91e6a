"""Two folders as one sink: the feeds' output folder, and the journal's own pages.

The store records documents by path, and a path below the output never begins with '/'.
So a page of the journal's own (a post's page, the home page, a deleted post's page) is
named by ``SITE`` + its path below the pages folder ('/2010/01/a-post.html'), which reads
as the page's URL path below site_url and can never be taken for a feed's document. Every
publish step (recovery, ``put``, removal of orphans, a dry run, ``verify``) goes through
this sink, so both folders get the same care.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..model import DocumentState
from . import Document, Placed, Refused, Sink

SITE = "/"  # the prefix of a page's path (see the module docstring)


def site_path(path: str) -> str:
    """How the store and the sinks name the journal's page at ``path`` below the pages folder."""
    return SITE + path


def is_site(path: str) -> bool:
    return path.startswith(SITE)


@dataclass(frozen=True)
class Split:
    """Documents named by ``site_path`` go to ``site`` (without the prefix), the others to ``feeds``."""

    feeds: Sink
    site: Sink

    @property
    def records(self) -> bool:
        return self.feeds.records

    def recover(self) -> None:
        self.feeds.recover()
        self.site.recover()

    def _route(self, path: str) -> tuple[Sink, str]:
        return (self.site, path.removeprefix(SITE)) if is_site(path) else (self.feeds, path)

    def put(self, documents: Sequence[Document]) -> list[Placed | Refused]:
        site = [replace(doc, path=doc.path.removeprefix(SITE)) for doc in documents if is_site(doc.path)]
        placed = iter(self.site.put(site) if site else [])
        feeds = iter(self.feeds.put([doc for doc in documents if not is_site(doc.path)]))
        return [replace(next(placed), path=doc.path) if is_site(doc.path) else next(feeds) for doc in documents]

    def digest(self, path: str) -> str | None:
        sink, rel = self._route(path)
        return sink.digest(rel)

    def as_recorded(self, state: DocumentState) -> bool:
        sink, rel = self._route(state.path)
        return sink.as_recorded(replace(state, path=rel))

    def remove(self, path: str) -> str | None:
        sink, rel = self._route(path)
        return sink.remove(rel)

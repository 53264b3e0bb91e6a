"""Sinks that change nothing: a dry run says what a publish would change, a check says where
what is in place differs from what the store recorded. Both look through the real sink."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..model import DocumentState, Problem
from ..writer import digest
from . import Document, Placed, Refused, Sink


@dataclass(frozen=True)
class DryRun:
    """Puts nothing: each document is reported as changed if its bytes differ from what ``target`` holds."""

    target: Sink

    @property
    def records(self) -> bool:
        return False

    def recover(self) -> None:
        pass

    def put(self, documents: Sequence[Document]) -> list[Placed | Refused]:
        out: list[Placed | Refused] = []
        for doc in documents:
            sha = digest(doc.data)
            out.append(Placed(doc.path, sha, len(doc.data), 0, self.target.digest(doc.path) != sha))
        return out

    def digest(self, path: str) -> str | None:
        return self.target.digest(path)

    def as_recorded(self, state: DocumentState) -> bool:
        return self.target.as_recorded(state)

    def remove(self, path: str) -> str | None:
        return None


@dataclass(frozen=True)
class Check(DryRun):
    """A dry run in which every document that would change is a problem: missing, edited since it
    was written, or older than the store (``recorded`` is what the store says was written)."""

    recorded: dict[str, DocumentState] = field(default_factory=dict)

    def put(self, documents: Sequence[Document]) -> list[Placed | Refused]:
        return [Refused(r.path, problems=(self._drift(r.path),)) if isinstance(r, Placed) and r.changed else r
                for r in super().put(documents)]

    def _drift(self, path: str) -> Problem:
        state = self.recorded.get(path)
        there = self.target.digest(path)
        if there is None:
            return Problem(path, "", "file", "present", "missing")
        if state is not None and state.sha256 != there:
            return Problem(path, "", "file", "the bytes newswire wrote", "changed on disk since then")
        return Problem(path, "", "file", "up to date with the store", "older (run 'newswire publish')")

"""The output folder as a sink: each document replaced atomically (see ``writer``), with
temporary files cleared after a killed publish and folders a removal empties taken away."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..model import DocumentState
from ..writer import WriteError, clean_temporaries, file_digest, remove, write_many
from . import Document, Placed, Refused


@dataclass(frozen=True)
class Directory:
    """Documents as files below ``root``."""

    root: Path

    @property
    def records(self) -> bool:
        return True

    def recover(self) -> None:
        clean_temporaries(self.root)

    def put(self, documents: Sequence[Document]) -> list[Placed | Refused]:
        return [Refused(doc.path, str(result)) if isinstance(result, WriteError)
                else Placed(result.path, result.sha256, result.size, result.mtime_ns, result.changed)
                for doc, result in zip(documents, write_many(self.root, [(d.path, d.data) for d in documents]))]

    def digest(self, path: str) -> str | None:
        return file_digest(self.root / path)

    def as_recorded(self, state: DocumentState) -> bool:
        """Same size and mtime, or else the same bytes."""
        path = os.path.join(self.root, state.path)  # not pathlib: this runs for every document of a journal
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        if st.st_size != state.size:
            return False
        return st.st_mtime_ns == state.mtime_ns or file_digest(Path(path)) == state.sha256

    def remove(self, path: str) -> str | None:
        try:
            remove(self.root, path)
        except WriteError as exc:
            return str(exc)
        return None

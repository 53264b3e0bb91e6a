"""Writing documents so that no reader ever sees half a file.

Each document goes to a temporary file in its own folder, is flushed to disk, then
renamed over the old one (atomic on POSIX); the folder is synced so the rename
survives a crash. Documents are written in groups so that one sync serves many.
Temporary files are hidden and named ``.newswire-<name>.<pid>-<n>.tmp``, so cleaning
up after a crash can never match a file of anyone else's. A document whose bytes are
already in place is not touched, so its mtime, inode and the web server's ETag stay
valid.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import NewswireError

TEMP_PREFIX, TEMP_SUFFIX = ".newswire-", ".tmp"

class WriteError(NewswireError):
    """A document could not be written; the previous version is still in place."""


@dataclass(frozen=True)
class Written:
    path: str
    sha256: str
    size: int
    mtime_ns: int
    changed: bool


def inside(root: Path, rel: str, base: Path | None = None) -> Path:
    """The file ``rel`` below ``root``; refuses any path that would leave it.

    ``base`` is ``root.resolve()``, for callers that check many paths below one root.
    """
    target = (root / rel).resolve()
    base = base or root.resolve()
    if rel.startswith("/") or ".." in Path(rel).parts or not target.is_relative_to(base):
        raise WriteError(f"refusing to write {rel!r}: it is not inside {root}")
    return target


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except FileNotFoundError:
        return None


def write_atomic(root: Path, rel: str, data: bytes) -> Written:
    """Put ``data`` at ``root/rel`` atomically, unless exactly these bytes are there already."""
    result = write_many(root, [(rel, data)])[0]
    if isinstance(result, WriteError):
        raise result
    return result


SYNC_GROUP = 64  # documents whose temporary files are open and synced together


def write_many(root: Path, documents: Iterable[tuple[str, bytes]]) -> list[Written | WriteError]:
    """Put each ``(rel, data)`` in place atomically; one result per document, in order.

    Every temporary file of a group is written first and only then synced, so the file
    system commits them together rather than once per document; then each is renamed
    over its document and each folder synced once. At every moment each document is
    either its old or its new version, whole. A document whose bytes are already in
    place is not touched; one that fails (a full disk ...) keeps its old version and
    does not stop the others.
    """
    base = root.resolve()
    results: list[Written | WriteError] = []
    group: list[tuple[int, str, bytes]] = []
    for rel, data in documents:
        group.append((len(results), rel, data))
        results.append(WriteError(f"{rel}: not written"))  # replaced below
        if len(group) == SYNC_GROUP:
            _write_group(root, base, group, results)
            group = []
    _write_group(root, base, group, results)
    return results


@dataclass
class _Pending:
    """A document's temporary file, written but not yet synced and renamed."""

    index: int
    rel: str
    target: Path
    sha256: str
    tmp: str
    fd: int


def _write_group(root: Path, base: Path, group: list[tuple[int, str, bytes]],
                 results: list[Written | WriteError]) -> None:
    pending: list[_Pending] = []
    folders: set[Path] = set()  # made already (a feed's formats share one)
    for index, rel, data in group:
        target = None
        try:  # any OSError (a file where a folder should be, a full disk ...) leaves the old document
            target = inside(root, rel, base)
            sha = digest(data)
            if _in_place(target, data, sha):
                st = target.stat()
                results[index] = Written(rel, sha, st.st_size, st.st_mtime_ns, changed=False)
                continue
            if target.parent not in folders:
                target.parent.mkdir(parents=True, exist_ok=True)
                folders.add(target.parent)
            fd, tmp = _open_temporary(target)
            pending.append(_Pending(index, rel, target, sha, tmp, fd))
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except (OSError, WriteError) as exc:
            results[index] = _failed(target, rel, exc)
            if pending and pending[-1].index == index:
                _discard(pending.pop())
    placed: list[_Pending] = []
    for p in pending:
        try:
            os.fsync(p.fd)
            os.close(p.fd)
            p.fd = -1
            os.replace(p.tmp, p.target)
            placed.append(p)
        except OSError as exc:
            results[p.index] = _failed(p.target, p.rel, exc)
            _discard(p)
    synced: dict[Path, OSError | None] = {}
    for p in placed:
        folder = p.target.parent
        if folder not in synced:
            synced[folder] = _sync_dir(folder)
        try:
            if synced[folder] is not None:
                raise synced[folder]  # type: ignore[misc]
            st = p.target.stat()
        except OSError as exc:
            results[p.index] = _failed(p.target, p.rel, exc)
            continue
        results[p.index] = Written(p.rel, p.sha256, st.st_size, st.st_mtime_ns, changed=True)


def _in_place(target: Path, data: bytes, sha: str) -> bool:
    try:
        return target.stat().st_size == len(data) and file_digest(target) == sha
    except FileNotFoundError:
        return False


def _failed(target: Path | None, rel: str, exc: OSError | WriteError) -> WriteError:
    if isinstance(exc, WriteError):
        return exc
    reason = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
    return WriteError(f"{target or rel}: cannot write: {reason}; the previous version is kept")


_TEMPORARIES = itertools.count()


def _open_temporary(target: Path) -> tuple[int, str]:
    """A new hidden temporary file beside ``target``, readable by all as the document will be;
    named by process and number (no random name to draw), past any left by a killed publish."""
    while True:
        tmp = f"{target.parent}/{TEMP_PREFIX}{target.name}.{os.getpid()}-{next(_TEMPORARIES)}{TEMP_SUFFIX}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            continue
        try:
            os.fchmod(fd, 0o644)  # whatever the umask
        except OSError:
            os.close(fd)
            os.unlink(tmp)
            raise
        return fd, tmp


def _discard(p: _Pending) -> None:
    """Close and remove a temporary file that will not become a document."""
    if p.fd >= 0:
        try:
            os.close(p.fd)
        except OSError:
            pass
    try:
        os.unlink(p.tmp)
    except FileNotFoundError:
        pass


def _sync_dir(path: Path) -> OSError | None:
    """Make the renames in ``path`` durable; the error, if any, rather than raising it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        return exc
    return None


def remove(root: Path, rel: str) -> None:
    """Take a document down, and the folders it leaves empty (a feed that is gone leaves nothing)."""
    target = inside(root, rel)
    try:
        target.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise WriteError(f"{target}: cannot remove: {exc.strerror or exc}; it stays published") from None
    base = root.resolve()
    for folder in target.parents:
        if folder == base or not folder.is_relative_to(base):
            break
        try:
            folder.rmdir()
        except OSError:  # not empty (or not ours to remove): the folders above are not empty either
            break


def clean_temporaries(root: Path) -> int:
    """Remove temporary files a killed publish left behind; they are never served.

    Only newswire's own (see ``write_atomic``): an operator's ``.*.tmp`` files are not ours to delete.
    """
    count = 0
    if root.is_dir():
        for tmp in root.rglob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
            try:
                tmp.unlink()
                count += 1
            except OSError:
                pass
    return count

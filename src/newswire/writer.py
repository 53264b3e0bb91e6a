"""Writing documents so that no reader ever sees half a file.

Each document goes to a temporary file in its own folder, is flushed to disk, then
renamed over the old one (atomic on POSIX); the folder is synced so the rename
survives a crash. Temporary files are hidden and named ``.newswire-<name>.<random>.tmp``,
so cleaning up after a crash can never match a file of anyone else's. A document whose bytes are already in place is not touched, so its
mtime, inode and the web server's ETag stay valid.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
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


def inside(root: Path, rel: str) -> Path:
    """The file ``rel`` below ``root``; refuses any path that would leave it."""
    target = (root / rel).resolve()
    base = root.resolve()
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
    target = inside(root, rel)
    sha = digest(data)
    try:  # any OSError (a file where a folder should be, a full disk ...) leaves the old document
        try:
            st = target.stat()
            if st.st_size == len(data) and file_digest(target) == sha:
                return Written(rel, sha, st.st_size, st.st_mtime_ns, changed=False)
        except FileNotFoundError:
            pass
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f"{TEMP_PREFIX}{target.name}.", suffix=TEMP_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        _sync_dir(target.parent)
    except OSError as exc:
        reason = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
        raise WriteError(f"{target}: cannot write: {reason}; the previous version is kept") from None
    st = target.stat()
    return Written(rel, sha, st.st_size, st.st_mtime_ns, changed=True)


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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

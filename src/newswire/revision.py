"""Which content is newer, when several hosts sync one store from their own checkouts.

A content folder in a git work tree is versioned by its checkout's HEAD commit. The store
keeps the revision the last sync read (``StateStore.content_revision``): the commit, whether
the folder held uncommitted changes, and which checkout it was (host and path). A sync then:

- syncs when the store has no revision yet, or this commit is the recorded one or newer (the
  recorded commit is its ancestor), or the recorded revision is this checkout's own;
- changes nothing, and says so, when this commit is older (an ancestor of the recorded one), or
  is the recorded commit while the store holds another checkout's uncommitted changes on top:
  this host is behind, which is not an error (exit 0), so a lagging host's cron stays quiet;
- refuses (exit 1), when the commits have diverged, when this checkout does not know the
  recorded commit (not fetched yet), or when the folder is not a git checkout while the store
  was synced from one: which is newer cannot be told. ``--force-revision`` takes the checkout
  as the truth all the same.

A folder outside any git work tree (or in one with no commit yet) has no revision: the folder
is the truth, as on a single host, and nothing is recorded.
"""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .model import ContentRevision

GIT_TIMEOUT = 60.0  # seconds for one git command; a checkout on a hung network disk is refused, not waited on

Verdict = Literal["sync", "behind", "refused"]


class GitTrouble(Exception):
    """git could not say what the checkout is (it failed or hung): the sync is refused."""


@dataclass(frozen=True)
class Decision:
    """What a sync from ``current`` may do, given the revision the store recorded, and why (one line)."""

    verdict: Verdict
    reason: str = ""


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", "--no-optional-locks", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise GitTrouble(f"git did not answer within {GIT_TIMEOUT:g} s about the content folder") from None


def of_checkout(root: Path) -> ContentRevision | None:
    """The revision of the content folder ``root``: None if it is not in a git work tree with a
    commit (or git is not installed). Dirty: anything under ``root`` that ``git status`` lists
    (changed, staged or untracked; ignored files do not count)."""
    try:
        head = _git(root, "rev-parse", "--is-inside-work-tree", "--verify", "-q", "HEAD^{commit}")
    except FileNotFoundError:  # no git on this host: nothing can be a checkout here
        return None
    lines = head.stdout.split()
    if head.returncode != 0 or lines[:1] != ["true"] or len(lines) != 2:
        return None
    status = _git(root, "status", "--porcelain", "-z", "--untracked-files=all", "--", ".")
    if status.returncode != 0:
        raise GitTrouble(f"git status failed in the content folder: {status.stderr.strip()[:200]}")
    return ContentRevision(lines[1], bool(status.stdout), f"{socket.gethostname()}:{root.resolve()}")


def _is_ancestor(root: Path, older: str, newer: str) -> bool | None:
    """Whether commit ``older`` is an ancestor of (or is) ``newer``; None if this checkout does not know one."""
    answer = _git(root, "merge-base", "--is-ancestor", older, newer)
    return {0: True, 1: False}.get(answer.returncode)


def decide(root: Path, recorded: ContentRevision | None, current: ContentRevision | None, *,
           force: bool = False) -> Decision:
    """What a sync of ``root`` at ``current`` may do after one that recorded ``recorded`` (see the module)."""
    if force or recorded is None or (current is not None and current.checkout == recorded.checkout
                                     and current.commit == recorded.commit):
        return Decision("sync")
    last = f"{recorded.commit[:12]} (synced from {recorded.checkout})"
    if current is None:
        return Decision("refused", f"the store was last synced from git commit {last}, but the content folder is "
                                   "not a git checkout here; nothing was synced (sync from a checkout, or use "
                                   "--force-revision to take this folder as it is)")
    here = f"the content folder is at git commit {current.commit[:12]}"
    if current.commit == recorded.commit:
        if not recorded.dirty:
            return Decision("sync")
        return Decision("behind", f"synced nothing: {here}, but the store holds uncommitted changes made on top of "
                                  f"it in {recorded.checkout}; commit and pull them")
    newer = _is_ancestor(root, recorded.commit, current.commit)
    if newer is None:
        return Decision("refused", f"{here}, and this checkout does not know commit {last}: nothing was synced "
                                   "(fetch and pull, or use --force-revision to take this checkout as the truth)")
    if newer:
        return Decision("sync")
    if _is_ancestor(root, current.commit, recorded.commit):
        return Decision("behind", f"synced nothing: {here}, older than {last}; pull to catch up")
    return Decision("refused", f"{here}, which has diverged from {last}: nothing was synced (merge, or use "
                               "--force-revision to take this checkout as the truth)")

"""The Markdown content directory → the store.

One file per post: YAML front matter between ``---`` lines, then Markdown (CommonMark,
raw HTML kept). A file that cannot be read is reported as ``file:line: what`` (or
``file: what``, for a file refused unread) and skipped; the post the store holds for it
stays exactly as it was. A file moved or renamed keeps its post; a sync that would delete
every post, or too many of them, changes nothing unless the operator allows it.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from . import revision
from .bounds import YEARS, instant
from .config import Config, JournalConfig
from .errors import printable
from .files import Refused, read_limited
from .model import ContentRevision, NewPost, PostInput, PostPlace, Tally
from .store import Store, new_post, to_utc_text
from .text import MAX_NESTING, clean_html_utf8, clean_id, is_absolute_iri, label_text, nested_deeper, one_line, slugify
from .workers import in_parts, run_tasks
from .yamlio import Located, compose, error_line, is_text, shown

SOURCE_PREFIX = "md:"
KEYS = {"title", "date", "updated", "author", "affiliation", "labels", "id", "slug", "summary", "draft"}


def markdown_html(markdown: bytes) -> tuple[str, bytes | None]:
    """UTF-8 Markdown as HTML, and that HTML's UTF-8 as cmark wrote it; None if it may not be the
    HTML's own (the HTML holds U+FFFD: cmark writes U+FFFE and U+FFFF, from ``&#xFFFE;``, as single
    bytes, which are read as U+FFFD)."""
    out = _markdown()(markdown)
    html = out.decode("utf-8", "replace")
    return html, out if "\ufffd" not in html else None


@functools.cache
def _markdown() -> Callable[[bytes], bytes]:
    """CommonMark by cmark-gfm (the reference implementation, in C) with raw HTML kept, and GFM
    tables and ``~~strikethrough~~``; loaded only when a file is read.

    Through cmarkgfm's bindings, but not its one-call wrapper, which never frees the tree it parses
    nor the HTML it renders (about 20 KB a post, for the life of the process): both are freed here.
    """
    import cffi
    from cmarkgfm import _cmark

    lib = _cmark.lib
    ffi = cffi.FFI()
    ffi.cdef("void cmark_node_free(void *node); void free(void *ptr);")
    cmark, libc = ffi.dlopen(_cmark.__file__), ffi.dlopen(None)  # the bindings leave these two out
    lib.cmark_gfm_core_extensions_ensure_registered()
    extensions = [lib.cmark_find_syntax_extension(name) for name in (b"table", b"strikethrough")]
    options = lib.CMARK_OPT_UNSAFE | lib.CMARK_OPT_STRIKETHROUGH_DOUBLE_TILDE

    def render(data: bytes) -> bytes:
        parser = lib.cmark_parser_new(options)
        try:
            for extension in extensions:
                lib.cmark_parser_attach_syntax_extension(parser, extension)
            lib.cmark_parser_feed(parser, data, len(data))
            root = lib.cmark_parser_finish(parser)
            try:
                html = lib.cmark_render_html(root, options, lib.cmark_parser_get_syntax_extensions(parser))
                try:
                    return bytes(_cmark.ffi.string(html))
                finally:
                    libc.free(html)
            finally:
                cmark.cmark_node_free(root)
        finally:
            lib.cmark_parser_free(parser)

    return render


class SourceError(Exception):
    """A problem in one content file, with the line it is on (0: the file or folder as a whole)."""

    def __init__(self, file: str, line: int, message: str):
        super().__init__(f"{printable(file)}:{line}: {message}" if line else f"{printable(file)}: {message}")
        self.file, self.line, self.message = file, line, message

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return SourceError, (self.file, self.line, self.message)  # to cross from a sync worker


@dataclass
class SyncReport(Tally):
    deleted: int = 0
    moved: int = 0  # files found at a new place that kept their post (also counted by outcome)
    refused: bool = False  # the sync changed nothing: the folder is missing, or too much would be deleted
    behind: str = ""  # why the sync changed nothing: the store holds newer content (see ``revision``)
    deleted_files: list[str] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)

    def summary(self) -> str:
        if self.refused:
            return "synced nothing: the sync was refused, and the store is as it was"
        if self.behind:
            return self.behind
        text = (f"synced {self.total} posts: {self.added} added, "
                f"{self.updated} updated, {self.restored} restored, {self.deleted} deleted, "
                f"{self.unchanged} unchanged")
        if self.moved:
            text += f" ({self.moved} moved or renamed)"
        if self.errors:
            text += f"; {len(self.errors)} file{'s' if len(self.errors) != 1 else ''} skipped"
        return text


def parse_date(value: Any, journal: JournalConfig) -> datetime:
    """ISO 8601 date or date-time; without a zone it takes the journal's zone."""
    example = "write e.g. 2009-11-06 or 2009-11-06T09:30:00-05:00"
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, date):
        when = datetime.combine(value, time())
    elif is_text(value):
        text = str(value).strip()
        try:
            when = datetime.fromisoformat(text.replace(" ", "T", 1) if len(text) > 10 else text)
        except ValueError:
            raise ValueError(f"{text!r} is not an ISO 8601 date ({example})") from None
    else:
        raise ValueError(f"{shown(value)} is not an ISO 8601 date ({example})")
    if when.tzinfo is None:
        when = when.replace(tzinfo=journal.zone)
    if instant(when) is None:
        raise ValueError(f"{when.isoformat()} is out of range: the year in UTC must be between "
                         f"{YEARS[0]} and {YEARS[-1]}")
    return when.replace(microsecond=0)


def split_front_matter(text: str, name: str) -> tuple[str, str, int]:
    """(front matter, body, line where the body starts)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    # Lines as ``str.splitlines`` cuts them, looked for in the head of the text first: the front
    # matter is short, the body may be long. The head's last line may be cut short, so it is not looked at.
    for head in (text[:FRONT_HEAD], text) if len(text) > FRONT_HEAD else (text,):
        lines = head.splitlines(keepends=True)
        cut = head is not text
        if cut and len(lines) < 2:
            continue  # its first line is longer than the head
        if not lines or lines[0].strip() != "---":
            raise SourceError(name, 1, "must start with a '---' line opening the front matter")
        for i, line in enumerate(lines[1:len(lines) - cut], start=1):
            if line.rstrip() in ("---", "..."):  # at the line's start: an indented one is part of a YAML value
                return "".join(lines[1:i]), text[sum(map(len, lines[:i + 1])):], i + 2
    raise SourceError(name, len(lines), "the front matter is never closed (add a '---' line after it)")


FRONT_HEAD = 2048  # characters in which the end of the front matter is looked for first


def read_post(path: str | Path, rel: str, config: Config, author_keys: set[str],
              id_owner: Callable[[str], str | None] = lambda entry_id: None) -> PostInput:
    """One Markdown file as a post, or ``SourceError`` naming the line that is wrong.

    ``id_owner`` names the other file that already holds an entry id, if any: an explicit
    ``id`` taken by another post is refused at the line that claims it.
    """
    return _claim(parse_post(path, rel, config, author_keys), rel, id_owner)


@dataclass(frozen=True)
class Parsed:
    """A file read on its own: the post, its content hash, and the line of its explicit ``id`` (0 if none)."""

    post: PostInput
    content_hash: str  # made here, on the core that read the file
    id_line: int = 0
    body_utf8: bytes | None = None  # the body's UTF-8 as the renderer wrote it, if exactly the body's (for ``NewPost``)


def _claim(parsed: Parsed, rel: str, id_owner: Callable[[str], str | None]) -> PostInput:
    """The post, unless another file already holds the id it states (that needs the other files)."""
    entry_id = parsed.post.entry_id
    if entry_id is not None and (owner := id_owner(entry_id)) is not None:
        raise SourceError(rel, parsed.id_line, f"id {entry_id!r} is already used by {printable(owner)}")
    return parsed.post


def parse_post(path: str | Path, rel: str, config: Config, author_keys: set[str]) -> Parsed:
    """Everything about one file that does not depend on the others (so it can run on any core)."""
    try:
        raw = read_limited(path, config.sync.max_file_bytes, "sync.max_file_bytes")
    except Refused as exc:
        raise SourceError(rel, 0, str(exc)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise SourceError(rel, line, "is not UTF-8 text") from None
    lines_kept = "\r" not in text
    if not lines_kept:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    front, body, body_line = split_front_matter(text, rel)
    # The body's UTF-8 for cmark: the file's own tail, unless its line ends were changed.
    markdown = raw[len(text[:len(text) - len(body)].encode("utf-8")):] if lines_kept else body.encode("utf-8")
    try:
        meta = compose(front, first_line=2)
    except yaml.YAMLError as exc:
        at, problem = error_line(exc, first_line=2)
        raise SourceError(rel, at or 2, f"front matter is not valid YAML: {problem}") from None
    if meta is None or not isinstance(meta.value, dict):
        raise SourceError(rel, 2, "front matter must be a mapping with at least title and date")
    fields: dict[str, Located] = meta.value
    for key, node in fields.items():
        if key not in KEYS:
            raise SourceError(rel, node.line, f"unknown front matter key {key!r} (known: {', '.join(sorted(KEYS))})")

    def text_of(key: str, required: bool = False) -> str | None:
        node = fields.get(key)
        if node is None or node.value is None:
            if required:
                raise SourceError(rel, meta.line, f"front matter needs '{key}'")
            return None
        if not is_text(node.value):
            raise SourceError(rel, node.line, f"'{key}' must be text")
        return str(node.value)

    def date_of(key: str) -> datetime | None:
        node = fields.get(key)
        if node is None or node.value is None:
            return None
        try:
            return parse_date(node.value, config.journal)
        except ValueError as exc:
            raise SourceError(rel, node.line, f"'{key}': {exc}") from None

    title = one_line(text_of("title", required=True) or "")
    if not title:
        raise SourceError(rel, fields["title"].line, "'title' must not be empty")
    published = date_of("date")
    if published is None:
        raise SourceError(rel, meta.line, "front matter needs 'date'")
    updated = date_of("updated")
    if updated is not None and updated < published:
        raise SourceError(rel, fields["updated"].line, "'updated' is earlier than 'date'")

    labels_node = fields.get("labels")
    labels: list[str] = []
    if labels_node is not None and labels_node.value is not None:
        items = labels_node.value if isinstance(labels_node.value, list) else [labels_node]
        for item in items:
            if item.value is None:
                continue
            if not is_text(item.value):
                raise SourceError(rel, item.line, "each label must be text")
            label = label_text(str(item.value))
            if label:
                labels.append(label)

    draft_node = fields.get("draft")
    if draft_node is not None and not isinstance(draft_node.value, (bool, type(None))):
        raise SourceError(rel, draft_node.line, "'draft' must be true or false")

    author = one_line(text_of("author", required=True) or "")
    if not author:
        raise SourceError(rel, fields["author"].line, "'author' must not be empty")
    affiliation = text_of("affiliation")
    explicit_id = text_of("id")
    key = slugify(os.path.splitext(os.path.basename(rel))[0], fallback="post")  # the name's stem (quicker than Path)
    entry_id = None
    if explicit_id is not None:
        explicit_id = clean_id(explicit_id)
        if not explicit_id or any(c.isspace() for c in explicit_id):
            raise SourceError(rel, fields["id"].line, "'id' must be an IRI or a key without spaces")
        if is_absolute_iri(explicit_id):
            entry_id = explicit_id
        else:
            entry_id = config.journal.tag("post/" + explicit_id)
    slug = slugify(text_of("slug") or title, fallback=key)
    html, utf8 = markdown_html(markdown)
    if nested_deeper(html):  # raw HTML passes CommonMark unchanged; parsers' work grows with its depth
        raise SourceError(rel, body_line, f"the body's HTML is nested deeper than {MAX_NESTING} levels")
    html, body_utf8 = clean_html_utf8(html, utf8)
    post = PostInput(
        source=SOURCE_PREFIX + rel,
        key=key,
        title=title,
        body=html,
        summary=one_line(text_of("summary") or ""),
        author_key=author if author in author_keys else "",
        author_name=None if author in author_keys else author,
        affiliation=one_line(affiliation) if affiliation else None,
        labels=tuple(labels),
        slug=slug,
        published=published,
        updated=updated,
        draft=bool(draft_node.value) if draft_node is not None else False,
        entry_id=entry_id,
        proposed_id=config.journal.tag(f"post/{_day(published)}/{slug}"),
    )
    return Parsed(post, post.content_hash(body_utf8), fields["id"].line if entry_id is not None else 0, body_utf8)


def _day(when: datetime) -> str:
    """``f"{when:%Y-%m-%d}"``, which ids were always made of, quicker (strftime writes a year below 1000 unpadded)."""
    return when.date().isoformat() if when.year >= 1000 else f"{when:%Y-%m-%d}"


PARALLEL_STATS = 5000  # files to stat; below this, forking costs more than sharing the work saves


@dataclass(frozen=True)
class Scan:
    """The content folder as a sync finds it."""

    listing: bytes  # every ``*.md`` file and its stamp, as ``name\\0stamp\\0`` pairs in scan order
    problems: tuple[SourceError, ...] = ()  # folders that could not be read (reported at every sync)
    unseen: tuple[str, ...] = ()  # their names, each ending in '/': the posts below them are kept


def scan(root: Path) -> Scan:
    """Every ``*.md`` below the content directory (hidden files and folders skipped) with its
    stamp (size, mtime and inode; empty if it cannot be had), as ``name\\0stamp\\0`` pairs in
    scan order: NUL is the one byte no file name holds.

    A file whose stamp is the one it had at the last sync is not read again, so syncing an
    unchanged journal costs one ``stat`` per file, made relative to the open directory (no
    path to walk) and shared among the cores. ``OSError`` if the directory itself cannot be opened.
    """
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        rels, problems = _markdown_files(fd)
        listing = b"".join(in_parts(partial(_stamped, fd), rels, minimum=PARALLEL_STATS))
    finally:
        os.close(fd)
    return Scan(listing, tuple(problems), tuple(p.file + "/" for p in problems))


def _markdown_files(root: int) -> tuple[list[str], list[SourceError]]:
    """The names of the ``*.md`` files below the open directory ``root``, relative to it, and a
    problem for each folder that could not be read.

    Links are followed, except a link back to a folder that holds it: that loop would list
    the same files again and again under ever longer names.
    """
    rels: list[str] = []
    problems: list[SourceError] = []
    top = os.fstat(root)
    folders: list[tuple[str, frozenset[tuple[int, int]]]] = [("", frozenset({(top.st_dev, top.st_ino)}))]
    while folders:
        prefix, above = folders.pop()
        try:
            fd = os.open(prefix, os.O_RDONLY | os.O_DIRECTORY, dir_fd=root) if prefix else os.dup(root)
        except OSError as exc:
            problems.append(SourceError(prefix[:-1], 0, f"this folder cannot be read ({exc.strerror}); "
                                                        "the posts below it are kept as they are"))
            continue
        try:
            st = os.fstat(fd)
            if prefix and (st.st_dev, st.st_ino) in above:
                problems.append(SourceError(prefix[:-1], 0, "is a link to a folder that holds it (a loop); "
                                                            "not followed"))
                continue
            with os.scandir(fd) as entries:
                for entry in entries:
                    name = entry.name
                    if name.startswith("."):
                        continue
                    try:
                        is_dir = entry.is_dir()
                    except OSError:  # a link that loops or leads nowhere: read, and refused, if it is named as a post
                        is_dir = False
                    if is_dir:
                        folders.append((f"{prefix}{name}/", above | {(st.st_dev, st.st_ino)}))
                    elif name.endswith(".md"):
                        rels.append(prefix + name)
        finally:
            os.close(fd)
    return rels, problems


def _stamped(root: int, rels: list[str]) -> bytes:
    out = []
    stat = os.stat
    for rel in rels:
        try:
            st = stat(rel, dir_fd=root)
        except OSError:
            out.append(f"{rel}\0\0")
        else:
            out.append(f"{rel}\0{st.st_size}:{st.st_mtime_ns}:{st.st_ino}\0")
    return _bytes("".join(out))


def sync(config: Config, store: Store, now: datetime, *, allow_mass_delete: bool = False,
         force_revision: bool = False) -> SyncReport:
    """Bring the content directory into the store: add, update, delete; never lose a post.

    A folder in a git checkout syncs only if its commit is not older than the one the store
    last synced, nor diverged from it (``revision``; ``force_revision`` takes it all the same),
    and the revision is recorded in the sync's own transaction, if no other sync (another
    host) recorded one since: else the sync is undone. So no host undoes another's work.

    A file is read when its stamp differs from the one it had at the last sync, which the
    store keeps as a listing of the whole directory while nothing else has changed the
    store since, and otherwise with each post; so a sync after a small change reads that
    change and no more. A directory exactly as the last sync listed it is not compared at all.

    A sync that would delete every post, or more than ``config.sync`` allows, changes
    nothing and says so, unless ``allow_mass_delete``: a missing disk looks like that.
    """
    report = SyncReport()
    root = config.paths.content
    recorded, seq = store.state.content_revision()
    current = None
    try:
        if root.is_dir():  # else the scan says what is wrong with the folder
            current = revision.of_checkout(root)
            decision = revision.decide(root, recorded, current, force=force_revision)
            if decision.verdict == "behind":
                return SyncReport(behind=decision.reason)
            if decision.verdict == "refused":
                raise RevisionRefused(decision.reason)
        scanned = scan(root)
        after = revision.of_checkout(root) if current is not None else None
        if current is not None and (after is None or after.commit != current.commit):
            raise RevisionRefused("the content folder's git checkout changed while it was read (a pull or a "
                                  "commit meanwhile?); nothing was synced: run again")
    except OSError as exc:
        return SyncReport(refused=True, errors=[SourceError(str(root), 0, _missing(exc))])
    except (revision.GitTrouble, RevisionRefused) as exc:
        return SyncReport(refused=True, errors=[SourceError(str(root), 0, str(exc))])
    new_revision = partial(_record_revision, store, current, seq, now)
    report.errors.extend(scanned.problems)
    listing = scanned.listing
    digest = _digest(config, listing)
    stamped = b"\0\0" not in listing  # a file with no stamp is read every time
    last = store.state.content_scan(digest if stamped else None)
    if last is not None and last[0] == digest and stamped:
        report.unchanged = listing.count(0) // 2  # the files and the store are as the last sync left them
        if current != recorded:
            try:
                with store.undoable():
                    new_revision()
            except RevisionRefused as exc:
                return SyncReport(refused=True, errors=[SourceError(str(root), 0, str(exc))])
        return report
    # What differs from the last sync's listing (or, if the store changed since, from each post's stamp).
    if last is not None and last[1] is not None:
        before = last[1]
    else:
        stamps = store.posts.source_stamps(SOURCE_PREFIX)
        before = _bytes("".join(f"{rel}\0{stamp or ''}\0" for rel, stamp in stamps.items()))
    changed, gone = diff_listings(listing, before)
    gone = {rel for rel in gone if not rel.startswith(scanned.unseen)}  # below a folder that could not be read
    if not stamped:
        changed.update((rel, stamp) for rel, stamp in _read_listing(listing).items() if not stamp)
    # File order decides which of two files keeps a shared id. (Paths joined as text, to the folder with
    # its separator: a Path, or os.path.join, per file costs more than the parent's share of the sync.)
    folder = os.path.join(str(root), "")
    todo = [(folder + rel, rel, stamp or None) for rel, stamp in sorted(changed.items())]
    report.unchanged = listing.count(0) // 2 - len(todo)
    try:
        with store.roomy(), store.undoable():  # one commit for the whole directory: fast, and all or nothing
            new_revision()  # first: on a server, a second host's sync waits here for this one to end
            posts_before = store.posts.count_sources(SOURCE_PREFIX) if gone else 0
            failed = _sync_files(config, store, now, todo, _lister(listing),
                                 [SOURCE_PREFIX + rel for rel in sorted(gone)], report)
            if report.deleted and not allow_mass_delete:
                _check_deletions(config, report.deleted, posts_before, store.posts.count_sources(SOURCE_PREFIX))
            if failed:  # listed with no stamp, so they are read (and reported) again next time
                listing = _without_stamps(listing, {_bytes(rel) for rel in failed})
                digest = _digest(config, listing)
            store.state.set_content_scan(digest, listing)
    except (MassDeletion, RevisionRefused) as exc:
        return SyncReport(refused=True, errors=[*report.errors, SourceError(str(root), 0, str(exc))])
    return report


class MassDeletion(Exception):
    """A sync would delete more posts than it may on its own; it was undone."""


class RevisionRefused(Exception):
    """The content folder's revision may not be synced (see ``revision``), or another sync recorded
    a newer one meanwhile; nothing was changed."""


def _record_revision(store: Store, current: ContentRevision | None, seq: int, now: datetime) -> None:
    """Record the revision this sync read, unless another sync recorded one since it looked."""
    if not store.state.set_content_revision(current, seq, now):
        raise RevisionRefused("another sync (on another host?) recorded a content revision while this one ran; "
                              "nothing was synced: run again")


def _check_deletions(config: Config, deleted: int, before: int, after: int) -> None:
    """``MassDeletion`` if deleting ``deleted`` of ``before`` posts, leaving ``after``, goes past ``config.sync``."""
    limits = config.sync
    allowed = max(limits.max_delete_count, int(limits.max_delete_share * before))
    if after == 0:
        what = (f"would delete all {deleted} posts, as if the folder were empty "
                "(is a disk unmounted, or a checkout unfinished?)")
    elif deleted > allowed:
        what = (f"would delete {deleted} of {before} posts, "
                f"more than sync.max_delete_count ({limits.max_delete_count}) "
                f"or sync.max_delete_share ({limits.max_delete_share:.0%}) allows")
    else:
        return
    raise MassDeletion(f"this sync {what}; nothing was changed. If that is meant, sync or publish "
                       "with --allow-mass-delete")


def _missing(exc: OSError) -> str:
    """Why the content folder itself cannot be read: a missing folder deletes nothing, it is an error."""
    if exc.errno == errno.ENOENT:
        return ("the content folder (paths.content) does not exist; nothing was synced "
                "(is a disk unmounted, or a checkout unfinished? Create the folder if the journal is new)")
    if exc.errno == errno.ENOTDIR:
        return "the content folder (paths.content) is not a folder; nothing was synced"
    return f"the content folder (paths.content) cannot be read ({exc.strerror}); nothing was synced"


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")  # a name that is not UTF-8 keeps its bytes


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _read_listing(listing: bytes) -> dict[str, str]:
    items = iter(_text(listing).split("\0"))
    return dict(zip(items, items))  # the empty tail after the last NUL has no partner and drops out


def diff_listings(new: bytes, old: bytes) -> tuple[dict[str, str], set[str]]:
    """The files of ``new`` whose stamp is not the one ``old`` lists (or that it does not list),
    and the files only ``old`` lists.

    Only the run of whole pairs between the longest common head and tail of the two
    listings is compared pair by pair: a file in a common head or tail is in the same
    place with the same stamp in both, and so (names being unique) in neither run. A small
    change to a large directory costs a few comparisons of bytes.
    """
    head = _common_prefix(new, old)
    tail = min(_common_prefix(new[::-1], old[::-1]), len(new) - head, len(old) - head)
    # Back to the start of the pair that holds byte ``head``: a pair is a name field, then a stamp field.
    start = new.rfind(b"\0", 0, head) + 1
    if new.count(0, 0, start) % 2:
        start = new.rfind(b"\0", 0, start - 1) + 1
    # On to the first pair that starts inside the common tail (or at its first byte, if that starts a pair in both).
    common = new[len(new) - tail:]
    at_field = all(data[len(data) - tail - 1:len(data) - tail] in (b"", b"\0") for data in (new, old))
    skip = 0 if at_field else common.find(b"\0") + 1 or tail
    if common.count(0, skip) % 2:
        skip = common.find(b"\0", skip) + 1 or tail
    now = _read_listing(new[start:len(new) - tail + skip])
    was = _read_listing(old[start:len(old) - tail + skip])
    return {rel: stamp for rel, stamp in now.items() if was.get(rel) != stamp}, was.keys() - now.keys()


def _common_prefix(a: bytes, b: bytes) -> int:
    """How many bytes ``a`` and ``b`` share at their start: 64 KiB at a time, then by halves."""
    n = min(len(a), len(b))
    low, step = 0, 1 << 16
    while low + step <= n and a[low:low + step] == b[low:low + step]:
        low += step
    high = min(low + step, n)
    while low < high:  # a[:low] == b[:low]; the first difference is before ``high``, or there is none
        mid = (low + high + 1) // 2
        if a[low:mid] == b[low:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def _lister(listing: bytes) -> Callable[[str], bool]:
    """Whether the listing names a file. The names are read into a set at the first question:
    most syncs ask none, and a sync of many renamed files with fixed ids asks one per file."""
    names = functools.cache(lambda: _read_listing(listing).keys())
    return lambda rel: rel in names()


def _without_stamps(listing: bytes, names: set[bytes]) -> bytes:
    items = listing.split(b"\0")
    for i in range(0, len(items) - 1, 2):
        if items[i] in names:
            items[i + 1] = b""
    return b"\0".join(items)


def _digest(config: Config, listing: bytes) -> str:
    """What a sync depends on: the listing, in scan order, and the settings that shape a post
    (a directory listed in another order only costs one comparison of stamps)."""
    h = hashlib.blake2b(repr((config.journal, sorted(a.key for a in config.authors))).encode(), digest_size=20)
    h.update(listing)
    return h.hexdigest()


PARALLEL_FILES = 200  # files to read; below this, starting worker processes costs more than it saves
FRESH_BATCH = 1000  # new posts stored together (see ``PostStore.add``)


def _sync_files(config: Config, store: Store, now: datetime, files: list[tuple[str, str, str | None]],
                listed: Callable[[str], bool], gone: list[str], report: SyncReport) -> set[str]:
    """Read the files that changed (Markdown on every core), then store them here in file order;
    the posts of the files that are ``gone`` are deleted. Returns the files that could not be stored.

    A file that may be a post moved from elsewhere (see ``_Moves``) is stored after the others."""
    todo = []
    failed = set()
    for path, rel, stamp in files:
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes in the name: the store (and the feeds) hold only UTF-8
            report.errors.append(SourceError(rel, 1, "the file name is not UTF-8; rename the file"))
            failed.add(rel)
        else:
            todo.append((path, rel, stamp))
    author_keys = {a.key for a in config.authors}
    ids: dict[str, str] = {}
    held = set() if store.posts.none_yet() else set(  # (a store with no post holds none: not asked)
        store.posts.ids_of_sources([SOURCE_PREFIX + rel for _, rel, _ in todo]))
    moves = _Moves(store, listed, held, {SOURCE_PREFIX + rel for _, rel, _ in todo},
                   bool(held or gone) or store.posts.has_deleted(SOURCE_PREFIX))
    later: list[tuple[PostInput, str | None]] = []
    fresh: list[NewPost] = []

    def add_fresh() -> None:
        store.posts.add(fresh)
        report.added += len(fresh)
        fresh.clear()

    def put(post: PostInput, stamp: str | None) -> None:
        moves.adopt(post)
        outcome = store.posts.upsert(post, now)
        if stamp is not None:
            store.posts.set_source_stamp(post.source, stamp)
        report.count(outcome)
        if outcome == "deleted":
            report.deleted_files.append(post.source.removeprefix(SOURCE_PREFIX))

    # A post that no stored post can be (see ``_Moves.possible``) comes from its worker as the row it becomes.
    # (The posts are stored FRESH_BATCH at a time, five chunks' worth: eight chunks a worker are handed out
    # ahead, or the workers would wait while the parent stores: with two a worker, 1 s of a 50,000-post first
    # sync's 9; with four, each worker still waited 0.7 s for its next chunk, 0.2 to 0.4 s at eight. In
    # flight, some 30 MB of posts at most, whatever the journal.)
    for rel, stamp, parsed in run_tasks(_parse_files, (config, author_keys, not moves.possible), todo,
                                        parallel=len(todo) >= PARALLEL_FILES, prepare=list, ahead=8):
        if isinstance(parsed, NewPost):
            fresh.append(parsed)
            if len(fresh) >= FRESH_BATCH:
                add_fresh()
            continue
        add_fresh()  # what follows reads the store: the posts before it are in it
        try:
            if isinstance(parsed, SourceError):
                raise parsed
            post = _claim(parsed, rel, partial(_id_owner, ids, store, listed, SOURCE_PREFIX + rel))
        except SourceError as exc:
            report.errors.append(exc)
            failed.add(rel)
            continue
        if post.entry_id:
            ids[post.entry_id] = rel
        if moves.settled(post):
            put(post, stamp)
        else:
            later.append((post, stamp))
    add_fresh()
    for post, stamp in moves.in_order(later):
        put(post, stamp)
    report.moved = moves.moved
    for post_id in store.posts.ids_of_sources(gone + moves.displaced).values():
        if store.posts.mark_deleted(post_id, now, by="sync"):
            report.deleted += 1
    return failed


@dataclass
class _Moves:
    """Which stored post a file read in this sync is, when files may have been moved or renamed.

    A file is the post its explicit ``id`` names, wherever that post's file was. Otherwise,
    in this order, it is: the post whose file was here, if the file still has its date and
    its content or slug (an edit in place); a post with the same date and content whose
    file is gone or now holds another post (a move, or names swapped); one with the same
    date and slug (a move and an edit); the post whose file was here (rewritten in place);
    a new post. Among several, the one with the same file name first, then the oldest.

    A file that may be part of a move (``settled`` is false) is stored after the others, once
    the posts they hold are known. A post that gives its file up to another post is deleted,
    unless a later file turns out to hold it.
    """

    store: Store
    listed: Callable[[str], bool]
    held: set[str]  # the sources of the files read that a post already has
    read: set[str]  # the sources of every file read in this sync
    possible: bool  # some post could have moved: a file read or gone has a post, or a deleted post has none
    later: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # _key of each file stored later
    displaced: list[str] = field(default_factory=list)  # sources of posts that gave their file up
    moved: int = 0

    def settled(self, post: PostInput) -> bool:
        """True if ``post`` cannot be part of a move (it is then stored at once), else remember it."""
        if post.entry_id or not self.possible:  # (a first sync, or new files only: nothing to look for)
            return True
        key = _key(post)
        here = self.store.posts.place_at(post.source)
        if here is not None and _alike(here, key):
            return True
        moved_here = any(r.source != post.source and (r.source in self.read or not self._listed(r.source))
                         and _alike(r, key) for r in self.store.posts.places_dated(key[0], SOURCE_PREFIX))
        moved_away = here is not None and len(self.held) < len(self.read)  # to a file read at a new place?
        if moved_here or moved_away:
            self.later[post.source] = key
            return False
        return True

    def in_order(self, later: list[tuple[PostInput, str | None]]) -> list[tuple[PostInput, str | None]]:
        """The remembered posts, each moved where its file now is: first those whose file holds a
        moved post exactly, then those that hold one with the same slug, then the others."""
        exact = [self._take(post, exact=True) for post, _ in later]
        alike = [not moved and self._take(post, exact=False) for (post, _), moved in zip(later, exact)]
        return ([item for item, moved in zip(later, exact) if moved]
                + [item for item, moved in zip(later, alike) if moved]
                + [item for item, a, b in zip(later, exact, alike) if not (a or b)])

    def adopt(self, post: PostInput) -> None:
        """Give ``post.source`` to the post that ``post``'s explicit id names, if that post's file was elsewhere."""
        owner = self.store.posts.place_of(post.entry_id) if post.entry_id else None
        if owner is not None and owner.source != post.source and owner.source.startswith(SOURCE_PREFIX):
            self._move(owner.id, post.source)

    def _take(self, post: PostInput, exact: bool) -> bool:
        key = self.later[post.source]
        here = self.store.posts.place_at(post.source)
        if here is not None and _alike(here, key):
            return False
        name = _name(post.source)
        found = [r for r in self.store.posts.places_dated(key[0], SOURCE_PREFIX) if r.source != post.source
                 and (_exact(r, key) if exact else _alike(r, key)) and self._free(r)]
        if not found:
            return False
        best = max(found, key=lambda r: (_name(r.source) == name, -r.id))
        self._move(best.id, post.source)
        return True

    def _free(self, row: PostPlace) -> bool:
        """Whether a post may have moved away: its file is gone, or was read and holds another post."""
        if not self._listed(row.source):
            return True
        key = self.later.get(row.source)
        return key is not None and not _alike(row, key)

    def _listed(self, source: str) -> bool:
        return self.listed(source.removeprefix(SOURCE_PREFIX))

    def _move(self, post_id: int, source: str) -> None:
        self.moved += 1
        displaced = self.store.posts.move(post_id, source)
        if displaced is not None:
            self.displaced.append(displaced)


def _key(post: PostInput) -> tuple[str, str, str]:
    """What tells a post from another wherever its file is: its date, its content and its slug."""
    return to_utc_text(post.published.replace(microsecond=0)), post.content_hash(), post.slug


def _exact(row: PostPlace, key: tuple[str, str, str]) -> bool:
    return bool(row.published == key[0] and row.content_hash == key[1])


def _alike(row: PostPlace, key: tuple[str, str, str]) -> bool:
    return bool(row.published == key[0] and (row.content_hash == key[1] or row.slug == key[2]))


def _name(source: str) -> str:
    return source.rsplit("/", 1)[-1]


def _parse_files(shared: tuple[Config, set[str], bool], chunk: list[tuple[str, str, str | None]]
                 ) -> list[tuple[str, str | None, Parsed | NewPost | SourceError]]:
    """Each file of ``chunk`` read; as a ``NewPost`` if it has no explicit id and the sync takes
    such posts as new (``shared[2]``)."""
    config, author_keys, fresh = shared
    out: list[tuple[str, str | None, Parsed | NewPost | SourceError]] = []
    for path, rel, stamp in chunk:
        try:
            parsed = parse_post(path, rel, config, author_keys)
        except SourceError as exc:
            out.append((rel, stamp, exc))
            continue
        if fresh and parsed.post.entry_id is None:
            out.append((rel, stamp, new_post(parsed.post, parsed.content_hash, stamp, parsed.body_utf8)))
        else:
            out.append((rel, stamp, replace(parsed, body_utf8=None)))  # (the body is sent once, as text)
    return out


def _id_owner(ids: dict[str, str], store: Store, listed: Callable[[str], bool], source: str,
              entry_id: str) -> str | None:
    """The other file holding ``entry_id``: one read before it in this sync, or a stored post whose
    file is still here."""
    if entry_id in ids:
        return ids[entry_id]
    stored = store.posts.source_of(entry_id)
    if not stored or stored == source or not stored.startswith(SOURCE_PREFIX):
        return None
    rel = stored.removeprefix(SOURCE_PREFIX)
    return rel if listed(rel) else None

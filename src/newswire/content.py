"""The Markdown content directory → the store.

One file per post: YAML front matter between ``---`` lines, then Markdown (CommonMark,
raw HTML kept). A file that cannot be read is reported as ``file:line: what`` and
skipped; the post the store holds for it stays exactly as it was.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from .config import Config, JournalConfig
from .store import PostInput, Store, Tally
from .text import clean_html, is_absolute_iri, label_text, one_line, slugify
from .workers import run_tasks
from .yamlio import Located, compose, error_line, is_text, shown

SOURCE_PREFIX = "md:"
KEYS = {"title", "date", "updated", "author", "affiliation", "labels", "id", "slug", "summary", "draft"}
MAX_FILE_BYTES = 16 * 1024 * 1024
# Years a date may have in UTC: four digits, so stored dates sort as text, and clear of datetime's
# limits, so the date can be shown in any zone.
YEARS = range(1000, 9999)
# Characters that would break a one-line message: C0 and C1 controls and Unicode's line separators.
_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

@functools.cache
def _markdown() -> Any:
    """CommonMark with raw HTML kept, tables and strikethrough; made (and imported) only when a file is read."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


class SourceError(Exception):
    """A problem in one content file, with the line it is on."""

    def __init__(self, file: str, line: int, message: str):
        super().__init__(f"{printable(file)}:{line}: {message}")
        self.file, self.line, self.message = file, line, message

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return SourceError, (self.file, self.line, self.message)  # to cross from a sync worker


def printable(name: str) -> str:
    """A file name fit for one line of text: bytes that are not UTF-8 and control characters backslash-escaped."""
    name = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _BREAKS.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), name)


@dataclass
class SyncReport(Tally):
    deleted: int = 0
    deleted_files: list[str] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)

    def summary(self) -> str:
        text = (f"synced {self.total} posts: {self.added} added, "
                f"{self.updated} updated, {self.restored} restored, {self.deleted} deleted, "
                f"{self.unchanged} unchanged")
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
    try:
        in_range = when.astimezone(timezone.utc).year in YEARS
    except OverflowError:  # before 0001-01-01 or after 9999-12-31 in UTC
        in_range = False
    if not in_range:
        raise ValueError(f"{when.isoformat()} is out of range: the year in UTC must be between {YEARS[0]} and {YEARS[-1]}")
    return when.replace(microsecond=0)


def split_front_matter(text: str, name: str) -> tuple[str, str, int]:
    """(front matter, body, line where the body starts)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise SourceError(name, 1, "must start with a '---' line opening the front matter")
    for i, line in enumerate(lines[1:], start=1):
        if line.rstrip() in ("---", "..."):  # at the line's start: an indented one is part of a YAML value
            return "".join(lines[1:i]), "".join(lines[i + 1:]), i + 2
    raise SourceError(name, len(lines), "the front matter is never closed (add a '---' line after it)")


def read_post(path: str | Path, rel: str, config: Config, author_keys: set[str],
              id_owner: Callable[[str], str | None] = lambda entry_id: None) -> PostInput:
    """One Markdown file as a post, or ``SourceError`` naming the line that is wrong.

    ``id_owner`` names the other file that already holds an entry id, if any: an explicit
    ``id`` taken by another post is refused at the line that claims it.
    """
    return _claim(parse_post(path, rel, config, author_keys), rel, id_owner)


@dataclass(frozen=True)
class Parsed:
    """A file read on its own: the post, and the line of its explicit ``id`` (0 if none)."""

    post: PostInput
    id_line: int = 0


def _claim(parsed: Parsed, rel: str, id_owner: Callable[[str], str | None]) -> PostInput:
    """The post, unless another file already holds the id it states (that needs the other files)."""
    entry_id = parsed.post.entry_id
    if entry_id is not None and (owner := id_owner(entry_id)) is not None:
        raise SourceError(rel, parsed.id_line, f"id {entry_id!r} is already used by {printable(owner)}")
    return parsed.post


def parse_post(path: str | Path, rel: str, config: Config, author_keys: set[str]) -> Parsed:
    """Everything about one file that does not depend on the others (so it can run on any core)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise SourceError(rel, 1, f"cannot be read: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise SourceError(rel, 1, f"is larger than {MAX_FILE_BYTES // 2**20} MB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise SourceError(rel, line, "is not UTF-8 text") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    front, body, body_line = split_front_matter(text, rel)
    try:
        meta = compose(front, first_line=2)
    except yaml.YAMLError as exc:
        line, problem = error_line(exc, first_line=2)
        raise SourceError(rel, line or 2, f"front matter is not valid YAML: {problem}") from None
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
    key = slugify(Path(rel).stem, fallback="post")
    entry_id = None
    if explicit_id is not None:
        explicit_id = explicit_id.strip()
        if not explicit_id or any(c.isspace() for c in explicit_id):
            raise SourceError(rel, fields["id"].line, "'id' must be an IRI or a key without spaces")
        if is_absolute_iri(explicit_id):
            entry_id = explicit_id
        else:
            entry_id = config.journal.tag("post/" + explicit_id)
    slug = slugify(text_of("slug") or title, fallback=key)
    return Parsed(PostInput(
        source=SOURCE_PREFIX + rel,
        key=key,
        title=title,
        body=clean_html(_markdown().render(body)),
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
        proposed_id=config.journal.tag(f"post/{published:%Y-%m-%d}/{slug}"),
    ), fields["id"].line if entry_id is not None else 0)


def content_files(root: Path) -> Iterator[tuple[str, str | None]]:
    """Every ``*.md`` below the content directory (hidden files skipped), with its stamp, in no order.

    The stamp (size, mtime and inode) comes with the directory scan: a file whose stamp
    is the one stored at the last sync is not read again, so syncing an unchanged
    journal costs one ``stat`` per file, made relative to an open folder (no path to walk).
    """
    folders = [""]
    while folders:
        prefix = folders.pop()
        fd = os.open(root / prefix if prefix else root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with os.scandir(fd) as entries:
                for entry in entries:
                    name = entry.name
                    if name.startswith("."):
                        continue
                    if entry.is_dir():
                        folders.append(f"{prefix}{name}/")
                    elif name.endswith(".md"):
                        try:
                            st = entry.stat()
                        except OSError:
                            yield prefix + name, None
                        else:
                            yield prefix + name, f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
        finally:
            os.close(fd)


def sync(config: Config, store: Store, now: datetime) -> SyncReport:
    """Bring the content directory into the store: add, update, delete; never lose a post."""
    report = SyncReport()
    root = config.paths.content
    if not root.is_dir():
        report.errors.append(SourceError(str(root), 1, "the content directory does not exist"))
        return report
    files = list(content_files(root))
    scan = _scan_digest(config, files)
    if scan and store.state("sync") == {"scan": scan, "generation": store.generation()}:
        report.unchanged = len(files)  # the files and the store are as the last clean sync left them
        return report
    # A file whose stamp is the stored one is not read again; nor is a file a user deleted the post of.
    known = store.source_stamps(SOURCE_PREFIX)
    todo = sorted(((str(root / rel), rel, stamp) for rel, stamp in files if stamp is None or known.get(rel) != stamp),
                  key=lambda item: item[1])  # file order decides which of two files keeps a shared id
    report.unchanged = len(files) - len(todo)
    rels = {rel for rel, _ in files}
    gone = [SOURCE_PREFIX + rel for rel in known.keys() - rels]
    with store.transaction():  # one commit for the whole directory: fast, and all or nothing
        _sync_files(config, store, now, todo, rels, gone, report)
        if scan and not report.errors:  # a file that could not be read is read (and reported) again next time
            store.set_state("sync", {"scan": scan, "generation": store.generation()})
    return report


def _scan_digest(config: Config, files: list[tuple[str, str | None]]) -> str:
    """What a sync depends on: every file's name and stamp, in scan order, and the settings that
    shape a post (a directory listed in another order only costs one full sync). Empty if a
    file has no stamp: it is read at every sync."""
    if any(stamp is None for _, stamp in files):
        return ""
    h = hashlib.blake2b(digest_size=20)
    h.update(repr((config.journal, sorted(a.key for a in config.authors))).encode())
    for rel, stamp in files:
        h.update(f"{rel}\0{stamp}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


PARALLEL_FILES = 200  # files to read; below this, starting worker processes costs more than it saves


def _sync_files(config: Config, store: Store, now: datetime, files: list[tuple[str, str, str | None]], rels: set[str],
                gone: list[str], report: SyncReport) -> None:
    """Read the files that changed (Markdown on every core), then store them here in file order;
    the posts of the files that are ``gone`` are deleted."""
    todo = []
    for path, rel, stamp in files:
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes in the name: the store (and the feeds) hold only UTF-8
            report.errors.append(SourceError(rel, 1, "the file name is not UTF-8; rename the file"))
        else:
            todo.append((path, rel, stamp))
    author_keys = {a.key for a in config.authors}
    ids: dict[str, str] = {}
    for rel, stamp, parsed in run_tasks(_parse_files, todo, parallel=len(todo) >= PARALLEL_FILES,
                                        prepare=lambda chunk: (config, author_keys, chunk)):
        try:
            if isinstance(parsed, SourceError):
                raise parsed
            post = _claim(parsed, rel, partial(_id_owner, ids, store, rels, SOURCE_PREFIX + rel))
        except SourceError as exc:
            report.errors.append(exc)
            continue
        if post.entry_id:
            ids[post.entry_id] = rel
        outcome = store.upsert_post(post, now)
        if stamp is not None:
            store.set_source_stamp(post.source, stamp)
        report.count(outcome)
        if outcome == "deleted":
            report.deleted_files.append(rel)
    for post_id in store.source_ids(gone):
        if store.mark_deleted(post_id, now, by="sync"):
            report.deleted += 1


def _parse_files(work: tuple[Config, set[str], list[tuple[str, str, str | None]]]
                 ) -> list[tuple[str, str | None, Parsed | SourceError]]:
    config, author_keys, chunk = work
    out: list[tuple[str, str | None, Parsed | SourceError]] = []
    for path, rel, stamp in chunk:
        try:
            out.append((rel, stamp, parse_post(path, rel, config, author_keys)))
        except SourceError as exc:
            out.append((rel, stamp, exc))
    return out


def _id_owner(ids: dict[str, str], store: Store, rels: set[str], source: str, entry_id: str) -> str | None:
    """The other file holding ``entry_id``: one read before it in this sync, or a stored post whose file is still here."""
    if entry_id in ids:
        return ids[entry_id]
    stored = store.source_of(entry_id)
    if not stored or stored == source or not stored.startswith(SOURCE_PREFIX):
        return None
    rel = stored.removeprefix(SOURCE_PREFIX)
    return rel if rel in rels else None

"""config.yaml → typed, validated settings.

Every problem is reported as one line, ``file:line: key: what is wrong``, so an
operator can fix it without reading code. Unknown keys are errors too: a typo in a
key name would otherwise silently fall back to a default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from difflib import get_close_matches
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from .bounds import whole
from .errors import ConfigError
from .formats import FORMATS as KNOWN_FORMATS
from .text import tag_uri
from .yamlio import Located, compose, error_line, is_text, shown

T = TypeVar("T")

FORMATS = ("atom", "rss", "json")
CONTENT_MODES = ("full", "summary")
AUTHOR_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class JournalConfig:
    title: str
    site_url: str
    feeds_url: str
    id_authority: str
    id_date: str
    subtitle: str = ""
    language: str = "en"
    timezone: str = "UTC"
    permalink: str = "{year}/{month}/{slug}.html"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def tag(self, specific: str) -> str:
        """An id in the journal's tag-URI space (RFC 4151)."""
        return tag_uri(self.id_authority, self.id_date, specific)

    def post_url(self, slug: str, published: datetime) -> str:
        return self.site_url + self.permalink.format(
            year=f"{published.year:04d}", month=f"{published.month:02d}", day=f"{published.day:02d}",
            slug=quote(slug))

    def feed_url(self, path: str) -> str:
        """The public URL of a file below the output directory."""
        return self.feeds_url + quote(path)


@dataclass(frozen=True)
class AuthorConfig:
    key: str
    name: str
    affiliation: str = ""
    email: str | None = None
    uri: str | None = None


@dataclass(frozen=True)
class PageSettings:
    """How many entries a feed's main document (and each archive page) holds, and what of them."""

    entries: int = 25
    content: str = "full"


@dataclass(frozen=True)
class FeedsConfig:
    formats: tuple[str, ...] = FORMATS
    entries: int = 25
    content: str = "full"
    authors: bool = True
    labels: bool = True
    tombstone_days: int = 30
    archives: bool = True  # RFC 5005 archive pages holding every older entry
    author_feeds: PageSettings | None = None
    label_feeds: PageSettings | None = None

    def settings(self, kind: str) -> PageSettings:
        """The settings for a feed kind ('journal', 'author', 'label'): its own, or the journal's."""
        own = {"author": self.author_feeds, "label": self.label_feeds}.get(kind)
        return own or PageSettings(self.entries, self.content)


# The files SQLite (write-ahead log, shared memory, rollback journal) and the journal's lock keep beside the store.
STORE_COMPANIONS = ("-wal", "-shm", "-journal", ".lock")


@dataclass(frozen=True)
class PathsConfig:
    store: Path
    content: Path
    output: Path
    store_wait: float = 10.0  # seconds to wait for a store another process is writing


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    secret_env: str


@dataclass(frozen=True)
class NotifyConfig:
    websub: tuple[str, ...] = ()
    weblogs: tuple[str, ...] = ()
    webhooks: tuple[WebhookConfig, ...] = ()
    timeout: float = 10.0  # seconds for one request in all: connect, headers and answer
    max_attempts: int = 8
    max_age: float = 2 * 86400.0
    round_timeout: float = 60.0  # seconds one round of deliveries may take; the rest wait for the next


@dataclass(frozen=True)
class ScheduleConfig:
    timezone: str = "UTC"
    publish: str = "*/15 * * * *"
    verify: str = "0 * * * *"


@dataclass(frozen=True)
class SourceConfig:
    url: str
    label: str | None = None
    author: str | None = None
    every: float = 3600.0


@dataclass(frozen=True)
class Limits:
    """Bounds on everything fetched from outside (imports, pulls)."""

    max_bytes: int = 20 * 1024 * 1024
    timeout: float = 10.0
    max_redirects: int = 5


@dataclass(frozen=True)
class SyncConfig:
    """What one sync of the content folder may do on its own: delete at most ``max_delete_count``
    posts, or ``max_delete_share`` of them if that is more, and never every post (an unmounted
    disk or a failed checkout looks like that); read no file larger than ``max_file_bytes``."""

    max_delete_share: float = 0.25
    max_delete_count: int = 5
    max_file_bytes: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class Config:
    path: Path
    journal: JournalConfig
    authors: tuple[AuthorConfig, ...]
    feeds: FeedsConfig
    paths: PathsConfig
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    sources: tuple[SourceConfig, ...] = ()
    fetch: Limits = field(default_factory=Limits)
    sync: SyncConfig = field(default_factory=SyncConfig)

    @property
    def lock_path(self) -> Path:
        return self.paths.store.with_name(self.paths.store.name + ".lock")


# --- reading YAML with line numbers -------------------------------------------------


class _Reader:
    """Typed access to one mapping of the config, reporting ``file:line: key: ...``."""

    def __init__(self, file: Path, node: Located, prefix: str):
        self.file = file
        self.node = node
        self.prefix = prefix
        if not isinstance(node.value, dict):
            self.fail(prefix.rstrip("."), node.line, "must be a mapping of keys to values")
        self.items: dict[str, Located] = node.value

    def fail(self, key: str, line: int, what: str) -> NoReturn:
        raise ConfigError(f"{self.file}:{line}: {key}: {what}")

    def check_keys(self, allowed: set[str]) -> None:
        for key, node in self.items.items():
            if key not in allowed:
                hint = get_close_matches(key, sorted(allowed), n=1)
                tip = f" (did you mean '{hint[0]}'?)" if hint else f" (known keys: {', '.join(sorted(allowed))})"
                self.fail(self.prefix + key, node.line, "unknown key" + tip)

    def get(self, key: str, kind: Callable[[Any], T] | type, default: Any = ..., what: str = "") -> Any:
        node = self.items.get(key)
        full = self.prefix + key
        if node is None or node.value is None:
            if default is ...:
                self.fail(full, self.node.line, f"is required{what and ' (' + what + ')'}")
            return default
        value = node.value
        if kind is str:
            if not is_text(value):
                self.fail(full, node.line, "must be a text value")
            return str(value)
        if kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                self.fail(full, node.line, f"must be a whole number, not {shown(value)}")
            return value
        if kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.fail(full, node.line, f"must be a number, not {shown(value)}")
            return float(value)
        if kind is bool:
            if not isinstance(value, bool):
                self.fail(full, node.line, f"must be true or false, not {shown(value)}")
            return value
        return kind(node)

    def line_of(self, key: str) -> int:
        node = self.items.get(key)
        return node.line if node is not None else self.node.line

    def sub(self, key: str) -> _Reader:
        node = self.items.get(key)
        if node is None or node.value is None:
            node = Located({}, self.node.line)
        return _Reader(self.file, node, self.prefix + key + ".")

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        node = self.items.get(key)
        if node is None or node.value is None:
            return default
        if isinstance(node.value, str):
            return (node.value,)
        if not isinstance(node.value, list) or not all(is_text(n.value) for n in node.value):
            self.fail(self.prefix + key, node.line, "must be a list of text values")
        return tuple(str(n.value) for n in node.value)


def hide_userinfo(url: str) -> str:
    """``url`` as it may be shown: all before its last '@' but the scheme masked, so that a user
    name and password (``https://user:pw@host/``) are never shown, however the URL is mangled."""
    return re.sub(r"^((?:[A-Za-z][A-Za-z0-9+.-]*:)?/*).*@", r"\1***@", url, count=1, flags=re.S)


def _check_url(reader: _Reader, key: str, url: str, *, slash: bool = False) -> str:
    """An absolute http(s) URL that every client can use as written (feeds carry it verbatim).

    A user name or password in it is refused: the hubs' and the journal's URLs are
    published in every feed, and the others are shown by ``status``, ``pull`` and the
    logs. No message repeats one.
    """
    full, line, shown = reader.prefix + key, reader.line_of(key), hide_userinfo(url)
    if re.search(r"[\s\x00-\x1f\x7f-\x9f]", url):
        reader.fail(full, line, f"{shown!r} contains spaces or control characters (write a space as %20)")
    try:
        parts = urlsplit(url)
        port = parts.port  # parsed on access: raises for a port that is not a number from 0 to 65535
    except ValueError as exc:
        reader.fail(full, line, f"{shown!r} is not a valid URL ({hide_userinfo(str(exc))})")
    if "@" in parts.netloc:
        reader.fail(full, line, f"{shown!r} holds a user name or password; a URL in the config must not, as it "
                                "would be published in the feeds or shown in status output and logs "
                                "(webhooks are authenticated by their secret_env signature)")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        reader.fail(full, line, f"must be an absolute http(s) URL, not {shown!r}")
    if port == 0:
        reader.fail(full, line, f"{shown!r} has port 0 (a port is a number from 1 to 65535)")
    if slash and not url.endswith("/"):
        reader.fail(full, line, f"must end with '/' (write {shown + '/'!r})")
    return url


def _is_tag_date(text: str) -> bool:
    """A real date as RFC 4151 writes it: YYYY, YYYY-MM or YYYY-MM-DD."""
    if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", text):
        return False
    try:
        datetime.strptime(text, {4: "%Y", 7: "%Y-%m", 10: "%Y-%m-%d"}[len(text)])
    except ValueError:
        return False
    return True


def _journal(r: _Reader) -> JournalConfig:
    r.check_keys({"title", "subtitle", "site_url", "feeds_url", "language", "timezone",
                  "id_authority", "id_date", "permalink"})
    site_url = _check_url(r, "site_url", r.get("site_url", str), slash=True)
    feeds_url = _check_url(r, "feeds_url", r.get("feeds_url", str, site_url + "feeds/"), slash=True)
    timezone = r.get("timezone", str, "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        r.fail("journal.timezone", r.line_of("timezone"),
               f"unknown time zone {timezone!r} (use an IANA name such as America/New_York)")
    authority = r.get("id_authority", str, urlsplit(site_url).hostname)
    if not re.fullmatch(r"[A-Za-z0-9.-]+|[^@\s]+@[A-Za-z0-9.-]+", authority):
        r.fail("journal.id_authority", r.line_of("id_authority"),
               "must be a domain name or an email address (RFC 4151)")
    id_date = r.get("id_date", str, "2000")
    if not _is_tag_date(id_date):
        r.fail("journal.id_date", r.line_of("id_date"), f"must be a date: YYYY, YYYY-MM or YYYY-MM-DD, not {id_date!r}")
    permalink = r.get("permalink", str, "{year}/{month}/{slug}.html")
    if "{slug}" not in permalink:
        r.fail("journal.permalink", r.line_of("permalink"), "must contain {slug}")
    try:
        permalink.format(year="2000", month="01", day="01", slug="x")
    except (KeyError, IndexError, ValueError):
        r.fail("journal.permalink", r.line_of("permalink"),
               "may use only {year}, {month}, {day} and {slug}")
    language = r.get("language", str, "en")
    if not re.fullmatch(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*", language):
        r.fail("journal.language", r.line_of("language"), "must be a language tag such as 'en' or 'en-US'")
    title = r.get("title", str).strip()
    if not title:
        r.fail("journal.title", r.line_of("title"), "must not be empty")
    return JournalConfig(
        title=title,
        subtitle=r.get("subtitle", str, ""),
        site_url=site_url,
        feeds_url=feeds_url,
        language=language,
        timezone=timezone,
        id_authority=authority,
        id_date=id_date,
        permalink=permalink,
    )


def _authors(r: _Reader) -> tuple[AuthorConfig, ...]:
    out = []
    for key, node in r.items.items():
        if not AUTHOR_KEY.match(key):
            r.fail("authors." + key, node.line, "an author key may use letters, digits, '_', '.' and '-'")
        if isinstance(node.value, str) and node.value.strip():
            out.append(AuthorConfig(key=key, name=node.value.strip()))
            continue
        a = _Reader(r.file, node, f"authors.{key}.")
        a.check_keys({"name", "affiliation", "email", "uri"})
        uri = a.get("uri", str, None)
        if uri is not None:
            _check_url(a, "uri", uri)
        email = a.get("email", str, None)
        if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+", email):
            a.fail(f"authors.{key}.email", a.line_of("email"), f"{email!r} is not an email address")
        name = a.get("name", str).strip()
        if not name:
            a.fail(f"authors.{key}.name", a.line_of("name"), "must not be empty")
        out.append(AuthorConfig(key=key, name=name, affiliation=a.get("affiliation", str, ""),
                                email=email, uri=uri))
    return tuple(out)


def _page_settings(r: _Reader, default: PageSettings | None = None) -> PageSettings:
    entries = r.get("entries", int, default.entries if default else 25)
    if not 1 <= entries <= 1000:
        r.fail(r.prefix + "entries", r.line_of("entries"), "must be between 1 and 1000")
    content = r.get("content", str, default.content if default else "full")
    if content not in CONTENT_MODES:
        r.fail(r.prefix + "content", r.line_of("content"), "must be 'full' or 'summary'")
    return PageSettings(entries, content)


def _feeds(r: _Reader) -> FeedsConfig:
    r.check_keys({"formats", "entries", "content", "authors", "labels", "tombstone_days", "archives",
                  "author_feeds", "label_feeds"})
    formats = r.strings("formats", FORMATS)
    for f in formats:
        if f not in KNOWN_FORMATS:
            r.fail("feeds.formats", r.line_of("formats"), f"unknown format {f!r} (use {', '.join(KNOWN_FORMATS)})")
    if not formats:
        r.fail("feeds.formats", r.line_of("formats"), "must name at least one format")
    base = _page_settings(r)
    tombstone_days = r.get("tombstone_days", int, 30)
    if not 0 <= tombstone_days <= 3650:
        r.fail("feeds.tombstone_days", r.line_of("tombstone_days"), "must be between 0 and 3650")
    per_kind = {}
    for key in ("author_feeds", "label_feeds"):
        if key in r.items:
            sub = r.sub(key)
            sub.check_keys({"entries", "content"})
            per_kind[key] = _page_settings(sub, base)
    return FeedsConfig(formats=tuple(dict.fromkeys(formats)), entries=base.entries, content=base.content,
                       authors=r.get("authors", bool, True), labels=r.get("labels", bool, True),
                       tombstone_days=tombstone_days, archives=r.get("archives", bool, True), **per_kind)


def _paths(r: _Reader, base: Path) -> PathsConfig:
    r.check_keys({"store", "content", "output", "store_wait"})
    wait = r.get("store_wait", float, 10.0)
    if not 0 <= wait <= 3600:
        r.fail("paths.store_wait", r.line_of("store_wait"), "must be between 0 and 3600 seconds")
    paths = {}
    for key, default in (("store", "newswire.db"), ("content", "content"), ("output", "feeds")):
        value = r.get(key, str, default)
        if not value.strip():  # '' would be the config's own folder
            r.fail("paths." + key, r.line_of(key), "must not be empty")
        paths[key] = base / value
    # A publish owns its output folder (it writes, replaces and cleans up there): it must hold
    # nothing of the journal's own.
    output = paths["output"].resolve()
    if output.exists() and not output.is_dir():
        r.fail("paths.output", r.line_of("output"), f"{paths['output']} is a file, not a folder")
    for what, folder in (("the config's folder", base), ("the content folder (paths.content)", paths["content"])):
        if folder.resolve().is_relative_to(output):
            r.fail("paths.output", r.line_of("output"),
                   f"{paths['output']} is or contains {what}; give the feeds a folder of their own, such as 'feeds'")
    # Whatever is in the output folder is served to the world: the store (drafts, deleted posts,
    # the outbox) and the files SQLite and the lock keep beside it must be elsewhere.
    store = paths["store"]
    for private in (store, *(store.with_name(store.name + suffix) for suffix in STORE_COMPANIONS)):
        if private.resolve().is_relative_to(output):
            r.fail("paths.store", r.line_of("store"),
                   f"{private} is inside the output folder {paths['output']} (paths.output), which is served "
                   "to the world; keep the store out of it, such as 'newswire.db' beside the config")
    return PathsConfig(store_wait=wait, **paths)


def _notify(r: _Reader) -> NotifyConfig:
    r.check_keys({"websub", "weblogs", "webhooks", "timeout", "max_attempts", "max_age", "round_timeout"})
    websub = tuple(_check_url(r, "websub", u) for u in r.strings("websub"))
    weblogs = tuple(_check_url(r, "weblogs", u) for u in r.strings("weblogs"))
    hooks = []
    node = r.items.get("webhooks")
    if node is not None and node.value is not None:
        if not isinstance(node.value, list):
            r.fail("notify.webhooks", node.line, "must be a list of {url, secret_env}")
        for i, item in enumerate(node.value):
            h = _Reader(r.file, item, f"notify.webhooks[{i}].")
            h.check_keys({"url", "secret_env"})
            env = h.get("secret_env", str, what="the name of an environment variable holding the secret")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", env):
                h.fail(h.prefix + "secret_env", h.line_of("secret_env"),
                       "must be the name of an environment variable, not the secret itself")
            if not os.environ.get(env):
                # A value that does not look like a variable's name may be a pasted secret: never echo it.
                shown = env if re.fullmatch(r"[A-Z][A-Z0-9_]{0,63}", env) else "named here"
                h.fail(h.prefix + "secret_env", h.line_of("secret_env"),
                       f"environment variable {shown} is not set (export it with the webhook's secret; "
                       "secret_env holds the variable's name, never the secret)")
            hooks.append(WebhookConfig(url=_check_url(h, "url", h.get("url", str)), secret_env=env))
    timeout = r.get("timeout", float, 10.0)
    if not 0 < timeout <= 300:
        r.fail("notify.timeout", r.line_of("timeout"), "must be between 0 and 300 seconds")
    attempts = r.get("max_attempts", int, 8)
    if not 1 <= attempts <= 100:
        r.fail("notify.max_attempts", r.line_of("max_attempts"), "must be between 1 and 100")
    round_timeout = r.get("round_timeout", float, 60.0)
    if not 1 <= round_timeout <= 3600:
        r.fail("notify.round_timeout", r.line_of("round_timeout"), "must be between 1 and 3600 seconds")
    return NotifyConfig(websub=websub, weblogs=weblogs, webhooks=tuple(hooks), timeout=timeout,
                        max_attempts=attempts, max_age=_duration(r, "max_age", "2d"), round_timeout=round_timeout)


def _fetch(r: _Reader) -> Limits:
    r.check_keys({"max_bytes", "timeout", "max_redirects"})
    limits = Limits(max_bytes=r.get("max_bytes", int, 20 * 1024 * 1024), timeout=r.get("timeout", float, 10.0),
                    max_redirects=r.get("max_redirects", int, 5))
    if not 1024 <= limits.max_bytes <= 2**30:
        r.fail("fetch.max_bytes", r.line_of("max_bytes"), "must be between 1024 and 1073741824 (1 GiB)")
    if not 0 < limits.timeout <= 300:
        r.fail("fetch.timeout", r.line_of("timeout"), "must be between 0 and 300 seconds")
    if not 0 <= limits.max_redirects <= 20:
        r.fail("fetch.max_redirects", r.line_of("max_redirects"), "must be between 0 and 20")
    return limits


def _sync(r: _Reader) -> SyncConfig:
    r.check_keys({"max_delete_share", "max_delete_count", "max_file_bytes"})
    limits = SyncConfig(max_delete_share=r.get("max_delete_share", float, 0.25),
                        max_delete_count=r.get("max_delete_count", int, 5),
                        max_file_bytes=r.get("max_file_bytes", int, 16 * 1024 * 1024))
    if not 0 <= limits.max_delete_share <= 1:
        r.fail("sync.max_delete_share", r.line_of("max_delete_share"), "must be between 0 and 1 (0.25 is a quarter)")
    if limits.max_delete_count < 0:
        r.fail("sync.max_delete_count", r.line_of("max_delete_count"), "must be 0 or more")
    if not 1024 <= limits.max_file_bytes <= 2**30:
        r.fail("sync.max_file_bytes", r.line_of("max_file_bytes"), "must be between 1024 and 1073741824 (1 GB)")
    return limits


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


MAX_DURATION = 365 * 86400  # a year: past it a duration is a typo, and the dates it moves could overflow


def _duration(r: _Reader, key: str, default: str) -> float:
    """A duration such as 90s, 30m, 1h or 2d, in seconds: at least a second, at most a year."""
    text = r.get(key, str, default).strip()
    written = re.fullmatch(r"([0-9]+)([smhd])", text)  # ASCII digits: \d would take '²' and '١'
    amount = whole(written[1], MAX_DURATION + 1) if written else None  # more digits: still too long
    if not amount:
        r.fail(r.prefix + key, r.line_of(key), f"must be a duration such as 30m, 1h or 2d, not {text!r}")
    seconds = amount * _UNITS[text[-1]]
    if seconds > MAX_DURATION:
        r.fail(r.prefix + key, r.line_of(key), f"{text} is too long: at most a year (365d)")
    return float(seconds)


def _schedule(r: _Reader) -> ScheduleConfig:
    r.check_keys({"timezone", "publish", "verify"})
    zone = r.get("timezone", str, "UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        r.fail("schedule.timezone", r.line_of("timezone"), f"unknown time zone {zone!r}")
    values = {}
    for key, default in (("publish", "*/15 * * * *"), ("verify", "0 * * * *")):
        values[key] = r.get(key, str, default)
        if key not in r.items:
            continue  # the default is known good; APScheduler is imported only to check a written one
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(values[key], timezone=zone)
        except ValueError as exc:
            r.fail(r.prefix + key, r.line_of(key), f"not a cron expression ({exc}); e.g. '*/15 * * * *'")
    return ScheduleConfig(timezone=zone, **values)


def _sources(file: Path, node: Located | None) -> tuple[SourceConfig, ...]:
    if node is None or node.value is None:
        return ()
    if not isinstance(node.value, list):
        raise ConfigError(f"{file}:{node.line}: sources: must be a list of {{url, label, author, every}}")
    out = []
    for i, item in enumerate(node.value):
        s = _Reader(file, item, f"sources[{i}].")
        s.check_keys({"url", "label", "author", "every"})
        out.append(SourceConfig(url=_check_url(s, "url", s.get("url", str)), label=s.get("label", str, None),
                                author=s.get("author", str, None), every=_duration(s, "every", "1h")))
    return tuple(out)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate a config file; relative paths in it are taken from its folder."""
    file = Path(path or os.environ.get("NEWSWIRE_CONFIG") or "config.yaml")
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file (create one with 'newswire init')") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot be read: {exc}") from None
    try:
        root = compose(text)
    except yaml.YAMLError as exc:
        line, problem = error_line(exc)
        raise ConfigError(f"{file}:{line or 1}: not valid YAML: {problem}") from None
    if root is None:
        raise ConfigError(f"{file}: is empty (it needs at least a 'journal:' section)")
    top = _Reader(file, root, "")
    top.check_keys({"journal", "authors", "feeds", "paths", "notify", "schedule", "sources", "fetch", "sync"})
    if "journal" not in top.items:
        top.fail("journal", 1, "is required (title, site_url, ...)")
    base = file.resolve().parent
    authors = _authors(top.sub("authors"))
    return Config(
        path=file,
        journal=_journal(top.sub("journal")),
        authors=authors,
        feeds=_feeds(top.sub("feeds")),
        paths=_paths(top.sub("paths"), base),
        notify=_notify(top.sub("notify")),
        schedule=_schedule(top.sub("schedule")),
        sources=_sources(file, top.items.get("sources")),
        fetch=_fetch(top.sub("fetch")),
        sync=_sync(top.sub("sync")),
    )

"""config.yaml → typed, validated settings.

Every problem is reported as one line, ``file:line: key: what is wrong``, so an
operator can fix it without reading code. Unknown keys are errors too: a typo in a
key name would otherwise silently fall back to a default.

Each setting is declared once, on its dataclass field (``settings.setting``): its
default, its check and a sentence for people. The reader below takes them from there,
and so do the README's configuration tables.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, field, is_dataclass, replace
from datetime import datetime
from difflib import get_close_matches
from pathlib import Path
from typing import Any, NoReturn, TypeVar, get_args, get_origin, get_type_hints
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from .bounds import whole
from .errors import ConfigError
from .formats import FORMATS as KNOWN_FORMATS
from .model import Author
from .settings import FOLDER_URL, NAME, PATH, URL, URLS, Invalid, Rule, Setting, plain, setting, settings_of
from .settings import hide_userinfo as hide_userinfo  # where fetch and notify take it from
from .text import tag_uri
from .yamlio import Located, compose, error_line, is_text, shown

T = TypeVar("T")

FORMATS = ("atom", "rss", "json")
CONTENT_MODES = ("full", "summary")
AUTHOR_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


# --- the rules that check what only some settings hold ---------------------------------


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"unknown time zone {name!r} (use an IANA name such as America/New_York)") from None
    return name


def _tag_authority(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9.-]+|[^@\s]+@[A-Za-z0-9.-]+", text):
        raise Invalid("must be a domain name or an email address (RFC 4151)")
    return text


def _tag_date(text: str) -> str:
    """A real date as RFC 4151 writes it: YYYY, YYYY-MM or YYYY-MM-DD."""
    problem = Invalid(f"must be a date: YYYY, YYYY-MM or YYYY-MM-DD, not {text!r}")
    if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", text):
        raise problem
    try:
        datetime.strptime(text, {4: "%Y", 7: "%Y-%m", 10: "%Y-%m-%d"}[len(text)])
    except ValueError:
        raise problem from None
    return text


def _permalink(text: str) -> str:
    if "{slug}" not in text:
        raise Invalid("must contain {slug}")
    try:
        text.format(year="2000", month="01", day="01", slug="x")
    except (KeyError, IndexError, ValueError):
        raise Invalid("may use only {year}, {month}, {day} and {slug}") from None
    return text


def _language(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*", text):
        raise Invalid("must be a language tag such as 'en' or 'en-US'")
    return text


def _listed(names: Iterable[str]) -> str:
    """Names as a sentence lists them: 'atom, rss and json'."""
    *head, last = names
    return f"{', '.join(head)} and {last}" if head else last


def _formats(names: tuple[str, ...]) -> tuple[str, ...]:
    for f in names:
        if f not in KNOWN_FORMATS:
            raise Invalid(f"unknown format {f!r} (use {', '.join(KNOWN_FORMATS)})")
    if not names:
        raise Invalid("must name at least one format")
    return tuple(dict.fromkeys(names))


def _secret_env(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise Invalid("must be the name of an environment variable, not the secret itself")
    if not os.environ.get(name):
        # A value that does not look like a variable's name may be a pasted secret: never echo it.
        shown = name if re.fullmatch(r"[A-Z][A-Z0-9_]{0,63}", name) else "named here"
        raise Invalid(f"environment variable {shown} is not set (export it with the webhook's secret; "
                      "secret_env holds the variable's name, never the secret)")
    return name


def _cron(text: str) -> str:
    from apscheduler.triggers.cron import CronTrigger  # imported only to check an expression the config writes

    try:
        CronTrigger.from_crontab(text, timezone="UTC")
    except ValueError as exc:
        raise Invalid(f"not a cron expression ({exc}); e.g. '30 6 * * *' for 06:30 every day") from None
    return text


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


MAX_DURATION = 365 * 86400  # a year: past it a duration is a typo, and the dates it moves could overflow


def _duration(text: str) -> float:
    """A duration such as 90s, 30m, 1h or 2d, in seconds: at least a second, at most a year."""
    text = text.strip()
    written = re.fullmatch(r"([0-9]+)([smhd])", text)  # ASCII digits: \d would take '²' and '١'
    amount = whole(written[1], MAX_DURATION + 1) if written else None  # more digits: still too long
    if not amount:
        raise Invalid(f"must be a duration such as 30m, 1h or 2d, not {text!r}")
    seconds = amount * _UNITS[text[-1]]
    if seconds > MAX_DURATION:
        raise Invalid(f"{text} is too long: at most a year (365d)")
    return float(seconds)


def _duration_text(seconds: float) -> str:
    """Seconds as a duration is written, in the largest unit that holds them whole."""
    unit = next(u for u in "dhms" if seconds % _UNITS[u] == 0)
    return f"{int(seconds) // _UNITS[unit]}{unit}"


ZONE = Rule("an IANA time zone such as America/New_York", _zone)
DURATION = Rule("a duration from 1s to 365d, such as 90s, 30m, 1h or 2d", _duration, reads=str, show=_duration_text)
CRON = Rule("a 5-field cron expression", _cron)


# --- the settings ------------------------------------------------------------------------


@dataclass(frozen=True)
class JournalConfig:
    title: str = setting(doc="The journal's name: the title of its feeds.", rule=NAME)
    site_url: str = setting(doc="Where the posts' HTML pages live.", rule=FOLDER_URL)
    feeds_url: str = setting(doc="Where the output folder is served.", rule=FOLDER_URL,
                             derive=lambda read: read["site_url"] + "feeds/", derived="site_url + feeds/")
    id_authority: str = setting(doc="The authority of every id's tag URI (RFC 4151).",
                                rule=Rule("a domain name or an email address", _tag_authority),
                                derive=lambda read: urlsplit(read["site_url"]).hostname, derived="site_url's host")
    id_date: str = setting("2000", "The date of every id's tag URI; once feeds are out, never change it.",
                           rule=Rule("YYYY, YYYY-MM or YYYY-MM-DD", _tag_date))
    subtitle: str = setting("", "A line under the title.")
    language: str = setting("en", "The language the posts are written in.",
                            rule=Rule("a language tag such as en or en-US", _language))
    timezone: str = setting("UTC", "The zone of dates written without one.", rule=ZONE)
    permalink: str = setting("{year}/{month}/{slug}.html", "A post's URL below site_url.",
                             rule=Rule("a path using {slug}, and maybe {year}, {month} and {day}", _permalink))

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


def _entries() -> Any:
    """A feed's entries: one declaration for the journal's and for a kind's own (``PageSettings``)."""
    return setting(25, "How many of the newest entries a document (and each archive page) holds.", low=1, high=1000)


def _content() -> Any:
    return setting("full", "full: each entry's full text and summary; summary: the summary only.",
                   choices=CONTENT_MODES)


@dataclass(frozen=True)
class PageSettings:
    """How many entries a feed's main document (and each archive page) holds, and what of them."""

    entries: int = _entries()
    content: str = _content()


@dataclass(frozen=True)
class FeedsConfig:
    formats: tuple[str, ...] = setting(FORMATS, "The documents each feed has.",
                                       rule=Rule(f"a list of {_listed(KNOWN_FORMATS)}", _formats))
    entries: int = _entries()
    content: str = _content()
    authors: bool = setting(True, "A feed for each author.")
    labels: bool = setting(True, "A feed for each label.")
    tombstone_days: int = setting(30, "How many days a deleted post's tombstone stays in the Atom documents "
                                      "that carried it.", low=0, high=3650)
    archives: bool = setting(True, "RFC 5005 archive pages holding every older entry (false: the newest only).")
    author_feeds: PageSettings | None = setting(None, "The author feeds' own entries and content.",
                                                derived="the journal's")
    label_feeds: PageSettings | None = setting(None, "The label feeds' own entries and content.",
                                               derived="the journal's")

    def settings(self, kind: str) -> PageSettings:
        """The settings for a feed kind ('journal', 'author', 'label'): its own, or the journal's."""
        own = {"author": self.author_feeds, "label": self.label_feeds}.get(kind)
        return own or PageSettings(self.entries, self.content)


@dataclass(frozen=True)
class Bucket:
    """Where the output goes when ``paths.output`` is ``s3://bucket/prefix/``: a bucket of an
    S3-compatible object store, and the key prefix (empty, or ending in '/') of every document."""

    name: str
    prefix: str

    def __str__(self) -> str:
        return f"s3://{self.name}/{self.prefix}"


def _output(text: str) -> Path | Bucket:
    """A folder, or an object store's bucket and prefix (``s3://bucket/prefix/``)."""
    if not text.startswith("s3://"):
        return PATH.apply(text)
    name, _, prefix = text.removeprefix("s3://").partition("/")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name):
        raise Invalid(f"{text!r}: the bucket name must be 3 to 63 lowercase letters, digits, '.' and '-'")
    if prefix and not prefix.endswith("/") or "//" in prefix or prefix.startswith("/"):
        raise Invalid(f"{text!r}: the prefix must be folder names each ending in '/', such as s3://{name}/feeds/")
    return Bucket(name, prefix)


OUTPUT = Rule("a path, relative to the config's folder, or s3://bucket/prefix/", _output, reads=str)

# The files SQLite (write-ahead log, shared memory, rollback journal) and the journal's lock keep beside the store.
STORE_COMPANIONS = ("-wal", "-shm", "-journal", ".lock")


@dataclass(frozen=True)
class PathsConfig:
    store: Path = setting(Path("newswire.db"), "The SQLite store, never inside the output folder; or a PostgreSQL "
                          "URL (postgresql://...), whose password comes from PGPASSWORD or ~/.pgpass.", rule=PATH)
    content: Path = setting(Path("content"), "The folder of Markdown posts.", rule=PATH)
    output: Path | Bucket = setting(Path("feeds"), "The folder the feeds are written to, served to the world, or an "
                                    "S3-compatible bucket and prefix (see `output`).", rule=OUTPUT)
    pages: Path | None = setting(None, "The folder the journal's own pages (posts, home page) are written to, "
                                 "served at site_url; none when unset.", rule=PATH)
    store_wait: float = setting(10.0, "Seconds to wait for a store another process is writing.",
                                low=0, high=3600, unit="seconds")
    # A PostgreSQL store's URL, as written (``store`` is then the config's folder, never opened as a file).
    store_url: str | None = None


def _cache_control(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~=\-\", ]+", text):
        raise Invalid(f"{text!r} is not a Cache-Control value (such as 'public, max-age=60')")
    return text


def _purge_url(url: str) -> str:
    if "{url}" not in url:
        raise Invalid("must contain {url}, where each changed document's URL goes")
    URL.apply(url.replace("{url}", "x"))
    return url


CACHE_CONTROL = Rule("a Cache-Control value", _cache_control)


@dataclass(frozen=True)
class OutputConfig:
    """How an S3-compatible bucket is reached and how its documents are served (with ``paths.output:
    s3://...``; credentials come from the standard AWS chain, never from here), and how a CDN in
    front of the output (a folder or a bucket) is told what changed."""

    endpoint_url: str | None = setting(None, "The object store's endpoint, for a store that is not AWS S3 "
                                       "(R2, MinIO, GCS ...).", rule=URL, derived="AWS S3")
    region: str | None = setting(None, "The bucket's region.", derived="the AWS chain's")
    addressing_style: str | None = setting(None, "How the bucket is named in requests: in the path, or in the "
                                           "host name.", choices=("path", "virtual"), derived="boto3's choice")
    cache_control: str = setting("public, max-age=60, must-revalidate", "Cache-Control of the main documents "
                                 "and index pages, which change.", rule=CACHE_CONTROL)
    archive_cache_control: str = setting("public, max-age=31536000, immutable", "Cache-Control of full "
                                         "RFC 5005 archive pages, which do not.", rule=CACHE_CONTROL)
    concurrency: int = setting(16, "Uploads at once, in each process.", low=1, high=256)
    attempts: int = setting(5, "Attempts of each request, with backoff on 5xx, throttling and timeouts.",
                            low=1, high=20)
    timeout: float = setting(30.0, "Seconds to connect, and to wait for an answer.", low=0, above=True,
                             high=300, unit="seconds")
    purge_command: tuple[str, ...] = setting((), "A command (a list: program, then arguments) run after a "
                                             "publish that changed documents, their URLs on its standard "
                                             "input, one a line.")
    purge_url: str | None = setting(None, "A URL POSTed once for each changed document's URL after such a "
                                    "publish, {url} in it replaced by that URL (percent-encoded).",
                                    rule=Rule("an absolute http(s) URL containing {url}", _purge_url))


@dataclass(frozen=True)
class WebhookConfig:
    url: str = setting(doc="Where the signed JSON is POSTed.", rule=URL)
    secret_env: str = setting(doc="The environment variable holding the signing secret (never the secret itself).",
                              rule=Rule("the name of a set environment variable", _secret_env),
                              required="the name of an environment variable holding the secret")


@dataclass(frozen=True)
class NotifyConfig:
    websub: tuple[str, ...] = setting((), "WebSub hubs, advertised as rel=\"hub\" in every document.", rule=URLS)
    weblogs: tuple[str, ...] = setting((), "weblogUpdates ping services (XML-RPC).", rule=URLS)
    webhooks: tuple[WebhookConfig, ...] = setting((), "Signed JSON POSTs to partners.")
    timeout: float = setting(10.0, "Seconds for one request in all: connect, headers and answer.",
                             low=0, above=True, high=300, unit="seconds")
    max_attempts: int = setting(8, "Attempts before a notification is given up (visibly).", low=1, high=100)
    max_age: float = setting(2 * 86400.0, "The age at which an undelivered notification is given up.", rule=DURATION)
    round_timeout: float = setting(60.0, "Seconds one round of deliveries may take; the rest wait for the next.",
                                   low=1, high=3600, unit="seconds")


@dataclass(frozen=True)
class ScheduleConfig:
    timezone: str = setting("UTC", "The zone the cron expressions are read in.", rule=ZONE)
    publish: str = setting("*/15 * * * *", "When `newswire run` publishes.", rule=CRON)
    verify: str = setting("0 * * * *", "When `newswire run` verifies every published document.", rule=CRON)


@dataclass(frozen=True)
class SourceConfig:
    url: str = setting(doc="The partner feed to pull.", rule=URL)
    label: str | None = setting(None, "A label given to every entry pulled from it.")
    author: str | None = setting(None, "The key of the author given to its entries.")
    every: float = setting(3600.0, "How often it is pulled.", rule=DURATION)


@dataclass(frozen=True)
class Limits:
    """Bounds on everything fetched from outside (imports, pulls)."""

    max_bytes: int = setting(20 * 1024 * 1024, "The largest answer read; a larger one is refused.",
                             low=1024, high=2**30, note="(1 GiB)")
    timeout: float = setting(10.0, "Seconds for a whole fetch: connect, headers, body and redirects.",
                             low=0, above=True, high=300, unit="seconds")
    max_redirects: int = setting(5, "How many redirects a fetch follows.", low=0, high=20)


@dataclass(frozen=True)
class SyncConfig:
    """What one sync of the content folder may do on its own: delete at most ``max_delete_count``
    posts, or ``max_delete_share`` of them if that is more, and never every post (an unmounted
    disk or a failed checkout looks like that); read no file larger than ``max_file_bytes``."""

    max_delete_count: int = setting(5, "How many posts one sync may delete on its own ...", low=0)
    max_delete_share: float = setting(0.25, "... or this share of them, if that is more; never every post.",
                                      low=0, high=1, note="(0.25 is a quarter)")
    max_file_bytes: int = setting(16 * 1024 * 1024, "The largest content file read; a larger one is refused unread.",
                                  low=1024, high=2**30, note="(1 GiB)")


@dataclass(frozen=True)
class Config:
    path: Path
    journal: JournalConfig
    authors: tuple[Author, ...]
    feeds: FeedsConfig
    paths: PathsConfig
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    sources: tuple[SourceConfig, ...] = ()
    fetch: Limits = field(default_factory=Limits)
    sync: SyncConfig = field(default_factory=SyncConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    @property
    def store_at(self) -> Path | str:
        """Where the store is: its PostgreSQL URL, or its SQLite file (see ``store.open_at``)."""
        return self.paths.store_url or self.paths.store

    @property
    def lock_path(self) -> Path | str:
        """Where the journal's lock is: a file beside a SQLite store, or the PostgreSQL store's URL."""
        return self.paths.store_url or self.paths.store.with_name(self.paths.store.name + ".lock")

    @property
    def spool_folder(self) -> Path:
        """Where a publish keeps its scratch files: beside a SQLite store, else in the config's folder."""
        return self.paths.store.parent if self.paths.store_url is None else self.path.parent


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

    def get(self, key: str, kind: type) -> Any:
        """The value written for ``key``, which must be of ``kind`` (str, int, float or bool)."""
        node = self.items[key]
        full, value = self.prefix + key, node.value
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
        if not isinstance(value, bool):
            self.fail(full, node.line, f"must be true or false, not {shown(value)}")
        return value

    def line_of(self, key: str) -> int:
        node = self.items.get(key)
        return node.line if node is not None else self.node.line

    def sub(self, key: str) -> _Reader:
        node = self.items.get(key)
        if node is None or node.value is None:
            node = Located({}, self.node.line)
        return _Reader(self.file, node, self.prefix + key + ".")

    def strings(self, key: str) -> tuple[str, ...]:
        node = self.items[key]
        if isinstance(node.value, str):
            return (node.value,)
        if not isinstance(node.value, list) or not all(is_text(n.value) for n in node.value):
            self.fail(self.prefix + key, node.line, "must be a list of text values")
        return tuple(str(n.value) for n in node.value)

    def items_of(self, key: str, kind: type[T]) -> tuple[T, ...]:
        """A list of mappings, each read as a ``kind``."""
        node = self.items.get(key)
        if node is None or node.value is None:
            return ()
        if not isinstance(node.value, list):
            names = ", ".join(f.name for f, _ in settings_of(kind))
            self.fail(self.prefix + key, node.line, f"must be a list of {{{names}}}")
        return tuple(read(_Reader(self.file, item, f"{self.prefix}{key}[{i}]."), kind)
                     for i, item in enumerate(node.value))


def read(r: _Reader, kind: type[T], inherited: dict[str, Any] | None = None, **fixed: Any) -> T:
    """A ``kind`` from the mapping ``r`` reads: each setting typed and checked as its field declares.

    A setting not written takes ``inherited``'s value if it has one (a feed kind's own settings
    inherit the journal's), else the one derived from the settings read before it, else its default.
    ``fixed`` gives the fields that are not written under keys (an author's key).
    """
    declared = settings_of(kind)
    r.check_keys({f.name for f, _ in declared})
    hints = get_type_hints(kind)
    values: dict[str, Any] = {}
    for f, s in declared:
        key, node = f.name, r.items.get(f.name)
        if node is not None and node.value is not None:
            values[key] = _value(r, key, plain(hints[key]), s, values)
        elif inherited and key in inherited:
            values[key] = inherited[key]
        elif s.derive is not None:
            values[key] = _checked(r, key, s, s.derive(values))
        elif f.default is MISSING:
            r.fail(r.prefix + key, r.node.line, "is required" + (f" ({s.required})" if s.required else ""))
    return kind(**values, **fixed)


def _value(r: _Reader, key: str, hint: Any, s: Setting, before: dict[str, Any]) -> Any:
    """The value written for ``key``, of the field's type (a nested mapping, a list, or one value), checked."""
    if _is_section(hint):
        own = {f.name for f, _ in settings_of(hint)}
        return read(r.sub(key), hint, {k: v for k, v in before.items() if k in own})
    if get_origin(hint) is tuple:
        item = get_args(hint)[0]
        if _is_section(item):
            return r.items_of(key, item)
        return _checked(r, key, s, r.strings(key))
    return _checked(r, key, s, r.get(key, s.rule.reads if s.rule and s.rule.reads else hint))


def _is_section(hint: Any) -> bool:
    """Whether a field holds a mapping of settings of its own (a dataclass), rather than one value."""
    return is_dataclass(hint)


def _checked(r: _Reader, key: str, s: Setting, value: Any) -> Any:
    try:
        return s.check(value)
    except Invalid as exc:
        r.fail(r.prefix + key, r.line_of(key), str(exc))


def _authors(r: _Reader) -> tuple[Author, ...]:
    out = []
    for key, node in r.items.items():
        if not AUTHOR_KEY.match(key):
            r.fail("authors." + key, node.line, "an author key may use letters, digits, '_', '.' and '-'")
        if isinstance(node.value, str) and node.value.strip():
            out.append(Author(key=key, name=node.value.strip()))  # key: Name
        else:
            out.append(read(_Reader(r.file, node, f"authors.{key}."), Author, key=key))
    return tuple(out)


def _paths(r: _Reader, base: Path) -> PathsConfig:
    """The paths, taken from the config's folder; the folders served to the world (the output and the
    pages) hold nothing private, and each is a publish's own."""
    url = _store_url(r)
    paths = read(r, PathsConfig)
    output = base / paths.output if isinstance(paths.output, Path) else paths.output
    paths = replace(paths, store=base if url else base / paths.store, store_url=url, content=base / paths.content,
                    output=output, pages=base / paths.pages if paths.pages is not None else None)
    served = (([("output", output, "the feeds")] if isinstance(output, Path) else [])
              + ([("pages", paths.pages, "the pages")] if paths.pages else []))
    if paths.pages is not None and isinstance(output, Path) and paths.pages.resolve() == output.resolve():
        r.fail("paths.pages", r.line_of("pages"), f"{paths.pages} is the output folder (paths.output); give the "
               "pages a folder of their own, such as 'site'")
    for key, where, whose in served:
        _served_folder(r, key, where, whose, base, paths)
    return paths


STORE_SCHEMES = ("postgresql://", "postgres://")


def _store_url(r: _Reader) -> str | None:
    """``paths.store`` when it is a PostgreSQL URL (else None, and it is a path). Its password is never
    in the config, which is often committed or shared: libpq reads it from PGPASSWORD or ~/.pgpass."""
    node = r.items.get("store")
    if node is None or not isinstance(node.value, str) or not node.value.strip().lower().startswith(STORE_SCHEMES):
        return None
    url = node.value.strip()
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError as exc:
        r.fail("paths.store", node.line, f"not a valid PostgreSQL URL ({exc})")
    if password is not None or re.search(r"(^|&)password=", parts.query):
        r.fail("paths.store", node.line, "the URL holds a password; take it out and set PGPASSWORD or a "
               "~/.pgpass file instead (a config file is no place for a password)")
    return url


def _served_folder(r: _Reader, key: str, where: Path, whose: str, base: Path, paths: PathsConfig) -> None:
    """Refuse a served folder (``paths.<key>``) that holds the journal's own files.

    A publish owns it (it writes, replaces and cleans up there), and whatever is in it is served
    to the world: the store (drafts, deleted posts, the outbox) and the files SQLite and the lock
    keep beside it must be elsewhere."""
    folder = where.resolve()
    if folder.exists() and not folder.is_dir():
        r.fail(f"paths.{key}", r.line_of(key), f"{where} is a file, not a folder")
    for what, inside in (("the config's folder", base), ("the content folder (paths.content)", paths.content)):
        if inside.resolve().is_relative_to(folder):
            r.fail(f"paths.{key}", r.line_of(key),
                   f"{where} is or contains {what}; give {whose} a folder of their own, such as "
                   f"'{getattr(PathsConfig, key) or 'site'}'")
    store = paths.store
    if paths.store_url is not None:  # not a file: nothing of the store can lie in a served folder
        return
    for private in (store, *(store.with_name(store.name + suffix) for suffix in STORE_COMPANIONS)):
        if private.resolve().is_relative_to(folder):
            r.fail("paths.store", r.line_of("store"),
                   f"{private} is inside the {'output' if key == 'output' else 'pages'} folder {where} "
                   f"(paths.{key}), which is served to the world; keep the store out of it, such as "
                   f"'{PathsConfig.store}' beside the config")


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
    top.check_keys({"journal", "authors", "feeds", "paths", "notify", "schedule", "sources", "fetch", "sync",
                    "output"})
    if "journal" not in top.items:
        top.fail("journal", 1, "is required (title, site_url, ...)")
    base = file.resolve().parent
    authors = _authors(top.sub("authors"))
    return Config(
        path=file,
        journal=read(top.sub("journal"), JournalConfig),
        authors=authors,
        feeds=read(top.sub("feeds"), FeedsConfig),
        paths=_paths(top.sub("paths"), base),
        notify=read(top.sub("notify"), NotifyConfig),
        schedule=read(top.sub("schedule"), ScheduleConfig),
        sources=top.items_of("sources", SourceConfig),
        fetch=read(top.sub("fetch"), Limits),
        sync=read(top.sub("sync"), SyncConfig),
        output=read(top.sub("output"), OutputConfig),
    )

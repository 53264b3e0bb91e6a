"""How a config setting is declared: once, on its dataclass field.

``setting(default, doc, ...)`` puts a field's default, its check and a sentence for
people in one place. The config reader takes defaults and checks from there, and the
README's configuration tables are generated from it, so none of them can drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, get_args, get_origin
from urllib.parse import urlsplit


class Invalid(ValueError):
    """A value a rule refuses: the message says what is wrong; the reader adds file, line and key."""


@dataclass(frozen=True)
class Rule:
    """A check beyond type and range: what it accepts (said to people) and the function that checks
    a value and returns it as the setting holds it, or raises ``Invalid``."""

    accepts: str
    apply: Callable[[Any], Any]
    reads: type | None = None  # the YAML type it takes, where that is not the field's (a duration is text)
    show: Callable[[Any], str] | None = None  # how a default is written in the config


@dataclass(frozen=True)
class Setting:
    doc: str  # one sentence for people
    low: float | None = None  # the range, both ends included unless ``above``
    high: float | None = None
    above: bool = False  # ``low`` itself is refused
    unit: str = ""  # the range's unit, e.g. "seconds"
    note: str = ""  # said after the range, e.g. "(1 GiB)"
    choices: tuple[str, ...] = ()
    rule: Rule | None = None
    derive: Callable[[dict[str, Any]], Any] | None = None  # a default made from the settings read before it
    derived: str = ""  # that default (or another that is not a plain value), said to people
    required: str = ""  # what a missing required value should be

    def bounds(self) -> str:
        """The range in words: 'between 1 and 1000', 'more than 0 and at most 300 seconds', '0 or more'."""
        unit = f" {self.unit}" if self.unit else ""
        if self.low is None:
            return ""
        if self.high is None:
            return f"{_number(self.low)} or more{unit}"
        if self.above:
            return f"more than {_number(self.low)} and at most {_number(self.high)}{unit}"
        return f"between {_number(self.low)} and {_number(self.high)}{unit}"

    def check(self, value: Any) -> Any:
        """``value`` (already of the right type) as the setting holds it; ``Invalid`` if it is out of bounds."""
        if self.rule is not None:
            value = self.rule.apply(value)
        if self.choices and value not in self.choices:
            raise Invalid("must be " + " or ".join(repr(c) for c in self.choices))
        if self.low is not None:
            inside = (self.low < value if self.above else self.low <= value) and (
                self.high is None or value <= self.high)  # NaN is inside no range
            if not inside:
                raise Invalid(f"must be {self.bounds()}{' ' + self.note if self.note else ''}")
        return value


def setting(default: Any = MISSING, doc: str = "", **how: Any) -> Any:
    """A dataclass field with its default, its check and its doc (see ``Setting``)."""
    return field(default=default, metadata={"setting": Setting(doc, **how)})


def settings_of(cls: type) -> list[tuple[Field[Any], Setting]]:
    """The fields of a dataclass that are settings, in order."""
    return [(f, f.metadata["setting"]) for f in fields(cls) if "setting" in f.metadata]


def plain(hint: Any) -> Any:
    """A field's type without its ``| None``: the type a written value has (a union of two or more
    is read by its rule, such as ``paths.output``: a folder or a bucket)."""
    if get_origin(hint) is UnionType:
        kinds = [arg for arg in get_args(hint) if arg is not NoneType]
        if len(kinds) == 1:
            return kinds[0]
    return hint


def written(value: Any, rule: Rule | None = None) -> str:
    """A default as it would be written in config.yaml."""
    if rule is not None and rule.show is not None:
        return rule.show(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(written(v) for v in value) + "]"
    if isinstance(value, float):
        return _number(value)
    return "none" if value is None else str(value) or '""'


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def hide_userinfo(url: str) -> str:
    """``url`` as it may be shown: all before its last '@' but the scheme masked, so that a user
    name and password (``https://user:pw@host/``) are never shown, however the URL is mangled."""
    return re.sub(r"^((?:[A-Za-z][A-Za-z0-9+.-]*:)?/*).*@", r"\1***@", url, count=1, flags=re.S)


def _url(url: str, *, slash: bool = False) -> str:
    """An absolute http(s) URL that every client can use as written (feeds carry it verbatim).

    A user name or password in it is refused: the hubs' and the journal's URLs are
    published in every feed, and the others are shown by ``status``, ``pull`` and the
    logs. No message repeats one.
    """
    shown = hide_userinfo(url)
    if re.search(r"[\s\x00-\x1f\x7f-\x9f]", url):
        raise Invalid(f"{shown!r} contains spaces or control characters (write a space as %20)")
    try:
        parts = urlsplit(url)
        port = parts.port  # parsed on access: raises for a port that is not a number from 0 to 65535
    except ValueError as exc:
        raise Invalid(f"{shown!r} is not a valid URL ({hide_userinfo(str(exc))})") from None
    if "@" in parts.netloc:
        raise Invalid(f"{shown!r} holds a user name or password; a URL in the config must not, as it "
                      "would be published in the feeds or shown in status output and logs "
                      "(webhooks are authenticated by their secret_env signature)")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(f"must be an absolute http(s) URL, not {shown!r}")
    if port == 0:
        raise Invalid(f"{shown!r} has port 0 (a port is a number from 1 to 65535)")
    if slash and not url.endswith("/"):
        raise Invalid(f"must end with '/' (write {shown + '/'!r})")
    return url


def _filled(text: str) -> str:
    if not text.strip():
        raise Invalid("must not be empty")
    return text


def _email(text: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+", text):
        raise Invalid(f"{text!r} is not an email address")
    return text


PATH = Rule("a path, relative to the config's folder", lambda text: Path(_filled(text)), reads=str)
URL = Rule("an absolute http(s) URL", _url)
FOLDER_URL = Rule("an absolute http(s) URL ending in /", lambda url: _url(url, slash=True))
URLS = Rule("a list of absolute http(s) URLs", lambda urls: tuple(_url(u) for u in urls))
NAME = Rule("text, not empty", lambda text: _filled(text).strip())
EMAIL = Rule("an email address", _email)

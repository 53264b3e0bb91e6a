"""YAML read with the line of every value, so that errors can point at it.

Timestamps are left as text: dates are parsed by newswire's own rules (a date
without a zone takes the journal's zone), not by YAML's.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, NoReturn

import yaml

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc, valid-type]
    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


@dataclass(slots=True)
class Located:
    """A value (dict of Located, list of Located, or a scalar) and its 1-based line."""

    value: Any
    line: int


# Aliases let a 1 KB document name 10**9 values ("billion laughs"); expanding them is refused past this.
MAX_VALUES = 100_000


def compose(text: str, first_line: int = 1) -> Located | None:
    """Parse one YAML document; raises ``yaml.YAMLError`` on bad syntax, a duplicate key or an alias bomb.

    A document of plain ``key: value`` lines and block lists of plain values (what front matter
    almost always is) is read by ``_simple``, several times quicker; anything else by PyYAML."""
    simple = _simple(text, first_line)
    return simple if simple is not None else _composed(text, first_line)


def _composed(text: str, first_line: int) -> Located | None:
    """``compose`` by PyYAML, for any document."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return None if node is None else _Locator(loader, first_line - 1).located(node)
    except RecursionError:
        raise yaml.YAMLError("an alias refers to the value that contains it") from None
    finally:
        loader.dispose()


# A line of a simple document: 'key: value', 'key:' (a block list follows), or '  - item'.
_KEY_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*):(?: +(.*))?")
_ITEM_LINE = re.compile(r"( *)- +(.*)")
# What starts or is in a scalar YAML would read as more than text; refused by ``_scalar`` (PyYAML reads it).
_PLAIN_START = frozenset("-?:,[]{}#&*!|>'\"%@`")
_NOT_PLAIN = re.compile(r": |:$| #|[\t\\]")
_BOOLS = yaml.constructor.SafeConstructor.bool_values
_STR, _NULL, _BOOL = "tag:yaml.org,2002:str", "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool"
_NO_VALUE = object()
# The first characters of the scalars the loader may type implicitly (a null, a bool, a number); a
# key of None would be a type that any scalar may have.
_RESOLVED = frozenset(_Loader.yaml_implicit_resolvers)


def _scalar(text: str) -> Any:
    """A one-line scalar as PyYAML reads it, if it is text, a null or a boolean written plainly or text
    quoted without escapes; else ``_NO_VALUE``. Only printable characters: YAML refuses some others."""
    if not text.isprintable():
        return _NO_VALUE
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        inner = text[1:-1]
        return inner if text[0] not in inner and "\\" not in inner else _NO_VALUE
    if not text or text[0] in _PLAIN_START or text[-1] == " " or _NOT_PLAIN.search(text):
        return _NO_VALUE
    if text[0] not in _RESOLVED and None not in _RESOLVED:
        return text  # no implicit type starts with this character: text, as ``resolve`` would say
    tag = _Loader.resolve(_Loader, yaml.ScalarNode, text, (True, False))  # the implicit types, by the loader's rules
    if tag == _STR:
        return text
    if tag == _BOOL:
        return _BOOLS[text.lower()]
    return None if tag == _NULL else _NO_VALUE


@functools.lru_cache(maxsize=64)
def _plain_key(key: str) -> bool:
    """Whether a key is read as the text it is (not 'null' or 'yes'), asked once per key: keys repeat."""
    return bool(_scalar(key) == key)


def _simple(text: str, first_line: int) -> Located | None:
    """``text`` as ``compose`` reads it, if it is a mapping of plain keys, each holding a one-line scalar
    (see ``_scalar``) or a block list of them; None for any other document, which PyYAML then reads."""
    items: dict[str, Located] = {}
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    key, indent = "", -1  # the key whose block list is being read, the indent of its items, and them
    values: list[Located] | None = None
    for number, line in enumerate(lines, start=first_line):
        if values is not None and (m := _ITEM_LINE.fullmatch(line)) and (indent < 0 or len(m[1]) == indent):
            value = _scalar(m[2].rstrip(" "))
            if value is _NO_VALUE:
                return None
            indent = len(m[1])
            values.append(Located(value, number))
            continue
        if values is not None:
            if not values:
                return None  # 'key:' with nothing below it
            items[key] = Located(values, values[0].line)
        m = _KEY_LINE.fullmatch(line)
        if m is None or not _plain_key(m[1]) or m[1] in items:
            return None
        key, values, indent = m[1], None, -1
        if m[2] is None or not m[2].strip(" "):
            values = []
            continue
        value = _scalar(m[2].rstrip(" "))
        if value is _NO_VALUE:
            return None
        items[key] = Located(value, number)
    if values is not None:
        if not values:
            return None
        items[key] = Located(values, values[0].line)
    return Located(items, first_line) if items else None


class _Locator:
    """Nodes → ``Located`` values, counting every value made so that aliases cannot expand without bound."""

    def __init__(self, loader: Any, shift: int):
        self.loader, self.shift, self.left = loader, shift, MAX_VALUES

    def located(self, node: yaml.Node) -> Located:
        self.left -= 1
        if self.left < 0:
            _refuse(node, f"more than {MAX_VALUES} values once aliases are expanded")
        line = node.start_mark.line + 1 + self.shift
        if isinstance(node, yaml.MappingNode):
            items: dict[str, Located] = {}
            for k, v in node.value:
                if not isinstance(k, yaml.ScalarNode):
                    _refuse(k, "a key must be a plain value, not a list or a mapping")
                key = str(self.loader.construct_object(k, deep=True))
                if key in items:  # YAML forbids it; PyYAML would silently keep the last value
                    _refuse(k, f"duplicate key {key!r}")
                items[key] = self.located(v)
            return Located(items, line)
        if isinstance(node, yaml.SequenceNode):
            return Located([self.located(v) for v in node.value], line)
        return Located(self.loader.construct_object(node, deep=True), line)


def _refuse(node: yaml.Node, problem: str) -> NoReturn:
    raise yaml.MarkedYAMLError(problem=problem, problem_mark=node.start_mark)


def is_text(value: Any) -> bool:
    """Whether a value may be read as text: a string or a number, not true/false, binary data or a collection."""
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def shown(value: Any) -> str:
    """A value as a message names it: a collection by its kind (never its ``Located`` insides), else its repr."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def error_line(exc: yaml.YAMLError, first_line: int = 1) -> tuple[int | None, str]:
    """The line and the one-line problem of a YAML syntax error."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return (mark.line + first_line if mark else None), problem

"""YAML read with the line of every value, so that errors can point at it.

Timestamps are left as text: dates are parsed by newswire's own rules (a date
without a zone takes the journal's zone), not by YAML's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

import yaml

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc, valid-type]
    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


@dataclass
class Located:
    """A value (dict of Located, list of Located, or a scalar) and its 1-based line."""

    value: Any
    line: int


# Aliases let a 1 KB document name 10**9 values ("billion laughs"); expanding them is refused past this.
MAX_VALUES = 100_000


def compose(text: str, first_line: int = 1) -> Located | None:
    """Parse one YAML document; raises ``yaml.YAMLError`` on bad syntax, a duplicate key or an alias bomb."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return None if node is None else _Locator(loader, first_line - 1).located(node)
    except RecursionError:
        raise yaml.YAMLError("an alias refers to the value that contains it") from None
    finally:
        loader.dispose()


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

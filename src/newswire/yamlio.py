"""YAML read with the line of every value, so that errors can point at it.

Timestamps are left as text: dates are parsed by newswire's own rules (a date
without a zone takes the journal's zone), not by YAML's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


def compose(text: str, first_line: int = 1) -> Located | None:
    """Parse one YAML document; raises ``yaml.YAMLError`` on bad syntax."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return None if node is None else _located(loader, node, first_line - 1)
    except RecursionError:
        raise yaml.YAMLError("an alias refers to the value that contains it") from None
    finally:
        loader.dispose()


def _located(loader: Any, node: yaml.Node, shift: int) -> Located:
    line = node.start_mark.line + 1 + shift
    if isinstance(node, yaml.MappingNode):
        return Located({str(loader.construct_object(k, deep=True)): _located(loader, v, shift)
                        for k, v in node.value}, line)
    if isinstance(node, yaml.SequenceNode):
        return Located([_located(loader, v, shift) for v in node.value], line)
    return Located(loader.construct_object(node, deep=True), line)


def error_line(exc: yaml.YAMLError, first_line: int = 1) -> tuple[int | None, str]:
    """The line and the one-line problem of a YAML syntax error."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return (mark.line + first_line if mark else None), problem

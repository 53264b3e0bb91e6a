"""Regenerate the parts of README.md that the code declares, so that the two never disagree.

- the command table, from the commands' help texts (newswire.cli);
- the configuration tables, from the settings' declarations (newswire.config: each field's
  default, check and doc).

Each part sits between ``<!-- generated: NAME (make docs) -->`` and ``<!-- end generated -->``.
``python scripts/readme.py`` rewrites README.md; ``--check`` changes nothing and exits 1 with
a diff when README.md is not current (a test runs it).
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import click

from newswire import cli
from newswire.config import Config
from newswire.settings import Setting, plain, settings_of, written

README = Path(__file__).resolve().parent.parent / "README.md"
REGION = re.compile(r"(<!-- generated: (\w+) \(make docs\) -->\n)(.*?)(<!-- end generated -->)", re.S)


# --- the commands -------------------------------------------------------------------------------


def _usage(path: str, command: click.Command) -> str:
    words = [path]
    for param in command.params:
        if isinstance(param, click.Argument):
            name = param.metavar or (param.name or "").upper()
            words.append(f"[{name} ...]" if param.nargs == -1 else name if param.required else f"[{name}]")
        elif isinstance(param, click.Option) and not param.hidden:
            shown = param.opts[0]
            words.append(f"[{shown}]" if param.is_flag else f"[{shown} {param.metavar or param.name.upper()}]")
    return " ".join(words)


def _walk(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _walk(command, f"{prefix}{name} ")
        else:
            yield prefix + name, command


def _plain_text(help_text: str) -> str:
    """A help text as one table cell: one paragraph, with options and commands as code."""
    text = " ".join(help_text.replace("\b", "").split())
    return re.sub(r"(?<![\w`'-])(--[a-z][a-z-]*|-q)\b", r"`\1`", text)


def commands() -> str:
    rows = ["| command | what it does |", "|---|---|"]
    for path, command in _walk(cli.main):
        rows.append(f"| `{_usage(path, command)}` | {_plain_text(command.help or '')} |")
    return "\n".join(rows) + "\n"


# --- the configuration --------------------------------------------------------------------------


def _kind(hint: Any) -> str:
    hint = plain(hint)
    if is_dataclass(hint):
        return "{" + ", ".join(f.name for f, _ in settings_of(hint)) + "}"
    if get_origin(hint) is tuple:
        item = get_args(hint)[0]
        return f"a list of {_kind(item)}" if is_dataclass(item) else "a list of text"
    return {int: "a whole number", float: "a number", bool: "true or false", str: "text"}[hint]


def _accepts(hint: Any, s: Setting) -> str:
    what = s.rule.accepts if s.rule else _kind(hint)
    if s.choices:
        what = " or ".join(s.choices)
    return " ".join(part for part in (what, s.bounds(), s.note) if part)


def _table(kind: type) -> str:
    hints = get_type_hints(kind)
    rows = ["| key | default | accepts | what it is |", "|---|---|---|---|"]
    for f, s in settings_of(kind):
        if s.derived:
            default = s.derived
        elif f.default is MISSING:
            default = "required"
        elif f.default is None:
            default = "none"
        else:
            default = f"`{written(f.default, s.rule)}`"
        rows.append(f"| `{f.name}` | {default} | {_accepts(hints[f.name], s)} | {s.doc} |")
    return "\n".join(rows) + "\n"


def _sections(kind: type, name: str) -> Iterator[tuple[str, type]]:
    """Each mapping of settings below ``kind``, with the key it is written under."""
    yield name, kind
    hints = get_type_hints(kind)
    for f, _ in settings_of(kind):
        hint = plain(hints[f.name])
        if is_dataclass(hint):
            yield from _sections(hint, f"{name}.{f.name}")
        elif get_origin(hint) is tuple and is_dataclass(get_args(hint)[0]):
            yield from _sections(get_args(hint)[0], f"{name}.{f.name}[]")


def configuration() -> str:
    hints = get_type_hints(Config)
    parts = []
    for f in fields(Config):
        hint = hints[f.name]
        if get_origin(hint) is tuple:  # a list of mappings, or (authors) a mapping of them by key
            name, hint = ("authors.<key>" if f.name == "authors" else f"{f.name}[]"), get_args(hint)[0]
        elif is_dataclass(hint):
            name = f.name
        else:
            continue
        for section, kind in _sections(hint, name):
            parts.append(f"`{section}`\n\n{_table(kind)}")
    return "\n".join(parts)


GENERATORS: dict[str, Callable[[], str]] = {"commands": commands, "configuration": configuration}


def render(text: str) -> str:
    """``text`` (the README) with every generated part made anew; each must be there once."""
    found = sorted(m[2] for m in REGION.finditer(text))
    if found != sorted(GENERATORS):
        raise SystemExit(f"README.md must hold each generated part once: {sorted(GENERATORS)}, not {found}")
    return REGION.sub(lambda m: m[1] + GENERATORS[m[2]]() + m[4], text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 with a diff if not current")
    parser.add_argument("readme", nargs="?", type=Path, default=README)
    args = parser.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    current = render(text)
    if current == text:
        return 0
    if args.check:
        sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), current.splitlines(True),
                                                   str(args.readme), "regenerated"))
        print(f"{args.readme} is not current: run 'make docs'", file=sys.stderr)
        return 1
    args.readme.write_text(current, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""feedparser made quicker for reading back our own documents, and only while one is read back.

Two of feedparser's module-level settings are replaced (see ``_patches``): its cp1252 table,
by a list that maps alike, and its SAX driver list, by this module (expat, reporting whole
texts) where feedparser would fall back to expat anyway. Both read exactly what feedparser
reads by itself (tests/test_verify.py), but they are feedparser's internals, so they are put
in place only for the feedparser versions those tests have checked (``KNOWN_VERSIONS``),
and only inside ``installed()``: an import or a pull in the same process, even after a
publish, reads with feedparser as it comes.

The replacements are process-wide while installed: newswire reads feeds from one thread at a
time (the daemon runs one job at a time; publishing's workers are processes of their own).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from types import ModuleType
from xml.sax import expatreader

# The feedparser versions tests/test_verify.py has checked these replacements against; any
# other reads unpatched (correct, a little slower). pyproject.toml caps feedparser below 6.1.
KNOWN_VERSIONS = ("6.0.14",)


class _ExpatWithWholeTexts(expatreader.ExpatParser):
    """Python's expat SAX reader, reporting each run of text in one call (expat's ``buffer_text``).

    Without it expat reports a text in pieces, a new one at every line end and character
    reference: an escaped HTML body comes in hundreds of calls, each a trip through
    feedparser's handler, which only appends the piece to a list it joins at the element's end.
    """

    def reset(self) -> None:
        super().reset()
        expat = self._parser  # type: ignore[attr-defined]  # the reader's pyexpat parser, not in the stubs
        expat.buffer_text = True
        expat.buffer_size = 1 << 16  # a longer text still comes whole or in pieces of this size


def create_parser() -> expatreader.ExpatParser:
    """The SAX driver feedparser is given while installed (this module's name is its driver name)."""
    return _ExpatWithWholeTexts()


@lru_cache(maxsize=1)
def _expat_is_the_fallback() -> bool:
    """Whether feedparser, asking for ``drv_libxml2`` first, falls back to expat here.

    Where it is not installed, Python searches every import path for it at every parse (a
    fifth of reading a small document) before falling back; this module is then given as the
    driver instead, the same expat reader reporting whole texts (feedparser joins the pieces
    of a text before it looks at them). Where ``drv_libxml2`` is installed, feedparser keeps it.
    """
    return importlib.util.find_spec("drv_libxml2") is None


@lru_cache(maxsize=1)
def _quick_cp1252() -> list[int] | None:
    """feedparser's cp1252 table as a list of code points indexed by code point, or None if
    the table is not of the shape this replaces (a dict of BMP code points to one character).

    feedparser maps the 27 cp1252 code points among U+0080–U+009F in every string it reads,
    with ``str.translate`` over a dict: for text that is not all ASCII, Python raises and
    catches a ``KeyError`` for every character the dict lacks, a sixth of a cold publish. The
    list (the Basic Multilingual Plane; above it the lookup fails as before, which leaves the
    character) translates alike, three times quicker.
    """
    import feedparser.html

    table = getattr(feedparser.html, "_cp1252", None)
    if not (isinstance(table, dict) and all(isinstance(k, int) and 0 <= k < 0x10000 for k in table)
            and all(isinstance(v, str) and len(v) == 1 for v in table.values())):
        return None
    quick = list(range(0x10000))
    for code, char in table.items():
        quick[code] = ord(char)
    return quick


def _patches() -> list[tuple[ModuleType, str, object]]:
    """The replacements this feedparser takes, as (module, attribute, value): none unless its
    version is one of ``KNOWN_VERSIONS`` and each setting is what the replacement expects."""
    import feedparser
    import feedparser.api
    import feedparser.html
    import feedparser.mixin

    if getattr(feedparser, "__version__", None) not in KNOWN_VERSIONS:
        return []
    patches: list[tuple[ModuleType, str, object]] = []
    quick = _quick_cp1252()
    if quick is not None and getattr(feedparser.mixin, "_cp1252", None) is feedparser.html._cp1252:
        patches.append((feedparser.mixin, "_cp1252", quick))
    if feedparser.api.PREFERRED_XML_PARSERS == ["drv_libxml2"] and _expat_is_the_fallback():
        patches.append((feedparser.api, "PREFERRED_XML_PARSERS", [__name__]))
    return patches


_replaced: list[tuple[ModuleType, str, object]] = []  # what install() replaced, for uninstall()
_users = 0  # readings inside installed() now
_users_lock = threading.Lock()


def install() -> bool:
    """Put the replacements in place (idempotent); says whether any is. Prefer ``installed()``."""
    if not _replaced:
        for module, name, value in _patches():
            _replaced.append((module, name, getattr(module, name)))
            setattr(module, name, value)
    return bool(_replaced)


def uninstall() -> None:
    """Give feedparser back its own settings."""
    while _replaced:
        module, name, value = _replaced.pop()
        setattr(module, name, value)


@contextmanager
def installed() -> Iterator[None]:
    """The replacements in place for the block (nested or not); feedparser as it comes after."""
    global _users
    with _users_lock:
        if _users == 0:
            install()
        _users += 1
    try:
        yield
    finally:
        with _users_lock:
            _users -= 1
            if _users == 0:
                uninstall()

"""What the tests share besides fixtures: a journal in a folder, its config, and the CLI run as
a real subprocess. Tests import these from here; ``conftest.py`` holds only the fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from newswire.config import Config, load_config
from newswire.store import Store, open_at

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT_NAMES = {"atom": "atom.xml", "rss": "rss.xml", "json": "feed.json"}  # a feed's documents, by format
ATOM_RNG = ROOT / "tests" / "schemas" / "atom.rng"  # RFC 4287 Appendix B; see tests/schemas/README.md

CONFIG = """\
journal:
  title: Test Journal
  subtitle: A journal for tests
  site_url: https://journal.test/
  feeds_url: https://journal.test/feeds/
  language: en
  timezone: America/New_York
  id_authority: journal.test
  id_date: "2009"
authors:
  jmorton: {name: John Morton, affiliation: U.S. Immigration and Customs Enforcement}
  napolitano: {name: Janet Napolitano, affiliation: Secretary of Homeland Security}
feeds:
  formats: [atom, rss, json]
  entries: 25
  content: full
paths: {store: newswire.db, content: content, output: feeds}
"""


@dataclass
class Journal:
    """A journal folder: config.yaml, content/, and after a publish feeds/ and the store: the SQLite
    file newswire.db, or with ``store_url`` a PostgreSQL database (each config written names it)."""

    root: Path
    store_url: str | None = None

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    @property
    def feeds(self) -> Path:
        return self.root / "feeds"

    @property
    def content(self) -> Path:
        return self.root / "content"

    def config(self) -> Config:
        return load_config(self.config_path)

    def write_config(self, text: str) -> None:
        if self.store_url is not None:
            text = text.replace("store: newswire.db", f"store: '{self.store_url}'")
        self.config_path.write_text(text, encoding="utf-8")

    @property
    def store_at(self) -> Path | str:
        """The journal's store: the SQLite file, or the PostgreSQL URL."""
        return self.store_url or self.root / "newswire.db"

    def has_store(self) -> bool:
        return self.store_url is not None or (self.root / "newswire.db").exists()

    def store(self) -> Store:
        """The journal's store, opened as the commands open it (whichever the backend)."""
        return open_at(self.store_at)

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> None:
        """Change the store behind newswire's back (as an older version, or damage, would have left it)."""
        with self.store() as store:
            store.db.execute(sql, parameters)

    def rows(self, sql: str, parameters: Sequence[object] = ()) -> list[Row]:
        """What ``sql`` finds in the store, each row read by column name or by position."""
        with self.store() as store:
            cursor = store.db.execute(sql, parameters)
            names = [d[0] for d in cursor.description]
            return [Row(names, values) for values in cursor]

    def post(self, name: str, title: str = "A post", date: str = "2009-11-06T10:00:00-05:00",
             author: str = "jmorton", labels: tuple[str, ...] = ("Border Security",), body: str = "Some text.",
             **extra: object) -> Path:
        """Write content/<name>.md with the given front matter and body."""
        import yaml

        meta = {"title": title, "date": date, "author": author, "labels": list(labels), **extra}
        front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False)
        path = self.content / f"{name}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"---\n{front}---\n{body}\n", encoding="utf-8")
        return path

    def raw_post(self, name: str, text: str) -> Path:
        path = self.content / f"{name}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def cli(self, *args: str, check: bool = False, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``newswire --config <this journal> ARGS`` as a subprocess."""
        return run_cli("--config", str(self.config_path), *args, cwd=self.root, check=check, env=env,
                       timeout=timeout)

    def listed_documents(self) -> list[str]:
        """The URL of every feed document, found as a reader finds them: ``index.opml`` lists each
        feed once, and its documents in the configured formats sit in the same folder."""
        from lxml import etree

        root = etree.parse(str(self.feeds / "index.opml")).getroot()
        folders = [o.get("xmlUrl").rpartition("/")[0] for o in root.iter("outline") if o.get("xmlUrl")]
        return [f"{folder}/{DOCUMENT_NAMES[fmt]}" for folder in folders for fmt in self.config().feeds.formats]

    def files(self) -> dict[str, bytes]:
        return {p.relative_to(self.feeds).as_posix(): p.read_bytes()
                for p in sorted(self.feeds.rglob("*")) if p.is_file()}


class Row:
    """A row by column name (``row["title"]``) or by position (``row[0]``), as sqlite3.Row reads."""

    def __init__(self, names: Sequence[str], values: Sequence[object]):
        self.names = list(names)
        self.values = tuple(values)

    def __getitem__(self, key: str | int) -> object:
        return self.values[key if isinstance(key, int) else self.names.index(key)]

    def keys(self) -> list[str]:
        return self.names

    def __iter__(self) -> Iterator[object]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Row) and (self.names, self.values) == (other.names, other.values)

    def __repr__(self) -> str:
        return f"Row({dict(zip(self.names, self.values))!r})"


def run_cli(*args: str, cwd: Path | None = None, check: bool = False, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run([sys.executable, "-m", "newswire", *args], cwd=cwd, capture_output=True, text=True,
                            env=full_env, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"newswire {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result

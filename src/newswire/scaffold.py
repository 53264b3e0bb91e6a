"""``newswire init``: a ready journal to start from."""

from __future__ import annotations

from pathlib import Path

from .errors import UsageError

CONFIG = """\
# newswire configuration; every key is described in the README.
journal:
  title: My Journal
  subtitle: Notes and news
  site_url: https://journal.example.org/          # where posts' HTML pages live
  feeds_url: https://journal.example.org/feeds/   # where the output folder is served; ends in /
  language: en
  timezone: UTC                                   # for dates written without a zone
  id_authority: journal.example.org               # entry ids: tag:journal.example.org,2026:...
  id_date: "2026"
authors:
  editor: {name: The Editor, affiliation: My Journal}
feeds:
  formats: [atom, rss, json]
  entries: 25
  content: full
  authors: true
  labels: true
paths: {store: newswire.db, content: content, output: feeds}
"""

POST = """\
---
title: Hello, world
date: 2026-01-01T09:00:00Z
author: editor
labels: [News]
---
This is the first post. Write posts as Markdown files in this folder, then run
`newswire publish`.
"""


def init_journal(directory: Path) -> list[Path]:
    """Write config.yaml and content/hello-world.md; refuse to overwrite anything."""
    config = directory / "config.yaml"
    post = directory / "content" / "hello-world.md"
    for path in (config, post):
        if path.exists():
            raise UsageError(f"{path} already exists; newswire init does not overwrite files")
    post.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(CONFIG, encoding="utf-8")
    post.write_text(POST, encoding="utf-8")
    return [config, post]

"""The baseline: what a developer would write in an afternoon, for comparison in bench/run.py.

For every feed (the journal, each author, each label) it filters all posts with a
list comprehension, builds the newest N with python-feedgen, writes Atom and RSS,
and re-parses each file with feedparser. Posts are read from a newswire store, so
the comparison is publish against publish.

    python bench/baseline.py STORE OUT_DIR [--entries 25]
"""

from __future__ import annotations

import argparse
import sqlite3
from datetime import datetime
from pathlib import Path

import feedparser
from feedgen.feed import FeedGenerator


def load(store: Path) -> list[dict]:
    db = sqlite3.connect(store)
    labels: dict[int, list[str]] = {}
    for post_id, name in db.execute("SELECT pl.post_id, l.name FROM post_labels pl JOIN labels l ON l.id = pl.label_id"):
        labels.setdefault(post_id, []).append(name)
    posts = []
    for pid, entry_id, title, body, author, published, slug in db.execute(
            "SELECT p.id, p.entry_id, p.title, p.body, a.name, p.published, p.slug FROM posts p "
            "JOIN authors a ON a.key = p.author_key WHERE p.draft = 0 AND p.deleted_at IS NULL"):
        posts.append({"id": entry_id, "title": title, "body": body, "author": author, "slug": slug,
                      "published": datetime.fromisoformat(published.replace("Z", "+00:00")),
                      "labels": labels.get(pid, [])})
    return posts


def build(name: str, posts: list[dict], entries: int, out: Path) -> None:
    fg = FeedGenerator()
    fg.id(f"https://bench.example.org/feeds/{name}")
    fg.title(name)
    fg.link(href="https://bench.example.org/", rel="alternate")
    fg.description(name)
    for p in sorted(posts, key=lambda p: p["published"], reverse=True)[:entries]:
        fe = fg.add_entry(order="append")
        fe.id(p["id"])
        fe.title(p["title"])
        fe.link(href=f"https://bench.example.org/{p['slug']}.html")
        fe.author({"name": p["author"]})
        fe.content(p["body"], type="html")
        fe.published(p["published"])
        fe.updated(p["published"])
        for label in p["labels"]:
            fe.category(term=label)
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    fg.atom_file(str(folder / "atom.xml"))
    fg.rss_file(str(folder / "rss.xml"))
    for doc in ("atom.xml", "rss.xml"):
        parsed = feedparser.parse(str(folder / doc))
        assert not parsed.bozo, (folder / doc, parsed.bozo_exception)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--entries", type=int, default=25)
    args = parser.parse_args()
    posts = load(args.store)
    build("journal", posts, args.entries, args.out)
    for i, author in enumerate(sorted({p["author"] for p in posts})):
        build(f"authors/{i}", [p for p in posts if p["author"] == author], args.entries, args.out)
    for i, label in enumerate(sorted({name for p in posts for name in p["labels"]})):
        build(f"labels/{i}", [p for p in posts if label in p["labels"]], args.entries, args.out)


if __name__ == "__main__":
    main()

"""A deterministic synthetic journal for benchmarks and large tests.

N posts as Markdown files with front matter, A authors, L labels with Zipf-like
popularity (1-6 labels per post), HTML bodies of 1-8 KB with links, images,
non-ASCII text and ``& < >``, dates spread over 15 years in mixed zones.

    python bench/generate.py OUT_DIR --posts 10000 --authors 200 --labels 2000
"""

from __future__ import annotations

import argparse
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

WORDS = ["border", "port", "customs", "cargo", "agent", "officer", "travel", "visa", "cyber", "network", "grant", "storm", "flood", "shelter", "recovery", "partner", "report", "inspection", "seizure", "currency", "courier", "route", "airport", "training", "exercise", "community", "response", "readiness"]
FOREIGN = ("Ciudad Juárez", "Secretaría de Gobernación", "Zürich", "São Paulo", "Kraków", "東京", "Αθήνα", "München")
ZONES = (-7, -6, -5, -4, 0, 1, 2, 9)
START = datetime(2008, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 15 * 365 * 24 * 3600


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 18))]
    if rng.random() < 0.2:
        words.insert(rng.randrange(len(words)), rng.choice(FOREIGN))
    if rng.random() < 0.1:
        words.insert(rng.randrange(len(words)), "R&D, 5 < 10 > 2")
    return " ".join(words).capitalize() + "."


def _body(rng: random.Random, index: int) -> str:
    target = rng.randint(1024, 8192)
    parts: list[str] = []
    size = 0
    while size < target:
        paragraph = " ".join(_sentence(rng) for _ in range(rng.randint(2, 5)))
        roll = rng.random()
        if roll < 0.15:
            paragraph += f' See <a href="/reports/{index}-{size}.html">the report</a>.'
        elif roll < 0.25:
            paragraph += f"\n\n![Photo {index}](images/photo-{index}-{size}.jpg)"
        elif roll < 0.3:
            paragraph += f" More at [the partner site](https://partner.example.net/{index})."
        parts.append(paragraph)
        size += len(paragraph) + 2
    return "\n\n".join(parts)


def _zipf_weights(count: int, s: float = 1.07) -> list[float]:
    return [1.0 / (rank ** s) for rank in range(1, count + 1)]


def generate(out: Path, posts: int, authors: int, labels: int, seed: int = 20091106) -> None:
    """Write ``out/config.yaml`` and ``out/content/*.md``."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    content = out / "content"
    content.mkdir(exist_ok=True)
    author_lines = "\n".join(
        f"  a{i:03d}: {{name: Author {i:03d}, affiliation: Office {i % 17}}}" for i in range(authors))
    (out / "config.yaml").write_text(f"""journal:
  title: Synthetic Journal
  subtitle: {posts} posts for benchmarks
  site_url: https://bench.example.org/
  feeds_url: https://bench.example.org/feeds/
  timezone: America/New_York
  id_authority: bench.example.org
  id_date: "2008"
authors:
{author_lines}
feeds: {{formats: [atom, rss, json], entries: 25, archives: false}}
paths: {{store: newswire.db, content: content, output: feeds}}
""", encoding="utf-8")
    label_names = [f"Topic {i:04d}" + (" — Überblick" if i % 50 == 7 else "") for i in range(labels)]
    weights = _zipf_weights(labels)
    author_weights = _zipf_weights(authors, 0.8)
    for i in range(posts):
        when = START + timedelta(seconds=rng.randrange(SPAN_SECONDS))
        zone = timezone(timedelta(hours=rng.choice(ZONES)))
        chosen = sorted(set(rng.choices(label_names, weights=weights, k=rng.randint(1, 6))))
        author = rng.choices(range(authors), weights=author_weights)[0]
        title = f"Post {i}: {rng.choice(WORDS).title()} & {rng.choice(FOREIGN)}"
        labels_yaml = "\n".join(f'  - "{name}"' for name in chosen)
        (content / f"post-{i:06d}.md").write_text(
            f'---\ntitle: "{title}"\ndate: {when.astimezone(zone).isoformat()}\nauthor: a{author:03d}\n'
            f"labels:\n{labels_yaml}\n---\n{_body(rng, i)}\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--authors", type=int, default=200)
    parser.add_argument("--labels", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20091106)
    args = parser.parse_args()
    generate(args.out, args.posts, args.authors, args.labels, args.seed)


if __name__ == "__main__":
    main()

"""newswire against the baseline, on synthetic journals: one table, medians with min and max.

    python bench/run.py                        # the issue's sizes: 10,000 and 100,000 posts
    python bench/run.py --sizes 2000 --runs 3  # a quick look
    python bench/run.py --sizes 50000 --authors 50 --labels 200 --sync-only  # cold syncs beside the baseline
    python bench/run.py --sizes 10000 --stores sqlite,postgresql  # the store on each backend, in one run
    python bench/run.py --sizes 50000,100000 --authors 50 --labels 200 --runs 1 --archives-only  # whole history

Every figure is a whole command run as a subprocess (wall time, the peak RSS of the
largest of that process and its workers, and the CPU of them all), so it is what an
operator sees. Ratios are against the baseline (bench/baseline.py) measured in the
same run on the same corpus.
Cold figures are medians over ``--runs`` fresh copies of the journal; the publishes
after no change, one new post and one edit, over ``--repeats`` rounds in the last copy.

The journal is configured like the baseline's output: the newest 25 entries in each
feed, no archive pages (``feeds.archives: false``); newswire writes three formats to
the baseline's two. ``--archives`` adds one cold publish with RFC 5005 archives on,
where every post is published in every feed that holds it.

``--stores sqlite,postgresql`` measures the same journal with its store on each backend; the
PostgreSQL rows use a throwaway server started for the run (as the tests start theirs, see
tests/pgcluster.py), a fresh database for each copy, on a Unix socket with fsync off. The
baseline reads a SQLite store: it is measured from the SQLite copies, and the PostgreSQL rows'
ratios are against it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from generate import generate  # noqa: E402

import pgcluster  # noqa: E402

NEWSWIRE = [sys.executable, "-m", "newswire"]


@dataclass
class Sample:
    seconds: float
    rss_mb: float
    cpu: float  # (user + sys) / wall: 2.0 means both cores busy


def measure(cmd: list[str], cwd: Path) -> Sample:
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
    # ru_maxrss of the whole tree is not reported; children of the command are counted by RUSAGE_CHILDREN
    return Sample(wall, usage.ru_maxrss / 1024, (usage.ru_utime + usage.ru_stime) / wall)


def row(name: str, samples: list[Sample], baseline: float | None) -> str:
    secs = [s.seconds for s in samples]
    med = statistics.median(secs)
    ratio = f"{baseline / med:6.1f}x" if baseline else "      -"
    return (f"{name:<34} {med:9.2f} {min(secs):8.2f} {max(secs):8.2f}  {ratio}  "
            f"{max(s.rss_mb for s in samples):8.0f}  {statistics.median(s.cpu for s in samples):5.2f}")


def corpus(root: Path, posts: int, authors: int, labels: int) -> Path:
    target = root / f"{posts}-{authors}-{labels}"
    if not (target / "config.yaml").exists():
        generate(target, posts, authors, labels)
    return target


def fresh_copy(src: Path, dst: Path, cluster: pgcluster.Cluster | None = None) -> Path:
    """A copy of the corpus with no store yet: a SQLite file to come, or with ``cluster`` a new database."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("feeds", "newswire.db*", "baseline"))
    if cluster is not None:
        config = dst / "config.yaml"
        config.write_text(config.read_text(encoding="utf-8").replace(
            "store: newswire.db", f"store: '{cluster.fresh('bench')}'"), encoding="utf-8")
    return dst


def with_archives(journal: Path) -> Path:
    config = journal / "config.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("archives: false", "archives: true"),
                      encoding="utf-8")
    return journal


def baseline(journal: Path, runs: int) -> list[Sample]:
    """The baseline publisher over the posts newswire stored in ``journal``."""
    out = []
    for _ in range(runs):
        shutil.rmtree(journal / "baseline", ignore_errors=True)
        out.append(measure([sys.executable, str(HERE / "baseline.py"), "newswire.db", "baseline"], journal))
    return out


def header() -> list[str]:
    text = f"{'':<34} {'median s':>9} {'min':>8} {'max':>8}  {'vs base':>7}  {'peak MB':>8}  {'cpu':>5}"
    return [text, "-" * len(text)]


def bench_sync(root: Path, posts: int, authors: int, labels: int, runs: int) -> list[str]:
    """Cold syncs (each into a fresh copy), beside the baseline publishing the same posts."""
    src = corpus(root / "corpus", posts, authors, labels)
    syncs = [measure([*NEWSWIRE, "sync"], fresh_copy(src, root / "work" / f"s{i}")) for i in range(runs)]
    base = baseline(root / "work" / "s0", runs)
    return [f"{posts} posts, {authors} authors, {labels} labels ({os.cpu_count()} cores)", *header(),
            row("baseline publish (feedgen+feedparser)", base, None),
            row("cold sync", syncs, statistics.median(s.seconds for s in base))]


def bench_archives(root: Path, posts: int, authors: int, labels: int, runs: int) -> list[str]:
    """Cold publishes with archives on (every post in every feed that holds it), each into a fresh
    copy synced first, beside the baseline publishing the newest entries of the same posts."""
    src = corpus(root / "corpus", posts, authors, labels)
    colds = []
    for i in range(runs):
        j = with_archives(fresh_copy(src, root / "work" / f"a{i}"))
        measure([*NEWSWIRE, "sync"], j)
        colds.append(measure([*NEWSWIRE, "publish", "--no-sync", "--no-ping"], j))
    base = baseline(root / "work" / "a0", runs)
    return [f"{posts} posts, {authors} authors, {labels} labels ({os.cpu_count()} cores)", *header(),
            row("baseline publish (feedgen+feedparser)", base, None),
            row("cold full publish, with archives", colds, statistics.median(s.seconds for s in base))]


def bench(root: Path, posts: int, authors: int, labels: int, runs: int, repeats: int, archives: bool,
          cluster: pgcluster.Cluster | None = None, base: list[Sample] | None = None) -> tuple[list[str], list[Sample]]:
    """The table for one size, with the store in SQLite files, or in ``cluster``'s databases (then
    against ``base``, the baseline measured on the SQLite copies); and the baseline's samples."""
    src = corpus(root / "corpus", posts, authors, labels)
    work = root / "work"
    on = f", store on {'PostgreSQL' if cluster else 'SQLite'}"
    lines = [f"{posts} posts, {authors} authors, {labels} labels ({os.cpu_count()} cores){on}"]
    # Cold sync and cold publish: fresh copies each run.
    syncs, colds, stores = [], [], None
    for i in range(runs):
        j = fresh_copy(src, work / f"j{i}", cluster)
        syncs.append(measure([*NEWSWIRE, "sync"], j))
        colds.append(measure([*NEWSWIRE, "publish", "--no-sync", "--no-ping"], j))
        stores = j
    assert stores is not None
    base = base or baseline(stores, runs)
    base_median = statistics.median(s.seconds for s in base)
    nochange = [measure([*NEWSWIRE, "publish", "--no-ping"], stores) for _ in range(repeats)]
    added, edited = [], []
    for i in range(repeats):
        (stores / "content" / f"bench-new-{i}.md").write_text(
            f"---\ntitle: New post {i}\ndate: 2024-01-0{i % 9 + 1}T10:00:00Z\nauthor: a000\nlabels: [Topic 0000]\n---\n"
            "A new post for the benchmark.\n", encoding="utf-8")
        added.append(measure([*NEWSWIRE, "publish", "--no-ping"], stores))
        old = stores / "content" / "post-000007.md"
        old.write_text(old.read_text(encoding="utf-8") + f"\nEdited {i}.\n", encoding="utf-8")
        edited.append(measure([*NEWSWIRE, "publish", "--no-ping"], stores))
    lines += [*header(),
              row("baseline publish (feedgen+feedparser)", base, None),
              row("cold sync", syncs, None),
              row("cold full publish", colds, base_median),
              row("publish, nothing changed", nochange, base_median),
              row("publish, one new post", added, base_median),
              row("publish, one old post edited", edited, base_median)]
    if archives:
        j = with_archives(fresh_copy(src, work / "archives", cluster))
        measure([*NEWSWIRE, "sync"], j)
        lines.append(row("cold full publish, with archives", [measure([*NEWSWIRE, "publish", "--no-ping"], j)],
                         base_median))
    return lines, base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="post counts, comma-separated")
    parser.add_argument("--authors", type=int, default=200)
    parser.add_argument("--labels", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3, help="cold runs (each on a fresh copy) and baseline runs")
    parser.add_argument("--repeats", type=int, default=5,
                        help="publishes with nothing changed, with one new post and with one edit, in the last copy")
    parser.add_argument("--dir", type=Path, default=HERE / "out")
    parser.add_argument("--archives", action="store_true", help="also one cold publish with archive pages on")
    parser.add_argument("--sync-only", action="store_true",
                        help="only cold syncs, beside the baseline (the vs base column: baseline / sync)")
    parser.add_argument("--archives-only", action="store_true",
                        help="only cold publishes with archives (after a sync), beside the baseline")
    parser.add_argument("--stores", default="sqlite", help="the backends to keep the store in, comma-separated: "
                        "sqlite, postgresql (a throwaway server, started for the run)")
    args = parser.parse_args()
    stores = args.stores.split(",")
    if not set(stores) <= {"sqlite", "postgresql"} or ((args.sync_only or args.archives_only) and stores != ["sqlite"]):
        parser.error("--stores takes sqlite and postgresql (and --sync-only or --archives-only only sqlite)")
    cluster = pgcluster.start() if "postgresql" in stores else None
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            if args.sync_only or args.archives_only:
                only = bench_sync if args.sync_only else bench_archives
                print("\n".join(only(args.dir, size, args.authors, args.labels, args.runs)), "\n", flush=True)
                continue
            base = None
            for store in stores:
                lines, base = bench(args.dir, size, args.authors, args.labels, args.runs, args.repeats,
                                    args.archives, cluster if store == "postgresql" else None, base)
                print("\n".join(lines), "\n", flush=True)
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()

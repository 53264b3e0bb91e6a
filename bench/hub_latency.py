"""How long after `newswire publish` starts does the WebSub hub hear about the changed journal feed?

Copies the example journal (config.yaml and content/) to a temporary folder, points
its ``notify.websub`` at a capturing hub on 127.0.0.1 (http.server, answers 202),
publishes once, then RUNS times: edits one post, runs ``newswire publish`` as a
subprocess and measures the time from starting the subprocess to the hub's first
request whose ``hub.topic`` is one of the journal feed's documents (atom.xml,
rss.xml, feed.json at the top of the output folder). Prints one short table.

    .venv/bin/python bench/hub_latency.py [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import yaml

from newswire.config import load_config

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60.0  # seconds: the bound on one publish and on waiting for its pings


@dataclass(frozen=True)
class Ping:
    at: float  # time.perf_counter() when the hub read the request
    mode: str
    topic: str


class CapturingHub(ThreadingHTTPServer):
    """A hub that records every publish ping and answers 202, as a real hub would."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HubHandler)
        self.pings: list[Ping] = []
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def clear(self) -> None:
        with self.lock:
            self.pings.clear()

    def wait_for(self, topics: set[str], timeout: float) -> Ping | None:
        """The first ping for one of ``topics``, waiting at most ``timeout`` seconds for it."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                hit = next((p for p in self.pings if p.topic in topics), None)
                left = deadline - time.monotonic()
                if hit is not None or left <= 0:
                    return hit
                self.arrived.wait(left)


class _HubHandler(BaseHTTPRequestHandler):
    server: CapturingHub

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        at = time.perf_counter()
        form = parse_qs(body.decode("utf-8", "replace"))
        ping = Ping(at, form.get("hub.mode", [""])[0], form.get("hub.topic", [""])[0])
        with self.server.arrived:
            self.server.pings.append(ping)
            self.server.arrived.notify_all()
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def newswire_command() -> list[str]:
    script = Path(sys.executable).parent / "newswire"
    return [str(script)] if script.exists() else [sys.executable, "-m", "newswire"]


def post_to_edit(content: Path) -> Path:
    """The newest post that is published now: not a draft, not dated in the future."""
    now = datetime.now(UTC)
    candidates = []
    for path in content.glob("*.md"):
        front = yaml.safe_load(path.read_text(encoding="utf-8").split("---", 2)[1])
        date = front["date"]
        if not isinstance(date, datetime):
            date = datetime.fromisoformat(str(date))
        if date.tzinfo is None:
            date = date.replace(tzinfo=UTC)
        if not front.get("draft") and date <= now:
            candidates.append((date, path))
    return max(candidates)[1]


def publish(command: list[str], folder: Path) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    result = subprocess.run([*command, "--config", str(folder / "config.yaml"), "publish"], cwd=folder,
                            capture_output=True, text=True, timeout=TIMEOUT)
    finished = time.perf_counter()
    if result.returncode != 0:
        raise SystemExit(f"newswire publish exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return started, finished, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed publishes (default 5)")
    args = parser.parse_args()

    hub = CapturingHub()
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    command = newswire_command()
    with tempfile.TemporaryDirectory(prefix="newswire-hub-latency-") as tmp:
        folder = Path(tmp)
        shutil.copytree(ROOT / "content", folder / "content")
        config_text = (ROOT / "config.yaml").read_text(encoding="utf-8")
        (folder / "config.yaml").write_text(config_text + f"notify:\n  websub: ['{hub.url}']\n", encoding="utf-8")
        config = load_config(folder / "config.yaml")
        journal_topics = {config.journal.feed_url(name) for name in ("atom.xml", "rss.xml", "feed.json")}
        post = post_to_edit(folder / "content")

        publish(command, folder)  # the first publish: every feed is new
        if hub.wait_for(journal_topics, TIMEOUT) is None:
            raise SystemExit("the first publish sent the hub no ping for the journal feed")

        latencies, walls, pings = [], [], []
        for run in range(1, args.runs + 1):
            with post.open("a", encoding="utf-8") as fh:
                fh.write(f"\nEdited for latency run {run} ({time.time_ns()}).\n")
            hub.clear()
            started, finished, _ = publish(command, folder)
            first = hub.wait_for(journal_topics, TIMEOUT)
            if first is None:
                raise SystemExit(f"run {run}: no hub request for the journal feed within {TIMEOUT:g} s")
            latencies.append(first.at - started)
            walls.append(finished - started)
            with hub.lock:
                pings.append(len(hub.pings))

        baseline = []  # what starting the command costs before it does any work
        for _ in range(args.runs):
            started = time.perf_counter()
            subprocess.run([*command, "--version"], capture_output=True, check=True, timeout=TIMEOUT)
            baseline.append(time.perf_counter() - started)

    hub.shutdown()
    hub.server_close()
    rows = [("publish start -> first hub request (journal feed)", latencies),
            ("publish wall time (whole subprocess)", walls),
            ("baseline: newswire --version (start-up, imports)", baseline)]
    print(f"WebSub hub latency: example journal, edit {post.name}, {args.runs} runs, "
          f"{statistics.median(pings):g} pings per publish")
    print(f"{'':<50} {'median':>8} {'min':>8} {'max':>8}")
    for name, values in rows:
        print(f"{name:<50} {statistics.median(values):>7.3f}s {min(values):>7.3f}s {max(values):>7.3f}s")


if __name__ == "__main__":
    main()

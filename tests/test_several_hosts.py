"""Two hosts, one journal, end to end: two ``newswire run --once`` loops at the same time, each on its
own content checkout, sharing one PostgreSQL store (a throwaway server, see ``pgcluster``) and one
S3 bucket (moto on 127.0.0.1, see ``s3server``), with a WebSub hub on 127.0.0.1 counting pings.

Each round starts both hosts together. In the end every post is published exactly once, no
tombstone ever appears, and the hub hears of each changed document once, whichever host did it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest
from pytest_httpserver import HTTPServer
from s3server import BUCKET, PREFIX, Store, aws_env, server
from werkzeug import Request, Response

import pgcluster
from harness import CONFIG, Journal

GIT = ["git", "-c", "user.name=Editor", "-c", "user.email=editor@journal.test", "-c", "init.defaultBranch=main"]


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Store]:
    aws_env(monkeypatch, tmp_path)
    with server("moto", tmp_path) as store:
        yield store


class Hub:
    """A WebSub hub on 127.0.0.1 that records each publish ping's topic."""

    def __init__(self, httpserver: HTTPServer) -> None:
        self.topics: list[str] = []
        self.lock = threading.Lock()
        httpserver.expect_request("/hub", method="POST").respond_with_handler(self._ping)
        self.url = httpserver.url_for("/hub")

    def _ping(self, request: Request) -> Response:
        assert request.form["hub.mode"] == "publish"
        with self.lock:
            self.topics.append(request.form["hub.url"])
        return Response("", status=204)

    def take(self) -> list[str]:
        with self.lock:
            topics, self.topics = self.topics, []
        return topics


def _git(cwd: Path, *args: str) -> None:
    subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _host(root: Path, origin: Path, store_url: str, s3: Store, hub: Hub) -> Journal:
    host = Journal(root, store_url)
    root.mkdir()
    _git(root, "clone", "-q", str(origin), "content")
    host.write_config(CONFIG.replace("  entries: 25\n", "  entries: 3\n").replace(
        "output: feeds}", f"output: 's3://{BUCKET}/{PREFIX}'}}")
        + f"output: {{endpoint_url: '{s3.endpoint}', addressing_style: path, region: us-east-1}}\n"
        + f"notify: {{websub: ['{hub.url}']}}\n")
    return host


def _both(hosts: list[Journal]) -> None:
    """One ``run --once`` on each host, started together; each must succeed."""
    procs = [subprocess.Popen([sys.executable, "-m", "newswire", "--config", str(h.config_path), "run", "--once"],
                              cwd=h.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for h in hosts]
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, out + err
        assert "Traceback" not in err, err


def _feed_ids(objects: dict[str, bytes], path: str) -> list[str]:
    parsed = feedparser.parse(objects[path])
    assert not parsed.bozo, path
    ids = [e.id for e in parsed.entries]
    for link in parsed.feed.get("links", []):
        if link.rel == "prev-archive":
            ids += _feed_ids(objects, link.href.removeprefix("https://journal.test/feeds/"))
    return ids


def _check(objects: dict[str, bytes], posts: int) -> None:
    """Every post once in the journal's feed (its archive included), and no tombstone anywhere."""
    ids = _feed_ids(objects, "atom.xml")
    assert len(ids) == len(set(ids)) == posts, ids
    assert not [path for path, data in objects.items() if b"deleted-entry" in data]
    assert len(json.loads(objects["feed.json"])["items"]) == 3


def _changed(before: dict[str, bytes], after: dict[str, bytes]) -> set[str]:
    """The URLs of the feeds' main documents whose bytes changed: what subscribers must hear of."""
    return {f"https://journal.test/feeds/{path}" for path, data in after.items()
            if path.endswith(("atom.xml", "rss.xml", "feed.json")) and "archive/" not in path
            and before.get(path) != data}


def test_two_hosts_publish_one_journal_once(tmp_path: Path, pg_cluster: pgcluster.Cluster, bucket: Store,
                                            httpserver: HTTPServer) -> None:
    hub = Hub(httpserver)
    origin = Journal(tmp_path / "origin")
    origin.content.mkdir(parents=True)
    for i in range(7):
        origin.post(f"post-{i}", title=f"Post {i}", date=f"2009-11-{i + 1:02d}T10:00:00-05:00",
                    author=("jmorton", "napolitano")[i % 2])
    _git(origin.content, "init", "-q")
    _git(origin.content, "add", "-A")
    _git(origin.content, "commit", "-qm", "seven posts")
    url = pg_cluster.fresh()
    hosts = [_host(tmp_path / name, origin.content, url, bucket, hub) for name in ("a", "b")]

    # 1. Both hosts at the same commit: the journal is published once, every feed pinged once.
    _both(hosts)
    first = bucket.objects()
    _check(first, 7)
    pings = hub.take()
    assert sorted(pings) == sorted(_changed({}, first))

    # 2. Two new posts and an edit: host a has them, host b has fetched them but not checked them out.
    origin.post("post-7", title="Post 7", date="2009-11-20T10:00:00-05:00")
    origin.post("post-8", title="Post 8", date="2009-11-21T10:00:00-05:00", author="napolitano")
    origin.post("post-2", title="Post 2, revised", date="2009-11-03T10:00:00-05:00")
    _git(origin.content, "add", "-A")
    _git(origin.content, "commit", "-qm", "two more, and a revision")
    _git(hosts[0].content, "pull", "-q")
    _git(hosts[1].content, "fetch", "-q")
    _both(hosts)
    second = bucket.objects()
    _check(second, 9)
    assert b"Post 2, revised" in b"".join(data for path, data in second.items() if path.endswith("atom.xml"))
    pings = hub.take()
    assert sorted(pings) == sorted(_changed(first, second)) and pings
    again = hosts[1].cli("run", "--once")  # b alone, still behind: it says so, and undoes nothing
    assert again.returncode == 0 and "older than" in again.stdout + again.stderr, again.stderr
    assert bucket.objects() == second and hub.take() == []

    # 3. Host b catches up, and both run again: nothing changes, nothing is undone, nobody is pinged.
    _git(hosts[1].content, "merge", "-q", "--ff-only", "origin/main")
    _both(hosts)
    assert bucket.objects() == second
    assert hub.take() == []

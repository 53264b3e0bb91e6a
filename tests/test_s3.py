"""Publishing to an S3-compatible bucket (``sinks.s3``), against real S3 servers on 127.0.0.1.

Two servers, each started by the test: moto's ``ThreadedMotoServer`` (keeps metadata exactly)
and ``rclone serve s3`` (a Go server storing files on disk, which checks the request
signatures). The publish reaches either through a small proxy that counts the requests and
can answer 503 or hold each PUT back a little. No request ever leaves 127.0.0.1: every config
names its endpoint there, and the credential chain is kept from the instance metadata service.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from s3server import BUCKET, PREFIX, Store, aws_env, server

from harness import CONFIG, ROOT, Journal

LIVE = "public, max-age=60, must-revalidate"
LASTING = "public, max-age=31536000, immutable"


@pytest.fixture(autouse=True)
def _aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    aws_env(monkeypatch, tmp_path)


@pytest.fixture(params=["moto", "rclone"])
def s3(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each server in turn: what holds for any S3 server."""
    with server(request.param, tmp_path) as store:
        yield store


@pytest.fixture
def moto_s3(tmp_path: Path) -> Iterator[Store]:
    """moto alone: for what does not depend on the server."""
    with server("moto", tmp_path) as store:
        yield store


@pytest.fixture
def rclone_s3(tmp_path: Path) -> Iterator[Store]:
    """rclone alone: it checks request signatures, which moto does not."""
    with server("rclone", tmp_path) as store:
        yield store


def _journal(tmp_path: Path, s3: Store, *, bucket: str = BUCKET, more: str = "") -> Journal:
    """A journal publishing to the bucket, with archive pages (5 entries a document) and 12 posts."""
    j = Journal(tmp_path / "journal")
    j.root.mkdir()
    j.content.mkdir()
    config = CONFIG.replace("  entries: 25\n", "  entries: 5\n").replace(
        "output: feeds}", f"output: 's3://{bucket}/{PREFIX}'}}")
    j.write_config(config + f"output: {{endpoint_url: '{s3.endpoint}', addressing_style: path, "
                   f"region: us-east-1, attempts: 3, timeout: 10{more}}}\n")
    for i in range(12):
        j.post(f"post-{i:02d}.md", title=f"Post {i}", date=f"2009-11-{i + 1:02d}T10:00:00-05:00")
    return j


def _on_disk(tmp_path: Path, j: Journal) -> dict[str, bytes]:
    """What the same journal publishes into a folder (``Journal.files``), to compare the bucket with."""
    disk = Journal(tmp_path / f"disk-{len(list(tmp_path.glob('disk-*')))}")
    disk.root.mkdir()
    (disk.root / "content").symlink_to(j.content)
    disk.write_config(CONFIG.replace("  entries: 25\n", "  entries: 5\n"))
    disk.cli("publish", "--no-ping", check=True)
    return disk.files()


def _publish(j: Journal, *args: str) -> dict[str, Any]:
    result = j.cli("publish", "--no-ping", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- the tests ------------------------------------------------------------------------------


def test_a_cold_publish_puts_every_verified_document_once_with_its_headers(tmp_path: Path, s3: Store) -> None:
    """Every document is in the bucket, byte for byte what a publish to a folder writes, each put by
    one PUT with its media type and length; full archive pages are cached for a year and immutable,
    the rest briefly; the index pages come after every feed document."""
    j = _journal(tmp_path, s3)
    report = _publish(j)
    objects = s3.objects()
    assert objects == _on_disk(tmp_path, j)
    puts = s3.proxy.puts()
    assert sorted(set(puts)) == sorted(objects) and report["written"] == len(objects)
    # one PUT each, but for the main documents of feeds with archive pages: put first unlinked, so
    # readers have them at once, and again once the archive they link to is in place
    archived = {path.partition("archive/")[0] for path in objects if "/archive/" in "/" + path}
    assert archived and sorted(p for p in set(puts) if puts.count(p) > 1) == sorted(
        folder + name for folder in archived for name in ("atom.xml", "rss.xml", "feed.json"))
    assert all(puts.count(p) <= 2 for p in puts)
    atom = s3.head("atom.xml")
    assert atom["ContentType"] == "application/atom+xml; charset=utf-8"
    assert atom["ContentLength"] == len(objects["atom.xml"])
    assert atom["CacheControl"] == LIVE
    assert s3.head("feed.json")["ContentType"].startswith("application/feed+json")
    assert s3.head("index.html")["CacheControl"] == LIVE
    # 12 posts, 5 a document: the journal feed's archive pages 1 and 2 are full, the newest (2) is not
    lasting = {path for path in objects if s3.head(path)["CacheControl"] == LASTING}
    assert {f"archive/1/{name}" for name in ("atom.xml", "rss.xml", "feed.json", "index.html")} <= lasting
    assert not any(path.startswith("archive/2/") for path in lasting)
    assert all("/archive/" in "/" + path for path in lasting)
    indexes = {"index.html", "index.opml", "feed.xsl"}
    assert max(puts.index(p) for p in puts if p not in indexes) < min(puts.index(p) for p in indexes)


def test_a_publish_with_nothing_changed_puts_nothing_and_asks_nothing_per_object(tmp_path: Path, s3: Store) -> None:
    j = _journal(tmp_path, s3)
    _publish(j)
    s3.proxy.log.clear()
    report = _publish(j)
    assert report["written"] == 0
    assert s3.proxy.puts() == []
    assert [method for method, _ in s3.proxy.log] == ["HEAD"]  # the bucket's, once: no HEAD per object
    full = _publish(j, "--full")  # re-rendered, and still the bytes the store recorded: nothing put
    assert full["written"] == 0 and s3.proxy.puts() == []


def test_one_new_post_puts_only_the_documents_that_changed(tmp_path: Path, s3: Store) -> None:
    j = _journal(tmp_path, s3)
    _publish(j)
    before = s3.objects()
    s3.proxy.log.clear()
    j.post("post-new.md", title="A new post", date="2009-12-01T10:00:00-05:00")
    report = _publish(j)
    after = s3.objects()
    changed = {path for path in after if before.get(path) != after[path]}
    assert changed and "atom.xml" in changed
    assert sorted(s3.proxy.puts()) == sorted(changed)
    assert {r["path"] for r in report["results"] if r["status"] == "written"} == changed
    assert not any(path.startswith("archive/1/") or "/archive/1/" in path for path in changed)  # full pages stay
    assert after == _on_disk(tmp_path, j)


def test_a_publish_killed_mid_upload_converges_at_the_next_run(tmp_path: Path, s3: Store) -> None:
    j = _journal(tmp_path, s3)
    s3.proxy.delay = 0.05
    env = {**os.environ}
    proc = subprocess.Popen([sys.executable, "-m", "newswire", "--config", str(j.config_path), "publish",
                             "--no-ping"], cwd=j.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(s3.proxy.puts()) < 8 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert 0 < len(s3.proxy.puts()) < 30
    s3.proxy.delay = 0
    assert "index.html" not in s3.objects()  # the index pages go last: nothing links to what is missing yet
    _publish(j)
    assert s3.objects() == _on_disk(tmp_path, j)
    assert j.cli("verify").returncode == 0


def test_verify_finds_drift_with_a_list_and_the_next_publish_repairs_it(tmp_path: Path, s3: Store) -> None:
    j = _journal(tmp_path, s3)
    _publish(j)
    good = s3.objects()
    s3.client.delete_object(Bucket=BUCKET, Key=PREFIX + "rss.xml")
    s3.client.put_object(Bucket=BUCKET, Key=PREFIX + "atom.xml", Body=b"edited by hand")
    s3.proxy.log.clear()
    found = j.cli("verify")
    assert found.returncode == 1
    assert "rss.xml" in found.stderr and "missing" in found.stderr
    assert "atom.xml" in found.stderr and "changed" in found.stderr
    assert s3.proxy.lists() == 1 and s3.proxy.puts() == []
    assert [m for m, _ in s3.proxy.log if m not in ("GET", "HEAD")] == []
    s3.proxy.log.clear()
    _publish(j)
    assert sorted(s3.proxy.puts()) == ["atom.xml", "rss.xml"]
    assert s3.objects() == good
    assert j.cli("verify").returncode == 0


def test_verify_lists_a_thousand_objects_a_request(tmp_path: Path, moto_s3: Store) -> None:
    """1,500 objects besides the journal's: two LIST requests (moto, which keeps them in memory)."""
    j = _journal(tmp_path, moto_s3)
    _publish(j)
    for i in range(1500 - len(moto_s3.objects())):
        moto_s3.client.put_object(Bucket=BUCKET, Key=f"{PREFIX}other/{i}.txt", Body=b"x")
    moto_s3.proxy.log.clear()
    assert j.cli("verify").returncode == 0
    assert moto_s3.proxy.lists() == 2


def test_a_server_that_answers_503_is_retried_and_a_failed_upload_is_named(tmp_path: Path, s3: Store) -> None:
    j = _journal(tmp_path, s3)
    s3.proxy.fail = 2  # two 503s, then it recovers: botocore's backoff gets the documents through
    report = _publish(j)
    assert report["ok"] and s3.objects() == _on_disk(tmp_path, j)
    j.post("post-new.md", title="A new post", date="2009-12-01T10:00:00-05:00")
    s3.proxy.refuse = {"atom.xml"}  # this one keeps failing: it is not published, and the run says so
    failed = j.cli("publish", "--no-ping")
    assert failed.returncode == 1
    assert "atom.xml: not published" in failed.stderr and "503" in failed.stderr
    assert b"A new post" not in s3.objects()["atom.xml"]
    s3.proxy.refuse = set()
    s3.proxy.log.clear()
    _publish(j)
    assert "atom.xml" in s3.proxy.puts()
    assert s3.objects() == _on_disk(tmp_path, j)


def test_a_missing_bucket_is_one_line_and_exit_2_before_anything_is_rendered(tmp_path: Path, s3: Store) -> None:
    j = _journal(tmp_path, s3, bucket="no-such-bucket")
    result = j.cli("publish", "--no-ping")
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "no such bucket" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert s3.proxy.puts() == [] and s3.objects() == {}
    assert not (j.root / "newswire.db").exists() or not _recorded(j)


def _recorded(j: Journal) -> list[str]:
    import sqlite3

    with sqlite3.connect(j.root / "newswire.db") as db:
        return [r[0] for r in db.execute("SELECT path FROM documents")]


def test_refused_credentials_are_one_line_and_exit_2(tmp_path: Path, rclone_s3: Store,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    s3 = rclone_s3
    j = _journal(tmp_path, s3)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    result = j.cli("publish", "--no-ping")
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "refused the credentials" in result.stderr, result.stderr
    assert s3.objects() == {}
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    missing = j.cli("publish", "--no-ping")
    assert missing.returncode == 2 and "no AWS credentials" in missing.stderr, missing.stderr


def test_the_purge_hook_gets_the_changed_urls(tmp_path: Path, moto_s3: Store) -> None:
    s3 = moto_s3
    hook = tmp_path / "purged.txt"
    script = f"import sys; open({str(hook)!r}, 'a').write(sys.stdin.read() + '--\\n')"
    j = _journal(tmp_path, s3, more=f", purge_command: [{json.dumps(sys.executable)}, -c, {json.dumps(script)}]")
    _publish(j)
    _publish(j)  # nothing changed: no purge
    j.post("post-new.md", title="A new post", date="2009-12-01T10:00:00-05:00")
    report = _publish(j)
    runs = hook.read_text().split("--\n")[:-1]
    assert len(runs) == 2
    written = sorted(r["path"] for r in report["results"] if r["status"] == "written")
    assert runs[1].splitlines() == ["https://journal.test/feeds/" + path for path in written]


def test_serve_previews_only_a_folder(tmp_path: Path, moto_s3: Store) -> None:
    j = _journal(tmp_path, moto_s3)
    result = j.cli("serve", "--port", "0", timeout=20)
    assert result.returncode == 2 and "serve previews a folder" in result.stderr


def test_a_bad_bucket_url_names_the_line(tmp_path: Path) -> None:
    j = Journal(tmp_path / "journal")
    j.root.mkdir()
    j.write_config(CONFIG.replace("output: feeds}", "output: 's3://Bad_Bucket/feeds'}"))
    result = j.cli("publish")
    assert result.returncode == 2
    assert "config.yaml:17: paths.output:" in result.stderr and "bucket name" in result.stderr


def test_the_example_journal_to_a_bucket(tmp_path: Path, rclone_s3: Store) -> None:
    """The repository's example journal, published to the bucket, is what it publishes to disk."""
    s3 = rclone_s3
    j = Journal(tmp_path / "journal")
    j.root.mkdir()
    (j.root / "content").symlink_to(ROOT / "content")
    text = (ROOT / "config.yaml").read_text()
    j.write_config(text.replace("output: feeds", f"output: 's3://{BUCKET}/{PREFIX}'")
                   + f"output: {{endpoint_url: '{s3.endpoint}', addressing_style: path}}\n")
    assert "s3://" in j.config_path.read_text()
    _publish(j)
    disk = Journal(tmp_path / "disk")
    disk.root.mkdir()
    (disk.root / "content").symlink_to(ROOT / "content")
    disk.write_config(text)
    disk.cli("publish", "--no-ping", check=True)
    assert s3.objects() == disk.files()


def test_the_purge_url_is_posted_once_for_each_changed_document(tmp_path: Path, moto_s3: Store) -> None:
    """``purge_url`` reaches a real HTTP server on 127.0.0.1, once a changed URL; a failing purge is a
    warning on a publish that succeeded, never a failed one."""
    from pytest_httpserver import HTTPServer
    from werkzeug import Request, Response

    seen: list[str] = []
    answer = {"status": 200}

    def purge(request: Request) -> Response:
        seen.append(request.args["u"])
        return Response("", status=answer["status"])

    with HTTPServer(host="127.0.0.1", port=0) as server:
        server.expect_request("/purge", method="POST").respond_with_handler(purge)
        j = _journal(tmp_path, moto_s3, more=f", purge_url: 'http://127.0.0.1:{server.port}/purge?u={{url}}'")
        first = _publish(j)
        written = sorted(r["path"] for r in first["results"] if r["status"] == "written")
        assert sorted(seen) == sorted(f"https://journal.test/feeds/{path}" for path in written)
        seen.clear()
        _publish(j)
        assert seen == []  # nothing changed, nothing to purge
        answer["status"] = 503
        j.post("post-new.md", title="A new post", date="2009-12-01T10:00:00-05:00")
        result = j.cli("publish", "--no-ping")
        assert result.returncode == 0, result.stderr
        assert len(seen) == 1 and "purge stopped after 0 of" in result.stderr and "HTTP 503" in result.stderr

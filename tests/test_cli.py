"""The command line, run as a real subprocess on a journal in a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

import feedparser

from conftest import Journal, run_cli


def test_init_then_publish_a_fresh_journal(tmp_path: Path) -> None:
    result = run_cli("init", str(tmp_path / "j"), check=True)
    assert "created" in result.stdout
    published = run_cli("--config", str(tmp_path / "j" / "config.yaml"), "publish", check=True)
    assert published.stdout.startswith("published ") and published.stdout.count("\n") == 1
    assert feedparser.parse((tmp_path / "j" / "feeds" / "atom.xml").read_bytes()).entries[0].title == "Hello, world"
    again = run_cli("init", str(tmp_path / "j"))
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr


def test_publish_quiet_json_and_exit_codes(journal: Journal) -> None:
    journal.post("a", title="A")
    assert journal.cli("publish", "-q", check=True).stdout == ""
    report = json.loads(journal.cli("publish", "--json", check=True).stdout)
    assert report["ok"] is True and report["written"] == 0
    assert {r["status"] for r in report["results"]} == {"unchanged"}


def test_bad_file_is_named_skipped_and_the_rest_published(journal: Journal) -> None:
    journal.post("good", title="Good")
    journal.raw_post("bad", "---\ntitle: Bad\ndate: yesterday\nauthor: jmorton\n---\nbody\n")
    result = journal.cli("publish")
    assert result.returncode == 1
    assert "newswire: bad.md:3: 'date': 'yesterday' is not an ISO 8601 date" in result.stderr
    assert "Traceback" not in result.stderr
    assert [e.title for e in feedparser.parse((journal.feeds / "atom.xml").read_bytes()).entries] == ["Good"]


def test_post_delete_and_restore_keep_the_id(journal: Journal) -> None:
    journal.post("a", title="Alpha", date="2009-01-01")
    journal.post("b", title="Beta", date="2009-01-02")
    journal.cli("publish", check=True)
    listing = journal.cli("post", "list", check=True).stdout
    assert "Alpha" in listing and "Beta" in listing and "live" in listing
    shown = journal.cli("post", "show", "alpha", check=True).stdout
    entry_id = next(line.split(None, 1)[1] for line in shown.splitlines() if line.startswith("id:"))
    assert journal.cli("post", "delete", "alpha", check=True).stdout.startswith("deleted")
    journal.cli("publish", check=True)
    assert [e.title for e in feedparser.parse((journal.feeds / "atom.xml").read_bytes()).entries] == ["Beta"]
    # A sync does not bring back a post the user deleted.
    journal.cli("publish", check=True)
    assert "deleted" in journal.cli("post", "list", check=True).stdout
    journal.cli("post", "restore", entry_id, check=True)
    journal.cli("publish", check=True)
    entries = feedparser.parse((journal.feeds / "atom.xml").read_bytes()).entries
    assert [(e.title, e.id) for e in entries][1] == ("Alpha", entry_id)
    missing = journal.cli("post", "show", "nope")
    assert missing.returncode == 2 and "no post 'nope'" in missing.stderr


def test_verify_published_and_any_file(journal: Journal, tmp_path: Path) -> None:
    journal.post("a", title="A")
    journal.cli("publish", check=True)
    result = journal.cli("verify", check=True)
    assert result.stdout.startswith("verified 12 documents: 12 ok")
    files = journal.cli("verify", str(journal.feeds / "atom.xml"), str(journal.feeds / "feed.json"), check=True)
    assert "atom10, 1 entries" in files.stdout and "JSON Feed 1.1, 1 entries" in files.stdout
    (journal.feeds / "labels/border-security/atom.xml").write_text("<feed>edited by hand</feed>")
    drift = journal.cli("verify")
    assert drift.returncode == 1 and "labels/border-security/atom.xml" in drift.stderr
    broken = tmp_path / "broken.xml"
    broken.write_text("<rss><channel><item></rss>")
    bad = journal.cli("verify", str(broken))
    assert bad.returncode == 1 and "FAILED" in bad.stdout


def test_help_explains_every_command() -> None:
    text = run_cli("--help", check=True).stdout
    for command in ("init", "sync", "publish", "verify", "post"):
        assert command in text
    assert "--dry-run" in run_cli("publish", "--help", check=True).stdout

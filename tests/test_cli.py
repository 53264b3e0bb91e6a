"""The command line, run as a real subprocess on a journal in a temporary folder."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import tempfile
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import CONFIG, Journal, run_cli


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


def test_post_list_and_show_name_the_same_state_for_each_post(journal: Journal) -> None:
    """live, draft, scheduled (a date still to come) and deleted, alike in the list and in ``post show``."""
    journal.post("live", title="Live", date="2009-01-01")
    journal.post("draft", title="Draft", date="2009-01-02", draft=True)
    journal.post("later", title="Later", date="2999-01-01T00:00:00Z")
    journal.post("gone", title="Gone", date="2009-01-03")
    journal.cli("publish", check=True)
    journal.cli("post", "delete", "gone", check=True)
    listing = journal.cli("post", "list", check=True).stdout
    listed = {line.split(": ", 1)[1]: line.split()[2] for line in listing.splitlines()}
    assert listed == {"Live": "live", "Draft": "draft", "Later": "scheduled", "Gone": "deleted"}, listing
    for slug, title in (("live", "Live"), ("draft", "Draft"), ("later", "Later"), ("gone", "Gone")):
        shown = journal.cli("post", "show", slug, check=True).stdout
        state = next(line.split(None, 1)[1] for line in shown.splitlines() if line.startswith("state:"))
        assert state.split()[0] == listed[title], shown
    assert re.search(r"^state: +deleted \d{4}-\d\d-\d\dT", journal.cli("post", "show", "gone").stdout, re.M)


def test_verify_published_and_any_file(journal: Journal, tmp_path: Path) -> None:
    journal.post("a", title="A")
    journal.cli("publish", check=True)
    result = journal.cli("verify", check=True)
    assert result.stdout.startswith("verified 15 documents: 15 ok")  # 3 feeds, each 3 documents and its page
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


# --- every number from outside is range-checked: config durations and limits -----------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# (config addition, command, the key the one-line error names)
OUT_OF_RANGE = [
    ("sources:\n  - {url: 'http://127.0.0.1:9/feed.xml', every: 999999999999999d}\n", "pull", "sources[0].every"),
    ("sources:\n  - {url: 'http://127.0.0.1:9/feed.xml', every: ²h}\n", "pull", "sources[0].every"),
    ("sources:\n  - {url: 'http://127.0.0.1:9/feed.xml', every: ١h}\n", "pull", "sources[0].every"),
    ("sources:\n  - {url: 'http://127.0.0.1:9/feed.xml', every: 366d}\n", "pull", "sources[0].every"),
    ("sources:\n  - {url: 'http://127.0.0.1:9/feed.xml', every: " + "9" * 5000 + "s}\n", "pull", "sources[0].every"),
    ("notify:\n  websub: ['http://127.0.0.1:{port}/hub']\n  max_age: 999999999999999d\n", "publish", "notify.max_age"),
    ("notify:\n  max_age: 0s\n", "publish", "notify.max_age"),
    ("notify:\n  round_timeout: 0\n", "publish", "notify.round_timeout"),
    ("notify:\n  round_timeout: .nan\n", "publish", "notify.round_timeout"),
    ("notify:\n  round_timeout: .inf\n", "publish", "notify.round_timeout"),
    ("notify:\n  timeout: .inf\n", "publish", "notify.timeout"),
    ("fetch:\n  max_bytes: 1000000000000\n", "publish", "fetch.max_bytes"),
    ("fetch:\n  timeout: .nan\n", "publish", "fetch.timeout"),
]


@pytest.mark.parametrize("extra, command, key", OUT_OF_RANGE, ids=[case[2] + ": " + case[0].split(": ")[-1][:30].strip()
                                                                   for case in OUT_OF_RANGE])
def test_a_number_out_of_range_in_the_config_is_a_one_line_error(journal: Journal, extra: str, command: str,
                                                                 key: str) -> None:
    journal.write_config(CONFIG + extra.replace("{port}", str(_free_port())))
    journal.post("a", title="A")
    result = journal.cli(command, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    [line] = result.stderr.splitlines()
    assert line.startswith(f"newswire: {journal.config_path}:") and f": {key}: " in line, line
    assert not journal.feeds.exists()


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@settings(max_examples=150, deadline=None)
@given(amount=st.one_of(st.integers(0, 10**25), st.sampled_from([1, 365, 366, 8760, 8761, 525600, 525601,
                                                                 31536000, 31536001])),
       unit=st.sampled_from("smhd"), noise=st.sampled_from(["", " ", "²", "x", ".5", "-"]))
def test_a_duration_is_from_a_second_to_a_year_or_refused_in_one_line(amount: int, unit: str, noise: str) -> None:
    """Every duration newswire accepts can be added to (or taken from) any date it keeps; anything else
    is refused in one line."""
    from newswire.bounds import YEARS
    from newswire.config import load_config
    from newswire.errors import ConfigError

    text = f"{amount}{noise}{unit}"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(CONFIG + f"notify:\n  max_age: '{text}'\n"
                        f"sources:\n  - {{url: 'https://p.test/', every: '{text}'}}\n", encoding="utf-8")
        seconds = amount * _UNITS[unit]
        if noise == "" and 1 <= seconds <= 365 * 86400:
            config = load_config(path)
            assert config.sources[0].every == config.notify.max_age == seconds
            for edge in (datetime(YEARS[0], 1, 1, tzinfo=UTC),
                         datetime(YEARS[-1], 12, 31, 23, 59, 59, tzinfo=UTC)):
                edge + timedelta(seconds=seconds)  # no overflow, either way
                edge - timedelta(seconds=seconds)
        else:
            with pytest.raises(ConfigError) as caught:
                load_config(path)
            assert "\n" not in str(caught.value) and ": notify.max_age: " in str(caught.value), caught.value


# --- no traceback, one line: every failure is mapped in one place ---------------------------


def _store_at(journal: Journal, store: str) -> None:
    journal.write_config(CONFIG.replace("store: newswire.db", f"store: '{store}'"))


def _store_under_a_file(journal: Journal) -> None:
    (journal.root / "afile").write_text("a file, not a folder\n")
    _store_at(journal, "afile/newswire.db")


def _store_under_proc(journal: Journal) -> None:
    _store_at(journal, "/proc/newswire-test/newswire.db")


# (arguments, setup, exit code, a piece of the message)
BAD_INVOCATIONS: list[tuple[tuple[str, ...], Any, int, str]] = [
    (("serve", "--port", "99999"), None, 2, "--port"),
    (("serve", "--port", "-1"), None, 2, "--port"),
    (("import", "http://[::1"), None, 1, "not a valid URL"),
    (("verify", "http://[::1"), None, 1, "not a valid URL"),
    (("import", "http://127.0.0.1:99999/feed.xml"), None, 1, "127.0.0.1:99999"),
    (("post", "show", "²"), None, 2, "no post '²'"),
    (("post", "show", "99999999999999999999999"), None, 2, "no post"),
    (("post", "delete", "99999999999999999999999"), None, 2, "no post"),
    (("post", "restore", "١٢"), None, 2, "no post"),
    (("post", "show"), None, 2, "Missing argument 'ID'"),
    (("publish", "--wait", "nan"), None, 2, "--wait"),
    (("publish", "--wait", "inf"), None, 2, "--wait"),
    (("publish", "--wait", "-1"), None, 2, "--wait"),
    (("publish", "--wait", "1e400"), None, 2, "--wait"),
    (("store", "restore", "--wait", "nan", "backup.db"), None, 2, "--wait"),
    (("--bogus", "status"), None, 2, "--bogus"),
    (("no-such-command",), None, 2, "no-such-command"),
    (("publish", "--bogus"), None, 2, "--bogus"),
    (("init", "afile/journal"), lambda j: (j.root / "afile").write_text("x"), 1, "a file, not a folder"),
    (("init", "/proc/newswire-test"), None, 1, "/proc/newswire-test"),
    (("verify", "."), None, 2, "cannot be read"),
    (("import", "."), None, 1, "is a folder, not a regular file"),
    (("publish",), _store_under_a_file, 1, "a file, not a folder (paths.store must name a file in a folder"),
    (("status",), _store_under_a_file, 1, "a file, not a folder (paths.store must name a file in a folder"),
    (("sync",), _store_under_a_file, 1, "a file, not a folder"),
    (("post", "list"), _store_under_a_file, 1, "a file, not a folder"),
    (("ping",), _store_under_a_file, 1, "a file, not a folder"),
    (("store", "restore", "config.yaml"), _store_under_a_file, 1, "a file, not a folder"),
    (("publish",), _store_under_proc, 1, "paths.store must name a file in a folder you can write"),
    (("status",), _store_under_proc, 1, "paths.store must name a file in a folder you can write"),
    (("post", "show", "1"), _store_under_proc, 1, "paths.store must name a file in a folder you can write"),
]


@pytest.mark.parametrize("args, setup, code, message", BAD_INVOCATIONS,
                         ids=[" ".join(case[0]) + (f" [{case[1].__name__}]" if case[1] and hasattr(case[1], "__name__")
                                                   and case[1].__name__ != "<lambda>" else "")
                              for case in BAD_INVOCATIONS])
def test_a_bad_invocation_is_one_line_and_an_exit_code(journal: Journal, args: tuple[str, ...], setup: Any,
                                                       code: int, message: str) -> None:
    if setup is not None:
        setup(journal)
    result = journal.cli(*args, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("newswire: "), result.stderr
    assert message in lines[0], lines[0]
    assert result.stdout == "", result.stdout


BOOM = ("import newswire.job as job\ndef boom(*a, **k):\n    raise ZeroDivisionError('boom\\nforged')\n"
        "job.utcnow = boom\nimport sys\nfrom newswire.cli import main\nmain(args=sys.argv[1:], prog_name='newswire')\n")


def test_an_unexpected_error_is_one_line_with_a_pointer_to_debug_which_shows_the_traceback(journal: Journal) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", BOOM, *args, "--config", str(journal.config_path), "status"],
                              cwd=journal.root, capture_output=True, text=True, timeout=60)

    plain = run()
    assert plain.returncode == 1, (plain.returncode, plain.stdout)
    assert plain.stderr.splitlines() == [
        "newswire: unexpected error: ZeroDivisionError: boom\\nforged (run with --debug for the traceback)"]
    debug = run("--debug")
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr, debug.stderr
    assert debug.stderr.rstrip().endswith("ZeroDivisionError: boom\nforged"), debug.stderr
    assert "--debug" in run_cli("--help", check=True).stdout


# --- one line stays one line -----------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.characters(blacklist_categories=())), limit=st.integers(10, 3000))
def test_printable_text_is_one_line_of_bounded_length(text: str, limit: int) -> None:
    """What is printed as a line is one (and what is printed as JSON keeps its lines and its values)."""
    from newswire.errors import json_printable, printable

    line = printable(text, limit)
    assert len(line) <= limit
    assert len(line.splitlines()) <= 1 and "\n" not in line and "\r" not in line
    assert not any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in line), ascii(line)
    line.encode("utf-8")  # every character can be written
    if all(unicodedata.category(c) not in ("Cc", "Cs", "Zl", "Zp", "Cf") for c in text) and len(text) <= limit:
        assert line == text
    document = json_printable(json.dumps({"text": text}, indent=2, ensure_ascii=False))
    assert len(document.splitlines()) == 3 and json.loads(document) == {"text": text}

"""``newswire run``: the scheduler daemon, as a real subprocess with real signals.

Every daemon here is ``python -m newswire --config ... run`` with its stderr (the
job log) going to a file the test reads. The cron schedule is set to 29 February
at midnight, so no cron job fires while a test runs: every publish, verify or ping
seen in the log is the startup publish or a one-off job. Every wait is bounded, and
every daemon is killed in the fixture's finalizer whatever happens.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import pytest
from lxml import etree
from werkzeug import Request, Response

from harness import CONFIG, Journal
from loopback import LoopbackServer

QUIET_SCHEDULE = 'schedule: {timezone: UTC, publish: "0 0 29 2 *", verify: "0 0 29 2 *"}\n'
QUIET_CONFIG = CONFIG + QUIET_SCHEDULE
JOURNAL_ATOM = "https://journal.test/feeds/atom.xml"
PUBLISH_LINE = re.compile(r" INFO publish: ")
WORDS = ["border", "security", "cash", "smuggling", "café", "naïve", "résumé", "fugitives", "cooperation", "&", "enforcement", "Zürich", "“quoted”", "—", "ports", "tunnels", "currency", "€100", "bulk"]
LABELS = [f"Topic {i:02d}" for i in range(40)] + ["Café & Crème", "Ports <and> Harbours"]
POSTS = 150  # with 42 labels: a full publish of 45 feeds takes a few seconds


# --- helpers -------------------------------------------------------------------------


class Daemon:
    """One ``newswire run`` process; its stdout and stderr go to ``log_path``."""

    def __init__(self, journal: Journal, log_path: Path, *args: str, env: dict[str, str] | None = None):
        self.journal = journal
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - the daemon writes to it until stop() closes it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "newswire", "--config", str(journal.config_path), "run", *args],
            cwd=journal.root, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            env={**os.environ, **(env or {})})

    @property
    def pid(self) -> int:
        return self.proc.pid

    def lines(self) -> list[str]:
        return self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()

    def log(self) -> str:
        return "daemon log:\n" + "\n".join(self.lines())

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = 20.0, after: int = 0) -> str:
        """The first log line (from line index ``after`` on) matching ``pattern``; fails after ``timeout``."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines()[after:]:
                if regex.search(line):
                    return line
            if time.monotonic() >= deadline:
                raise AssertionError(f"no log line matching {regex.pattern!r} within {timeout} s "
                                     f"(exit {self.proc.poll()})\n{self.log()}")
            if self.proc.poll() is not None:
                # One more read: the line may have been written just before the exit.
                for line in self.lines()[after:]:
                    if regex.search(line):
                        return line
                raise AssertionError(f"the daemon exited {self.proc.returncode} before logging "
                                     f"{regex.pattern!r}\n{self.log()}")
            time.sleep(0.05)

    def count(self, pattern: re.Pattern[str]) -> int:
        return sum(1 for line in self.lines() if pattern.search(line))

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float = 30.0) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the daemon did not exit within {timeout} s\n{self.log()}") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._log.close()


@pytest.fixture
def daemon(tmp_path: Path):
    """Start daemons with ``daemon(journal, *args)``; all of them are killed at the end."""
    started: list[Daemon] = []

    def start(journal: Journal, *args: str, env: dict[str, str] | None = None) -> Daemon:
        d = Daemon(journal, tmp_path / f"daemon-{len(started)}.log", *args, env=env)
        started.append(d)
        return d

    yield start
    for d in started:
        d.kill()


def _generate(journal: Journal, posts: int, seed: int = 20091106) -> None:
    """A synthetic journal of ``posts`` posts of about 2 KB with many labels, all dated 2005-2020."""
    rng = random.Random(seed)
    for i in range(posts):
        body = "\n\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(50, 65))) + "."
                           for _ in range(rng.randint(4, 5)))
        when = (f"{rng.randint(2005, 2020)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
                f"T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00-05:00")
        journal.post(f"post-{i:04d}", title=f"Post {i}: naïve & “bold”", date=when,
                     author=rng.choice(["jmorton", "napolitano"]),
                     labels=tuple(rng.sample(LABELS, rng.randint(1, 3))), body=body)


def _lock_holder(journal: Journal) -> str:
    try:
        return (journal.root / "newswire.db.lock").read_text().strip()
    except FileNotFoundError:
        return ""


def _wait_lock_held_by(journal: Journal, d: Daemon, timeout: float = 15.0) -> None:
    """Until the journal lock names the daemon's pid, i.e. its publish is running."""
    deadline = time.monotonic() + timeout
    while _lock_holder(journal) != str(d.pid):
        if time.monotonic() >= deadline or d.proc.poll() is not None:
            raise AssertionError(f"the daemon (pid {d.pid}) never held the journal lock "
                                 f"(holder {_lock_holder(journal)!r})\n{d.log()}")
        time.sleep(0.01)


def _atom_titles(journal: Journal) -> list[str]:
    path = journal.feeds / "atom.xml"
    if not path.exists():
        return []
    parsed = feedparser.parse(path.read_bytes())
    return [e.get("title", "") for e in parsed.entries]


def _check_feeds_whole(journal: Journal) -> None:
    """Every file below feeds/ parses; no temporary file is left."""
    files = [p for p in journal.feeds.rglob("*") if p.is_file()]
    assert files, "feeds/ is empty"
    temporaries = [p.relative_to(journal.feeds).as_posix() for p in journal.feeds.rglob(".*.tmp")]
    assert temporaries == [], f"temporary files left behind: {temporaries}"
    for path in files:
        rel = path.relative_to(journal.feeds).as_posix()
        data = path.read_bytes()
        assert data, f"{rel} is empty"
        if rel.endswith(".json"):
            doc = json.loads(data)
            assert doc.get("version", "").startswith("https://jsonfeed.org/version/"), rel
        elif rel.endswith((".xml", ".opml", ".xsl")):
            etree.fromstring(data)
            if rel.endswith(".xml"):
                parsed = feedparser.parse(data)
                assert parsed.bozo == 0, f"{rel}: {parsed.get('bozo_exception')}"
        elif rel.endswith(".html"):
            assert data.rstrip().endswith(b"</html>"), f"{rel} is cut short"


# --- 1. a scheduled post appears within seconds of its time ------------------------------


def test_scheduled_post_is_published_seconds_after_its_time(journal: Journal, daemon) -> None:
    journal.write_config(QUIET_CONFIG)
    journal.post("old", title="An old post", date="2009-11-06T10:00:00-05:00")
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
    local = due.astimezone(ZoneInfo("America/New_York"))
    journal.post("soon", title="Scheduled soon", date=local.isoformat())

    d = daemon(journal)
    first = d.wait_for(PUBLISH_LINE, timeout=15)
    titles = _atom_titles(journal)
    assert "An old post" in titles, f"startup publish: {first}\n{d.log()}"
    assert "Scheduled soon" not in titles, (
        f"the post due at {due.isoformat()} was published by the startup publish "
        f"(now {datetime.now(UTC).isoformat()})\n{d.log()}")

    deadline = due.timestamp() + 15
    appeared = None
    while time.time() < deadline:
        if "Scheduled soon" in _atom_titles(journal):
            appeared = time.time()
            break
        if d.proc.poll() is not None:
            break
        time.sleep(0.1)
    assert appeared is not None, f"the post due at {due.isoformat()} never appeared in atom.xml\n{d.log()}"
    late = appeared - due.timestamp()
    assert late < 5, f"the post appeared {late:.1f} s after its time\n{d.log()}"
    # It was a second publish: the one-off job for the post (cron cannot fire); its line is
    # logged just after the files are in place.
    mark = d.lines().index(first) + 1
    second = d.wait_for(PUBLISH_LINE, timeout=5, after=mark)
    assert re.search(r"publish: published [1-9]\d* of \d+ feeds .*, 0 failed", second), d.log()
    assert d.count(PUBLISH_LINE) == 2, d.log()

    d.signal(signal.SIGTERM)
    assert d.wait_exit(20) == 0, d.log()
    print(f"appeared {late:.2f} s after its time\n{d.log()}")


def test_after_one_run_with_the_clock_years_ahead_posts_still_go_out_at_their_time(journal: Journal,
                                                                                   daemon) -> None:
    """A publish whose clock was five years fast must not make the daemon release every post dated
    before then: each goes out at its own time, and the run warns that the clock is behind."""
    from newswire.job import publish

    journal.write_config(QUIET_CONFIG)
    journal.post("old", title="An old post", date="2009-11-06T10:00:00-05:00")
    real = datetime.now(UTC).replace(microsecond=0)
    assert publish(journal.config(), now=real + timedelta(days=5 * 365)).ok
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)
    journal.post("soon", title="Scheduled soon", date=due.isoformat())
    journal.post("later", title="Next year", date=(real + timedelta(days=365)).isoformat())

    d = daemon(journal)
    first = d.wait_for(PUBLISH_LINE, timeout=15)
    assert d.wait_for(r" WARNING publish: the clock \(.*\) is behind the last publish", timeout=5)
    titles = _atom_titles(journal)
    assert "An old post" in titles and "Scheduled soon" not in titles and "Next year" not in titles, (
        f"startup publish: {first}: {titles}\n{d.log()}")
    deadline = due.timestamp() + 15
    while time.time() < deadline and "Scheduled soon" not in _atom_titles(journal) and d.proc.poll() is None:
        time.sleep(0.1)
    late = time.time() - due.timestamp()
    assert "Scheduled soon" in _atom_titles(journal), f"never published\n{d.log()}"
    assert late < 5, f"the post appeared {late:.1f} s after its time\n{d.log()}"
    assert "Next year" not in _atom_titles(journal)
    d.signal(signal.SIGTERM)
    assert d.wait_exit(20) == 0, d.log()


# --- 2. SIGTERM during a publish lets it finish --------------------------------------------


def test_sigterm_during_publish_finishes_the_job_and_exits_0(journal: Journal, daemon) -> None:
    journal.write_config(QUIET_CONFIG)
    _generate(journal, POSTS)

    d = daemon(journal)
    d.wait_for("run: started", timeout=15)
    _wait_lock_held_by(journal, d)
    time.sleep(0.3)
    assert d.count(PUBLISH_LINE) == 0, f"the startup publish was over before SIGTERM\n{d.log()}"
    assert _lock_holder(journal) == str(d.pid), f"the startup publish was over before SIGTERM\n{d.log()}"
    d.signal(signal.SIGTERM)
    code = d.wait_exit(60)
    assert code == 0, d.log()

    lines = d.lines()
    assert not any("Traceback" in line for line in lines), d.log()
    stopping = next(i for i, line in enumerate(lines) if "run: stopping" in line)
    published = [i for i, line in enumerate(lines) if PUBLISH_LINE.search(line)]
    assert len(published) == 1 and published[0] > stopping, d.log()
    assert re.search(r"publish: published (\d+) of \1 feeds .*, 0 failed", lines[published[0]]), d.log()
    assert "run: stopped" in lines[-1], d.log()

    _check_feeds_whole(journal)
    verify = journal.cli("verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr + "\n" + d.log()


# --- 3. the daemon and a concurrent `newswire publish` -----------------------------------


def test_concurrent_cli_publish_waits_its_turn(journal: Journal, daemon, tmp_path: Path) -> None:
    journal.write_config(QUIET_CONFIG)
    _generate(journal, POSTS)
    twin = Journal(tmp_path / "twin")
    shutil.copytree(journal.root, twin.root)
    reference = twin.cli("publish")
    assert reference.returncode == 0, reference.stdout + reference.stderr
    expected = twin.files()

    d = daemon(journal)
    d.wait_for("run: started", timeout=15)
    _wait_lock_held_by(journal, d)
    daemon_done_before = d.count(PUBLISH_LINE) > 0
    cli = journal.cli("publish", timeout=60)
    daemon_done_after = d.count(PUBLISH_LINE) > 0
    assert "Traceback" not in cli.stderr, cli.stderr
    assert cli.returncode in (0, 75), f"exit {cli.returncode}\n{cli.stdout}{cli.stderr}\n{d.log()}"
    if cli.returncode == 75:
        assert re.fullmatch(rf"newswire: another publish is running \(pid {d.pid}\)\n", cli.stderr), cli.stderr
        assert cli.stdout == "", cli.stdout
    else:
        assert daemon_done_after, f"newswire publish ran while the daemon published\n{cli.stdout}\n{d.log()}"
    print(f"newswire publish exited {cli.returncode} (daemon done before: {daemon_done_before}): "
          f"{cli.stderr.strip() or cli.stdout.strip()}")

    d.wait_for(PUBLISH_LINE, timeout=30)
    d.signal(signal.SIGTERM)
    assert d.wait_exit(30) == 0, d.log()
    assert not any("Traceback" in line for line in d.lines()), d.log()

    got = journal.files()
    assert sorted(got) == sorted(expected)
    differ = [rel for rel in expected if got[rel] != expected[rel]]
    assert differ == [], f"{len(differ)} files differ from an uninterrupted publish: {differ[:5]}\n{d.log()}"


# --- 4. SIGHUP reloads the config; a broken one is reported and the old kept --------------


BROKEN_CONFIGS = {
    # Not YAML at all.
    "invalid-yaml": ("journal: [title: Broken\n  subtitle: {unclosed\n", "not valid YAML"),
    # Well-formed YAML whose value contains itself (an alias inside its own anchor).
    "recursive-alias": (QUIET_CONFIG + "sources: &loop [*loop]\n", ""),
}


@pytest.mark.parametrize("broken", sorted(BROKEN_CONFIGS))
def test_sighup_with_a_broken_config_keeps_the_old_one(journal: Journal, daemon, broken: str) -> None:
    journal.write_config(QUIET_CONFIG)
    journal.post("one", title="One post")
    d = daemon(journal)
    d.wait_for("run: started", timeout=15)
    d.wait_for(PUBLISH_LINE, timeout=15)

    text, why = BROKEN_CONFIGS[broken]
    journal.write_config(text)
    mark = len(d.lines())
    d.signal(signal.SIGHUP)
    line = d.wait_for(r"reload:.*keeping the previous config", timeout=10, after=mark)
    assert "ERROR" in line and str(journal.config_path) in line and why in line, d.log()
    time.sleep(1.0)
    assert d.proc.poll() is None, f"the daemon died after a broken config\n{d.log()}"
    assert not any("Traceback" in line for line in d.lines()), d.log()

    journal.write_config(QUIET_CONFIG.replace("A journal for tests", "A reloaded subtitle"))
    mark = len(d.lines())
    d.signal(signal.SIGHUP)
    line = d.wait_for("config reloaded", timeout=10, after=mark)
    assert "reload:" in line and str(journal.config_path) in line, d.log()
    assert d.proc.poll() is None, d.log()

    d.signal(signal.SIGTERM)
    assert d.wait_exit(20) == 0, d.log()
    assert not any("Traceback" in line for line in d.lines()), d.log()


# --- 5. a failed ping is retried by the daemon without a publish --------------------------


def test_rate_limited_ping_is_retried_by_a_ping_job(journal: Journal, daemon, httpserver_ipv4) -> None:
    hits: list[tuple[float, str, int]] = []
    forms: list[dict[str, str]] = []
    guard = threading.Lock()

    def hub(request: Request) -> Response:
        """The first request for each topic is answered 429 Retry-After: 2, the others 204."""
        topic = request.form.get("hub.topic", "")
        with guard:
            forms.append(dict(request.form))
            first = not any(t == topic for _, t, _ in hits)
            status = 429 if first else 204
            hits.append((time.time(), topic, status))
        if first:
            return Response("slow down", status=429, headers={"Retry-After": "2"})
        return Response(status=204)

    httpserver_ipv4.expect_request("/hub", method="POST").respond_with_handler(hub)
    hub_url = httpserver_ipv4.url_for("/hub")
    assert hub_url.startswith("http://127.0.0.1:")
    journal.write_config(QUIET_CONFIG + f"notify:\n  websub: [{hub_url}]\n")
    journal.post("one", title="One post", labels=("Border Security",))

    d = daemon(journal)
    deadline = time.monotonic() + 20
    while not any(t == JOURNAL_ATOM and s == 204 for _, t, s in list(hits)):
        assert time.monotonic() < deadline, f"no successful notification for {JOURNAL_ATOM}: {hits}\n{d.log()}"
        assert d.proc.poll() is None, d.log()
        time.sleep(0.05)
    ping = d.wait_for(r" INFO ping: notifications: [1-9]\d* delivered", timeout=10)

    mine = [(when, status) for when, t, status in hits if t == JOURNAL_ATOM]
    assert [s for _, s in mine] == [429, 204], f"{mine}\n{d.log()}"
    gap = mine[1][0] - mine[0][0]
    time.sleep(0.5)
    lines = d.lines()
    assert d.count(PUBLISH_LINE) == 1, d.log()
    assert not any(" verify: " in line for line in lines), d.log()
    startup = next(line for line in lines if PUBLISH_LINE.search(line))
    assert re.search(r"pings? queued \(0 delivered, [1-9]\d* to retry, 0 given up\)", startup), d.log()
    assert all(f == {"hub.mode": "publish", "hub.url": f["hub.topic"], "hub.topic": f["hub.topic"]}
               for f in forms), forms
    # Every topic was told after its 429; nothing was given up.
    topics = {t for _, t, _ in hits}
    assert all(any(t == topic and s == 204 for _, t, s in hits) for topic in topics), hits
    assert "given up" in ping and not re.search(r"[1-9]\d* given up", ping), ping

    d.signal(signal.SIGTERM)
    assert d.wait_exit(20) == 0, d.log()
    print(f"{len(topics)} topics; retry of {JOURNAL_ATOM} {gap:.2f} s after its 429\n{d.log()}")


def test_retry_after_counts_from_the_hubs_answer(journal: Journal, daemon, httpserver_ipv4) -> None:
    """A hub that takes 1.5 s to answer 429 with Retry-After: 2 is not asked again at once.

    The store keeps whole seconds, so a retry 1 s or more after the answer is accepted;
    what a hub must never see is the retry before its Retry-After has (nearly) passed.
    """
    hits: list[tuple[float, int]] = []

    def hub(request: Request) -> Response:
        if not hits:
            time.sleep(1.5)
            hits.append((time.time(), 429))
            return Response("slow down", status=429, headers={"Retry-After": "2"})
        hits.append((time.time(), 204))
        return Response(status=204)

    httpserver_ipv4.expect_request("/hub", method="POST").respond_with_handler(hub)
    one_feed = QUIET_CONFIG.replace("formats: [atom, rss, json]", "formats: [atom]\n  authors: false\n  labels: false")
    journal.write_config(one_feed + f"notify:\n  websub: [{httpserver_ipv4.url_for('/hub')}]\n")
    journal.post("one", title="One post")

    d = daemon(journal)
    deadline = time.monotonic() + 20
    while len(hits) < 2:
        assert time.monotonic() < deadline, f"the hub was not asked again: {hits}\n{d.log()}"
        assert d.proc.poll() is None, d.log()
        time.sleep(0.05)
    d.wait_for(r" INFO ping: notifications: 1 delivered", timeout=10)
    gap = hits[1][0] - hits[0][0]
    assert [status for _, status in hits] == [429, 204], hits
    assert gap >= 1.0, (f"the hub answered 429 with Retry-After: 2 and was asked again {gap:.2f} s later"
                        f"\n{d.log()}")


# --- 6. `newswire run --once` -------------------------------------------------------------


def test_run_once_runs_every_job_once(journal: Journal, daemon) -> None:
    journal.write_config(QUIET_CONFIG)
    journal.post("one", title="One post")
    d = daemon(journal, "--once")
    assert d.wait_exit(60) == 0, d.log()
    lines = d.lines()
    assert len(lines) == 3, d.log()
    for line, job in zip(lines, ("publish", "verify", "ping")):
        assert re.search(rf" INFO {job}: ", line), d.log()
    assert re.search(r"publish: published 3 of 3 feeds .* 0 failed", lines[0]), d.log()
    assert re.search(r"verify: \d+ documents verified", lines[1]), d.log()
    assert "One post" in _atom_titles(journal)


def test_run_once_with_a_broken_config_exits_2(journal: Journal) -> None:
    journal.write_config(QUIET_CONFIG.replace("entries: 25", "entries: lots"))
    result = journal.cli("run", "--once", timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("newswire: ") and "feeds.entries" in lines[0] and "Traceback" not in lines[0]
    assert not journal.feeds.exists()


# --- 7. no value from outside stops the daemon ----------------------------------------------


FAR_FEED = ('<?xml version="1.0"?><rss version="2.0"><channel><title>Partner</title><link>http://partner.test/</link>'
            '<item><title>From the far future</title><guid>urn:far:1</guid>'
            '<pubDate>Fri, 31 Dec 9999 23:59:59 +0000</pubDate></item></channel></rss>')


@pytest.mark.parametrize("where", ["pulled", "stored"])
def test_a_post_dated_at_the_end_of_9999_does_not_stop_the_daemon(journal: Journal, daemon, httpserver_ipv4,
                                                                  where: str) -> None:
    """'pulled': a partner feed's item dated 9999-12-31 23:59:59 (refused by the pull now);
    'stored': a store that already holds such a post (taken in before the pull refused it).
    Either way, scheduling the post's one-off publish a second after its date must not overflow
    at start-up, where the daemon would die and systemd restart it for ever."""
    import sqlite3

    httpserver_ipv4.expect_request("/feed.xml").respond_with_data(FAR_FEED, content_type="application/rss+xml")
    journal.write_config(QUIET_CONFIG + f"sources:\n  - {{url: '{httpserver_ipv4.url_for('/feed.xml')}', every: 1h}}\n")
    journal.post("one", title="One post")
    assert journal.cli("publish").returncode == 0
    if where == "pulled":
        pulled = journal.cli("pull", "--force")
        assert pulled.returncode == 0 and "Traceback" not in pulled.stderr, pulled.stderr
    else:
        db = sqlite3.connect(journal.root / "newswire.db")
        with db:
            db.execute("UPDATE posts SET published = '9999-12-31T23:59:59Z', updated = '9999-12-31T23:59:59Z', "
                       "published_offset = 0, updated_offset = 0")
        db.close()
    d = daemon(journal)
    d.wait_for(PUBLISH_LINE, timeout=30)
    time.sleep(1.0)
    assert d.proc.poll() is None, f"the daemon died at start-up\n{d.log()}"
    assert "Traceback" not in "\n".join(d.lines()) and "Error" not in "\n".join(d.lines()), d.log()
    d.signal(signal.SIGTERM)
    assert d.wait_exit(20) == 0, d.log()


UNEXPECTED = ("import newswire.job as job\ndef boom(*a, **k):\n    raise RuntimeError('boom\\nforged line')\n"
              "job.check_published = boom\n")


@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_error_in_a_job_is_one_log_line_unless_debug(journal: Journal, debug: bool) -> None:
    """The traceback of a job's unexpected error is for --debug; otherwise the log has one line for it."""
    journal.write_config(QUIET_CONFIG)
    journal.post("one", title="One post")
    code = UNEXPECTED + "import sys\nfrom newswire.cli import main\nmain(args=sys.argv[1:], prog_name='newswire')\n"
    args = ["--debug"] * debug + ["--config", str(journal.config_path), "run", "--once"]
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=journal.root, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1, result.stderr
    [failed] = [line for line in result.stderr.splitlines() if " verify: failed" in line]
    assert "failed: RuntimeError: boom\\nforged line (run with --debug for the traceback)" in failed, result.stderr
    assert ("Traceback" in result.stderr) == debug, result.stderr
    if not debug:
        assert len(result.stderr.splitlines()) == 3, result.stderr  # publish, verify, ping


def test_a_stop_during_a_job_that_schedules_follow_ups_exits_promptly(journal: Journal, daemon) -> None:
    """SIGTERM while a publish waits on a hub: the publish ends (the hub's answer times out), queues
    a retry and would add its follow-up job, and the daemon still stops. Shutting the scheduler down
    while that job ran used to leave both waiting on each other for ever."""
    with LoopbackServer(life=30) as hub:  # takes the hub's connections and never answers
        journal.write_config(QUIET_CONFIG + f"notify: {{websub: ['{hub.url}'], timeout: 3}}\n")
        journal.post("p", title="A post")
        d = daemon(journal)
        deadline = time.monotonic() + 20
        while hub.accepted == 0 and time.monotonic() < deadline and d.proc.poll() is None:
            time.sleep(0.05)
        assert hub.accepted >= 1, f"the publish never reached the hub\n{d.log()}"
        d.signal(signal.SIGTERM)  # while the publish waits for the hub's answer
        assert d.wait_exit(20) == 0, d.log()
    assert d.count(PUBLISH_LINE) == 1, d.log()  # the publish finished, and nothing ran after it
    assert " INFO run: stopped" in d.log(), d.log()


# --- worker processes in the daemon ----------------------------------------------------------


FORK_HOOK = """\
import os, threading
def _note():
    with open(os.environ["NEWSWIRE_TEST_FORKS"], "a") as fh:
        fh.write(f"{os.getpid()} {threading.active_count()}\\n")
os.register_at_fork(before=_note)
"""


def test_a_daemon_publish_uses_worker_processes_without_forking_the_threaded_daemon(
        journal: Journal, daemon, tmp_path: Path) -> None:
    """The daemon's jobs run on a scheduler thread; a child forked from a process running other threads
    can hang on a lock one of them held (Python 3.12 warns of it). Every fork is logged here, with the
    threads its process ran: the publish's workers come from a process running one thread only."""
    hooks, forks = tmp_path / "hooks", tmp_path / "forks.log"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(FORK_HOOK, encoding="utf-8")
    journal.write_config(QUIET_CONFIG)
    _generate(journal, POSTS)  # 150 posts in three formats: enough entries to share among workers
    d = daemon(journal, env={"PYTHONPATH": str(hooks), "NEWSWIRE_TEST_FORKS": str(forks),
                             "PYTHONWARNINGS": "default::DeprecationWarning"})
    line = d.wait_for(PUBLISH_LINE, timeout=120)
    assert re.search(r"publish: published (\d+) of \1 feeds .*, 0 failed", line), d.log()
    d.signal(signal.SIGTERM)
    assert d.wait_exit(30) == 0, d.log()
    forked = [line.split() for line in forks.read_text(encoding="utf-8").splitlines()] if forks.exists() else []
    assert forked, f"the publish started no worker process\n{d.log()}"
    assert [f for f in forked if f[0] == str(d.pid) or f[1] != "1"] == [], forked
    assert "Warning" not in d.log() and "Traceback" not in d.log(), d.log()
    _check_feeds_whole(journal)
    verify = journal.cli("verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr

"""Security: secrets never printed or stored, the preview server stays inside feeds/, nothing but
http(s) is fetched (and never for long), and XML never resolves entities.

Extends test_notify.py (secret in output and store with a failing hook), test_serve.py (the
basic traversal list) and test_import.py (file:// import, redirect to file:// on import, XXE
and bombs on import, size limit on import) with what they leave out: other hook outcomes,
``run --once``, broken configs and every table's rows; encoded, backslash, NUL, absolute-form
and symlinked-directory paths; file:// links inside imported entries, file:// through
``pull`` and ``verify``, ``sources:`` validation, hung and trickling servers; ``verify`` and
WordPress exports with external entities, XInclude, and the memory a bomb may cost.

Every server here listens on 127.0.0.1 and every wait, read and loop is bounded.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import queue
import re
import resource
import secrets
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from newswire.config import load_config
from newswire.errors import ConfigError
from newswire.importer import import_source
from newswire.job import open_store, publish
from newswire.serve import make_server

from harness import CONFIG, Journal
from loopback import LoopbackServer, http_server

WAIT = 10.0  # seconds: the upper bound on any single wait below
SECRET_ENV = "HOOK_SECRET"
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


# --- shared helpers -------------------------------------------------------------------------


@pytest.fixture
def httpserver() -> Iterator[HTTPServer]:
    """pytest-httpserver, bound to 127.0.0.1 only (the plugin's default is 'localhost')."""
    with http_server() as server:
        yield server


def free_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr[-3000:]


def store_path(j: Journal) -> Path:
    return j.root / "newswire.db"


def store_rows(j: Journal) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of the store."""
    if not store_path(j).exists():
        return {}
    with closing(sqlite3.connect(f"file:{store_path(j)}?mode=ro", uri=True)) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: db.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}


def store_text(j: Journal) -> str:
    parts = []
    for table, rows in store_rows(j).items():
        for row in rows:
            parts.append(table + ": " + " | ".join(
                v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row))
    return "\n".join(parts)


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every regular file below ``root`` (feeds/, the store and its WAL, backups ...), symlinks not followed."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def assert_nowhere(j: Journal, marker: str, outputs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    """``marker`` is in no command's output, no row of the store and no file of the journal."""
    for name, result in outputs.items():
        assert marker not in result.stdout, f"{name}: printed on stdout:\n{result.stdout}"
        assert marker not in result.stderr, f"{name}: printed on stderr:\n{result.stderr}"
    assert marker not in store_text(j), "in a row of the store"
    for rel, data in tree_bytes(j.root).items():
        assert marker.encode() not in data, f"in the file {rel}"


def atom_feed(entries: str, *, doctype: str = "", feed_id: str = "tag:hostile.example,2024:feed") -> str:
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + doctype +
            f'<feed xmlns="http://www.w3.org/2005/Atom"><id>{feed_id}</id><title>Hostile</title>'
            "<updated>2024-01-01T00:00:00Z</updated>" + entries + "</feed>")


def atom_entry(n: int, title: str, content: str = "text", link: str = "") -> str:
    href = f'<link rel="alternate" href="{link}"/>' if link else ""
    return (f"<entry><id>tag:hostile.example,2024:{n}</id><title>{title}</title>{href}"
            f"<published>2024-01-0{n}T00:00:00Z</published><updated>2024-01-0{n}T00:00:00Z</updated>"
            f'<content type="html">{content}</content></entry>')


def marker_feed(tmp_path: Path) -> tuple[Path, str]:
    """A valid Atom feed outside the journal whose only entry's title is a unique marker."""
    marker = f"OUTSIDE-{uuid.uuid4().hex}"
    path = tmp_path / "outside" / "secret-feed.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(atom_feed(atom_entry(1, marker), feed_id="tag:outside.example,2024:f"), encoding="utf-8")
    return path, marker


def one_line_refusal(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, (result.returncode, result.stdout, result.stderr)
    no_traceback(result)
    lines = result.stderr.strip().splitlines()
    assert lines and all(line.startswith("newswire: ") for line in lines), result.stderr
    return result.stderr


# =============================================================================================
# 1. Webhook secrets are never printed or stored
# =============================================================================================


@dataclass(frozen=True)
class Hit:
    headers: dict[str, str]
    body: bytes


class Hook:
    """A webhook receiver on 127.0.0.1 that answers ``status`` and records every request."""

    def __init__(self, server: HTTPServer, status: int):
        self.hits: list[Hit] = []
        self.lock = threading.Lock()
        self.status = status
        server.expect_request("/hook", method="POST").respond_with_handler(self.handle)
        self.url = f"http://127.0.0.1:{server.port}/hook"

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.hits.append(Hit({k.lower(): v for k, v in request.headers.items()}, request.get_data()))
        return Response(b"", status=self.status)


def hook_config(url: str, *, secret_env: str = SECRET_ENV, extra: str = "") -> str:
    return (CONFIG + "notify:\n  webhooks:\n"
            f"    - {{url: '{url}', secret_env: {secret_env}}}\n  timeout: 2\n" + extra)


def hmac_of(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """A distinctive secret, given only to the subprocesses (never set in this process)."""
    monkeypatch.delenv(SECRET_ENV, raising=False)
    # Shaped like an environment variable name on purpose (see the pasted-secret test).
    return "hook_S3CR3T_" + secrets.token_hex(16)


def _posts(j: Journal, title: str = "Operation ATLAS") -> None:
    j.post("atlas", title=title, author="jmorton", labels=("Border Security",))
    j.post("border", title="Southwest Border", author="napolitano", date="2009-04-07T18:05:00-07:00",
           labels=("Border Security",))


@pytest.mark.parametrize("mode", ["answers-500", "answers-200", "port-closed"])
def test_webhook_secret_is_never_printed_nor_stored(journal: Journal, httpserver: HTTPServer, secret: str,
                                                    mode: str) -> None:
    env = {SECRET_ENV: secret}
    if mode == "port-closed":
        hook, url = None, f"http://127.0.0.1:{free_port()}/hook"
    else:
        hook = Hook(httpserver, 500 if mode == "answers-500" else 200)
        url = hook.url
    journal.write_config(hook_config(url))
    _posts(journal)

    # Every command that reads the config or the outbox; with a hook that answers 200 nothing stays
    # queued, so the commands that only show or retry the queue are left out there (time).
    full = mode != "answers-200"
    runs: dict[str, subprocess.CompletedProcess[str]] = {}
    runs["publish"] = journal.cli("publish", env=env, timeout=60)
    runs["status"] = journal.cli("status", env=env, timeout=60)
    if full:
        runs["ping --all"] = journal.cli("ping", "--all", env=env, timeout=60)
    _posts(journal, title="Operation ATLAS, revised")
    if mode != "port-closed":
        runs["publish --json"] = journal.cli("publish", "--json", env=env, timeout=60)
        assert json.loads(runs["publish --json"].stdout)["ok"] is True
    _posts(journal, title="Operation ATLAS, revised again")
    runs["run --once"] = journal.cli("run", "--once", env=env, timeout=60)

    for name, result in runs.items():
        no_traceback(result)
        assert result.returncode == 0, (name, result.returncode, result.stdout, result.stderr)

    # The hook really was tried with the secret in hand, the way this mode says.
    if mode == "answers-500":
        assert "500" in runs["publish"].stderr and "webhook" in runs["publish"].stderr
        assert "1 pending" in runs["status"].stdout
    elif mode == "port-closed":
        assert "cannot connect" in runs["publish"].stderr, runs["publish"].stderr
        assert "cannot connect" in runs["ping --all"].stderr, runs["ping --all"].stderr
    else:
        assert "0 pending, 0 failed" in runs["status"].stdout, runs["status"].stdout
    if hook is not None:
        hits = list(hook.hits)
        assert len(hits) >= (3 if mode == "answers-200" else 2), len(hits)
        for hit in hits:
            # The signature header is the HMAC-SHA256 of the exact body with that secret ...
            assert hit.headers.get("x-hub-signature-256") == hmac_of(secret, hit.body)
            assert not hmac.compare_digest(hit.headers["x-hub-signature-256"], hmac_of(secret + "x", hit.body))
            assert json.loads(hit.body)["journal"] == "Test Journal"
            # ... and the secret itself travels nowhere in the request.
            assert secret not in hit.body.decode("utf-8", "replace")
            assert all(secret not in v for v in hit.headers.values())

    assert any("webhook" in row for row in store_rows(journal).get("outbox", [])), "the webhook was never queued"
    assert_nowhere(journal, secret, runs)


# variant -> (config text from (hook url, secret), the commands to run on it)
BROKEN_CONFIGS = {
    # a typo in an unrelated key, with the secret set in the environment
    "unknown-key": (lambda url, s: hook_config(url) + "feedz: {entries: 3}\n", ("publish", "run --once")),
    # not YAML at all, on the webhook's own line
    "yaml-syntax": (lambda url, s: hook_config(url).replace(f"secret_env: {SECRET_ENV}}}",
                                                           f"secret_env: [{SECRET_ENV}}}"), ("status",)),
    # the operator pasted the secret itself under a key that does not exist
    "secret-under-unknown-key": (lambda url, s: (CONFIG + "notify:\n  webhooks:\n"
                                                 f"    - {{url: '{url}', secret_env: {SECRET_ENV}, secret: {s}}}\n"),
                                 ("ping --all",)),
    # the operator pasted the secret itself where the variable's name belongs
    "secret-pasted-as-secret_env": (lambda url, s: hook_config(url, secret_env=s), ("publish",)),
}


@pytest.mark.parametrize("variant", list(BROKEN_CONFIGS))
def test_broken_config_never_echoes_the_secret(journal: Journal, secret: str, variant: str) -> None:
    text, commands = BROKEN_CONFIGS[variant]
    journal.write_config(text(f"http://127.0.0.1:{free_port()}/hook", secret))
    assert secret in journal.config_path.read_text() or variant in ("unknown-key", "yaml-syntax")
    _posts(journal)
    env = {SECRET_ENV: secret}
    runs = {cmd: journal.cli(*cmd.split(), env=env, timeout=60) for cmd in commands}
    for name, result in runs.items():
        no_traceback(result)
        assert result.returncode == 2, (name, result.returncode, result.stdout, result.stderr)
        assert "config.yaml" in result.stderr, (name, result.stderr)
    assert not journal.feeds.exists()
    for name, result in runs.items():
        assert secret not in result.stdout + result.stderr, f"{variant}: {name} printed the secret:\n{result.stderr}"
    assert secret not in store_text(journal)


# =============================================================================================
# 2. The preview server serves only what is below feeds/
# =============================================================================================

OUTSIDE_MARKERS = (b"id_authority", b"SQLite format 3", b"root:", b"PRIVATE-")


@dataclass
class Preview:
    journal: Journal
    port: int
    private: bytes

    def raw(self, request: bytes) -> tuple[int | None, bytes]:
        """Send raw bytes, read the whole answer (bounded in time and size), return (status, bytes)."""
        chunks: list[bytes] = []
        with socket.create_connection(("127.0.0.1", self.port), timeout=WAIT) as s:
            s.sendall(request)
            deadline = time.monotonic() + WAIT
            size = 0
            while time.monotonic() < deadline and size < 4 * 1024 * 1024:
                try:
                    data = s.recv(65536)
                except (TimeoutError, ConnectionResetError):
                    break
                if not data:
                    break
                chunks.append(data)
                size += len(data)
        answer = b"".join(chunks)
        m = re.match(rb"HTTP/1\.[01] (\d{3}) ", answer)
        return (int(m.group(1)) if m else None), answer

    def get(self, target: bytes, method: bytes = b"GET") -> tuple[int | None, bytes]:
        return self.raw(method + b" " + target + b" HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")


@pytest.fixture
def preview(journal: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Preview]:
    """A published journal with things worth stealing around feeds/, served by make_server in a thread."""
    monkeypatch.setenv("NEWSWIRE_QUIET_SERVE", "1")
    journal.post("border", title="Southwest Border", labels=("Border Security",), body="Border text.")
    report = publish(journal.config(), ping=False, now=NOW)
    assert report.ok, report.errors
    private = f"PRIVATE-{uuid.uuid4().hex}".encode()
    (journal.root / "private.txt").write_bytes(private)
    (journal.root / "index.html").write_bytes(b"<p>" + private + b"</p>")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "index.html").write_bytes(private)
    (outside / "atom.xml").write_bytes(private)
    feeds = journal.feeds
    (feeds / "up").symlink_to(journal.root, target_is_directory=True)           # a folder outside, absolute
    (feeds / "labels/border-security/deep").symlink_to("../../..", target_is_directory=True)  # relative
    (feeds / "elsewhere").symlink_to(outside, target_is_directory=True)
    (feeds / "etc").symlink_to("/etc", target_is_directory=True)
    (feeds / "passwd").symlink_to("/etc/passwd")
    (feeds / "private.html").symlink_to("../private.txt")                       # a file outside, relative
    server = make_server(journal.config(), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Preview(journal, server.server_address[1], private)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=WAIT)


TRAVERSAL_TARGETS = [
    # encoded dots and slashes
    b"/..%2fconfig.yaml", b"/..%2Fnewswire.db", b"/%2e%2e%2fconfig.yaml", b"/%2E%2E%2Fprivate.txt",
    b"/.%2e/config.yaml", b"/%2e./newswire.db", b"/%252e%252e/config.yaml", b"/%252e%252e%252fconfig.yaml",
    b"/%c0%ae%c0%ae/config.yaml", b"/%c0%af../config.yaml", b"/..;/config.yaml",
    # a folder prefix that is not there, and the folder's own name
    b"/feeds/../../newswire.db", b"/feeds/../config.yaml", b"/feeds/%2e%2e/%2e%2e/private.txt",
    # no leading slash, and several
    b"../config.yaml", b"..%2fconfig.yaml", b"///etc/passwd", b"//../config.yaml", b"/.//..//private.txt",
    # backslashes, raw and encoded
    b"/..\\config.yaml", b"/..%5cconfig.yaml", b"/%5c..%5cprivate.txt", b"\\..\\config.yaml",
    b"/labels\\..\\..\\newswire.db", b"/labels/..%5c..%5cconfig.yaml",
    # NUL bytes
    b"/../config.yaml%00", b"/%00/../config.yaml", b"/atom.xml%00/../../config.yaml", b"/private.html%00",
    b"/..%00/config.yaml",
    # absolute URLs in the request line
    b"http://127.0.0.1/../private.txt", b"http://evil.example/../../newswire.db",
    b"http://127.0.0.1//etc/passwd", b"file:///etc/passwd", b"http://127.0.0.1/%2e%2e/config.yaml",
    # symlinks inside feeds/ that lead outside it
    b"/up/config.yaml", b"/up/newswire.db", b"/up/private.txt", b"/up/", b"/up", b"/up/index.html",
    b"/labels/border-security/deep/config.yaml", b"/labels/border-security/deep/private.txt",
    b"/elsewhere/atom.xml", b"/elsewhere/", b"/etc/passwd", b"/etc/hostname", b"/passwd", b"/private.html",
    b"/up/feeds/../private.txt", b"/%75p/config.yaml",
]


def test_traversal_attempts_are_404_and_never_leak(preview: Preview) -> None:
    status, answer = preview.get(b"/atom.xml")
    assert status == 200 and b"Southwest Border" in answer, answer[:300]  # the server does serve its own files
    leaks, wrong = [], []
    for target in TRAVERSAL_TARGETS:
        for method in (b"GET", b"HEAD"):
            status, answer = preview.get(target, method)
            if status not in (400, 404):
                wrong.append((method, target, status))
            found = [m for m in (*OUTSIDE_MARKERS, preview.private) if m in answer]
            if found:
                leaks.append((method, target, found))
    assert not leaks, f"content from outside feeds/ was served: {leaks}"
    assert not wrong, f"expected 404 (or 400): {wrong}"


def test_raw_control_bytes_in_the_request_line_are_refused(preview: Preview) -> None:
    for target in (b"/atom.xml\x00/../../config.yaml", b"/..\x00/config.yaml", b"/up\x00/config.yaml",
                   b"/\x00", b"/../\tconfig.yaml", b"/private.html\x00.xml"):
        status, answer = preview.get(target)
        assert status in (400, 404), (target, status, answer[:200])
        assert not any(m in answer for m in (*OUTSIDE_MARKERS, preview.private)), target


def test_directories_are_never_listed(preview: Preview) -> None:
    for target in (b"/labels/", b"/labels", b"/authors/"):
        status, answer = preview.get(target)
        assert status == 404, (target, status)
        assert b"atom.xml" not in answer and b"Directory listing" not in answer, target
    # A feed's folder answers with the feed's page, never a listing of its files.
    status, answer = preview.get(b"/labels/border-security/")
    assert status == 200 and b"Directory listing" not in answer and b'<section class="posts"' in answer


def _listening(port: int) -> dict[str, list[str]]:
    """Local addresses (hex, as /proc/net/tcp* writes them) in LISTEN state on ``port``."""
    found: dict[str, list[str]] = {}
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hexport = fields[1].rsplit(":", 1)
            if int(hexport, 16) == port and fields[3] == "0A":
                found.setdefault(name, []).append(address)
    return found


def test_serve_binds_to_loopback_by_default(journal: Journal) -> None:
    journal.post("one", title="One")
    assert publish(journal.config(), ping=False, now=NOW).ok
    server = make_server(journal.config(), port=0)
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.server_close()

    process = subprocess.Popen([sys.executable, "-m", "newswire", "--config", str(journal.config_path), "serve",
                                "--port", "0"], cwd=journal.root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, env={**os.environ, "PYTHONUNBUFFERED": "1", "NEWSWIRE_QUIET_SERVE": "1"})
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        try:
            startup = lines.get(timeout=WAIT)
        except queue.Empty:
            startup = ""
        m = re.search(r"at http://([\d.]+):(\d+)/", startup)
        assert m, f"no address printed: {startup!r}"
        assert m.group(1) == "127.0.0.1", startup
        port = int(m.group(2))
        assert port != 0
        listening = _listening(port)
        if listening:  # /proc/net is readable here: the socket is bound to 127.0.0.1 and nothing else
            assert listening == {"tcp": ["0100007F"]}, listening
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
            s.sendall(b"GET /atom.xml HTTP/1.0\r\n\r\n")
            assert s.recv(12).startswith(b"HTTP/1.0 200")
    finally:
        process.terminate()
        try:
            process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=WAIT)


# =============================================================================================
# 3. Only http(s) is fetched: file:// in every disguise, links, redirects, sizes, timeouts
# =============================================================================================


@pytest.mark.parametrize("form", ["FILE://{p}", "File://localhost{p}", " \tfile://{p}"])
def test_import_refuses_file_urls_in_any_spelling(journal: Journal, tmp_path: Path, form: str) -> None:
    path, marker = marker_feed(tmp_path)
    result = journal.cli("import", form.format(p=path), timeout=60)
    message = one_line_refusal(result)
    assert "only http and https" in message, message
    assert marker not in result.stdout + result.stderr
    assert store_rows(journal).get("posts", []) == []


def test_verify_refuses_file_urls(journal: Journal, tmp_path: Path) -> None:
    path, marker = marker_feed(tmp_path)
    for url in (f"file://{path}", "FILE:///etc/passwd"):
        result = journal.cli("verify", url, timeout=60)
        message = one_line_refusal(result)
        assert "only http and https" in message, message
        assert marker not in result.stdout + result.stderr and "root:" not in result.stdout + result.stderr


# Each source names its entries' links file:// or javascript: and has relative links in the body
# that would be resolved against them, plus absolute ones that must be dropped.
HOSTILE_BODY = ('<p>See <a href="shadow">the notes</a>, <img src="group" alt="g"> and '
                '<a href="file:///etc/passwd">this</a>, <a href="javascript:alert(1)">that</a>, '
                '<a href="JaVaScRiPt:alert(2)">those</a>, <a href=" javascript:alert(3)">these</a>, '
                '<img src="file:///etc/hostname" alt="h">.</p>')


def _esc(html: str) -> str:
    return html.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


LINK_SOURCES = {
    "atom-file-link": lambda: atom_feed(
        atom_entry(1, "Atom file link", _esc(HOSTILE_BODY), link="file:///etc/passwd")),
    "atom-javascript-link": lambda: atom_feed(
        atom_entry(2, "Atom javascript link", _esc(HOSTILE_BODY), link="javascript:alert(document.cookie)")),
    "rss-file-link": lambda: (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>R</title><link>file:///etc/</link>'
        "<description>d</description><item><guid isPermaLink=\"false\">rss-1</guid><title>RSS file link</title>"
        "<link>file:///etc/passwd</link><pubDate>Tue, 05 Jan 2021 09:00:00 GMT</pubDate>"
        f"<description>{_esc(HOSTILE_BODY)}</description></item></channel></rss>"),
    "json-file-url": lambda: json.dumps({
        "version": "https://jsonfeed.org/version/1.1", "title": "J", "home_page_url": "file:///etc/",
        "items": [{"id": "json-1", "url": "file:///etc/passwd", "title": "JSON file url",
                   "date_published": "2021-01-05T09:00:00Z", "content_html": HOSTILE_BODY}]}),
    "wxr-file-link": lambda: (
        '<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.2/">'
        "<channel><title>W</title><link>file:///etc/</link><wp:wxr_version>1.2</wp:wxr_version>"
        "<item><title>WXR file link</title><link>file:///etc/passwd</link>"
        '<guid isPermaLink="false">https://wp.example.com/?p=7</guid><dc:creator>ed</dc:creator>'
        f"<content:encoded><![CDATA[{HOSTILE_BODY}]]></content:encoded>"
        "<wp:post_id>7</wp:post_id><wp:post_date_gmt>2021-01-05 09:00:00</wp:post_date_gmt>"
        "<wp:status>publish</wp:status><wp:post_type>post</wp:post_type></item></channel></rss>"),
}
HREF = re.compile(r"""\b(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)


def _link_schemes(html: str) -> set[str]:
    out = set()
    for m in HREF.finditer(html):
        value = (m.group(1) or m.group(2) or m.group(3) or "").strip().lower()
        out.add(value.split(":", 1)[0] if re.match(r"^[a-z][a-z0-9+.-]*:", value) else "relative")
    return out


@pytest.mark.parametrize("name", list(LINK_SOURCES))
def test_imported_links_never_point_at_file_or_javascript(journal: Journal, tmp_path: Path, name: str) -> None:
    source = tmp_path / f"{name}.{'json' if name.startswith('json') else 'xml'}"
    source.write_text(LINK_SOURCES[name](), encoding="utf-8")
    config = journal.config()
    with open_store(config) as store:
        report = import_source(config, store, str(source), NOW)
    assert report.added == 1, report.summary()
    with closing(sqlite3.connect(store_path(journal))) as db:
        [(body,)] = db.execute("SELECT body FROM posts").fetchall()
    assert "the notes" in body  # the body was kept, only its links are at stake
    assert _link_schemes(body) <= {"http", "https", "relative"}, f"stored body links: {body}"
    report = publish(journal.config(), ping=False, now=NOW)
    assert report.ok, report.errors + [str(p) for r in report.failed for p in r.problems]
    docs = {k: v for k, v in journal.files().items() if k.endswith((".xml", ".json"))}
    assert "atom.xml" in docs
    for path, data in docs.items():
        low = data.decode("utf-8").lower()
        assert "file:" not in low, f"a file: URL in the published {path}"
        assert "javascript:" not in low, f"a javascript: URL in the published {path}"
    assert "root:" not in store_text(journal)


# Every element and attribute that carries a URL in HTML, SVG or MathML ({u}: the URL), whether or not
# nh3's allow-list keeps the element or the attribute today: the promise must not rest on that list.
URL_CARRIERS = {
    "a href": '<a href="{u}">link</a>', "a ping": '<a href="https://ok.example/" ping="{u}">link</a>',
    "area href": '<map name="m"><area href="{u}" alt="a"></map>', "img src": '<img src="{u}" alt="i">',
    "img srcset": '<img srcset="{u} 2x, https://ok.example/i.png 1x" alt="i">',
    "img longdesc": '<img src="https://ok.example/i.png" longdesc="{u}" alt="i">',
    "img lowsrc": '<img lowsrc="{u}" alt="i">', "img dynsrc": '<img dynsrc="{u}" alt="i">',
    "img usemap": '<img src="https://ok.example/i.png" usemap="{u}" alt="i">',
    "blockquote cite": '<blockquote cite="{u}">quoted</blockquote>', "q cite": '<q cite="{u}">quoted</q>',
    "del cite": '<del cite="{u}">gone</del>', "ins cite": '<ins cite="{u}">new</ins>',
    "video poster": '<video poster="{u}" src="https://ok.example/v.mp4"></video>',
    "video src": '<video src="{u}"></video>', "audio src": '<audio src="{u}"></audio>',
    "source src": '<video><source src="{u}"></video>', "track src": '<video><track src="{u}"></video>',
    "embed src": '<embed src="{u}">', "iframe src": '<iframe src="{u}"></iframe>',
    "frame src": '<frameset><frame src="{u}"></frameset>', "object data": '<object data="{u}"></object>',
    "object codebase": '<object codebase="{u}"></object>', "applet archive": '<applet archive="{u}"></applet>',
    "form action": '<form action="{u}"><input type="submit"></form>',
    "button formaction": '<button formaction="{u}">go</button>', "input formaction": '<input formaction="{u}">',
    "input src": '<input type="image" src="{u}">',
    "table background": '<table background="{u}"><tr><td>t</td></tr></table>',
    "td background": '<table><tr><td background="{u}">t</td></tr></table>',
    "body background": '<body background="{u}">b</body>',
    "link href": '<link rel="stylesheet" href="{u}">', "base href": '<base href="{u}">',
    "html manifest": '<html manifest="{u}">m</html>', "command icon": '<command icon="{u}">c</command>',
    "div itemtype": '<div itemscope itemtype="{u}">d</div>',
    "svg a xlink:href": '<svg xmlns:xlink="http://www.w3.org/1999/xlink"><a xlink:href="{u}"><text>s</text></a></svg>',
    "svg image href": '<svg><image href="{u}"></image></svg>',
    "svg use xlink:href": '<svg><use xlink:href="{u}"></use></svg>',
    "math href": '<math href="{u}"><mi>m</mi></math>',
    "math maction xlink:href": '<math><maction actiontype="statusline" xlink:href="{u}"><mi>m</mi></maction></math>',
}
# Schemes that run code or hide content, spelled as attackers spell them (the value is written into the
# attribute as is: character references are decoded by the HTML parser, as a browser would).
BAD_URLS = ["javascript:alert(1)", "JaVaScRiPt:alert(1)", " \t javascript:alert(1)", "java&#x09;script:alert(1)",
            "java&#x0A;script:alert(1)", "java&#13;script:alert(1)", "&#106;avascript:alert(1)",
            "javascript&colon;alert(1)", "&#x01;javascript:alert(1)", "vbscript:msgbox(1)", "VBScript:msgbox(1)",
            "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
            "DATA:image/svg+xml,&lt;svg onload=alert(1)&gt;",
            "file:///etc/passwd", "livescript:alert(1)"]
_BAD_SCHEMES = ("javascript:", "vbscript:", "data:", "file:", "livescript:")


def _dangerous_attributes(html: str) -> list[tuple[str, str, str]]:
    """Every attribute, on any element, whose value a browser would read as one of the bad schemes."""
    from lxml.html import HTMLParser, fragment_fromstring

    root = fragment_fromstring(html, create_parent="div", parser=HTMLParser(huge_tree=True))
    found = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for name, value in el.attrib.items():
            url = re.sub("[\t\n\r]", "", value.strip("".join(map(chr, range(0x21))))).lower()
            for part in [url, *(p.strip() for p in url.split(","))]:
                if part.startswith(_BAD_SCHEMES):
                    found.append((el.tag, name, value))
    return found


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize("carrier", list(URL_CARRIERS))
def test_no_url_attribute_keeps_a_dangerous_scheme(carrier: str, url: str) -> None:
    from newswire.importer import sanitize

    html = f"<p>before {URL_CARRIERS[carrier].format(u=url)} after</p>"
    for base in ("https://ok.example/post/", ""):
        out = sanitize(html, base)
        assert "before" in out and "after" in out, out
        assert _dangerous_attributes(out) == [], f"{carrier} kept {url!r}: {out}"


# Safe links the same attributes keep (where nh3's allow-list keeps the attribute at all).
SAFE = [("a href", "https://ok.example/a", 'href="https://ok.example/a"'),
        ("a href", "notes.html", 'href="https://ok.example/post/notes.html"'),
        ("a href", "mailto:desk@ok.example", 'href="mailto:desk@ok.example"'),
        ("img src", "pics/p.png", 'src="https://ok.example/post/pics/p.png"'),
        ("blockquote cite", "https://ok.example/q", 'cite="https://ok.example/q"'),
        ("q cite", "/source", 'cite="https://ok.example/source"')]


@pytest.mark.parametrize("carrier, url, kept", SAFE)
def test_safe_url_attributes_are_kept_and_made_absolute(carrier: str, url: str, kept: str) -> None:
    from newswire.importer import sanitize

    out = sanitize(URL_CARRIERS[carrier].format(u=url), "https://ok.example/post/")
    assert kept in out, out


def test_imported_url_attributes_hold_no_dangerous_scheme_in_store_or_feeds(journal: Journal, tmp_path: Path) -> None:
    """Every carrier with every bad URL, as a JSON Feed's items, imported, published, read back."""
    cases = [(c, u) for c in URL_CARRIERS for u in BAD_URLS]
    items = [{"id": f"case-{n}", "title": f"Case {n}", "date_published": "2021-01-05T09:00:00Z",
              "url": "https://ok.example/post/", "content_html": f"<p>case {n} {URL_CARRIERS[c].format(u=u)}</p>"}
             for n, (c, u) in enumerate(cases)]
    source = tmp_path / "carriers.json"
    source.write_text(json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "C", "items": items}),
                      encoding="utf-8")
    journal.write_config(CONFIG.replace("entries: 25", "entries: 1000"))
    config = journal.config()
    with open_store(config) as store:
        assert import_source(config, store, str(source), NOW).added == len(cases)
    with closing(sqlite3.connect(store_path(journal))) as db:
        for entry_id, body in db.execute("SELECT entry_id, body FROM posts"):
            case = cases[int(entry_id.split("-")[1])]
            assert _dangerous_attributes(body) == [], (case, body)
    report = publish(journal.config(), ping=False, now=NOW)
    assert report.ok, report.errors + [str(p) for r in report.failed for p in r.problems]
    import feedparser
    for doc in ("atom.xml", "rss.xml"):
        for entry in feedparser.parse((journal.feeds / doc).read_bytes(), sanitize_html=False).entries:
            html = entry.content[0].value if "content" in entry else entry.summary
            assert _dangerous_attributes(html) == [], (doc, entry.id, html)
    for item in json.loads((journal.feeds / "feed.json").read_bytes())["items"]:
        assert _dangerous_attributes(item["content_html"]) == [], (item["id"], item["content_html"])


@pytest.mark.parametrize("command", ["pull", "verify"])
def test_redirect_to_file_is_refused_by_pull_and_verify(journal: Journal, httpserver: HTTPServer, tmp_path: Path,
                                                        command: str) -> None:
    path, marker = marker_feed(tmp_path)
    httpserver.expect_request("/hop.xml").respond_with_data("", status=302, headers={"Location": "/moved.xml"})
    httpserver.expect_request("/moved.xml").respond_with_data("", status=301, headers={"Location": f"file://{path}"})
    url = f"http://127.0.0.1:{httpserver.port}/hop.xml"
    journal.write_config(CONFIG + f"sources:\n  - {{url: '{url}', label: Partners, every: 1h}}\n"
                         "fetch: {max_bytes: 1048576, timeout: 3, max_redirects: 3}\n")
    result = journal.cli(*(["pull", "--force"] if command == "pull" else ["verify", url]), timeout=60)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    no_traceback(result)
    assert marker not in result.stdout + result.stderr
    assert "root:" not in result.stdout + result.stderr
    assert marker not in store_text(journal)
    assert store_rows(journal).get("posts", []) == []


SOURCE_URLS = ["file:///etc/passwd", "FILE:///etc/passwd", "file://localhost/etc/passwd", "/etc/passwd",
               "ftp://127.0.0.1/feed.xml", "http:///etc/passwd", "javascript:alert(1)", "feed://127.0.0.1/x"]


def test_file_source_in_config_is_a_config_error(journal: Journal) -> None:
    journal.write_config(CONFIG + "sources:\n  - {url: 'file:///etc/passwd', label: Partners, every: 1h}\n")
    result = journal.cli("pull", "--force", timeout=60)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    no_traceback(result)
    [line] = result.stderr.strip().splitlines()
    assert "config.yaml" in line and "sources[0].url" in line and "http" in line, line
    assert "root:" not in result.stdout + result.stderr
    assert not store_path(journal).exists() or store_rows(journal).get("posts", []) == []


@pytest.mark.parametrize("url", SOURCE_URLS)
def test_non_http_urls_anywhere_in_config_are_refused(journal: Journal, url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "x" * 16)
    for key, text in {
        "sources[0].url": f"sources:\n  - {{url: '{url}', every: 1h}}\n",
        "notify.webhooks[0].url": f"notify:\n  webhooks:\n    - {{url: '{url}', secret_env: {SECRET_ENV}}}\n",
        "notify.websub": f"notify:\n  websub: ['{url}']\n",
        "notify.weblogs": f"notify:\n  weblogs: ['{url}']\n",
    }.items():
        journal.write_config(CONFIG + text)
        with pytest.raises(ConfigError) as caught:
            load_config(journal.config_path)
        assert caught.value.exit_code == 2
        assert key in str(caught.value) and "config.yaml" in str(caught.value), (key, str(caught.value))


class BigFeed:
    """An Atom answer of ``total`` bytes in 16 KiB chunks (bounded), counting what was actually sent."""

    def __init__(self, total: int, declared: bool):
        self.total, self.declared, self.sent = total, declared, 0
        self.done = threading.Event()

    def body(self) -> Iterator[bytes]:
        chunk = b"<!-- " + b"x" * (16 * 1024 - 10) + b" -->\n"
        try:
            yield atom_feed("").split("</feed>")[0].encode()
            while self.sent < self.total:  # bounded: total / 16 KiB chunks
                self.sent += len(chunk)
                yield chunk
            yield b"</feed>"
        finally:
            self.done.set()

    def handler(self, request: Request) -> Response:
        headers = {"Content-Length": str(self.total + 1000)} if self.declared else {}
        return Response(self.body(), status=200, content_type="application/atom+xml", headers=headers,
                        direct_passthrough=True)


@pytest.mark.parametrize("command,declared", [("pull", False), ("verify", True)])
def test_size_limit_holds_for_pull_and_verify(journal: Journal, httpserver: HTTPServer, command: str,
                                              declared: bool) -> None:
    big = BigFeed(48 * 1024 * 1024, declared)
    httpserver.expect_request("/big.xml").respond_with_handler(big.handler)
    url = f"http://127.0.0.1:{httpserver.port}/big.xml"
    journal.write_config(CONFIG + f"sources:\n  - {{url: '{url}', every: 1h}}\n"
                         "fetch: {max_bytes: 65536, timeout: 5}\n")
    result = journal.cli(*(["pull", "--force"] if command == "pull" else ["verify", url]), timeout=60)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    no_traceback(result)
    assert "65536" in result.stderr and "limit" in result.stderr, result.stderr
    big.done.wait(WAIT)
    assert big.sent < big.total, "the whole answer was sent: the size limit did not stop the client"
    assert store_rows(journal).get("posts", []) == []


def test_local_import_over_the_size_limit_is_refused(journal: Journal, tmp_path: Path) -> None:
    source = tmp_path / "big.xml"
    source.write_text(atom_feed(atom_entry(1, "Big", "x" * 200_000)), encoding="utf-8")
    journal.write_config(CONFIG + "fetch: {max_bytes: 65536}\n")
    message = one_line_refusal(journal.cli("import", str(source), timeout=60))
    assert "65536" in message and "limit" in message, message
    assert store_rows(journal).get("posts", []) == []


class SlowServer(LoopbackServer):
    """A loopback TCP server that reads the request and then, by ``mode``:

    - ``silent``: never answers;
    - ``trickle``: sends ``head``, then one byte every 0.2 s;
    - ``stall``: sends ``head``, then nothing;
    - ``truncate``: sends ``head`` and closes.

    Bounded: at most 8 connections, ``life`` seconds, 100 000 trickled bytes; all closed on exit.
    """

    FEED_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/atom+xml\r\nContent-Length: 100000\r\n\r\n"

    def __init__(self, mode: str, life: float = 8.0, head: bytes = FEED_HEAD):
        assert mode in ("silent", "trickle", "stall", "truncate")
        super().__init__(life, most=8)
        self.mode, self.head = mode, head

    def serve(self, conn: socket.socket, deadline: float) -> None:
        try:
            conn.settimeout(1.0)
            try:
                conn.recv(65536)
            except OSError:
                pass
            if self.mode != "silent":
                conn.sendall(self.head)
            if self.mode in ("silent", "stall"):
                self.stop.wait(max(0.0, deadline - time.monotonic()))
            sent = 0
            while self.mode == "trickle" and not self.stop.is_set() and time.monotonic() < deadline \
                    and sent < 100_000:
                conn.sendall(b" ")
                sent += 1
                self.stop.wait(0.2)
        except OSError:
            pass
        finally:
            conn.close()



@pytest.mark.parametrize("command", ["import", "pull"])
def test_server_that_never_answers_times_out(journal: Journal, command: str) -> None:
    with SlowServer("silent") as server:
        url = f"http://127.0.0.1:{server.port}/feed.xml"
        journal.write_config(CONFIG + f"sources:\n  - {{url: '{url}', every: 1h}}\nfetch: {{timeout: 1}}\n")
        args = {"import": ["import", url], "pull": ["pull", "--force"], "verify": ["verify", url]}[command]
        started = time.monotonic()
        result = journal.cli(*args, timeout=60)
        elapsed = time.monotonic() - started
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    no_traceback(result)
    assert server.accepted >= 1
    assert elapsed < 6, f"{command} waited {elapsed:.1f} s for a server that never answers (timeout 1 s)"
    assert "Timeout" in result.stderr or "timed out" in result.stderr, result.stderr


def test_server_that_trickles_is_cut_off(journal: Journal) -> None:
    """A timeout that only bounds each read lets a server sending a byte a second hold a fetch forever."""
    with SlowServer("trickle", life=6.5) as server:
        url = f"http://127.0.0.1:{server.port}/feed.xml"
        journal.write_config(CONFIG + "fetch: {timeout: 1}\n")
        started = time.monotonic()
        result = journal.cli("import", url, timeout=60)
        elapsed = time.monotonic() - started
    no_traceback(result)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert elapsed < 5, (f"import of a trickling source took {elapsed:.1f} s with fetch.timeout 1 s: "
                         "no overall deadline on a fetch")


@pytest.mark.parametrize("mode", ["truncate", "stall", "trickle"])
def test_webhook_answer_cut_short_never_crashes_or_hangs_publish(journal: Journal, secret: str, mode: str) -> None:
    """The hook's answer: ten bytes of a promised thousand, then closed / nothing more / a byte at a time."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n0123456789"
    with SlowServer(mode, life=6.5, head=head) as server:
        journal.write_config(hook_config(f"http://127.0.0.1:{server.port}/hook").replace("timeout: 2", "timeout: 1"))
        _posts(journal)
        started = time.monotonic()
        result = journal.cli("publish", env={SECRET_ENV: secret}, timeout=60)
        elapsed = time.monotonic() - started
    no_traceback(result)
    assert server.accepted >= 1
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    assert elapsed < 5, f"publish took {elapsed:.1f} s with notify.timeout 1 s"
    assert secret not in result.stdout + result.stderr
    # Never lost silently: taken as delivered (the status was 200), or kept for a retry and reported.
    [hook_row] = [row for row in store_rows(journal).get("outbox", []) if "webhook" in row]
    assert "delivered" in hook_row or "pending" in hook_row, hook_row
    if "pending" in hook_row:
        assert "webhook" in result.stderr, result.stderr


# =============================================================================================
# 4. XML never resolves entities, external or internal
# =============================================================================================


def _xxe_files(tmp_path: Path) -> tuple[str, Path, Path]:
    marker = f"XXE-{uuid.uuid4().hex}"
    secret_file = tmp_path / "xxe-secret.txt"
    secret_file.write_text(marker + "\n", encoding="utf-8")
    dtd = tmp_path / "xxe.dtd"
    dtd.write_text(f'<!ENTITY e SYSTEM "file://{secret_file}">', encoding="utf-8")
    return marker, secret_file, dtd


XXE_DOCTYPES = {
    "general": '<!DOCTYPE x [<!ENTITY e SYSTEM "file://{secret}">]>\n',
    "passwd": '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n',
    "parameter": '<!DOCTYPE x [<!ENTITY % p SYSTEM "file://{dtd}"> %p;]>\n',
    "external-dtd": '<!DOCTYPE x SYSTEM "file://{dtd}">\n',
}


def _xxe_documents(tmp_path: Path, secret_file: Path, dtd: Path) -> list[Path]:
    """One Atom and one RSS file per XXE variant, each using the entity in titles and content."""
    paths = []
    for variant, template in XXE_DOCTYPES.items():
        doctype = template.format(secret=secret_file, dtd=dtd)
        atom = atom_feed(atom_entry(1, "Leak &e;", "&e;"), doctype=doctype)
        rss = ('<?xml version="1.0"?>\n' + doctype + '<rss version="2.0"><channel><title>T &e;</title>'
               "<link>https://x.example/</link><description>&e;</description><item><guid>g1</guid>"
               "<title>Leak &e;</title><pubDate>Tue, 05 Jan 2021 09:00:00 GMT</pubDate>"
               "<description>&e;</description></item></channel></rss>")
        for fmt, text in (("atom", atom), ("rss", rss)):
            path = tmp_path / f"xxe-{variant}-{fmt}.xml"
            path.write_text(text, encoding="utf-8")
            paths.append(path)
    return paths


def test_verify_never_expands_external_entities(journal: Journal, tmp_path: Path) -> None:
    marker, secret_file, dtd = _xxe_files(tmp_path)
    paths = _xxe_documents(tmp_path, secret_file, dtd)
    result = journal.cli("verify", *map(str, paths), timeout=60)  # one run, every file (time)
    no_traceback(result)
    out = result.stdout + result.stderr
    assert marker not in out and "root:" not in out, out
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    verdicts = dict(line.split(": ", 1) for line in result.stdout.strip().splitlines())
    for path in paths:
        assert verdicts.get(str(path), "").startswith("FAILED"), (path.name, verdicts.get(str(path)), result.stderr)


def _bombs() -> dict[str, str]:
    decls = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    laughs = atom_feed(atom_entry(1, "&lol9;", "&lol9;"), doctype="<!DOCTYPE feed [\n" + "\n".join(decls) + "\n]>\n")
    big = "B" * 50_000
    quadratic = atom_feed(atom_entry(1, "q", "&big;" * 40_000), doctype=f'<!DOCTYPE feed [<!ENTITY big "{big}">]>\n')
    # One flat, "safe-looking" entity (feedparser's own DOCTYPE filter keeps these) used in an attribute.
    attr = atom_feed(atom_entry(1, "a", "x").replace("<entry>", '<entry xml:lang="&big;&big;&big;&big;">') * 2000,
                     doctype=f'<!DOCTYPE feed [<!ENTITY big "{big}">]>\n')
    return {"billion-laughs": laughs, "quadratic": quadratic, "attribute": attr}


def run_measured(args: list[str], cwd: Path, timeout: float = 30.0) -> tuple[int, str, str, float, int]:
    """Run the CLI with a 2 GiB address-space cap; (exit code, stdout, stderr, seconds, peak RSS in KiB)."""
    cap = 2 * 1024 ** 3

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "newswire", *args], cwd=cwd, stdout=out, stderr=err,
                                preexec_fn=limit)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return (proc.returncode, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"),
                elapsed, usage.ru_maxrss)


def _assert_bounded(code: int, out: str, err: str, elapsed: float, peak_kib: int, what: str) -> None:
    assert code == 1, (what, code, out, err[-2000:])
    assert "Traceback" not in err and "MemoryError" not in err, err[-2000:]
    assert elapsed < 10, f"{what} took {elapsed:.1f} s"
    assert peak_kib < 400 * 1024, f"{what} used {peak_kib // 1024} MiB"
    assert "lollollol" not in out + err and "BBBBBBBBBB" not in out + err


def test_entity_bombs_are_refused_fast_in_bounded_memory_by_verify(journal: Journal, tmp_path: Path) -> None:
    paths = []
    for name, text in _bombs().items():
        paths.append(tmp_path / f"{name}.xml")
        paths[-1].write_text(text, encoding="utf-8")
    code, out, err, elapsed, peak = run_measured(["--config", str(journal.config_path), "verify",
                                                  *map(str, paths)], journal.root)
    _assert_bounded(code, out, err, elapsed, peak, "verify of three bombs")
    verdicts = dict(line.split(": ", 1) for line in out.strip().splitlines())
    for path in paths:
        assert verdicts.get(str(path), "").startswith("FAILED"), (path.name, verdicts.get(str(path)))


def test_entity_bomb_import_uses_bounded_memory(journal: Journal, tmp_path: Path) -> None:
    source = tmp_path / "billion-laughs.xml"
    source.write_text(_bombs()["billion-laughs"], encoding="utf-8")
    code, out, err, elapsed, peak = run_measured(["--config", str(journal.config_path), "import", str(source)],
                                                 journal.root)
    _assert_bounded(code, out, err, elapsed, peak, "import of a billion-laughs bomb")
    assert store_rows(journal).get("posts", []) == []


WXR_XXE = """<?xml version="1.0" encoding="UTF-8"?>
{doctype}<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
  xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.2/">
<channel><title>Lighthouse &e;</title><link>https://lighthouse.example.com</link>
<wp:wxr_version>1.2</wp:wxr_version>
<wp:author><wp:author_login>hk</wp:author_login><wp:author_display_name>Hanna &e;</wp:author_display_name></wp:author>
<item><title>Restoring the lens &e;</title><link>https://lighthouse.example.com/lens/</link>
<guid isPermaLink="false">https://lighthouse.example.com/?p=12</guid><dc:creator>hk</dc:creator>
<content:encoded><![CDATA[<p>Body</p>]]>&e;</content:encoded>
<wp:post_id>12</wp:post_id><wp:post_date_gmt>2018-09-01 08:00:00</wp:post_date_gmt>
<wp:status>publish</wp:status><wp:post_type>post</wp:post_type>
<category domain="category" nicename="m">&e;</category></item></channel></rss>
"""


@pytest.mark.parametrize("variant", ["general", "parameter"])
def test_wordpress_export_with_external_entity_is_refused(journal: Journal, tmp_path: Path, variant: str) -> None:
    marker, secret_file, dtd = _xxe_files(tmp_path)
    source = tmp_path / "wxr-xxe.xml"
    source.write_text(WXR_XXE.format(doctype=XXE_DOCTYPES[variant].format(secret=secret_file, dtd=dtd)),
                      encoding="utf-8")
    result = journal.cli("import", str(source), timeout=60)
    one_line_refusal(result)
    assert result.stdout.strip() == ""
    assert publish(journal.config(), ping=False, now=NOW).ok
    assert store_rows(journal).get("posts", []) == []
    for marker_text in (marker, "root:"):
        assert_nowhere(journal, marker_text, {"import": result})


def test_pulled_feed_with_external_entity_is_refused(journal: Journal, httpserver: HTTPServer,
                                                     tmp_path: Path) -> None:
    marker, secret_file, _ = _xxe_files(tmp_path)
    doctype = XXE_DOCTYPES["general"].format(secret=secret_file, dtd="")
    httpserver.expect_request("/xxe.xml").respond_with_data(
        atom_feed(atom_entry(1, "Leak &e;", "&e;"), doctype=doctype), content_type="application/atom+xml")
    url = f"http://127.0.0.1:{httpserver.port}/xxe.xml"
    journal.write_config(CONFIG + f"sources:\n  - {{url: '{url}', every: 1h}}\n")
    result = journal.cli("pull", "--force", timeout=60)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    no_traceback(result)
    assert "refused" in result.stderr, result.stderr
    assert store_rows(journal).get("posts", []) == []
    assert_nowhere(journal, marker, {"pull": result})


def xinclude_feed(secret_file: Path) -> str:
    include = f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://{secret_file}" parse="text"/>'
    return atom_feed(
        "<entry><id>tag:hostile.example,2024:xi</id>"
        f'<title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">Included {include}</div></title>'
        "<published>2024-01-01T00:00:00Z</published>"
        f'<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Body</p>{include}</div></content>'
        "</entry>")


def test_xinclude_is_never_processed(journal: Journal, tmp_path: Path) -> None:
    marker, secret_file, _ = _xxe_files(tmp_path)
    source = tmp_path / "xinclude.xml"
    source.write_text(xinclude_feed(secret_file), encoding="utf-8")
    config = journal.config()
    with open_store(config) as store:
        import_source(config, store, str(source), NOW)  # taken as it is, or refused: never included
    assert publish(journal.config(), ping=False, now=NOW).ok
    runs = {"verify": journal.cli("verify", str(source), *(str(p) for p in journal.feeds.glob("*.xml")),
                                  timeout=60)}
    no_traceback(runs["verify"])
    assert_nowhere(journal, marker, runs)

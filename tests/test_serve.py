"""``newswire serve`` as a real subprocess: media types, Link headers, conditional GETs, path safety, binding.

Each test publishes a journal, starts ``newswire serve --port <free port>`` on it,
waits (bounded) until it answers, talks raw HTTP to it with ``http.client`` (so
paths such as ``/../config.yaml`` reach the server exactly as written), and
terminates it at the end.
"""

from __future__ import annotations

import http.client
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path

import pytest

from harness import CONFIG, Journal

WAIT = 15.0  # seconds: the bound on every wait below
HUB = "https://hub.test/"
PUBLIC = "https://journal.test/feeds/"


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass
class Served:
    journal: Journal
    port: int
    process: subprocess.Popen[str]
    startup: str
    stderr: list[str] = field(default_factory=list)

    def get(self, path: str, headers: dict[str, str] | None = None, method: str = "GET",
            host: str = "127.0.0.1") -> Response:
        conn = http.client.HTTPConnection(host, self.port, timeout=WAIT)
        try:
            conn.request(method, path, headers=headers or {})
            answer = conn.getresponse()
            return Response(answer.status, answer.headers, answer.read())
        finally:
            conn.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pump(stream, sink: queue.Queue[str] | list[str]) -> None:
    for line in stream:
        sink.put(line) if isinstance(sink, queue.Queue) else sink.append(line)


def _start(journal: Journal, command: Callable[[int], list[str]] | None = None) -> Served:
    """Start ``newswire serve`` (or ``command(port)``, a server that prints no startup line) on a
    free port; retry on the (unlikely) loss of the port to someone else."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    name = "newswire serve"
    for _ in range(3):
        port = _free_port()
        argv = [sys.executable, "-m", "newswire", "--config", str(journal.config_path), "serve", "--port", str(port)]
        if command:
            argv = command(port)
            name = Path(argv[0]).name
        process = subprocess.Popen(argv, cwd=journal.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=env)
        lines: queue.Queue[str] = queue.Queue()
        stderr: list[str] = []
        threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
        threading.Thread(target=_pump, args=(process.stderr, stderr), daemon=True).start()
        try:
            startup = "" if command else lines.get(timeout=WAIT)
        except queue.Empty:
            startup = ""
        served = Served(journal, port, process, startup.strip(), stderr)
        deadline = time.monotonic() + WAIT
        while process.poll() is None and time.monotonic() < deadline:
            try:
                served.get("/")
                return served
            except OSError:
                time.sleep(0.05)
        _stop(served)
        if not any(lost in "".join(stderr) for lost in ("cannot listen", "Address already in use")):
            raise AssertionError(f"{name} did not answer within {WAIT:g} s: {startup!r} {''.join(stderr)}")
    raise AssertionError(f"no free port could be had for {name}")


def _stop(served: Served) -> None:
    if served.process.poll() is None:
        served.process.terminate()
        try:
            served.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            served.process.kill()
            served.process.wait(timeout=WAIT)


@pytest.fixture
def served(journal: Journal) -> Iterator[Served]:
    journal.write_config(CONFIG + f"notify:\n  websub: ['{HUB}']\n")
    journal.post("border", title="Southwest Border", date="2009-04-07T18:05:00-07:00",
                 labels=("Border Security", "International Cooperation"), body="Border text & more.")
    journal.post("atlas", title="Operation ATLAS", date="2009-11-06T10:30:00-05:00", labels=("Border Security",))
    # --no-ping: the pings stay queued instead of trying to reach hub.test, which does not exist.
    result = journal.cli("publish", "--no-ping")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (journal.feeds / "labels/border-security/atom.xml").is_file()
    server = _start(journal)
    try:
        yield server
    finally:
        _stop(server)


FEED_DOCUMENTS = ["atom.xml", "rss.xml", "feed.json", "labels/border-security/atom.xml",
                  "labels/border-security/rss.xml", "labels/border-security/feed.json",
                  "authors/jmorton/atom.xml"]
MEDIA = {"atom.xml": "application/atom+xml", "rss.xml": "application/rss+xml", "feed.json": "application/feed+json"}


def _media(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


def test_feed_documents_and_pages_have_their_media_types(served: Served) -> None:
    for path in FEED_DOCUMENTS:
        answer = served.get("/" + path)
        assert answer.status == 200, path
        assert _media(answer.header("Content-Type")) == MEDIA[path.rsplit("/", 1)[-1]], path
        assert answer.body == (served.journal.feeds / path).read_bytes(), path
        assert answer.header("Content-Length") == str(len(answer.body)), path
    for path in ("/index.html", "/"):
        answer = served.get(path)
        assert answer.status == 200, path
        assert _media(answer.header("Content-Type")) == "text/html", path
        assert answer.body == (served.journal.feeds / "index.html").read_bytes(), path


def test_feed_documents_link_the_hub_and_their_public_url(served: Served) -> None:
    for path in FEED_DOCUMENTS:
        answer = served.get("/" + path)
        link = answer.header("Link") or ""
        assert f'<{HUB}>; rel="hub"' in link, (path, link)
        assert f'<{PUBLIC}{path}>; rel="self"' in link, (path, link)
        assert link.count('rel="self"') == 1, (path, link)
    # HEAD answers with the same headers and no body.
    head = served.get("/atom.xml", method="HEAD")
    assert head.status == 200 and head.body == b""
    assert f'<{PUBLIC}atom.xml>; rel="self"' in (head.header("Link") or "")


def test_etag_and_last_modified_give_304_without_a_body(served: Served) -> None:
    for path in ("/atom.xml", "/labels/border-security/feed.json", "/index.html"):
        first = served.get(path)
        etag, modified = first.header("ETag"), first.header("Last-Modified")
        assert first.status == 200 and etag and modified, (path, dict(first.headers))

        by_etag = served.get(path, {"If-None-Match": etag})
        assert by_etag.status == 304, path
        assert by_etag.body == b"", path
        assert by_etag.header("ETag") == etag, path

        by_date = served.get(path, {"If-Modified-Since": modified})
        assert by_date.status == 304, path
        assert by_date.body == b"", path

        # ... and neither is unconditional: another tag or an older date gets the document.
        assert served.get(path, {"If-None-Match": '"something-else"'}).status == 200, path
        older = formatdate(time.time() - 10 * 365 * 86400, usegmt=True)
        for since in (older, "Thu, 01 Jan 1970 00:00:00 GMT"):
            other = served.get(path, {"If-Modified-Since": since})
            assert other.status == 200 and other.body == first.body, (path, since)
        # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2): a stale tag gets the document.
        both = served.get(path, {"If-None-Match": '"something-else"', "If-Modified-Since": modified})
        assert both.status == 200, path


# Metadata of the content: sent with the document, not with a 304 (RFC 9110 15.4.5 SHOULD NOT).
REPRESENTATION = {"content-type", "content-length", "accept-ranges"}
# A feed reader and a browser (which gets Atom and RSS as generic XML) ask differently.
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
READER = "application/atom+xml,application/rss+xml;q=0.9,application/feed+json;q=0.9,*/*;q=0.8"
ACCEPTS = ("*/*", "text/html,application/xhtml+xml,*/*;q=0.8", READER)


def _served_files(served: Served) -> list[str]:
    """Every file the server serves: each document of the published folder, dot-files aside."""
    feeds = served.journal.feeds
    files = sorted(p.relative_to(feeds).as_posix() for p in feeds.rglob("*")
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(feeds).parts))
    kinds = {name.rsplit("/", 1)[-1] for name in files}
    assert {"atom.xml", "rss.xml", "feed.json", "index.opml", "index.html", "feed.xsl"} <= kinds, kinds
    return files


def _headers(answer: Response) -> dict[str, str]:
    return {name.lower(): value for name, value in answer.headers.items()}


def _conditional_gets_repeat_the_headers(server: Served, url: str, headers: dict[str, str]) -> dict[str, str]:
    """GET and HEAD ``url``, then again with If-None-Match and with If-Modified-Since: each 304
    carries what the 200 did (RFC 9110 15.4.5), less the content's own metadata. The 200's headers."""
    for method in ("GET", "HEAD"):
        full = server.get(url, headers, method=method)
        assert full.status == 200, (url, method)
        want = _headers(full)
        assert {"etag", "last-modified", "cache-control", "date"} <= set(want), (url, want)
        for condition in ({"If-None-Match": want["etag"]}, {"If-Modified-Since": want["last-modified"]}):
            answer = server.get(url, {**headers, **condition}, method=method)
            assert answer.status == 304 and answer.body == b"", (url, method, condition)
            got = _headers(answer)
            assert set(got) == set(want) - REPRESENTATION, (url, headers, method, condition, got, want)
            for name in set(want) - REPRESENTATION - {"date"}:
                assert got[name] == want[name], (url, headers, method, condition, name)
    return want


def test_304_carries_the_headers_the_200_would(served: Served) -> None:
    """For every kind of file, whichever condition made it: Vary, ETag, Cache-Control,
    Last-Modified and (on feeds) Link come back on the 304."""
    for path in _served_files(served):
        for accept in ACCEPTS:
            sent = _conditional_gets_repeat_the_headers(served, "/" + path, {"Accept": accept})
            if path.endswith(("atom.xml", "rss.xml", "feed.json")):
                assert sent["vary"] == "Accept", (path, sent)
                if "text/html" not in accept:  # a browser gets the feed's page, which names no hub
                    assert f'<{PUBLIC}{path}>; rel="self"' in sent["link"], (path, sent)


def _page_of(path: str) -> str:
    folder = path.rpartition("/")[0]
    return f"{folder}/index.html" if folder else "journal.html"


@pytest.mark.parametrize("path", FEED_DOCUMENTS)
def test_a_browser_at_a_feed_url_gets_its_page_and_every_other_client_the_feed(served: Served, path: str) -> None:
    feeds = served.journal.feeds
    page, document = (feeds / _page_of(path)).read_bytes(), (feeds / path).read_bytes()
    for method in ("GET", "HEAD"):
        shown = served.get("/" + path, {"Accept": BROWSER}, method=method)
        assert shown.status == 200 and shown.header("Content-Type") == "text/html; charset=utf-8", (path, method)
        assert shown.body == (page if method == "GET" else b"") and shown.header("Content-Length") == str(len(page))
        assert shown.header("Vary") == "Accept" and shown.header("Link") is None, path
    etags = {served.get("/" + path, {"Accept": BROWSER}).header("ETag")}
    own = MEDIA[path.rsplit("/", 1)[-1]]
    for accept in (READER, "*/*", f"{own}, text/html;q=0.5", "text/html;q=0.8, */*", f"text/html, {own}", None):
        fed = served.get("/" + path, {"Accept": accept} if accept else {})
        assert fed.status == 200 and fed.body == document, (path, accept)
        assert _media(fed.header("Content-Type")) != "text/html" and fed.header("Vary") == "Accept", (path, accept)
        etags.add(fed.header("ETag"))
    assert len(etags) == 2, etags  # one per representation
    etag = served.get("/" + path, {"Accept": BROWSER}).header("ETag") or ""
    assert served.get("/" + path, {"Accept": BROWSER, "If-None-Match": etag}).status == 304
    assert served.get("/" + path, {"Accept": READER, "If-None-Match": etag}).status == 200


def test_a_browser_gets_the_feed_view_where_no_page_was_published(served: Served) -> None:
    (served.journal.feeds / "labels/border-security/index.html").unlink()
    answer = served.get("/labels/border-security/atom.xml", {"Accept": BROWSER})
    assert answer.status == 200 and _media(answer.header("Content-Type")) == "application/xml"
    assert b"<?xml-stylesheet" in answer.body


# --- the README's nginx configuration, run in nginx ------------------------------------------

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
# .ci/run sets this, so that a machine without nginx fails there instead of skipping.
NGINX_REQUIRED = os.environ.get("NEWSWIRE_NGINX_TESTS") == "required"
NGINX_MISSING = "nginx is not installed: apt-get install nginx-light (Debian) to try the README's nginx configuration"
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def nginx(served: Served, tmp_path: Path) -> Iterator[Served]:
    """nginx with the README's configuration, serving the same journal (on /feeds/)."""
    if not NGINX:
        if NGINX_REQUIRED:
            pytest.fail(f"NEWSWIRE_NGINX_TESTS=required, but {NGINX_MISSING}")
        pytest.skip(NGINX_MISSING)
    [snippet] = re.findall(r"```nginx\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert "root /srv/journal;" in snippet and "https://hub.example.net/" in snippet
    snippet = snippet.replace("root /srv/journal;", f"root {served.journal.root};").replace(
        "https://hub.example.net/", HUB)
    temp = tmp_path / "nginx"
    temp.mkdir()

    def command(port: int) -> list[str]:
        # One process as this user (no workers switching to another user that cannot read tmp_path),
        # every file it writes under tmp_path; types{} stands for the mime.types a server includes.
        paths = " ".join(f"{kind}_temp_path {temp};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (tmp_path / "nginx.conf").write_text(f"""
            daemon off; master_process off; pid {temp}/nginx.pid;
            events {{ worker_connections 64; }}
            http {{
                types {{ text/html html; }}
                access_log off; {paths}
                server {{ listen 127.0.0.1:{port};\n{snippet}\n}}
            }}""", encoding="utf-8")
        return [NGINX, "-e", str(tmp_path / "error.log"), "-p", str(temp), "-c", str(tmp_path / "nginx.conf")]

    server = _start(served.journal, command)
    try:
        yield server
    finally:
        _stop(server)
    assert "[warn]" not in (tmp_path / "error.log").read_text(encoding="utf-8")


def test_the_readme_nginx_configuration_serves_as_newswire_serve_does(served: Served, nginx: Served) -> None:
    """Same media types (for a browser too), Vary, Cache-Control and Link, and 304s that
    repeat them: add_header without ``always`` reaches 304 answers."""
    for path in _served_files(served):
        for accept in ACCEPTS:
            ours = _headers(served.get("/" + path, {"Accept": accept}))
            theirs = _conditional_gets_repeat_the_headers(nginx, "/feeds/" + path,
                                                          {"Accept": accept, "Host": "journal.test"})
            for name in ("content-type", "content-length", "vary", "cache-control"):
                assert theirs.get(name) == ours.get(name), (path, accept, name, theirs, ours)
            assert nginx.get("/feeds/" + path, {"Accept": accept, "Host": "journal.test"}).body == \
                served.get("/" + path, {"Accept": accept}).body, (path, accept)
            # nginx names the document by the URL it was asked for (here http://journal.test/feeds/...).
            link = ours.get("link")
            assert theirs.get("link") == (link and link.replace(PUBLIC, "http://journal.test/feeds/")), path
    (served.journal.feeds / ".atom.xml.tmp").write_text("<feed>half written</feed>", encoding="utf-8")
    assert nginx.get("/feeds/.atom.xml.tmp").status == 404


def test_if_none_match_uses_weak_comparison(served: Served) -> None:
    """RFC 9110 13.1.2: If-None-Match is evaluated with the weak comparison, so W/"x" matches "x"."""
    etag = served.get("/atom.xml").header("ETag")
    weak = served.get("/atom.xml", {"If-None-Match": f"W/{etag}"})
    assert weak.status == 304 and weak.body == b"", f"If-None-Match: W/{etag} got {weak.status}"
    listed = served.get("/atom.xml", {"If-None-Match": f'"other", W/{etag}'})
    assert listed.status == 304, f"If-None-Match: \"other\", W/{etag} got {listed.status}"


SECRETS = {  # what must never come back, whichever way a path tries to reach it
    "config.yaml": b"id_authority",
    "newswire.db": b"SQLite format 3",
    "/etc/passwd": b"root:",
}
TRAVERSALS = [
    "/../config.yaml",
    "/%2e%2e/config.yaml",
    "/%2E%2E/config.yaml",
    "/labels/../../newswire.db",
    "/labels/%2e%2e/%2e%2e/newswire.db",
    "/..%2fnewswire.db",
    "/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "//etc/passwd",
    "/../../../../../../etc/passwd",
    "/./../config.yaml",
    "/labels/border-security/../../../config.yaml",
    "/leak.yaml",  # a symlink inside the folder that points outside it
    "/atom.xml%00.html",
    "http://127.0.0.1/../config.yaml",
]


def test_paths_outside_the_folder_are_404(served: Served) -> None:
    journal = served.journal
    assert (journal.root / "config.yaml").is_file() and (journal.root / "newswire.db").is_file()
    (journal.feeds / "leak.yaml").symlink_to(journal.root / "config.yaml")
    for path in TRAVERSALS:
        answer = served.get(path)
        assert answer.status == 404, (path, answer.status, answer.body[:200])
        for name, marker in SECRETS.items():
            assert marker not in answer.body, (path, name)


def test_dotfiles_are_404(served: Served) -> None:
    feeds = served.journal.feeds
    (feeds / ".atom.xml.tmp").write_text("<feed>half written</feed>", encoding="utf-8")
    (feeds / "labels/border-security/.rss.xml.tmp").write_text("<rss>half</rss>", encoding="utf-8")
    (feeds / ".hidden").mkdir()
    (feeds / ".hidden/atom.xml").write_text("<feed>hidden</feed>", encoding="utf-8")
    for path in ("/.atom.xml.tmp", "/%2eatom.xml.tmp", "/labels/border-security/.rss.xml.tmp",
                 "/.hidden/atom.xml", "/.hidden/"):
        answer = served.get(path)
        assert answer.status == 404, (path, answer.status)
        assert b"half" not in answer.body and b"hidden</feed>" not in answer.body, path


def _non_loopback_address() -> str | None:
    """This machine's own non-loopback address, if it has one (checked to be local: it can be bound)."""
    try:
        address = socket.gethostbyname(socket.gethostname())
    except OSError:
        return None
    if address.startswith("127."):
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((address, 0))  # only an address of this machine can be bound
        except OSError:
            return None
    return address


def test_listens_on_loopback_only_by_default(served: Served) -> None:
    assert served.startup.startswith("serving "), served.startup
    assert f"at http://127.0.0.1:{served.port}/" in served.startup, served.startup
    assert served.get("/").status == 200
    address = _non_loopback_address()
    if address is None:
        return  # no non-loopback address here: only that one check is left out
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        with pytest.raises(ConnectionRefusedError):
            s.connect((address, served.port))


def test_server_stops_when_terminated(journal: Journal) -> None:
    journal.post("one", title="One")
    assert journal.cli("publish", "--no-ping").returncode == 0
    server = _start(journal)
    _stop(server)
    assert server.process.returncode is not None
    with pytest.raises(OSError):
        server.get("/")

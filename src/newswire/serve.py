"""``newswire serve``: preview the output folder as a production server would serve it.

Right media types; at a feed document's URL, a browser (whose ``Accept`` prefers HTML) gets
the feed's page for people and every other client the feed (``Vary: Accept``), or, where no
page was published, Atom and RSS as generic XML so the feed view's stylesheet applies;
``Link`` headers naming the hub and the document itself, ``ETag``/``Last-Modified`` with 304
answers, and nothing outside the folder. Binds to 127.0.0.1 unless told otherwise.

With the journal's own pages (``paths.pages``), both folders are served as the journal's URLs
say: the pages below site_url's path, the feeds below feeds_url's; a deleted post's page (one
the publish lists in ``GONE_LIST``) is answered ``410 Gone``, with the page that says so.
"""

from __future__ import annotations

import os
import posixpath
import re
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .bounds import http_date
from .config import Config, JournalConfig
from .errors import UsageError
from .formats import media_type, of_path
from .model import PAGE_NAME, page_document_path


def resolve(root: Path, url_path: str) -> Path | None:
    """The file a URL path names below ``root``, or None (never a file outside it)."""
    path = posixpath.normpath(unquote(urlsplit(url_path).path))
    parts = [p for p in path.split("/") if p and p not in (".", "..")]
    if any("\x00" in p or p.startswith(".") for p in parts):
        return None
    target = root.joinpath(*parts)
    if target.is_dir():
        target = target / "index.html"
    try:
        real = target.resolve(strict=True)
    except (FileNotFoundError, RuntimeError, OSError):
        return None
    if not real.is_relative_to(root.resolve()) or not real.is_file():
        return None
    return real


# Beside the journal's pages: the URL path of each deleted post's page, one a line, in the form of
# an nginx ``map`` (see the README's "Serving"), so nginx and ``serve`` answer 410 for the same URLs.
# A name beginning with a dot is never served.
GONE_LIST = ".gone.map"
_GONE_LINE = re.compile(r'^"((?:[^"\\]|\\.)*)" 1;$')


def gone_list(journal: JournalConfig, paths: list[str]) -> bytes:
    """The ``GONE_LIST`` for deleted posts' pages at these paths below the pages folder: each by its
    URL path, and a folder's page (``index.html``) by its folder's too."""
    base = urlsplit(journal.site_url).path
    urls = [base + path for path in paths]
    urls += [url.removesuffix(PAGE_NAME) for url in urls if url.endswith("/" + PAGE_NAME)]
    quoted = (url.replace("\\", "\\\\").replace('"', '\\"') for url in sorted(urls))
    return "".join(f'"{url}" 1;\n' for url in quoted).encode()


def gone_urls(pages: Path) -> set[str]:
    """The URL paths ``GONE_LIST`` names (none if there is no list)."""
    try:
        lines = (pages / GONE_LIST).read_text(encoding="utf-8").splitlines()
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
        return set()
    return {re.sub(r"\\(.)", r"\1", m.group(1)) for line in lines if (m := _GONE_LINE.match(line))}


def place(config: Config, url_path: str) -> tuple[Path, str, bool]:
    """Which folder serves a URL path, the path below it, and whether it is the journal's pages:
    the output folder at the top without pages, else by the journal's URLs (the longer path first)."""
    output = config.paths.output
    assert isinstance(output, Path), "make_server refuses a bucket"
    if config.paths.pages is None:
        return output, url_path, False
    path = urlsplit(url_path).path
    roots = sorted([(urlsplit(config.journal.feeds_url).path, output, False),
                    (urlsplit(config.journal.site_url).path, config.paths.pages, True)], key=lambda r: -len(r[0]))
    for prefix, root, pages in roots:
        if path.startswith(prefix):
            return root, "/" + path[len(prefix):], pages
    return output, "", False


PAGE_TYPES = ("text/html", "application/xhtml+xml")


def prefers_page(accept: str, media: str) -> bool:
    """True if an ``Accept`` header prefers a page (HTML, named as such) to a document of type
    ``media``, matched by its most specific range (RFC 9110 12.5.1). A tie goes to the document:
    only a client that asks for HTML above the feed (a browser) gets the page."""
    ranges: dict[str, float] = {}
    for part in accept.lower().split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for name, _, value in (p.partition("=") for p in params):
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges[kind] = max(q, ranges.get(kind, 0.0))
    document = next((ranges[k] for k in (media, f"{media.split('/')[0]}/*", "*/*") if k in ranges), 0.0)
    return max(ranges.get(k, 0.0) for k in PAGE_TYPES) > document


def make_handler(config: Config) -> type[BaseHTTPRequestHandler]:
    hubs = config.notify.websub

    class Handler(BaseHTTPRequestHandler):
        server_version = "newswire-preview"

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            root, path, pages = place(config, self.path)
            target = resolve(root, path) if path else None
            if target is None:
                self.send_error(HTTPStatus.NOT_FOUND, "Not found")
                return
            status = HTTPStatus.OK
            if pages and posixpath.normpath(unquote(urlsplit(self.path).path)) in {
                    posixpath.normpath(url) for url in gone_urls(root)}:
                status = HTTPStatus.GONE  # a deleted post's page: it says so
            rel = target.relative_to(root.resolve()).as_posix()
            fmt = of_path(rel)
            negotiated = fmt is not None  # a feed's URL: what it answers depends on Accept
            accept = self.headers.get("Accept", "")
            if fmt is not None and prefers_page(accept, fmt.media_type):
                page = resolve(root, page_document_path(posixpath.dirname(rel)))
                if page is not None:  # a browser: the feed's page
                    target, rel, fmt = page, page_document_path(posixpath.dirname(rel)), None
            st = target.stat()
            kind = media_type(rel)
            if fmt is not None and fmt.xml and "text/html" in accept:
                # A browser, and no page: as generic XML its xml-stylesheet applies and it shows the feed view.
                kind = "application/xml; charset=utf-8"
            etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
            # What a 304 must repeat from the 200 (RFC 9110 15.4.5): Vary, ETag, Cache-Control,
            # and the Last-Modified and Link that guide a cache's update of the stored copy.
            headers = [("ETag", etag), ("Last-Modified", formatdate(st.st_mtime, usegmt=True)),
                       ("Cache-Control", "no-cache")]
            if negotiated:
                headers.append(("Vary", "Accept"))
            if fmt is not None:
                links = [f'<{hub}>; rel="hub"' for hub in hubs]
                links.append(f'<{config.journal.feed_url(rel)}>; rel="self"')
                headers.append(("Link", ", ".join(links)))
            if status is HTTPStatus.OK and self._not_modified(etag, st.st_mtime):
                self._respond(HTTPStatus.NOT_MODIFIED, headers)
                return
            # Representation metadata only with the representation (a 304 SHOULD NOT repeat it).
            self._respond(status, [("Content-Type", kind), ("Content-Length", str(st.st_size)), *headers])
            if body:
                with open(target, "rb") as fh:
                    self.wfile.write(fh.read())

        def _respond(self, status: HTTPStatus, headers: list[tuple[str, str]]) -> None:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()

        def _not_modified(self, etag: str, mtime: float) -> bool:
            match = self.headers.get("If-None-Match")
            if match is not None:
                # Weak comparison (RFC 9110 13.1.2): W/"x" matches "x".
                return match.strip() == "*" or etag in [m.strip().removeprefix("W/") for m in match.split(",")]
            since = self.headers.get("If-Modified-Since")
            when = http_date(since) if since else None  # None too for dates no datetime can hold
            return when is not None and int(mtime) <= when.timestamp()

        def log_message(self, format: str, *args: object) -> None:
            if os.environ.get("NEWSWIRE_QUIET_SERVE") != "1":
                super().log_message(format, *args)

    return Handler


def make_server(config: Config, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    """A preview of the output folder; a bucket is served by its CDN, not previewed."""
    if not isinstance(config.paths.output, Path):
        raise UsageError(f"paths.output is {config.paths.output}: serve previews a folder on disk (publish a "
                         "copy with paths.output set to a folder to preview it)")
    return ThreadingHTTPServer((host, port), make_handler(config))

"""``newswire serve``: preview the output folder as a production server would serve it.

Right media types; at a feed document's URL, a browser (whose ``Accept`` prefers HTML) gets
the feed's page for people and every other client the feed (``Vary: Accept``), or, where no
page was published, Atom and RSS as generic XML so the feed view's stylesheet applies;
``Link`` headers naming the hub and the document itself, ``ETag``/``Last-Modified`` with 304
answers, and nothing outside the folder. Binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import mimetypes
import os
import posixpath
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .bounds import http_date
from .config import Config
from .formats import of_path
from .model import page_document_path

MEDIA_TYPES = {  # beside the feed documents, whose formats give theirs
    ".opml": "text/x-opml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".xsl": "text/xsl; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


def media_type(name: str) -> str:
    fmt = of_path(name)
    if fmt is not None:
        return f"{fmt.media_type}; charset=utf-8"
    for suffix, kind in MEDIA_TYPES.items():
        if name.endswith(suffix):
            return kind
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


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
    root = config.paths.output
    hubs = config.notify.websub

    class Handler(BaseHTTPRequestHandler):
        server_version = "newswire-preview"

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            target = resolve(root, self.path)
            if target is None:
                self.send_error(HTTPStatus.NOT_FOUND, "Not found")
                return
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
            if self._not_modified(etag, st.st_mtime):
                self._respond(HTTPStatus.NOT_MODIFIED, headers)
                return
            # Representation metadata only with the representation (a 304 SHOULD NOT repeat it).
            self._respond(HTTPStatus.OK, [("Content-Type", kind), ("Content-Length", str(st.st_size)), *headers])
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
    return ThreadingHTTPServer((host, port), make_handler(config))

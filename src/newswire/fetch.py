"""Fetching from outside: http(s) only, with a deadline, a size limit and bounded redirects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .bounds import whole
from .config import Limits, hide_userinfo
from .errors import NewswireError

if TYPE_CHECKING:
    import requests


@dataclass(frozen=True)
class Fetched:
    """An answer: its status, its body (empty for 304) and its headers."""

    url: str
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)  # case-insensitive when from a server
    reason: str = ""
    cut: bool = False  # the answer went past the byte limit and was not read


class FetchError(NewswireError):
    """A source could not be fetched; nothing was taken from it."""


def check_url(url: str) -> None:
    """Only http(s), and no user name or password: they would be shown in messages and logs, and
    the URL is the base that imported posts' relative links (published) are resolved against."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # 'http://[::1' and the like
        raise FetchError(f"{hide_userinfo(url)}: not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"{hide_userinfo(url)}: only http and https URLs are fetched")
    if "@" in parts.netloc:
        raise FetchError(f"{hide_userinfo(url)}: a URL with a user name or password is not fetched")


class _TooLarge(Exception):
    """An answer went past the byte limit."""


def _read_body(response: requests.Response, max_bytes: int) -> bytes:
    """The answer's body, at most ``max_bytes``; a cut-short answer is a ConnectionError."""
    import requests
    from urllib3.exceptions import HTTPError as TransportError
    from urllib3.exceptions import ReadTimeoutError

    chunks, size = [], 0
    try:
        while chunk := response.raw.read1(65536, decode_content=True):
            size += len(chunk)
            if size > max_bytes:
                raise _TooLarge(size)
            chunks.append(chunk)
    except ReadTimeoutError:
        raise requests.Timeout("no answer") from None
    except TransportError as exc:
        raise requests.ConnectionError(f"the answer was cut short ({type(exc).__name__})") from None
    return b"".join(chunks)


def request(method: str, url: str, *, seconds: float, max_bytes: int, max_redirects: int = 0,
            headers: Mapping[str, str] | None = None, data: bytes | Mapping[str, str] | None = None) -> Fetched:
    """One exchange, within ``seconds`` in all: connecting, the headers, the answer and any
    redirects together. An answer longer than ``max_bytes`` is not read (``cut``).

    Failures come out as requests' exceptions; running out of time is ``requests.Timeout``.
    """
    import requests
    from requests.structures import CaseInsensitiveDict

    from .deadline import Deadline, session

    check_url(url)
    with session(max_redirects) as s, Deadline(seconds) as deadline:
        try:
            response = s.request(method, url, headers=dict(headers or {}), data=data, stream=True,
                                 allow_redirects=max_redirects > 0, timeout=(deadline.left(), deadline.left()))
            try:
                for hop in response.history + [response]:
                    check_url(hop.url)
                declared = whole(response.headers.get("Content-Length", ""), max_bytes + 1)
                cut = declared is not None and declared > max_bytes
                try:
                    body = b"" if cut else _read_body(response, max_bytes)
                except _TooLarge:
                    body, cut = b"", True
            finally:
                response.close()
        except requests.RequestException:
            if deadline.expired:
                raise requests.Timeout(f"no complete answer within {seconds:g} s") from None
            raise
        if deadline.expired:  # a socket shut at the deadline ends an answer that has no length as if complete
            raise requests.Timeout(f"no complete answer within {seconds:g} s")
    return Fetched(response.url, response.status_code, body, CaseInsensitiveDict(response.headers),
                   response.reason or "", cut)


DEFAULT_LIMITS = Limits()


def fetch(url: str, limits: Limits = DEFAULT_LIMITS, *, headers: dict[str, str] | None = None,
          allow: tuple[int, ...] = ()) -> Fetched:
    """GET ``url`` within ``limits``, refusing more than ``limits.max_bytes`` or a redirect off http(s).

    A status of 400 or more raises ``FetchError`` unless it is in ``allow``.
    """
    import requests  # loaded only when something is fetched

    try:
        answer = request("GET", url, seconds=limits.timeout, max_bytes=limits.max_bytes,
                         max_redirects=limits.max_redirects, headers=headers)
    except requests.TooManyRedirects:
        raise FetchError(f"{url}: more than {limits.max_redirects} redirects") from None
    except requests.RequestException as exc:
        raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None
    if answer.status >= 400 and answer.status not in allow:
        raise FetchError(f"{url}: the server answered {answer.status} {answer.reason}")
    if answer.cut:
        raise FetchError(f"{url}: larger than the {limits.max_bytes} byte limit")
    return answer

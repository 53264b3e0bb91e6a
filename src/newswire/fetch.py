"""Fetching from outside: http(s) only, with timeouts, a size limit and bounded redirects."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .config import Limits, hide_userinfo
from .errors import NewswireError

if TYPE_CHECKING:
    import requests

USER_AGENT = "newswire (+feed publisher)"


@dataclass(frozen=True)
class Fetched:
    """An answer: its status, its body (empty for 304) and its headers."""

    url: str
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)  # case-insensitive when from a server


class FetchError(NewswireError):
    """A source could not be fetched; nothing was taken from it."""


def check_url(url: str) -> None:
    """Only http(s), and no user name or password: they would be shown in messages and logs, and
    the URL is the base that imported posts' relative links (published) are resolved against."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"{hide_userinfo(url)}: only http and https URLs are fetched")
    if "@" in parts.netloc:
        raise FetchError(f"{hide_userinfo(url)}: a URL with a user name or password is not fetched")


class TooLarge(Exception):
    """An answer went past the byte limit."""


def read_body(response: "requests.Response", max_bytes: int, timeout: float) -> bytes:
    """The answer's body, at most ``max_bytes``, within ``timeout`` seconds in all.

    requests' own timeout bounds each read, so a server trickling a byte at a time
    could hold the caller forever; this bounds the whole answer. Errors come out as
    requests' exceptions (a cut-short answer is a ConnectionError).
    """
    import requests
    from urllib3.exceptions import HTTPError as TransportError, ReadTimeoutError

    deadline = time.monotonic() + timeout
    chunks, size = [], 0
    try:
        while chunk := response.raw.read1(65536, decode_content=True):
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge(size)
            if time.monotonic() > deadline:
                raise requests.Timeout(f"no complete answer within {timeout:g} s")
            chunks.append(chunk)
    except ReadTimeoutError:
        raise requests.Timeout(f"no complete answer within {timeout:g} s") from None
    except TransportError as exc:
        raise requests.ConnectionError(f"the answer was cut short ({type(exc).__name__})") from None
    return b"".join(chunks)


def fetch(url: str, limits: Limits = Limits(), *, headers: dict[str, str] | None = None,
          allow: tuple[int, ...] = ()) -> Fetched:
    """GET ``url``, refusing more than ``limits.max_bytes`` or a redirect off http(s).

    A status of 400 or more raises ``FetchError`` unless it is in ``allow``.
    """
    import requests  # loaded only when something is fetched
    from requests.structures import CaseInsensitiveDict

    check_url(url)
    with requests.Session() as session:
        session.max_redirects = limits.max_redirects
        session.headers["User-Agent"] = USER_AGENT
        try:
            with session.get(url, timeout=(limits.timeout, limits.timeout), stream=True,
                             headers=headers or {}) as response:
                for hop in response.history + [response]:
                    check_url(hop.url)
                if response.status_code >= 400 and response.status_code not in allow:
                    raise FetchError(f"{url}: the server answered {response.status_code} {response.reason}")
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > limits.max_bytes:
                    raise FetchError(f"{url}: larger than the {limits.max_bytes} byte limit ({declared} bytes)")
                try:
                    body = read_body(response, limits.max_bytes, limits.timeout)
                except TooLarge:
                    raise FetchError(f"{url}: larger than the {limits.max_bytes} byte limit") from None
                return Fetched(response.url, response.status_code, body, CaseInsensitiveDict(response.headers))
        except requests.TooManyRedirects:
            raise FetchError(f"{url}: more than {limits.max_redirects} redirects") from None
        except requests.RequestException as exc:
            raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None

"""Fetching from outside: http(s) only, with timeouts, a size limit and bounded redirects."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from .errors import NewswireError

DEFAULT_LIMIT = 20 * 1024 * 1024
USER_AGENT = "newswire (+feed publisher)"


class FetchError(NewswireError):
    """A source could not be fetched; nothing was taken from it."""


def check_url(url: str) -> None:
    if urlsplit(url).scheme not in ("http", "https"):
        raise FetchError(f"{url}: only http and https URLs are fetched")


def fetch(url: str, *, limit: int = DEFAULT_LIMIT, timeout: float = 10.0, max_redirects: int = 5) -> bytes:
    """The body of ``url``, refusing more than ``limit`` bytes or a redirect off http(s)."""
    check_url(url)
    with requests.Session() as session:
        session.max_redirects = max_redirects
        session.headers["User-Agent"] = USER_AGENT
        try:
            with session.get(url, timeout=(timeout, timeout), stream=True) as response:
                for hop in response.history + [response]:
                    check_url(hop.url)
                if response.status_code >= 400:
                    raise FetchError(f"{url}: the server answered {response.status_code} {response.reason}")
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > limit:
                    raise FetchError(f"{url}: larger than the {limit} byte limit ({declared} bytes)")
                chunks, size = [], 0
                for chunk in response.iter_content(65536):
                    size += len(chunk)
                    if size > limit:
                        raise FetchError(f"{url}: larger than the {limit} byte limit")
                    chunks.append(chunk)
                return b"".join(chunks)
        except requests.TooManyRedirects:
            raise FetchError(f"{url}: more than {max_redirects} redirects") from None
        except requests.RequestException as exc:
            raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None

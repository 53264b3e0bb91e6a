"""Telling a CDN which documents changed, after a publish put them in place (``output.purge_command``,
``output.purge_url``), so that it stops serving the old bytes before their max-age runs out.

A purge that fails is a warning, not a failed publish: the documents are in place, and the
CDN serves them once its copies expire."""

from __future__ import annotations

import subprocess
import time
from urllib.parse import quote

from .config import Config
from .errors import printable
from .sinks.split import is_site


def purge(config: Config, paths: list[str]) -> list[str]:
    """Purge these documents' URLs (the journal's own pages are served from elsewhere); the warnings."""
    urls = [config.journal.feed_url(path) for path in paths if not is_site(path)]
    if not urls:
        return []
    settings, warnings = config.output, []
    if settings.purge_command:
        warnings += _command(list(settings.purge_command), urls, settings.timeout)
    if settings.purge_url:
        warnings += _posts(settings.purge_url, urls, settings.timeout)
    return warnings


def _command(argv: list[str], urls: list[str], timeout: float) -> list[str]:
    """Run the command with the URLs on its standard input, one a line (a list of any length fits)."""
    try:
        done = subprocess.run(argv, input="".join(url + "\n" for url in urls), text=True, capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return [f"purge command {argv[0]} did not finish in {timeout:g} s"]
    except OSError as exc:
        return [f"purge command {argv[0]} could not run: {exc.strerror or exc}"]
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [""])[-1]
        return [f"purge command {argv[0]} exited {done.returncode}: {printable(last, 300)}"]
    return []


def _posts(template: str, urls: list[str], timeout: float) -> list[str]:
    """POST the template once for each URL; stops at the first failure, and within ``timeout`` a URL in all."""
    import requests

    deadline = time.monotonic() + timeout * len(urls)
    with requests.Session() as session:
        for done, url in enumerate(urls):
            target = template.replace("{url}", quote(url, safe=""))
            try:
                answer = session.post(target, timeout=max(0.1, min(timeout, deadline - time.monotonic())))
                answer.close()
                if answer.status_code >= 300:
                    raise requests.RequestException(f"HTTP {answer.status_code}")
            except requests.RequestException as exc:
                return [f"purge stopped after {done} of {len(urls)} URLs: {printable(target, 300)}: "
                        f"{printable(exc, 300)}"]
    return []

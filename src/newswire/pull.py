"""``newswire pull``: partner sources fetched on their interval into the journal.

Conditional GET (``If-None-Match``/``If-Modified-Since`` from the last answer), 304
as nothing new, ``Retry-After`` honoured on 429 and 503, exponential backoff on
errors. What is new or changed reaches the feeds at the next publish. A due source is
claimed before it is fetched (``SourceStore.claim``), so two runs sharing the store (two
hosts' daemons) never pull it at once: the one that comes second finds it not due. A pull
that outlasts its lease may be done twice, which changes nothing: the same entries
imported again are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from .config import Config, SourceConfig
from .errors import NewswireError
from .fetch import fetch
from .importer import ImportReport, import_entries, parse
from .lock import lease
from .notify import retry_after
from .store import Store, to_utc_text

MAX_BACKOFF = 86400.0

PullStatus = Literal["imported", "not modified", "not due", "retry later", "failed"]
"""What one pull of a source came to."""


@dataclass
class PullResult:
    url: str
    status: PullStatus
    detail: str = ""
    report: ImportReport | None = None

    def line(self) -> str:
        text = f"{self.url}: {self.status}"
        if self.report is not None:
            refused = f", {len(self.report.problems)} refused" if self.report.problems else ""
            text += (f" ({self.report.added} added, {self.report.updated} updated, {self.report.unchanged} unchanged"
                     f"{refused})")
        return text + (f": {self.detail}" if self.detail else "")

    @property
    def problems(self) -> list[str]:
        """One line per entry of this source that was refused or clashed with a post it does not own."""
        return self.report.problems if self.report is not None else []


def pull(config: Config, store: Store, now: datetime, *, force: bool = False) -> list[PullResult]:
    """Pull every source that is due (``force``: every source). A source that cannot be read is
    reported and backs off; the others are pulled all the same."""
    return [_pull_one(config, store, source, now, force) for source in config.sources]


def _pull_one(config: Config, store: Store, source: SourceConfig, now: datetime, force: bool) -> PullResult:
    state = store.sources.get(source.url)
    if state is not None and not force and state.next_at > now:
        return PullResult(source.url, "not due", f"next at {to_utc_text(state.next_at)}")
    until = now + lease(config.fetch.timeout, config.paths.store_wait)
    if not force and not store.sources.claim(source.url, now, until):
        return PullResult(source.url, "not due", "another run is pulling it")
    failures = state.failures if state is not None else 0
    headers = {}
    if state is not None and state.etag:
        headers["If-None-Match"] = state.etag
    if state is not None and state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    every = timedelta(seconds=source.every)
    try:
        answer = fetch(source.url, config.fetch, headers=headers, allow=(429, 503))
    except NewswireError as exc:
        return _backoff(store, source, now, failures, str(exc))
    if answer.status in (429, 503):
        wait = retry_after(answer.headers.get("Retry-After"), now)
        if wait is None:
            return _backoff(store, source, now, failures, f"answered {answer.status}")
        store.sources.set(source.url, next_at=now + timedelta(seconds=wait), failures=failures + 1,
                               status=str(answer.status), now=now)
        return PullResult(source.url, "retry later", f"answered {answer.status}; Retry-After {wait:.0f} s")
    if answer.status == 304:
        store.sources.set(source.url, next_at=now + every, failures=0, status="304", now=now)
        return PullResult(source.url, "not modified")
    try:
        found = parse(answer.body, answer.url, source.url)
    except NewswireError as exc:
        return _backoff(store, source, now, failures, str(exc))
    known = {a.key for a in config.authors}
    author_key = source.author if source.author in known else None
    entries = found.entries
    if source.author and author_key is None:
        entries = [replace(e, author=source.author) for e in entries]
    report = ImportReport(source=source.url, kind=found.kind, skipped=found.skipped, problems=found.problems)
    import_entries(config, store, entries, now, report, origin=source.url, author_key=author_key,
                   labels=(source.label,) if source.label else ())
    store.sources.set(source.url, next_at=now + every, failures=0, status=str(answer.status), now=now,
                           etag=answer.headers.get("ETag"), last_modified=answer.headers.get("Last-Modified"))
    return PullResult(source.url, "imported", report=report)


def _backoff(store: Store, source: SourceConfig, now: datetime, failures: int, why: str) -> PullResult:
    delay = min(source.every * 2 ** min(failures, 32), MAX_BACKOFF)  # the count is the store's: kept from overflowing
    store.sources.set(source.url, next_at=now + timedelta(seconds=delay), failures=failures + 1,
                           status="error", now=now)
    return PullResult(source.url, "failed", f"{why}; next try in {delay:.0f} s")

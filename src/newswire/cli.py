"""The ``newswire`` command: a thin shell over the library.

Each command parses its options, calls one library function and prints its report.
Expected failures (bad config, bad input, a held lock) print one line on stderr and
exit with the documented code; they never print a traceback.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__, content, notify, upkeep
from .config import Config, load_config
from .errors import EXIT_FAILED, EXIT_OK, NewswireError, UsageError
from .lock import journal_lock
from .job import PublishReport, check_published, open_store, publish, utcnow
from .store import from_utc_text, store_trouble

F = TypeVar("F", bound=Callable[..., Any])


def _errors_as_messages(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except NewswireError as exc:
            click.echo(f"newswire: {exc}", err=True)
            sys.exit(exc.exit_code)
        except sqlite3.Error as exc:  # the store failed under a command that did not expect it
            loaded = click.get_current_context().obj.get("loaded")
            click.echo(f"newswire: {store_trouble(loaded.paths.store if loaded else None, exc)}", err=True)
            sys.exit(EXIT_FAILED)
    return wrapper  # type: ignore[return-value]


def _config(ctx: click.Context) -> Config:
    ctx.obj["loaded"] = load_config(ctx.obj["config"])
    return ctx.obj["loaded"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="NEWSWIRE_CONFIG",
              default="config.yaml", show_default=True, help="The journal's config file (or $NEWSWIRE_CONFIG).")
@click.version_option(__version__, prog_name="newswire")
@click.pass_context
def main(ctx: click.Context, config_path: str) -> None:
    """Publish a journal as verified Atom, RSS and JSON feeds, and tell subscribers.

    Exit codes: 0 done, 1 a document failed verification or a job failed,
    2 bad usage or bad config, 75 another publish holds the lock.
    """
    ctx.obj = {"config": config_path}


@main.command()
@click.argument("directory", type=click.Path(file_okay=False), default=".")
@_errors_as_messages
def init(directory: str) -> None:
    """Create a ready config.yaml and content/ with one example post in DIRECTORY."""
    from .scaffold import init_journal

    for path in init_journal(Path(directory)):
        click.echo(f"created {path}")
    click.echo("next: edit config.yaml, then run 'newswire publish'")


@main.command()
@click.pass_context
@_errors_as_messages
def sync(ctx: click.Context) -> None:
    """Bring the Markdown content directory into the store.

    New files are added, changed ones updated (a post keeps its id), removed ones
    deleted. A file with an error is reported as file:line and skipped; the post
    the store already holds for it stays as it was.
    """
    config = _config(ctx)
    with journal_lock(config.lock_path, wait=30), open_store(config) as store:
        report = content.sync(config, store, utcnow())
    for err in report.errors:
        click.echo(f"newswire: {err}", err=True)
    for rel in report.deleted_files:
        click.echo(f"newswire: {content.printable(rel)}: its post was deleted with 'newswire post delete'; "
                   "restore it with 'newswire post restore'", err=True)
    click.echo(report.summary())
    sys.exit(EXIT_FAILED if report.errors else EXIT_OK)


@main.command("publish")
@click.option("--full", is_flag=True, help="Re-render every document (still writes only bytes that differ).")
@click.option("--dry-run", is_flag=True, help="Render and verify, but write nothing.")
@click.option("--no-ping", is_flag=True, help="Queue notifications without sending them.")
@click.option("--no-sync", is_flag=True, help="Do not read the content directory first.")
@click.option("--wait", type=float, default=0.0, metavar="SECONDS",
              help="Wait this long for another publish to finish instead of exiting 75.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing unless something failed (for cron).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON, with per-document status.")
@click.pass_context
@_errors_as_messages
def publish_cmd(ctx: click.Context, full: bool, dry_run: bool, no_ping: bool, no_sync: bool, wait: float,
                quiet: bool, as_json: bool) -> None:
    """Render what changed, verify every document, write atomically, record.

    Reads the content directory first (unless --no-sync). Prints one summary line;
    each failed document is named with its feed, entry, field, expected and got.
    """
    config = _config(ctx)
    with _ProgressBar(enabled=not quiet and not as_json) as bar:
        report = publish(config, full=full, dry_run=dry_run, sync=not no_sync, ping=not no_ping, wait=wait,
                         progress=bar.update)
    _print_report(report, quiet=quiet, as_json=as_json)
    sys.exit(EXIT_OK if report.ok else EXIT_FAILED)


class _ProgressBar:
    """A progress bar on a terminal, once a run has more than a few hundred documents."""

    THRESHOLD = 300

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.bar: Any = None

    def __enter__(self) -> "_ProgressBar":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)

    def update(self, done: int, total: int) -> None:
        if not self.enabled or total < self.THRESHOLD:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="publishing", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(1)


def _print_report(report: PublishReport, *, quiet: bool, as_json: bool) -> None:
    if not quiet:
        for line in report.warnings:
            click.echo(f"newswire: warning: {line}", err=True)
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
        return
    problems = [str(e) for e in report.sync.errors] if report.sync else []
    problems += report.errors
    for result in report.failed:
        if result.problems:
            problems += [str(p) for p in result.problems]
        elif not any(f"/{result.path}: " in e for e in report.errors):  # a write error already says why
            problems.append(f"{result.path}: not published")
    for line in problems:
        click.echo(f"newswire: {line}", err=True)
    if not quiet:
        for line in report.pings.errors if report.pings else []:
            click.echo(f"newswire: ping: {line}", err=True)
    if not quiet or not report.ok:
        click.echo(report.summary())


@main.command("verify")
@click.argument("sources", nargs=-1)
@click.pass_context
@_errors_as_messages
def verify_cmd(ctx: click.Context, sources: tuple[str, ...]) -> None:
    """Read back what is published (or any feed files or URLs) and report.

    Without arguments, every published document is compared with what the store
    says it should be: missing or edited files and field differences are reported.
    With arguments, each feed is parsed and checked (ids, dates, schema).
    """
    if not sources:
        report = check_published(_config(ctx))
        for result in report.failed:
            for problem in result.problems:
                click.echo(f"newswire: {problem}", err=True)
        ok = len(report.results) - len(report.failed)
        click.echo(f"verified {len(report.results)} documents: {ok} ok, {len(report.failed)} differ")
        sys.exit(EXIT_OK if report.ok else EXIT_FAILED)
    from .fetch import fetch
    from .verify import check_any

    failed = False
    for source in sources:
        if "://" in source:
            data = fetch(source, _config(ctx).fetch).body
        else:
            try:
                data = Path(source).read_bytes()
            except OSError as exc:
                raise UsageError(f"{source}: cannot be read: {exc.strerror}") from None
        kind, problems = check_any(data, source)
        for problem in problems:
            click.echo(f"newswire: {problem}", err=True)
        click.echo(f"{source}: {'ok' if not problems else 'FAILED'} ({kind})")
        failed = failed or bool(problems)
    sys.exit(EXIT_FAILED if failed else EXIT_OK)


@main.command("import")
@click.argument("source")
@click.option("--author", "author_key", metavar="KEY", help="Give every entry this author (a key from the config).")
@click.option("--label", "labels", multiple=True, metavar="NAME", help="Add this label to every entry (repeatable).")
@click.pass_context
@_errors_as_messages
def import_cmd(ctx: click.Context, source: str, author_key: str | None, labels: tuple[str, ...]) -> None:
    """Import posts from an Atom, RSS or JSON feed, or a Blogger or WordPress export.

    SOURCE is a file or an http(s) URL. Ids, dates, authors and categories are kept;
    HTML is sanitised. Importing twice changes nothing; an entry that changed at the
    source is updated under its id. A source that cannot be read imports nothing.
    """
    from .importer import import_source

    config = _config(ctx)
    with journal_lock(config.lock_path, wait=30), open_store(config) as store:
        report = import_source(config, store, source, utcnow(), author_key=author_key, labels=labels)
    click.echo(report.summary())


@main.command()
@click.option("--force", is_flag=True, help="Pull every source now, whatever its interval or backoff.")
@click.pass_context
@_errors_as_messages
def pull(ctx: click.Context, force: bool) -> None:
    """Fetch the partner sources named in the config (conditional GET, backoff)."""
    from .pull import pull as pull_sources

    config = _config(ctx)
    if not config.sources:
        click.echo("no sources in the config")
        return
    with journal_lock(config.lock_path, wait=30), open_store(config) as store:
        results = pull_sources(config, store, utcnow(), force=force)
    for result in results:
        click.echo(result.line(), err=result.status == "failed")
    sys.exit(EXIT_FAILED if any(r.status == "failed" for r in results) else EXIT_OK)


@main.command()
@click.pass_context
@_errors_as_messages
def status(ctx: click.Context) -> None:
    """Last publish, pending and failed notifications, and the next scheduled post."""
    config = _config(ctx)
    with open_store(config) as store:
        last = store.last_publish()
        if last is None:
            click.echo("last publish: never")
        else:
            click.echo(f"last publish: {last['finished_at']} {last['status']} ({last['feeds_total']} feeds, "
                       f"{last['written']} documents written, {last['failed']} failed)")
        waiting = store.outbox(("pending", "failed"))
        pending = [n for n in waiting if n.state == "pending"]
        click.echo(f"notifications: {len(pending)} pending, {len(waiting) - len(pending)} failed")
        for line in notify.pending_summary(waiting):
            click.echo(f"  {line}")
        upcoming = store.next_scheduled(utcnow())
        click.echo(f"next scheduled post: {upcoming.strftime('%Y-%m-%d %H:%M:%SZ') if upcoming else 'none'}")


@main.command()
@click.option("--all", "everything", is_flag=True, help="Try every pending notification now, whatever its backoff.")
@click.pass_context
@_errors_as_messages
def ping(ctx: click.Context, everything: bool) -> None:
    """Deliver the notifications that are due (WebSub, weblogUpdates, webhooks)."""
    config = _config(ctx)
    with open_store(config) as store:
        report = notify.deliver(config, store, utcnow(), everything=everything)
    for line in report.errors:
        click.echo(f"newswire: ping: {line}", err=True)
    click.echo(f"notifications: {report.summary()}")
    sys.exit(EXIT_FAILED if report.failed else EXIT_OK)


@main.command()
@click.option("--once", is_flag=True, help="Run every job once (publish, verify, ping) and exit.")
@click.pass_context
@_errors_as_messages
def run(ctx: click.Context, once: bool) -> None:
    """Run the scheduler daemon: publish and verify on the config's schedule,
    publish scheduled posts at their time, retry notifications when due.

    Logs one line per job to stderr. SIGTERM or SIGINT finish the running job and
    exit 0; SIGHUP reloads the config (a broken config is reported, the old one kept).
    """
    from .daemon import Daemon, configure_logging  # APScheduler is only needed here

    configure_logging()
    daemon = Daemon(ctx.obj["config"])
    sys.exit(daemon.once() if once else daemon.run())


@main.command()
@click.option("--port", type=int, default=8080, show_default=True, help="Port to listen on.")
@click.option("--bind", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.pass_context
@_errors_as_messages
def serve(ctx: click.Context, port: int, bind: str) -> None:
    """Preview the output folder over HTTP with feed media types, Link headers and 304s."""
    from .serve import make_server

    config = _config(ctx)
    try:
        server = make_server(config, bind, port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {bind}:{port}: {exc.strerror}") from None
    click.echo(f"serving {config.paths.output} at http://{bind}:{server.server_address[1]}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@main.group()
def post() -> None:
    """Look at and manage the posts in the store."""


@post.command("list")
@click.pass_context
@_errors_as_messages
def post_list(ctx: click.Context) -> None:
    """Every post, newest first: number, date, state, author and title."""
    with open_store(_config(ctx)) as store:
        now = utcnow()
        for row in store.list_posts():
            published = from_utc_text(row["published"], row["published_offset"])
            state = ("deleted" if row["deleted_at"] else "draft" if row["draft"]
                     else "scheduled" if published > now else "live")
            click.echo(f"{row['id']:>6}  {published:%Y-%m-%d}  {state:<9}  {row['author']}: {row['title']}")


def _post_id(store: Any, ref: str) -> int:
    post_id = store.find_post(ref)
    if post_id is None:
        raise UsageError(f"no post {ref!r} (use a number from 'newswire post list', an entry id or a slug)")
    return post_id


@post.command("show")
@click.argument("ref")
@click.pass_context
@_errors_as_messages
def post_show(ctx: click.Context, ref: str) -> None:
    """One post in full: id, dates, author, labels, state and body."""
    config = _config(ctx)
    with open_store(config) as store:
        post_id = _post_id(store, ref)
        p = store.posts([post_id], config.journal.post_url)[post_id]
    click.echo(f"number:    {post_id}\nid:        {p.entry_id}\ntitle:     {p.title}\nurl:       {p.url}\n"
               f"source:    {p.source}\nauthor:    {p.author.signature}\n"
               f"labels:    {', '.join(label.name for label in p.labels)}\n"
               f"published: {p.published.isoformat()}\nupdated:   {p.updated.isoformat()}\n"
               f"state:     {'deleted ' + p.deleted_at.isoformat() if p.deleted_at else 'draft' if p.draft else 'live'}"
               f"\n\n{p.body_html}")


@post.command("delete")
@click.argument("ref")
@click.pass_context
@_errors_as_messages
def post_delete(ctx: click.Context, ref: str) -> None:
    """Take a post out of the feeds (kept in the store; 'restore' brings it back)."""
    config = _config(ctx)
    with open_store(config) as store:
        done = store.mark_deleted(_post_id(store, ref), utcnow(), by="user")
    click.echo("deleted; it leaves the feeds at the next publish" if done else "already deleted")


@post.command("restore")
@click.argument("ref")
@click.pass_context
@_errors_as_messages
def post_restore(ctx: click.Context, ref: str) -> None:
    """Bring a deleted post back, with its id and dates unchanged."""
    config = _config(ctx)
    with open_store(config) as store:
        done = store.restore(_post_id(store, ref))
    click.echo("restored; it returns to the feeds at the next publish" if done else "it was not deleted")


@main.group()
def store() -> None:
    """Check the store, or back it up while it stays in use."""


@store.command("check")
@click.pass_context
@_errors_as_messages
def store_check(ctx: click.Context) -> None:
    """Read the whole store and report any damage (exit 1 if there is some)."""
    health = upkeep.check(_config(ctx).paths.store)
    if health.ok:
        counts = ", ".join(f"{n} {table}" for table, n in health.counts.items())
        click.echo(f"ok: {health.path}: schema {health.version}, {counts}")
        return
    for problem in health.problems[:20]:
        click.echo(f"{health.path}: {problem}", err=True)
    click.echo(f"newswire: {health.path} is damaged ({len(health.problems)} problem(s)); restore your latest "
               "backup with 'newswire store restore FILE', then run 'newswire publish --full'", err=True)
    sys.exit(EXIT_FAILED)


@store.command("backup")
@click.argument("destination", type=click.Path(path_type=Path))
@click.pass_context
@_errors_as_messages
def store_backup(ctx: click.Context, destination: Path) -> None:
    """Copy the store to DESTINATION (a new file, or a folder for a dated copy), safely while it is in use."""
    written = upkeep.backup(_config(ctx).paths.store, destination)
    click.echo(f"backed up to {written}")


@store.command("restore")
@click.argument("backup", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--wait", type=float, default=0.0, metavar="SECONDS", help="Wait up to SECONDS for a running publish.")
@click.pass_context
@_errors_as_messages
def store_restore(ctx: click.Context, backup: Path, wait: float) -> None:
    """Replace the store with BACKUP (checked first), under the journal's lock."""
    config = _config(ctx)
    with journal_lock(config.lock_path, wait):
        upkeep.restore(backup, config.paths.store)
    click.echo(f"restored {config.paths.store} from {backup}; run 'newswire publish --full' next")


if __name__ == "__main__":  # pragma: no cover
    main()

"""The ``newswire`` command: a thin shell over the library.

Each command parses its options, calls one library function and prints its report.
Every failure becomes one line on stderr and an exit code in one place, the command
group below: expected ones (bad config, bad input, a held lock) as their own message,
anything else as its type and message with a pointer to ``--debug``. No traceback is
printed unless ``--debug`` asks for it.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from . import __version__, journal, upkeep
from .config import STORE_SCHEMES, Config, load_config
from .errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, NewswireError, UsageError, json_printable, os_trouble, printable
from .job import PublishReport, check_published, publish


def _say(text: str, err: bool = False) -> None:
    """Print one line: whatever came from outside in it can neither break it nor forge another."""
    click.echo(printable(text), err=err)


def _warn(text: str) -> None:
    _say(f"newswire: {text}", err=True)


def _failure(exc: Exception, ctx: click.Context | None = None) -> tuple[str, int]:
    """The one line and exit code for a failure that reached the command line."""
    if isinstance(exc, NewswireError):
        return str(exc), exc.exit_code
    if isinstance(exc, click.UsageError):
        path = exc.ctx.command_path if exc.ctx else "newswire"
        return f"{exc.format_message()} (see '{path} --help')", EXIT_USAGE
    if isinstance(exc, click.ClickException):
        return exc.format_message(), exc.exit_code
    trouble = journal.store_failure(exc, (ctx.obj or {}).get("loaded") if ctx else None)
    if trouble is not None:  # the store failed under a command that did not expect it
        return str(trouble), trouble.exit_code
    if isinstance(exc, OSError):
        return os_trouble(exc), EXIT_FAILED
    return f"unexpected error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", EXIT_FAILED


class _Newswire(click.Group):
    """The command group, and the one place where failures become messages."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:  # the group's own options: no context yet
            _warn(_failure(exc)[0])
            sys.exit(exc.exit_code)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, BrokenPipeError):
            raise  # click's own endings
        except Exception as exc:
            if (ctx.obj or {}).get("debug") and not isinstance(exc, (NewswireError, click.ClickException)):
                raise
            message, code = _failure(exc, ctx)
            _warn(message)
            ctx.exit(code)


class _Seconds(click.ParamType):
    """A number of seconds from 0 to ``most``: not negative, infinite or NaN."""

    name = "seconds"

    def __init__(self, most: float):
        self.most = most

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not (math.isfinite(seconds) and 0 <= seconds <= self.most):
            self.fail(f"{value!r} is not between 0 and {self.most:g} seconds", param, ctx)
        return seconds


WAIT = _Seconds(86400)


def _config(ctx: click.Context) -> Config:
    ctx.obj["loaded"] = load_config(ctx.obj["config"])
    return ctx.obj["loaded"]


@click.group(cls=_Newswire, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="NEWSWIRE_CONFIG",
              default="config.yaml", show_default=True, help="The journal's config file (or $NEWSWIRE_CONFIG).")
@click.option("--debug", is_flag=True, help="Show the traceback of an unexpected error.")
@click.version_option(__version__, prog_name="newswire")
@click.pass_context
def main(ctx: click.Context, config_path: str, debug: bool) -> None:
    """Publish a journal as verified Atom, RSS and JSON feeds, and tell subscribers.

    Exit codes: 0 done, 1 a document failed verification or a job failed,
    2 bad usage or bad config, 75 another publish holds the lock.
    """
    ctx.obj = {"config": config_path, "debug": debug}


@main.command()
@click.argument("directory", type=click.Path(file_okay=False), default=".", metavar="DIR")
def init(directory: str) -> None:
    """Write a ready config.yaml and content/hello-world.md into DIR (it never overwrites a file)."""
    from .scaffold import init_journal

    for path in init_journal(Path(directory)):
        _say(f"created {path}")
    _say("next: edit config.yaml, then run 'newswire publish'")


_ALLOW_MASS_DELETE = click.option(
    "--allow-mass-delete", is_flag=True,
    help="Let the sync delete every post, or more than the sync: settings allow (refused otherwise).")

_FORCE_REVISION = click.option(
    "--force-revision", is_flag=True,
    help="Sync a git checkout older than, diverged from or unknown to the commit the store last synced.")


@main.command()
@_ALLOW_MASS_DELETE
@_FORCE_REVISION
@click.pass_context
def sync(ctx: click.Context, allow_mass_delete: bool, force_revision: bool) -> None:
    """Bring content/ into the store: add, update and delete posts.

    A changed file updates its post, which keeps its id. A bad file is reported as
    file:line: what and skipped; the post the store already holds for it stays as it
    was. A sync that would delete every post, or more than the config's sync: settings
    allow, changes nothing and exits 1 unless --allow-mass-delete.

    A content folder in a git checkout older than the commit the store last synced
    (another host's) changes nothing and exits 0; one diverged from it, or that does not
    know it, changes nothing and exits 1 unless --force-revision.
    """
    report = journal.sync(_config(ctx), allow_mass_delete=allow_mass_delete, force_revision=force_revision)
    for err in report.errors:
        _warn(str(err))
    for rel in report.deleted_files:
        _warn(f"{rel}: its post was deleted with 'newswire post delete'; restore it with 'newswire post restore'")
    _say(report.summary())
    sys.exit(EXIT_FAILED if report.errors else EXIT_OK)


@main.command("publish")
@click.option("--full", is_flag=True, help="Re-render every document (still writes only bytes that differ).")
@click.option("--dry-run", is_flag=True, help="Render and verify, but write nothing.")
@click.option("--no-ping", is_flag=True, help="Queue notifications without sending them.")
@click.option("--no-sync", is_flag=True, help="Do not read the content directory first.")
@click.option("--wait", type=WAIT, default=0.0, metavar="SECONDS",
              help="Wait this long for another publish to finish instead of exiting 75.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing unless something failed (for cron).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON, with per-document status.")
@_ALLOW_MASS_DELETE
@_FORCE_REVISION
@click.pass_context
def publish_cmd(ctx: click.Context, full: bool, dry_run: bool, no_ping: bool, no_sync: bool, wait: float,
                quiet: bool, as_json: bool, allow_mass_delete: bool, force_revision: bool) -> None:
    """The job: sync, then render what changed, verify, write, record and notify.

    Brings content/ into the store first (unless --no-sync), renders what changed,
    reads every document back, writes it atomically, records it, and notifies
    subscribers (--no-ping only queues the notifications). --full re-renders every
    document (it still writes only bytes that differ). --dry-run writes nothing. -q
    prints nothing unless something failed. --json prints the per-document report.
    --wait waits up to SECONDS for another publish to finish. Each failed document
    is named with its feed, entry, field, expected and got.
    """
    config = _config(ctx)
    with _ProgressBar(enabled=not quiet and not as_json) as bar:
        report = publish(config, full=full, dry_run=dry_run, sync=not no_sync, ping=not no_ping, wait=wait,
                         progress=bar.update, allow_mass_delete=allow_mass_delete, force_revision=force_revision)
    _print_report(report, quiet=quiet, as_json=as_json)
    sys.exit(EXIT_OK if report.ok else EXIT_FAILED)


class _ProgressBar:
    """A progress bar on a terminal, once a run has more than a few hundred documents."""

    THRESHOLD = 300

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.bar: Any = None

    def __enter__(self) -> _ProgressBar:
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
        click.echo(json_printable(json.dumps(report.as_json(), indent=2, ensure_ascii=False)))
        return
    problems = [str(e) for e in report.sync.errors] if report.sync else []
    problems += report.errors
    for result in report.failed:
        if result.problems:
            problems += [str(p) for p in result.problems]
        elif not any(f"/{result.path}: " in e for e in report.errors):  # a write error already says why
            problems.append(f"{result.path}: not published")
    for line in problems:
        _warn(line)
    if not quiet:
        for line in report.pings.errors if report.pings else []:
            _warn(f"ping: {line}")
    if not quiet or not report.ok:
        _say(report.summary())


@main.command("verify")
@click.argument("sources", nargs=-1, metavar="PATH_OR_URL")
@click.pass_context
def verify_cmd(ctx: click.Context, sources: tuple[str, ...]) -> None:
    """Read back what is published (or any feed files or URLs) and report.

    With no arguments, checks every published document against the store and reports
    missing, edited or stale files and field differences. With arguments, parses each
    feed file or http(s) URL and checks it (ids unique, dates with zones, JSON Feed
    schema).
    """
    if not sources:
        report = check_published(_config(ctx))
        for result in report.failed:
            for problem in result.problems:
                _warn(str(problem))
        ok = len(report.results) - len(report.failed)
        _say(f"verified {len(report.results)} documents: {ok} ok, {len(report.failed)} differ")
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
            _warn(str(problem))
        _say(f"{source}: {'ok' if not problems else 'FAILED'} ({kind})")
        failed = failed or bool(problems)
    sys.exit(EXIT_FAILED if failed else EXIT_OK)


@main.command("import")
@click.argument("source")
@click.option("--author", "author_key", metavar="KEY", help="Give every entry this author (a key from the config).")
@click.option("--label", "labels", multiple=True, metavar="NAME", help="Add this label to every entry (repeatable).")
@click.pass_context
def import_cmd(ctx: click.Context, source: str, author_key: str | None, labels: tuple[str, ...]) -> None:
    """Import posts from a feed or a blog export, as a file or an http(s) URL.

    SOURCE is an Atom, RSS (0.9x, 1.0, 2.0) or JSON feed, a Blogger export or a
    WordPress (WXR) export. Ids, dates, authors and categories are kept, and HTML is
    sanitised. Importing twice changes nothing; an entry that changed at the
    source is updated under its id. A source that cannot be read imports nothing. An
    entry whose id is a post from content/ or from another source is reported and
    skipped (exit 1), as is an entry too deeply nested to read.
    """
    report = journal.import_feed(_config(ctx), source, author_key=author_key, labels=labels)
    for line in report.problems:
        _warn(line)
    _say(report.summary())
    sys.exit(EXIT_FAILED if report.problems else EXIT_OK)


@main.command()
@click.option("--force", is_flag=True, help="Pull every source now, whatever its interval or backoff.")
@click.pass_context
def pull(ctx: click.Context, force: bool) -> None:
    """Fetch the partner sources that are due.

    Uses conditional GET and Retry-After, and backs off on errors. New and changed
    entries reach the feeds at the next publish.
    """
    config = _config(ctx)
    if not config.sources:
        _say("no sources in the config")
        return
    results = journal.pull(config, force=force)
    for result in results:
        _say(result.line(), err=result.status == "failed")
        for line in result.problems:
            _warn(line)
    sys.exit(EXIT_FAILED if any(r.status == "failed" or r.problems for r in results) else EXIT_OK)


@main.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show the last publish, the notifications waiting and the next scheduled post.

    Pending and failed notifications are listed with their last error and next attempt.
    """
    report = journal.status(_config(ctx))
    last = report.last_publish
    if last is None:
        _say("last publish: never")
    else:
        _say(f"last publish: {last.finished_at:%Y-%m-%dT%H:%M:%SZ} {last.status} ({last.feeds_total} feeds, "
             f"{last.written} documents written, {last.failed} failed)")
    _say(f"notifications: {report.pending} pending, {len(report.waiting) - report.pending} failed")
    for line in report.summary:
        _say(f"  {line}")
    upcoming = report.next_scheduled
    _say(f"next scheduled post: {upcoming.strftime('%Y-%m-%d %H:%M:%SZ') if upcoming else 'none'}")


@main.command()
@click.option("--all", "everything", is_flag=True, help="Try every pending notification now, whatever its backoff.")
@click.pass_context
def ping(ctx: click.Context, everything: bool) -> None:
    """Deliver the notifications that are due (WebSub, weblogUpdates, webhooks).

    With --all, every pending one whatever its backoff. Exits 1 if one was given up.
    """
    report = journal.ping(_config(ctx), everything=everything)
    for line in report.errors:
        _warn(f"ping: {line}")
    _say(f"notifications: {report.summary()}")
    sys.exit(EXIT_FAILED if report.failed else EXIT_OK)


@main.command()
@click.option("--once", is_flag=True, help="Run every job once (publish, verify, ping) and exit.")
@click.pass_context
def run(ctx: click.Context, once: bool) -> None:
    """Run the scheduler daemon: publish and verify on the config's schedule.

    It also publishes scheduled posts within seconds of their time and retries
    notifications when due. --once runs each job once and exits. Logs one line per
    job to stderr. SIGTERM or SIGINT finish the running job and
    exit 0; SIGHUP reloads the config (a broken config is reported, the old one kept).
    """
    from .daemon import Daemon, configure_logging  # APScheduler is only needed here

    configure_logging()
    daemon = Daemon(ctx.obj["config"], debug=ctx.obj["debug"])
    sys.exit(daemon.once() if once else daemon.run())


@main.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, metavar="N",
              help="Port to listen on.")
@click.option("--bind", default="127.0.0.1", show_default=True, metavar="ADDR", help="Address to listen on.")
@click.pass_context
def serve(ctx: click.Context, port: int, bind: str) -> None:
    """Preview the output folder over HTTP.

    Listens on 127.0.0.1 (port 8080 unless --port) and answers with feed media types,
    Link headers, ETag/Last-Modified and 304s; nothing outside the folder is served.
    """
    from .serve import make_server

    config = _config(ctx)
    try:
        server = make_server(config, bind, port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {bind}:{port}: {exc.strerror}") from None
    top = f"http://{bind}:{server.server_address[1]}"
    folders = (f"{config.paths.output} at {top}/" if config.paths.pages is None else
               f"{config.paths.pages} at {top}{urlsplit(config.journal.site_url).path} and {config.paths.output} "
               f"at {top}{urlsplit(config.journal.feeds_url).path}")
    _say(f"serving {folders} (Ctrl-C stops)")
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
def post_list(ctx: click.Context) -> None:
    """Every post, newest first: number, date, state (live, draft, scheduled, deleted), author, title."""
    for listed in journal.list_posts(_config(ctx)):
        p = listed.post
        _say(f"{p.id:>6}  {p.published:%Y-%m-%d}  {listed.state:<9}  {p.author}: {p.title}")


@post.command("show")
@click.argument("ref", metavar="ID")
@click.pass_context
def post_show(ctx: click.Context, ref: str) -> None:
    """One post in full: id, dates, author, labels, state and body.

    ID is a post number, an entry id, a slug or a content file name.
    """
    shown = journal.show_post(_config(ctx), ref)
    post_id, p, state = shown.number, shown.post, str(shown.state)
    if p.deleted_at is not None:
        state += f" {p.deleted_at.isoformat()}"  # when it was taken out
    for name, value in (("number", post_id), ("id", p.entry_id), ("title", p.title), ("url", p.url),
                        ("source", p.source), ("author", p.author.signature),
                        ("labels", ", ".join(label.name for label in p.labels)),
                        ("published", p.published.isoformat()), ("updated", p.updated.isoformat()), ("state", state)):
        _say(f"{name + ':':<10} {value}")
    click.echo(f"\n{p.body_html}")  # the body is many lines by nature (and holds no control characters)


@post.command("delete")
@click.argument("ref", metavar="ID")
@click.pass_context
def post_delete(ctx: click.Context, ref: str) -> None:
    """Take a post out of the feeds; 'post restore' brings it back.

    The post stays in the store and keeps its id and dates.
    """
    done = journal.delete_post(_config(ctx), ref)
    _say("deleted; it leaves the feeds at the next publish" if done else "already deleted")


@post.command("restore")
@click.argument("ref", metavar="ID")
@click.pass_context
def post_restore(ctx: click.Context, ref: str) -> None:
    """Bring a deleted post back into the feeds, with its id and dates unchanged."""
    done = journal.restore_post(_config(ctx), ref)
    _say("restored; it returns to the feeds at the next publish" if done else "it was not deleted")


@main.group()
def store() -> None:
    """Check the store, or back it up while it stays in use."""


@store.command("check")
@click.pass_context
def store_check(ctx: click.Context) -> None:
    """Read the whole store and report any damage.

    Runs SQLite's integrity_check and foreign_key_check (on PostgreSQL, checks the schema's
    tables and triggers and reads every row) and prints the store's counts; exits 1 and
    lists the damage if there is any.
    """
    health = upkeep.check(_config(ctx).store_at)
    if health.ok:
        counts = ", ".join(f"{n} {table}" for table, n in health.counts.items())
        _say(f"ok: {health.path}: schema {health.version}, {counts}")
        return
    for problem in health.problems[:20]:
        _say(f"{health.path}: {problem}", err=True)
    _warn(f"{health.path} is damaged ({len(health.problems)} problem(s)); restore your latest "
          "backup with 'newswire store restore FILE', then run 'newswire publish --full'")
    sys.exit(EXIT_FAILED)


@store.command("backup")
@click.argument("destination", type=click.Path(path_type=Path), metavar="PATH")
@click.pass_context
def store_backup(ctx: click.Context, destination: Path) -> None:
    """Copy the store to PATH, safely while it is in use.

    Uses SQLite's online backup API while publishes go on (a PostgreSQL store is copied
    from one snapshot into a SQLite file), into a new file or (if PATH is a folder) a
    dated file in it; checks the copy and never overwrites.
    """
    written = upkeep.backup(_config(ctx).store_at, destination)
    _say(f"backed up to {written}")


def _store_arg(value: str) -> Path | str:
    """A store named on the command line: a PostgreSQL URL, or a SQLite file."""
    return value if value.lower().startswith(STORE_SCHEMES) else Path(value)


@store.command("copy")
@click.argument("source", metavar="SRC")
@click.argument("dest", metavar="DEST")
def store_copy(source: str, dest: str) -> None:
    """Copy a journal's store from SRC to DEST, each a SQLite file or a postgresql:// URL.

    Moves a journal between SQLite and PostgreSQL (either way): every row, ids and all,
    read from one snapshot of SRC while it stays in use and written in one transaction.
    DEST must be a new file or an empty database; run 'newswire store check' on it after.
    """
    _say(upkeep.copy(_store_arg(source), _store_arg(dest)).summary())


@store.command("restore")
@click.argument("backup", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE")
@click.option("--wait", type=WAIT, default=0.0, metavar="SECONDS", help="Wait up to SECONDS for a running publish.")
@click.pass_context
def store_restore(ctx: click.Context, backup: Path, wait: float) -> None:
    """Put the backup FILE in the store's place.

    The backup is checked first, the swap is made under the journal's lock, and
    leftover WAL files are removed (a PostgreSQL store takes the backup's rows in
    one transaction).
    """
    config = _config(ctx)
    journal.restore_store(config, backup, wait=wait)
    _say(f"restored {config.store_at} from {backup}; run 'newswire publish --full' next")


if __name__ == "__main__":  # pragma: no cover
    main()

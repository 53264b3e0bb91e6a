"""``newswire run``: the scheduler daemon, an APScheduler shell over the library.

Jobs: publish and verify on the config's cron schedule; source pulls (each source
on its own interval); a one-off publish at the
time of the next scheduled post, so it appears within seconds; a one-off ping run
when the earliest queued notification falls due. Jobs never overlap (one worker,
``max_instances=1``, coalescing), and every publish takes the same journal lock as
``newswire publish``, so cron and the daemon never write at once.

SIGTERM/SIGINT let the running job finish, then exit 0; SIGHUP reloads the config
(a broken new config is reported and the old one kept).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from . import notify
from .bounds import later
from .config import Config, load_config
from .errors import LockedError, NewswireError, os_trouble, printable
from .job import check_published, open_store, publish, utcnow
from .lock import journal_lock
from .pull import pull

log = logging.getLogger("newswire.run")
MISFIRE_GRACE = 300
LOCK_WAIT = 30.0
LOCKED_RETRY = 10.0


class Daemon:
    """Holds the config and the scheduler; each job logs one line with outcome and duration."""

    def __init__(self, config_path: str | Path | None, debug: bool = False):
        self.config_path = config_path
        self.debug = debug  # log an unexpected error's traceback, not only its line
        self.config: Config = load_config(config_path)
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": MISFIRE_GRACE},
            timezone=UTC)
        self.stop = threading.Event()
        # Held while a job runs. Stopping waits for it before shutting the scheduler down: APScheduler's
        # shutdown(wait=True) holds the job store's lock while it waits, and a job ending adds its
        # follow-ups under that lock, so the two would wait for each other for ever.
        self.busy = threading.Lock()

    # --- jobs -----------------------------------------------------------------------

    def _timed(self, name: str, work: Callable[[], str]) -> bool:
        with self.busy:
            if self.stop.is_set():  # fired while the daemon stops: nothing is begun
                return True
            return self._run_job(name, work)

    def _run_job(self, name: str, work: Callable[[], str]) -> bool:
        started = time.monotonic()
        try:
            outcome, ok = work(), True
        except LockedError as exc:
            outcome, ok = f"skipped: {exc}", True
            self._at(utcnow() + timedelta(seconds=LOCKED_RETRY), "publish-retry", self.publish_job)
        except NewswireError as exc:
            outcome, ok = f"failed: {exc}", False
        except OSError as exc:
            outcome, ok = f"failed: {os_trouble(exc)}", False
        except Exception as exc:
            if self.debug:
                log.exception("%s: unexpected error", name)
            outcome, ok = f"failed: {type(exc).__name__}: {exc} (run with --debug for the traceback)", False
        log.info("%s: %s (%.1f s)", name, outcome, time.monotonic() - started)
        return ok

    def publish_job(self) -> bool:
        def work() -> str:
            report = publish(self.config, wait=LOCK_WAIT)
            for warning in report.warnings:
                log.warning("publish: %s", warning)
            self._follow_up()
            problems = [str(e) for e in (report.sync.errors if report.sync else [])]  # e.g. a refused sync
            problems += [str(p) for r in report.failed for p in r.problems] + report.errors
            problems += [f"ping: {e}" for e in report.pings.errors] if report.pings else []  # why a ping is not done
            return report.summary() + "".join(f"; {p}" for p in problems[:3])
        return self._timed("publish", work)

    def verify_job(self) -> bool:
        """Read everything back; if anything drifted from the store, publish to repair it."""
        def work() -> str:
            report = check_published(self.config)
            if report.ok:
                return f"{len(report.results)} documents verified"
            drifted = sorted({r.path for r in report.failed})
            repaired = publish(self.config, wait=LOCK_WAIT)
            self._follow_up()
            return f"{len(drifted)} documents drifted ({', '.join(drifted[:3])}); repaired: {repaired.summary()}"
        return self._timed("verify", work)

    def ping_job(self, everything: bool = False) -> bool:
        def work() -> str:
            with open_store(self.config) as store:
                report = notify.deliver(self.config, store, utcnow(), everything=everything)
            self._follow_up()
            return "notifications: " + report.summary() + "".join(f"; {e}" for e in report.errors[:3])
        return self._timed("ping", work)

    def pull_job(self) -> bool:
        def work() -> str:
            with journal_lock(self.config.lock_path, LOCK_WAIT), open_store(self.config) as store:
                results = pull(self.config, store, utcnow())
            return "; ".join(r.line() for r in results if r.status != "not due") or "no source due"
        return self._timed("pull", work)

    # --- scheduling ----------------------------------------------------------------------

    def _at(self, when: datetime, job_id: str, func: Callable[[], object]) -> None:
        """A one-off job. Its id names its time, so a running job can schedule its own successor
        (with one id, APScheduler would skip it as a second instance of the running job)."""
        if self.stop.is_set():  # the daemon is stopping: no job is to follow
            return
        when = max(when, utcnow())
        self.scheduler.add_job(func, DateTrigger(run_date=when), id=f"{job_id}@{when.isoformat()}",
                               replace_existing=True, misfire_grace_time=None)

    def _follow_up(self) -> None:
        """One-off jobs for the next scheduled post and the next notification due."""
        with open_store(self.config) as store:
            upcoming = store.feeds.next_scheduled(utcnow())
            due = store.outbox.next_due()
        if upcoming is not None:  # a date from a feed or the store: moved without overflowing at 9999-12-31
            self._at(later(upcoming, 1), "scheduled-post", self.publish_job)
        if due is not None:
            self._at(due, "ping-due", self.ping_job)

    def _schedule(self) -> None:
        s = self.config.schedule
        self.scheduler.add_job(self.publish_job, CronTrigger.from_crontab(s.publish, timezone=s.timezone),
                               id="publish", replace_existing=True)
        self.scheduler.add_job(self.verify_job, CronTrigger.from_crontab(s.verify, timezone=s.timezone),
                               id="verify", replace_existing=True)
        if self.config.sources:
            every = max(min(60.0, *(src.every for src in self.config.sources)), 5.0)
            self.scheduler.add_job(self.pull_job, IntervalTrigger(seconds=every), id="pull", replace_existing=True)
        elif self.scheduler.get_job("pull"):
            self.scheduler.remove_job("pull")
        self._follow_up()

    def reload(self) -> None:
        try:
            config = load_config(self.config_path)
        except Exception as exc:
            log.error("reload: %s; keeping the previous config", exc)
            return
        self.config = config
        self._schedule()
        log.info("reload: config reloaded from %s", config.path)

    # --- running ---------------------------------------------------------------------

    def once(self) -> int:
        """Run every job once, in order, and return the exit code."""
        ok = (self.pull_job() if self.config.sources else True) & self.publish_job() & self.verify_job() \
            & self.ping_job()
        return 0 if ok else 1

    def run(self) -> int:
        reload_wanted = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop.set())
        signal.signal(signal.SIGHUP, lambda *_: reload_wanted.set())
        self.scheduler.start()
        self._schedule()
        self.scheduler.add_job(self.publish_job, id="startup-publish", replace_existing=True)
        log.info("run: started; publish '%s', verify '%s' (%s)", self.config.schedule.publish,
                 self.config.schedule.verify, self.config.schedule.timezone)
        while not self.stop.wait(0.2):
            if reload_wanted.is_set():
                reload_wanted.clear()
                self.reload()
        log.info("run: stopping; letting the running job finish")
        with self.busy:
            self.scheduler.shutdown(wait=False)
        log.info("run: stopped")
        return 0


class _OneLine(logging.Formatter):
    """Each record is one line, whatever a server or a feed put in its message (a fault string
    with a newline would otherwise forge log lines); a traceback, logged only with --debug,
    follows on lines of its own."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message)
        return super().formatMessage(record)


def configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_OneLine("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S%z"))
    root = logging.getLogger("newswire")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)

"""The notification outbox: what subscribers are to be told, and how each delivery went.

Several delivery rounds may run at once (two daemons on two hosts, or ``newswire ping`` beside a
publish): each takes the rows it sends with ``claim``, which no other round can take until the
claim's lease runs out, and records each outcome with ``settle`` only while it still holds it.
So a notification is sent by one round at a time; a round whose process died leaves its claim to
lapse, and the next round after the lease sends it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from ..model import Notification, OutboxState
from .connection import Connection, from_utc_text, to_utc_text

_COLUMNS = "kind, target, topic, payload, id, state, attempts, created_at, next_at, last_error, claimed_by"


class SqliteOutbox:
    def __init__(self, conn: Connection):
        self.conn = conn

    def enqueue(self, n: Notification, now: datetime) -> None:
        """Queue the notification of a fresh change, due at once.

        One still pending for the same target and topic (perhaps backing off for hours) is
        folded in: the payloads are united and the old row, marked merged, gives way to a new
        one, due now, with a full budget of attempts and age, as the change it announces is
        new. (Had the old one been given up already, the change would have queued a new one
        just the same.) The new row's id is new, so an attempt that read the old one cannot
        settle it.
        """
        with self.conn.transaction() as db:
            old = db.execute("SELECT id, payload, last_error FROM outbox WHERE kind = ? AND target = ? "
                             "AND topic = ? AND state = 'pending'", (n.kind, n.target, n.topic)).fetchone()
            payload, last_error = n.payload, None
            if old is not None:
                payload, last_error = _merge_payload(json.loads(old[1]), n.payload), old[2]
                db.execute("UPDATE outbox SET state = 'merged', finished_at = ? WHERE id = ?",
                           (to_utc_text(now), old[0]))
            db.execute("INSERT INTO outbox (kind, target, topic, payload, state, created_at, next_at, last_error) "
                       "VALUES (?,?,?,?, 'pending', ?, ?, ?)",
                       (n.kind, n.target, n.topic, json.dumps(payload, sort_keys=True), to_utc_text(now),
                        to_utc_text(now), last_error))

    def claim(self, holder: str, now: datetime, until: datetime, due_by: datetime | None = None) -> list[Notification]:
        """Take for ``holder`` (a name no other round uses) every pending notification due by
        ``due_by`` (None: every one) that no other round holds, or whose holder's lease ran out
        by ``now``, until ``until``; return them, oldest first.

        One UPDATE takes them, so of two rounds claiming at once each row goes to one. The
        rows are read back by their holder's name, which also leaves out any that a fresh
        change replaced in between.
        """
        sql = ("UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE state = 'pending' "
               "AND (claimed_until IS NULL OR claimed_until <= ?)")
        args: list[object] = [holder, to_utc_text(until), to_utc_text(now)]
        if due_by is not None:
            sql += " AND next_at <= ?"
            args.append(to_utc_text(due_by))
        with self.conn.transaction() as db:
            db.execute(sql, args)
        return self._select("state = 'pending' AND claimed_by = ?", [holder])

    def release(self, claimed: Sequence[Notification]) -> None:
        """Let go of notifications this round claimed but did not try: due again for any round."""
        with self.conn.transaction() as db:
            db.executemany("UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE id = ? AND claimed_by = ?",
                           [(n.id, n.claimed_by) for n in claimed])

    def _select(self, where: str, args: Sequence[object]) -> list[Notification]:
        return [Notification(kind=kind, target=target, topic=topic, payload=json.loads(payload), id=id_,
                             state=state, attempts=attempts, created_at=from_utc_text(created_at),
                             next_at=from_utc_text(next_at), last_error=last_error, claimed_by=claimed_by)
                for kind, target, topic, payload, id_, state, attempts, created_at, next_at, last_error, claimed_by
                in self.conn.db.execute(f"SELECT {_COLUMNS} FROM outbox WHERE {where} ORDER BY id", args)]

    def list(self, states: Sequence[OutboxState] = ("pending",), due_by: datetime | None = None) -> list[Notification]:
        """The notifications in these states (due by ``due_by``, if given), oldest first."""
        marks = ",".join("?" * len(states))
        sql = f"state IN ({marks})"
        args: list[object] = list(states)
        if due_by is not None:
            sql += " AND next_at <= ?"
            args.append(to_utc_text(due_by))
        return self._select(sql, args)

    def next_due(self) -> datetime | None:
        """When the earliest pending notification is due: for one another round holds, when its
        claim runs out (settled by then, it is due when its outcome says)."""
        row = self.conn.db.execute("SELECT min(CASE WHEN claimed_until > next_at THEN claimed_until ELSE next_at END) "
                                   "FROM outbox WHERE state = 'pending'").fetchone()
        return from_utc_text(row[0]) if row and row[0] else None

    def settle(self, n: Notification, state: OutboxState, now: datetime, *, error: str | None = None,
               next_at: datetime | None = None) -> bool:
        """Record one delivery attempt: delivered, failed for good, or pending until ``next_at``;
        the claim is let go.

        False, and nothing recorded, when ``n`` is no longer pending or no longer held by the
        round that claimed it: a fresh change replaced it while the attempt ran (the replacement
        stays due), or its lease ran out and another round took it.
        """
        with self.conn.transaction() as db:
            return db.execute("UPDATE outbox SET state = ?, attempts = attempts + 1, last_error = ?, next_at = ?, "
                              "finished_at = ?, claimed_by = NULL, claimed_until = NULL "
                              "WHERE id = ? AND state = 'pending' AND claimed_by = ?",
                              (state, error, to_utc_text(next_at or now),
                               None if state == "pending" else to_utc_text(now), n.id, n.claimed_by)).rowcount == 1


def _merge_payload(old: dict[str, object], new: dict[str, object]) -> dict[str, object]:
    """Coalesce two payloads: lists are united (order kept), other values take the newest."""
    out = dict(old)
    for key, value in new.items():
        before = out.get(key)
        if isinstance(value, list) and isinstance(before, list):
            out[key] = list(dict.fromkeys([*before, *value]))
        else:
            out[key] = value
    return out

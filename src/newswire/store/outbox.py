"""The notification outbox: what subscribers are to be told, and how each delivery went."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from ..model import Notification, OutboxState
from .backend import Backend
from .connection import from_utc_text, to_utc_text

_COLUMNS = "kind, target, topic, payload, id, state, attempts, created_at, next_at, last_error"


class SqliteOutbox:
    def __init__(self, conn: Backend):
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

    def list(self, states: Sequence[OutboxState] = ("pending",), due_by: datetime | None = None) -> list[Notification]:
        """The notifications in these states (due by ``due_by``, if given), oldest first."""
        marks = ",".join("?" * len(states))
        sql = f"SELECT {_COLUMNS} FROM outbox WHERE state IN ({marks})"
        args: list[object] = list(states)
        if due_by is not None:
            sql += " AND next_at <= ?"
            args.append(to_utc_text(due_by))
        return [Notification(kind=kind, target=target, topic=topic, payload=json.loads(payload), id=id_,
                             state=state, attempts=attempts, created_at=from_utc_text(created_at),
                             next_at=from_utc_text(next_at), last_error=last_error)
                for kind, target, topic, payload, id_, state, attempts, created_at, next_at, last_error
                in self.conn.db.execute(sql + " ORDER BY id", args)]

    def next_due(self) -> datetime | None:
        """When the earliest pending notification is due."""
        row = self.conn.db.execute("SELECT min(next_at) FROM outbox WHERE state = 'pending'").fetchone()
        return from_utc_text(row[0]) if row and row[0] else None

    def settle(self, n: Notification, state: OutboxState, now: datetime, *, error: str | None = None,
               next_at: datetime | None = None) -> bool:
        """Record one delivery attempt: delivered, failed for good, or pending until ``next_at``.

        False, and nothing recorded, when ``n`` is no longer pending: a fresh change replaced
        it while the attempt ran (the replacement stays due), or another delivery run settled it.
        """
        with self.conn.transaction() as db:
            return db.execute("UPDATE outbox SET state = ?, attempts = attempts + 1, last_error = ?, next_at = ?, "
                              "finished_at = ? WHERE id = ? AND state = 'pending'",
                              (state, error, to_utc_text(next_at or now),
                               None if state == "pending" else to_utc_text(now), n.id)).rowcount == 1


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

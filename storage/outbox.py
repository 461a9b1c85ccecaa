"""The outbox (SPEC 7): one row per (chat, article), drained by the sender.

Life of a row: `pending` -> `sending` (claimed, the send may be under way) -> `sent`, or
back to `pending` with a `not_before` (retry, pacing), or `failed` / `dropped`. A crash
leaves claimed rows in `sending`; `release_in_flight()` at start-up puts them back, so
nothing is lost and only a row whose send was actually in flight can go out twice
(SPEC 7.4).

`claim()` returns everything the message needs (article, source, chat kind, language,
forum thread) in one query per batch, and `record()` writes a batch of results in one
transaction: the sender's throughput is bound by Telegram, not by SQLite round trips.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.schedule import is_quiet, parse_time
from storage.database import Connection, Database, utcnow
from storage.feeds import SOURCE_TITLE
from storage.sql import Ints

STATUSES = ("pending", "sending", "sent", "failed", "dropped")


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


@dataclass(frozen=True)
class OutboxRow:
    """A claimed row with what rendering and pacing need."""

    outbox_id: int
    chat_id: int
    article_id: int | None
    text: str | None  # pre-rendered HTML of a row that is not an article (a digest)
    silent: bool  # disable_notification: quiet hours
    priority: int
    attempts: int  # failed attempts so far
    chat_kind: str  # private | group | supergroup | channel
    language: str
    thread_id: int | None  # forum topic of a group target
    title: str  # article fields: empty for a row with its own text
    summary: str
    link: str | None
    source: str | None  # title of the feed that first carried the article (SPEC 6.0)
    topics: tuple[str, ...]
    image: str | None = None  # the article's picture: http(s) URL or Telegram file_id
    previews: bool = True  # the reader's link previews (/previews)
    photos: bool = True  # a channel's photo posts (/channel set ID photos)

    @property
    def is_private(self) -> bool:
        """Telegram's per-chat limit is 1/s for private chats, 20/min for groups and channels."""
        return self.chat_kind == "private" and self.chat_id > 0


@dataclass(frozen=True)
class Sent:
    outbox_id: int
    message_id: int
    at: datetime
    photo: bool = False  # delivered as a photo: its caption is the post


@dataclass(frozen=True)
class Retry:
    """Back to `pending`. `attempt` counts a failed attempt (False: pacing, shutdown)."""

    outbox_id: int
    not_before: datetime | None = None
    error: str | None = None
    attempt: bool = True


@dataclass(frozen=True)
class Failed:
    outbox_id: int
    error: str
    reason: str = "other"  # the sender's reason (bad_request, gave_up, ...): /stats, /metrics
    at: datetime | None = None  # when it failed (None: when recorded)


Outcome = Sent | Retry | Failed

# A row is due when it is pending, or when another copy claimed it and its lease ran out
# (that copy died or was fenced: SPEC 8c). The `status IN (...)` term lets SQLite use the
# partial index `outbox_queue`
# (it cannot infer it from `status = 'pending'`); without it every claim scans the table.
# On PostgreSQL the rows are locked as they are read, skipping rows another copy holds:
# two senders can never claim the same row.
_CLAIM = f"""
SELECT o.outbox_id, o.chat_id, o.article_id, o.text, o.silent, o.priority, o.attempts,
       c.kind AS chat_kind, c.language, c.thread_id, c.active, c.paused, c.target,
       c.timezone, c.quiet_start, c.quiet_end, c.previews, c.photos,
       a.title, a.summary, a.link, a.topics, a.image, {SOURCE_TITLE} AS source
FROM outbox o
JOIN chats c ON c.chat_id = o.chat_id
LEFT JOIN articles a ON a.article_id = o.article_id
LEFT JOIN feeds f ON f.feed_id = a.feed_id
WHERE o.status IN ('pending', 'sending')
  AND ((o.status = 'pending' AND (o.not_before IS NULL OR o.not_before <= :now))
       OR (o.status = 'sending' AND coalesce(o.claimed_by, '') <> :holder
           AND coalesce(o.lease_until, '') <= :now))
ORDER BY o.priority DESC, o.outbox_id
LIMIT :limit
"""
_SKIP_LOCKED = {"postgresql": " FOR UPDATE OF o SKIP LOCKED", "sqlite": ""}


_RECORD_SENT = (
    "UPDATE outbox SET status = 'sent', message_id = ?, sent_at = ?, photo = ? WHERE outbox_id = ?"
)


def _deliverable(row) -> bool:
    """Active, unpaused, and for a group or channel still a target (not removed)."""
    still_target = row["chat_kind"] == "private" or row["target"]
    return bool(row["active"] and not row["paused"] and still_target)


def _quiet_now(row, now: datetime, default_zone: str) -> bool:
    """Quiet hours (SPEC 4.12) are decided when the row is claimed for sending, in the
    reader's zone at that moment: a row that waited (pacing, a retry) follows the clock."""
    if not row["quiet_start"] or not row["quiet_end"]:
        return False
    try:
        zone = ZoneInfo(row["timezone"] or default_zone)
        start, end = parse_time(row["quiet_start"]), parse_time(row["quiet_end"])
    except (ValueError, KeyError):  # a zone gone from tzdata: send, with sound
        return False
    return is_quiet(now, zone, start, end)


def _row(row, now: datetime, default_zone: str) -> OutboxRow:
    return OutboxRow(
        outbox_id=row["outbox_id"],
        chat_id=row["chat_id"],
        article_id=row["article_id"],
        text=row["text"],
        silent=bool(row["silent"]) or _quiet_now(row, now, default_zone),
        priority=row["priority"],
        attempts=row["attempts"],
        chat_kind=row["chat_kind"],
        language=row["language"],
        thread_id=row["thread_id"],
        title=row["title"] or "",
        summary=row["summary"] or "",
        link=row["link"],
        source=row["source"],
        topics=tuple((row["topics"] or "").split()),
        image=row["image"],
        previews=bool(row["previews"]),
        photos=bool(row["photos"]),
    )


def _error(text: str | None) -> str | None:
    """Errors are kept for operators; Telegram descriptions are short, ours are bounded."""
    return None if text is None else text[:500]


# How long a claim holds a row against other copies: longer than a send can take (10 s)
# plus the fenced leader's second to notice, so a row is not sent by two copies at once.
LEASE = timedelta(seconds=15)


class OutboxRepository:
    def __init__(
        self, db: Database, timezone: str = "Europe/Moscow", holder: str | None = None
    ) -> None:
        self._db = db
        self._timezone = timezone  # TIMEZONE: readers who chose no zone of their own
        # This process: a restarted container keeps its host name and pid (1), and must
        # not take its predecessor's leased rows for its own.
        self._holder = holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    async def claim(self, limit: int, now: datetime) -> list[OutboxRow]:
        """Due pending rows, highest priority first then oldest, marked `sending`.

        Rows of chats that went inactive or paused after the row was written are
        dropped here instead (SPEC 7.6: they get nothing), and others claimed in their
        place: fewer than `limit` rows means nothing else is due."""
        live: list = []
        async with self._db.transaction() as conn:
            while len(live) < limit:
                wanted = limit - len(live)
                params = {"now": _stamp(now), "limit": wanted, "holder": self._holder}
                found = await conn.fetch_all(_CLAIM + _SKIP_LOCKED[conn.dialect], params)
                usable = [r for r in found if _deliverable(r)]
                gone = [r["outbox_id"] for r in found if not _deliverable(r)]
                if usable:
                    await conn.execute(
                        "UPDATE outbox SET status = 'sending', claimed_by = ?, lease_until = ?"
                        " WHERE outbox_id IN (SELECT value FROM json_each(?))",
                        (
                            self._holder,
                            _stamp(now + LEASE),
                            Ints(r["outbox_id"] for r in usable),
                        ),
                    )
                if gone:
                    await conn.execute(
                        "UPDATE outbox SET status = 'dropped',"
                        " last_error = 'chat inactive, paused or no longer a target'"
                        " WHERE outbox_id IN (SELECT value FROM json_each(?))",
                        (Ints(gone),),
                    )
                live.extend(usable)
                if len(found) < wanted:  # the due queue is empty
                    break
        return [_row(r, now, self._timezone) for r in live]

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        """Write a batch of send results in one transaction."""
        sent = [
            (o.message_id, _stamp(o.at), int(o.photo), o.outbox_id)
            for o in outcomes
            if isinstance(o, Sent)
        ]
        retry = [
            (
                _stamp(o.not_before) if o.not_before else None,
                int(o.attempt),
                _error(o.error),
                o.outbox_id,
                self._holder,
            )
            for o in outcomes
            if isinstance(o, Retry)
        ]
        now = utcnow()
        failed = [
            (_error(o.error), _stamp(o.at) if o.at else now, o.reason, o.outbox_id, self._holder)
            for o in outcomes
            if isinstance(o, Failed)
        ]
        if not (sent or retry or failed):
            return
        if sent and not (retry or failed):  # the usual batch: one statement, no BEGIN
            await self._db.executemany(_RECORD_SENT, sent)
            return
        async with self._db.transaction() as conn:
            if sent:
                await conn.executemany(_RECORD_SENT, sent)
            if retry:
                await conn.executemany(
                    "UPDATE outbox SET status = 'pending', not_before = ?,"
                    " attempts = attempts + ?, last_error = coalesce(?, last_error)"
                    # A row dropped meanwhile (chat blocked, paused, channel removed)
                    # stays dropped: the sender may still have held it in memory. A row
                    # another copy took over (our lease ran out) is that copy's now.
                    " WHERE outbox_id = ? AND status = 'sending' AND claimed_by = ?",
                    retry,
                )
            if failed:
                await conn.executemany(
                    "UPDATE outbox SET status = 'failed', attempts = attempts + 1,"
                    " last_error = ?, failed_at = ?, fail_reason = ?"
                    " WHERE outbox_id = ? AND status = 'sending'"
                    " AND claimed_by = ?",
                    failed,
                )

    async def mark_sent(self, outbox_id: int, message_id: int, now: datetime) -> None:
        await self.record([Sent(outbox_id, message_id, now)])

    async def retry_later(self, outbox_id: int, error: str, not_before: datetime) -> None:
        """Back to pending after a failed attempt (attempts + 1)."""
        await self.record([Retry(outbox_id, not_before, error)])

    async def mark_failed(self, outbox_id: int, error: str) -> None:
        await self.record([Failed(outbox_id, error)])

    async def release(self, outbox_ids: Iterable[int]) -> int:
        """Claimed rows that were never sent go back to pending, attempts unchanged."""
        ids = list(outbox_ids)
        if not ids:
            return 0
        async with self._db.transaction() as conn:
            return await conn.execute(
                "UPDATE outbox SET status = 'pending' WHERE status = 'sending'"
                " AND claimed_by = ? AND outbox_id IN (SELECT value FROM json_each(?))",
                (self._holder, Ints(ids)),
            )

    async def renew_leases(self, now: datetime) -> int:
        """Extend the lease of every row this copy holds (the sender does it every few
        seconds): a row waiting long in memory (a 429 pause, a backoff) stays ours while
        we live, and returns to the queue one lease after we stop renewing."""
        async with self._db.transaction() as conn:
            return await conn.execute(
                "UPDATE outbox SET lease_until = ? WHERE status = 'sending' AND claimed_by = ?",
                (_stamp(now + LEASE), self._holder),
            )

    async def release_in_flight(self, now: datetime) -> list[int]:
        """At start-up: rows a crash left in `sending` go back to pending (SPEC 7.4); the
        chats of those rows, one per row (a message to them may have just left).

        On SQLite one copy runs per database (its lock file), so every such row is the
        last process's: all go back. On PostgreSQL another copy may be sending them, so
        only rows whose lease ran out do (the others are claimed again when theirs does).
        Call it before the sender starts and never while one runs."""
        sql = "UPDATE outbox SET status = 'pending' WHERE status = 'sending'"
        async with self._db.transaction() as conn:
            if conn.dialect == "sqlite":
                rows = await conn.fetch_all(sql + " RETURNING chat_id")
            else:
                rows = await conn.fetch_all(
                    sql + " AND coalesce(lease_until, '') <= ? RETURNING chat_id",
                    (_stamp(now),),
                )
        return [row[0] for row in rows]

    async def drop_chat(self, chat_id: int, reason: str) -> int:
        """Every pending or in-flight row of a chat becomes `dropped` (blocked, kicked...)."""
        async with self._db.transaction() as conn:
            return await conn.execute(
                "UPDATE outbox SET status = 'dropped', last_error = ?, failed_at = ?,"
                " fail_reason = 'blocked' WHERE chat_id = ? AND status IN ('pending', 'sending')",
                (_error(reason), utcnow(), chat_id),
            )

    async def move_chat(self, old_id: int, new_id: int, now: datetime) -> None:
        """A group became a supergroup (`migrate_to_chat_id`): it keeps its settings,
        subscriptions and queue under the new id (SPEC 8.4).

        Usually a rename: subscriptions follow by ON UPDATE CASCADE, outbox rows by an
        UPDATE of their own (PostgreSQL's outbox has no foreign keys, only a check of
        group and channel ids that makes a transaction queueing for this chat finish
        first, see its migration 0012; on SQLite the cascade has moved them already).
        When the new id is already known (the bot saw the supergroup first), the old chat
        is merged into it and deleted."""
        stamp = _stamp(now)
        async with self._db.transaction() as conn:
            rows = await conn.fetch_all(
                "SELECT chat_id FROM chats WHERE chat_id IN (?, ?)", (old_id, new_id)
            )
            known = {row[0] for row in rows}
            if old_id not in known:  # moved already (two sends learned it at once)
                return
            if new_id not in known:
                await conn.execute(
                    "UPDATE chats SET chat_id = ?, kind = 'supergroup', updated_at = ?"
                    " WHERE chat_id = ?",
                    (new_id, stamp, old_id),
                )
                await conn.execute(
                    "UPDATE outbox SET chat_id = ? WHERE chat_id = ?", (new_id, old_id)
                )
                return
            await conn.execute(
                "UPDATE chats SET kind = 'supergroup', updated_at = :now,"
                " target = CASE WHEN target = 1 THEN 1"
                " ELSE (SELECT o.target FROM chats o WHERE o.chat_id = :old) END,"
                " title = coalesce(title, (SELECT o.title FROM chats o WHERE o.chat_id = :old)),"
                " username = coalesce(username,"
                " (SELECT o.username FROM chats o WHERE o.chat_id = :old)),"
                # A supergroup that was no target yet takes the group's channel settings.
                " language = CASE WHEN target = 1 THEN language"
                " ELSE (SELECT o.language FROM chats o WHERE o.chat_id = :old) END,"
                " photos = CASE WHEN target = 1 THEN photos"
                " ELSE (SELECT o.photos FROM chats o WHERE o.chat_id = :old) END"
                " WHERE chat_id = :new",
                {"now": stamp, "old": old_id, "new": new_id},
            )
            # What the new chat has already stays; the rest moves over (the portable
            # form of UPDATE OR IGNORE: what would collide is deleted first).
            await conn.execute(
                "DELETE FROM subscriptions WHERE chat_id = :old AND EXISTS (SELECT 1"
                " FROM subscriptions n WHERE n.chat_id = :new AND n.kind = subscriptions.kind"
                " AND n.key = subscriptions.key)",
                {"old": old_id, "new": new_id},
            )
            await conn.execute(
                "UPDATE subscriptions SET chat_id = ? WHERE chat_id = ?", (new_id, old_id)
            )
            await conn.execute(
                "DELETE FROM outbox WHERE chat_id = :old AND article_id IS NOT NULL"
                " AND EXISTS (SELECT 1 FROM outbox n WHERE n.chat_id = :new"
                " AND n.article_id = outbox.article_id)",
                {"old": old_id, "new": new_id},
            )
            await conn.execute("UPDATE outbox SET chat_id = ? WHERE chat_id = ?", (new_id, old_id))
            await conn.execute("DELETE FROM chats WHERE chat_id = ?", (old_id,))

    async def counts(self) -> dict[str, int]:
        """Rows per status, every status present (for /stats and /metrics)."""
        rows = await self._db.fetch_all("SELECT status, count(*) AS n FROM outbox GROUP BY status")
        found = {row["status"]: row["n"] for row in rows}
        return {status: found.get(status, 0) for status in STATUSES}

    async def last_sent_at(self) -> datetime | None:
        """When the latest of the recent rows was sent (None: nothing sent yet). Looks at
        the newest thousand rows only: one index range, however long the outbox."""
        stamp = await self._db.fetch_value(
            "SELECT max(sent_at) FROM (SELECT sent_at FROM outbox"
            " ORDER BY outbox_id DESC LIMIT 1000) recent"
        )
        return datetime.fromisoformat(stamp) if stamp else None

    async def pending_count(self) -> int:
        """The queue's depth: rows waiting or in flight."""
        row = await self._db.fetch_one(
            "SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')"
        )
        return int(row[0]) if row else 0


async def queue_message(
    conn: Connection,
    chat_id: int,
    text: str,
    now: datetime | str,
    *,
    priority: int = 0,
    silent: bool = False,
) -> int:
    """One outbox row carrying its own HTML text (a digest, a notice); returns its id.

    Runs on the caller's open connection, inside its transaction; it never commits."""
    stamp = now if isinstance(now, str) else _stamp(now)
    outbox_id = await conn.fetch_value(
        "INSERT INTO outbox (chat_id, text, silent, priority, created_at)"
        " VALUES (?, ?, ?, ?, ?) RETURNING outbox_id",
        (chat_id, text, int(silent), priority, stamp),
    )
    return int(outbox_id)


async def queue_messages(
    conn: Connection, messages: Sequence[tuple[int, str]], now: datetime | str
) -> None:
    """Many `(chat_id, text)` rows at once, like `queue_message()` (digests: one statement
    for a whole batch of readers). Inside the caller's transaction; it never commits."""
    stamp = now if isinstance(now, str) else _stamp(now)
    await conn.executemany(
        "INSERT INTO outbox (chat_id, text, created_at) VALUES (?, ?, ?)",
        [(chat_id, text, stamp) for chat_id, text in messages],
    )

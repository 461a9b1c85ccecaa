"""Daily digests (SPEC 4.11): rendering (pure) and the job that queues them.

The job runs every minute and once at start-up. For each digest reader whose local
digest time has passed today and whose day is not done yet, the repository marks the
day done, queues the rendered digest through the outbox and clears the kept articles in
one transaction: a digest due while the bot was down goes out once on start-up, and a
crash can neither send it twice nor lose it.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.delivery.render import MAX_MESSAGE_LENGTH, safe_link, utf16_len, visible_length
from bot.i18n import Catalogue, Translator
from bot.schedule import ScheduleError, digest_due, local_date, parse_time
from bot.topics.taxonomy import Taxonomy
from storage.schedules import DigestArticle, DigestReader, ScheduleRepository

log = logging.getLogger(__name__)

TITLE_CHARS = 200
BATCH = 100  # readers per transaction: a few statements each, the write lock held briefly
BULLET = "• "
# Telegram formats only the first 100 entities of a message and refuses one whose entities
# (their text and URLs) are too long, ENTITIES_TOO_LONG at about 9.5k characters; either way
# the sender falls back to plain text and every link is lost. A digest message stays below
# both, its raw HTML bounding what its entities can add up to.
MAX_ENTITIES = 90
MAX_HTML_LENGTH = 9000
_OPEN_TAG = re.compile(r"<[a-zA-Z]")  # one entity each; feed text is escaped, so no false hits


def _group_key(article: DigestArticle, followed: frozenset[str], order: dict[str, int]) -> str:
    """The topic an article is listed under: the first the reader follows, else its first
    (first in the taxonomy's order)."""
    mine = [topic for topic in article.topics if topic in followed]
    pool = mine or article.topics
    return min(pool, key=lambda topic: order.get(topic, len(order))) if pool else ""


def _line(article: DigestArticle) -> tuple[str, int]:
    """`• <a href=link>Title</a>` and its visible length (what Telegram counts)."""
    title = article.title or article.link or "…"
    if len(title) > TITLE_CHARS:
        title = title[: TITLE_CHARS - 1].rstrip() + "…"
    text = html.escape(title, quote=False)
    link = safe_link(article.link)
    if link:  # what Telegram can open; anything else is shown as the plain title
        text = f'<a href="{html.escape(link, quote=True)}">{text}</a>'
    return BULLET + text, utf16_len(BULLET + title)


def render_digest(
    t: Translator,
    taxonomy: Taxonomy,
    followed: frozenset[str],
    articles: Sequence[DigestArticle],
    limit: int = MAX_MESSAGE_LENGTH,
    headings: dict[tuple[str, str], tuple[str, int]] | None = None,
) -> list[str]:
    """Grouped by topic (taxonomy order, then the rest), newest first within a group (the
    order `articles` come in), each a linked title; several messages only past `limit`.
    `headings` caches the rendered topic headings between calls (the job renders many)."""
    if not articles:
        return []
    order = {topic.id: n for n, topic in enumerate(taxonomy.topics)}
    groups: dict[str, list[DigestArticle]] = {}
    for article in articles:
        groups.setdefault(_group_key(article, followed, order), []).append(article)
    header = t("digest.header", count=len(articles))
    lines: list[tuple[str, int]] = [(header, visible_length(header))]
    cache = {} if headings is None else headings
    for key in sorted(groups, key=lambda topic: (topic == "", order.get(topic, len(order)))):
        heading = cache.get((t.language, key))
        if heading is None:
            heading = cache[t.language, key] = _heading(t, taxonomy, key)
        lines.append(("", 0))
        lines.append(heading)
        lines.extend(_line(article) for article in groups[key])
    return _pack(lines, limit)


def _heading(t: Translator, taxonomy: Taxonomy, key: str) -> tuple[str, int]:
    topic = taxonomy.get(key)
    if topic is None:
        text = t("digest.other")
    else:
        text = t("digest.topic", topic=f"{topic.emoji} {topic.name(t.language)}")
    return text, visible_length(text)


def _pack(
    lines: list[tuple[str, int]],
    limit: int,
    max_entities: int = MAX_ENTITIES,
    max_html: int = MAX_HTML_LENGTH,
) -> list[str]:
    """Whole lines into as few messages as fit in `limit` visible characters, `max_entities`
    tags and `max_html` characters of raw HTML (newlines count too)."""
    messages: list[str] = []
    current: list[str] = []
    size = entities = raw = 0
    for text, length in lines:
        extra = length + (1 if current else 0)
        tags = len(_OPEN_TAG.findall(text))
        raw_extra = utf16_len(text) + (1 if current else 0)
        if current and (
            size + extra > limit or entities + tags > max_entities or raw + raw_extra > max_html
        ):
            messages.append("\n".join(current).strip("\n"))
            current, size, entities, raw = [], 0, 0, 0
            if not text:  # a blank separator does not open a message
                continue
            extra, raw_extra = length, utf16_len(text)
        current.append(text)
        size += extra
        entities += tags
        raw += raw_extra
    if current:
        messages.append("\n".join(current).strip("\n"))
    return [message for message in messages if message]


def utc_now() -> datetime:
    return datetime.now(UTC)


class DigestJob:
    """`run_due()` is the scheduled job; `run_for()` re-checks one reader right after they
    changed their schedule, so a reader who moves the time to one already past gets the
    day's digest at once instead of at the next tick."""

    def __init__(
        self,
        schedules: ScheduleRepository,
        catalogue: Catalogue,
        taxonomy: Taxonomy,
        timezone: str,
        *,
        clock: Callable[[], datetime] = utc_now,
        on_queued: Callable[[], object] | None = None,
    ) -> None:
        self._schedules = schedules
        self._catalogue = catalogue
        self._taxonomy = taxonomy
        self._timezone = timezone
        self._clock = clock
        self._on_queued = on_queued
        self._headings: dict[tuple[str, str], tuple[str, int]] = {}
        self._running = asyncio.Lock()
        self._stopping = False

    def _render(
        self, language: str, followed: frozenset[str], articles: Sequence[DigestArticle]
    ) -> list[str]:
        t = self._catalogue.translator(language)
        return render_digest(t, self._taxonomy, followed, articles, headings=self._headings)

    async def run_due(self) -> int:
        """Queue every due digest; returns how many messages were queued."""
        async with self._running:
            return await self._run(await self._schedules.digest_readers())

    async def run_for(self, chat_id: int) -> int:
        async with self._running:
            return await self._run(await self._schedules.digest_readers(chat_id))

    async def stop(self) -> None:
        """Let a run in progress finish its batch and wait for it, before the database
        closes (the scheduler does not await its jobs); later runs do nothing."""
        self._stopping = True
        async with self._running:
            pass

    async def _run(self, readers: list[DigestReader]) -> int:
        now = self._clock()
        due = [item for item in map(self._due, readers, [now] * len(readers)) if item]
        queued = 0
        for start in range(0, len(due), BATCH):
            if self._stopping:
                break
            batch = due[start : start + BATCH]
            try:
                sent = await self._schedules.deliver_digests(batch, self._render, now)
            except Exception:  # a bad batch never stops the others; it is retried next run
                log.exception("digests for chats %s failed", [chat for chat, _ in batch])
                continue
            for chat_id, count in sent.items():
                log.info("digest for chat %d: %d message(s) queued", chat_id, count)
            queued += sum(sent.values())
        if queued and self._on_queued is not None:
            self._on_queued()
        return queued

    def _due(self, reader: DigestReader, now: datetime) -> tuple[int, str] | None:
        """(chat_id, local date) when the reader's digest is due now."""
        try:
            zone = ZoneInfo(reader.timezone or self._timezone)
            at = parse_time(reader.digest_time)
        except (ScheduleError, ValueError, KeyError):  # a stored value we cannot read
            log.warning("chat %d: cannot read its digest schedule", reader.chat_id)
            return None
        if not digest_due(now, zone, at, reader.last_digest_on):
            return None
        return reader.chat_id, local_date(now, zone).isoformat()

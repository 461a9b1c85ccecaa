"""`python -m bot check-feeds` (SPEC 2): an editor's dry run over FEEDS_FILE.

Every feed is fetched once, parsed and classified exactly as the poll job does it
(`parse_feed`, `classify`), and every item is printed with its topics, old ones too. No
validators are sent (a 304 would show nothing), nothing is stored and Telegram is never
called, so the command needs neither BOT_TOKEN nor the database.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from bot.config import ConfigError, Settings
from bot.feeds.catalog import FeedSpec, load_feeds_file
from bot.feeds.fetch import Fetcher, FetchError, create_session
from bot.feeds.parse import ParseError, parse_feed
from bot.feeds.prepare import classify
from bot.topics.matcher import Matcher
from bot.topics.normalize import Normalizer
from bot.topics.taxonomy import TaxonomyError, load_taxonomy

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FEED_FAILED = 1


@dataclass(frozen=True)
class CheckedItem:
    title: str
    link: str | None
    published: datetime | None  # UTC
    topics: tuple[str, ...]  # in taxonomy order


@dataclass(frozen=True)
class FeedCheck:
    spec: FeedSpec
    feed_title: str = ""
    items: tuple[CheckedItem, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def check_body(
    body: bytes,
    *,
    content_type: str | None,
    encoding: str | None,
    base_url: str | None,
    matcher: Matcher,
    topic_order: Sequence[str],
) -> tuple[str, tuple[CheckedItem, ...]]:
    """Feed bytes -> (feed title, classified items); pure and CPU-bound (run it in a thread)."""
    parsed = parse_feed(body, content_type=content_type, encoding=encoding, base_url=base_url)
    rank = {topic: index for index, topic in enumerate(topic_order)}
    items = []
    for item in parsed.items:
        topics = classify(item, matcher, None).topics
        items.append(
            CheckedItem(
                title=item.title,
                link=item.link,
                published=item.published,
                topics=tuple(sorted(topics, key=lambda t: (rank.get(t, len(rank)), t))),
            )
        )
    return parsed.title, tuple(items)


async def check_feed(
    spec: FeedSpec,
    fetcher: Fetcher,
    matcher: Matcher,
    topic_order: Sequence[str],
    parser: Executor,
) -> FeedCheck:
    """One feed; every failure becomes `FeedCheck.error`, never an exception."""
    try:
        result = await fetcher.fetch(spec.url)
        work = functools.partial(
            check_body,
            result.body or b"",
            content_type=result.content_type,
            encoding=spec.encoding,
            base_url=result.url,
            matcher=matcher,
            topic_order=topic_order,
        )
        title, items = await asyncio.get_running_loop().run_in_executor(parser, work)
    except (FetchError, ParseError) as error:
        return FeedCheck(spec, error=error.reason)
    except Exception as error:  # a bug on one feed's data must not hide the other feeds
        log.exception("check of feed %s failed unexpectedly", spec.url)
        return FeedCheck(spec, error=f"internal error: {type(error).__name__}: {error}")
    return FeedCheck(spec, feed_title=title, items=items)


async def check_all(
    specs: Sequence[FeedSpec],
    fetcher: Fetcher,
    matcher: Matcher,
    topic_order: Sequence[str],
    *,
    concurrency: int = 20,
) -> AsyncIterator[FeedCheck]:
    """Check feeds concurrently (at most `concurrency` fetches at once), yielding results in
    the order of `specs` as soon as each is ready, so output streams in a stable order.

    Parsing and classification run on one worker thread: the Normalizer's Snowball
    stemmer keeps per-call state and breaks (IndexError, or a wrong stem) when two threads
    stem at once, and under the GIL more threads would not parse faster anyway."""
    semaphore = asyncio.Semaphore(concurrency)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="check-feeds") as parser:

        async def bounded(spec: FeedSpec) -> FeedCheck:
            async with semaphore:
                return await check_feed(spec, fetcher, matcher, topic_order, parser)

        tasks = [asyncio.create_task(bounded(spec)) for spec in specs]
        try:
            for task in tasks:
                yield await task
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


# ------------------------------------------------------------------------------ output


def json_lines(check: FeedCheck) -> list[str]:
    """One JSON object a line per item, or one `{"feed", "error"}` for a failed feed."""
    url = check.spec.url
    if check.error is not None:
        return [json.dumps({"feed": url, "error": check.error}, ensure_ascii=False)]
    return [
        json.dumps(
            {
                "feed": url,
                "title": item.title,
                "link": item.link,
                "published": item.published.isoformat() if item.published else None,
                "topics": list(item.topics),
            },
            ensure_ascii=False,
        )
        for item in check.items
    ]


_DATE_WIDTH = len("2025-10-20 14:05")


def text_lines(check: FeedCheck, tz: ZoneInfo) -> list[str]:
    """A readable block: name and URL, status, then one line an item (local time)."""
    spec = check.spec
    heading = f"{spec.name}  {spec.url}"
    if check.error is not None:
        return [heading, f"  error: {check.error}", ""]
    count = len(check.items)
    status = f"  ok, {count} item{'' if count == 1 else 's'}"
    if check.feed_title:
        status += f"  ({check.feed_title})"
    lines = [heading, status]
    for item in check.items:
        when = (
            item.published.astimezone(tz).strftime("%Y-%m-%d %H:%M")
            if item.published
            else "no date".ljust(_DATE_WIDTH)
        )
        topics = " ".join(f"#{topic}" for topic in item.topics) or "(no topics)"
        lines.append(f"  {when}  {item.title or '(no title)'}  {topics}")
    lines.append("")
    return lines


def summary_line(checks: Sequence[FeedCheck]) -> str:
    failed = sum(1 for check in checks if not check.ok)
    items = sum(len(check.items) for check in checks)
    return (
        f"{len(checks)} feed{'' if len(checks) == 1 else 's'}: {len(checks) - failed} ok, "
        f"{failed} failed; {items} item{'' if items == 1 else 's'}"
    )


# ----------------------------------------------------------------------------- command


async def run_check(settings: Settings, out: TextIO, *, as_json: bool = False) -> int:
    """The whole command: EXIT_OK when every feed worked, EXIT_FEED_FAILED otherwise.

    A bad FEEDS_FILE or TOPICS_FILE raises `ConfigError` before anything is fetched."""
    try:
        taxonomy = load_taxonomy(settings.topics_file)
    except TaxonomyError as error:
        raise ConfigError("TOPICS_FILE", str(error)) from None
    specs = load_feeds_file(settings.feeds_file)
    matcher = Matcher.from_taxonomy(taxonomy, Normalizer())
    tz = ZoneInfo(settings.timezone)

    checks: list[FeedCheck] = []
    async with create_session() as session:
        results = check_all(specs, Fetcher(session), matcher, taxonomy.ids)
        try:
            async for check in results:
                checks.append(check)
                lines = json_lines(check) if as_json else text_lines(check, tz)
                if lines:
                    out.write("\n".join(lines) + "\n")
                    out.flush()
        finally:
            await results.aclose()
    if not as_json:
        out.write(summary_line(checks) + "\n")
        out.flush()
    return EXIT_OK if all(check.ok for check in checks) else EXIT_FEED_FAILED

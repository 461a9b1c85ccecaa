"""Check a URL an admin gives, and when it is a site page find its feeds (SPEC 8.3).

Every URL is fetched with the bot's Fetcher, so SPEC 6's limits (http(s) only, timeout,
body cap) hold for the page and for each candidate alike; a candidate counts only if
`parse_feed` accepts it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.feeds.discover import common_feed_urls, feed_links
from bot.feeds.fetch import Fetcher, FetchError, FetchResult
from bot.feeds.parse import ParsedFeed, ParseError, parse_feed

PROBE_CONCURRENCY = 4  # candidates fetched and parsed at once (parsing holds a thread)
# The whole search after the page, so an admin waits at most the page's fetch plus this
# (10 declared candidates, 4 at a time, each allowed the Fetcher's 20 s, was a minute).
SEARCH_SECONDS = 25.0


@dataclass(frozen=True)
class FoundFeed:
    url: str  # as the page named it (the poller follows redirects itself)
    parsed: ParsedFeed


@dataclass(frozen=True)
class Discovery:
    """What a page that is not a feed led to."""

    page_reason: str  # why the page itself is not a feed
    declared: bool  # the page names feeds (so the common paths were not tried)
    feeds: tuple[FoundFeed, ...]
    tried: tuple[tuple[str, str], ...]  # (url, why it is not a feed) of the failures


async def discover(
    fetcher: Fetcher, page: FetchResult, page_reason: str, *, within: float = SEARCH_SECONDS
) -> Discovery:
    """Feeds the page declares, else the first common path that holds one.

    Declared feeds that redirect to the same final feed are offered once. A candidate
    still unanswered `within` seconds of the start is listed as tried, with that reason."""
    body = page.body or b""
    links = await asyncio.to_thread(feed_links, body, page.content_type, page.url)
    declared = [url for url in links if url != page.url]
    urls = declared or common_feed_urls(page.url)
    semaphore = asyncio.Semaphore(PROBE_CONCURRENCY)
    deadline = asyncio.get_running_loop().time() + within
    async with asyncio.TaskGroup() as group:  # a bug in one probe cancels the others
        probes = [
            group.create_task(_probe(fetcher, url, semaphore, deadline, within)) for url in urls
        ]
    outcomes = [probe.result() for probe in probes]
    feeds: list[FoundFeed] = []
    tried: list[tuple[str, str]] = []
    finals: set[str] = set()
    for url, outcome in zip(urls, outcomes, strict=True):
        if isinstance(outcome, str):
            tried.append((url, outcome))
            continue
        final, parsed = outcome
        if final not in finals:
            finals.add(final)
            feeds.append(FoundFeed(url, parsed))
        if not declared:  # /rss and /rss.xml are usually one feed: take the first
            break
    return Discovery(page_reason, bool(declared), tuple(feeds), tuple(tried))


async def _probe(
    fetcher: Fetcher, url: str, semaphore: asyncio.Semaphore, deadline: float, within: float
) -> tuple[str, ParsedFeed] | str:
    """(final URL, parsed feed), or why `url` is not a feed."""
    try:
        async with asyncio.timeout_at(deadline), semaphore:
            result = await fetcher.fetch(url)
            return result.url, await parse_fetched(result)
    except (FetchError, ParseError) as error:
        return error.reason
    except TimeoutError:
        return f"no answer within the search's {within:g} s"


async def parse_fetched(result: FetchResult) -> ParsedFeed:
    """`parse_feed` off the event loop (feedparser is CPU-bound); raises ParseError."""
    return await asyncio.to_thread(
        parse_feed, result.body or b"", content_type=result.content_type, base_url=result.url
    )

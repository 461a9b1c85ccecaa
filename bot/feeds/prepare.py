"""Bytes of a feed -> storable candidates: parse and identify (`parse_items`), then
classify (`classify_items`) only what the poller has not stored. Pure and CPU-bound, so
the poller runs each step in a worker thread; `check-feeds` classifies with `classify`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from bot.feeds.identity import canonical_link, item_key, title_key
from bot.feeds.parse import Item, parse_feed
from bot.topics.matcher import Matcher, PhraseIndex
from storage.articles import Candidate


def classify(
    item: Item,
    matcher: Matcher,
    keywords: PhraseIndex[str] | None,
    key: str | None = None,
) -> Candidate:
    """Topics and reader keywords of one item; freshness is left to the caller. `key` is
    the item's `item_key` when the caller has it already."""
    fields = matcher.article_tokens(item.title, item.summary, item.categories)
    return Candidate(
        item_key=key or item_key(item),
        link=item.link,
        canonical_link=canonical_link(item.link) if item.link else None,
        title=item.title,
        title_key=title_key(item.title),
        summary=item.summary,
        published=item.published,
        topics=matcher.match_tokens(fields),
        keywords=frozenset(keywords.find_all(fields)) if keywords else frozenset(),
        fresh=True,
        image=item.image,
    )


def is_fresh(item: Item, now: datetime, max_age: timedelta) -> bool:
    """Undated items count as fresh: they are new to us, and that is all we know."""
    return item.published is None or now - item.published <= max_age


KeyedItem = tuple[str, Item]


def parse_items(
    body: bytes, *, content_type: str | None, encoding: str | None, base_url: str | None
) -> tuple[str, list[KeyedItem]]:
    """The feed's own title and its items with their identities (SPEC 6.4), not yet
    classified: the poller classifies only the items it has not stored before, so a
    changed feed of twenty items with three new ones costs three classifications."""
    parsed = parse_feed(body, content_type=content_type, encoding=encoding, base_url=base_url)
    return parsed.title, [(item_key(item), item) for item in parsed.items]


def classify_items(
    items: Sequence[KeyedItem],
    *,
    matcher: Matcher,
    keywords: PhraseIndex[str] | None,
    now: datetime,
    max_age: timedelta,
) -> list[Candidate]:
    return [
        replace(classify(item, matcher, keywords, key), fresh=is_fresh(item, now, max_age))
        for key, item in items
    ]

"""/latest (SPEC 4.6): the newest stored articles for a topic, keyword, source, or for
everything a reader follows."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.readers import ReaderService, Rejected, Target
from bot.topics.matcher import PhraseIndex
from bot.topics.normalize import Normalizer
from storage.articles import Article, ArticleRepository
from storage.subscriptions import Subscription

LATEST_COUNT = 10
# Keyword searches scan the text of this many newest articles: a few days of news.
KEYWORD_SCAN = 2_000


@dataclass(frozen=True)
class Latest:
    articles: list[Article]
    target: Target | None  # None: the reader's own subscriptions
    subscribed: bool = True  # whether the reader has any subscription at all


class NewsService:
    def __init__(
        self, articles: ArticleRepository, readers: ReaderService, normalizer: Normalizer
    ) -> None:
        self._articles = articles
        self._readers = readers
        self._normalizer = normalizer
        # Keyword searches tokenise thousands of articles: one at a time, so readers
        # repeating /latest cannot starve the poller's parsing threads.
        self._scan = asyncio.Semaphore(1)

    async def latest(self, chat_id: int, argument: str | None) -> Latest | Rejected:
        if argument is None or not argument.strip():
            subs = await self._readers.subscriptions(chat_id)
            return Latest(await self._for_subscriptions(subs), None, subscribed=bool(subs))
        target = await self._readers.resolve(argument)
        if isinstance(target, Rejected):
            return target
        if target.kind == "topic":
            found = await self._articles.latest_by_topics([target.key], LATEST_COUNT)
        elif target.kind == "source":
            found = await self._articles.latest_by_sources([target.value], LATEST_COUNT)
        else:
            found = await self._by_keywords([target.value])
        return Latest(found, target)

    async def _for_subscriptions(self, subs: list[Subscription]) -> list[Article]:
        topics = [s.key for s in subs if s.kind == "topic"]
        sources = [s.value for s in subs if s.kind == "source"]
        keywords = [s.value for s in subs if s.kind == "keyword"]
        found: dict[int, Article] = {}
        if topics:
            found.update(
                (a.article_id, a)
                for a in await self._articles.latest_by_topics(topics, LATEST_COUNT)
            )
        if sources:
            found.update(
                (a.article_id, a)
                for a in await self._articles.latest_by_sources(sources, LATEST_COUNT)
            )
        if keywords:
            found.update((a.article_id, a) for a in await self._by_keywords(keywords))
        return sorted(found.values(), key=lambda a: a.article_id, reverse=True)[:LATEST_COUNT]

    async def _by_keywords(self, phrases: list[str]) -> list[Article]:
        async with self._scan:
            recent = await self._articles.latest(KEYWORD_SCAN)
            return await asyncio.to_thread(self._match, recent, phrases)

    def _match(self, articles: list[Article], phrases: list[str]) -> list[Article]:
        """CPU-bound: tokenises article text, so it runs in a worker thread."""
        index: PhraseIndex[int] = PhraseIndex(self._normalizer)
        for number, phrase in enumerate(phrases):
            try:
                index.add(number, phrase)
            except ValueError:
                continue
        tokens = self._normalizer.tokens
        found = []
        for article in articles:
            if index.find_all([tokens(article.title), tokens(article.summary)]):
                found.append(article)
                if len(found) == LATEST_COUNT:
                    break
        return found

"""Editors see and fix the machine's topics (SPEC 5.4): /why, /retopic, /export corrections.

/why classifies the stored text again with today's taxonomy, so an editor sees the words
and rules that decide now, next to what the article was stored with and every correction
made since. /retopic never sends anything; its corrections are exported in the format of
the labelled sets, so `eval-topics` can measure the next taxonomy change on them.
"""

from __future__ import annotations

import asyncio
import enum
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.topics.matcher import Judgement, Matcher, keyword_index
from bot.topics.taxonomy import Taxonomy
from storage.articles import Article
from storage.corrections import Correction, CorrectionRepository
from storage.subscriptions import SubscriptionRepository

MAX_RETOPIC_CHARS = 500
# Minus signs editors' keyboards produce: ASCII, the typographic minus, en and em dashes.
_MINUS = "-−–—"
_CYRILLIC_RE = re.compile(r"[а-яА-ЯёЁ]")


class RetopicProblem(enum.Enum):
    USAGE = "usage"  # no change given, or too long
    NOT_A_CHANGE = "not_a_change"  # a word without + or -
    UNKNOWN_TOPIC = "unknown_topic"
    BOTH_WAYS = "both_ways"  # +trade and -trade at once
    NOT_FOUND = "not_found"  # no such article (or recalled)


@dataclass(frozen=True)
class RetopicRejected:
    problem: RetopicProblem
    detail: str = ""


@dataclass(frozen=True)
class Changes:
    add: tuple[str, ...]
    remove: tuple[str, ...]


@dataclass(frozen=True)
class Why:
    article: Article
    judgement: Judgement  # today's taxonomy on the stored title and summary
    history: list[Correction]


def parse_changes(text: str | None, taxonomy: Taxonomy) -> Changes | RetopicRejected:
    """`+trade -education` (ids or one-word names, any case; commas allowed)."""
    if not text or len(text) > MAX_RETOPIC_CHARS:
        return RetopicRejected(RetopicProblem.USAGE)
    add: list[str] = []
    remove: list[str] = []
    for word in text.replace(",", " ").split():
        sign, name = word[0], word[1:]
        if sign not in "+" + _MINUS or not name:
            return RetopicRejected(RetopicProblem.NOT_A_CHANGE, word[:40])
        topic = taxonomy.find(name)
        if topic is None:
            return RetopicRejected(RetopicProblem.UNKNOWN_TOPIC, name[:40])
        (add if sign == "+" else remove).append(topic.id)
    if not add and not remove:
        return RetopicRejected(RetopicProblem.USAGE)
    both = sorted(set(add) & set(remove))
    if both:
        return RetopicRejected(RetopicProblem.BOTH_WAYS, both[0])
    return Changes(tuple(dict.fromkeys(add)), tuple(dict.fromkeys(remove)))


def labelled_line(article: Article, topics: tuple[str, ...], removed: tuple[str, ...]) -> str:
    """One line of a labelled set (SPEC 9): what the editor left is `must`, what they
    took away is `must_not`."""
    row = {
        "id": f"article-{article.article_id}",
        "lang": "ru" if _CYRILLIC_RE.search(article.title + article.summary) else "en",
        "title": article.title,
        "summary": article.summary,
        "must": list(topics),
        "must_not": list(removed),
        "source": article.link or "",
    }
    return json.dumps(row, ensure_ascii=False)


class TopicReviewService:
    def __init__(
        self,
        corrections: CorrectionRepository,
        subscriptions: SubscriptionRepository,
        matcher: Matcher,
        taxonomy: Taxonomy,
    ) -> None:
        self._corrections = corrections
        self._subscriptions = subscriptions
        self._matcher = matcher
        self.taxonomy = taxonomy

    async def why(self, article_id: int) -> Why | None:
        article = await self._corrections.article(article_id)
        if article is None:
            return None
        # Tokenising may parse unseen words with pymorphy3: off the event loop.
        judgement = await asyncio.to_thread(self._matcher.explain, article.title, article.summary)
        return Why(article, judgement, await self._corrections.history(article_id))

    async def retopic(
        self, article_id: int, editor_id: int, text: str | None, now: datetime | None = None
    ) -> Correction | RetopicRejected:
        changes = parse_changes(text, self.taxonomy)
        if isinstance(changes, RetopicRejected):
            return changes
        article = await self._corrections.article(article_id)
        if article is None:
            return RetopicRejected(RetopicProblem.NOT_FOUND)
        keywords = await asyncio.to_thread(
            self._reader_keywords, article, await self._subscriptions.keyword_phrases()
        )
        correction = await self._corrections.correct(
            article_id,
            editor_id,
            changes.add,
            changes.remove,
            keywords,
            now or datetime.now(UTC),
        )
        return correction if correction is not None else RetopicRejected(RetopicProblem.NOT_FOUND)

    async def export_corrections(self) -> tuple[bytes, int]:
        articles = await self._corrections.corrected_articles()
        lines = [labelled_line(c.article, c.topics, c.removed) for c in articles]
        return ("".join(line + "\n" for line in lines)).encode("utf-8"), len(lines)

    def _reader_keywords(self, article: Article, phrases: dict[str, str]) -> set[str]:
        """Readers' keyword keys the article matches (as the poller found them)."""
        index = keyword_index(self._matcher.normalizer, phrases)
        return index.find_all(self._matcher.article_tokens(article.title, article.summary))

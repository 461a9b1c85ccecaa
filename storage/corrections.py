"""Editors' corrections of stored articles' topics (SPEC 5.4: /retopic, /why, /export).

A correction rewrites the article's topics where every reader-facing view reads them
(`articles.topics` for digests' grouping, `article_topics` for /latest), and takes the
article out of the pending digests of readers who followed it only through a removed
topic. It never queues anything: a correction is not news, and nothing is sent twice.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.articles import Article, article_by_id
from storage.database import Database, Row
from storage.sql import Texts


@dataclass(frozen=True)
class Correction:
    article_id: int
    editor_id: int
    added: tuple[str, ...]
    removed: tuple[str, ...]
    before: tuple[str, ...]
    after: tuple[str, ...]
    corrected_at: str


@dataclass(frozen=True)
class CorrectedArticle:
    """An article with the net effect of its corrections: what export needs."""

    article: Article
    topics: tuple[str, ...]  # after the last correction
    removed: tuple[str, ...]  # removed by a correction and not added back since


def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _correction(row: Row) -> Correction:
    return Correction(
        article_id=row["article_id"],
        editor_id=row["editor_id"],
        added=_split(row["added"]),
        removed=_split(row["removed"]),
        before=_split(row["topics_before"]),
        after=_split(row["topics_after"]),
        corrected_at=row["corrected_at"],
    )


# Readers who would still get the article with its new topics: the fan-out's own test
# (storage.articles), by topic, keyword or source.
_STILL_MATCHING = """
SELECT s.chat_id FROM subscriptions s WHERE
       (s.kind = 'topic' AND s.key IN (SELECT value FROM json_each(:topics)))
    OR (s.kind = 'keyword' AND s.key IN (SELECT value FROM json_each(:keywords)))
    OR (s.kind = 'source' AND s.key IN (SELECT value FROM json_each(:sources)))
"""


class CorrectionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def article(self, article_id: int) -> Article | None:
        return await article_by_id(self._db, article_id)

    async def correct(
        self,
        article_id: int,
        editor_id: int,
        add: Collection[str],
        remove: Collection[str],
        keywords: Collection[str],
        now: datetime,
    ) -> Correction | None:
        """Apply `+add -remove` in one transaction; None when the article is gone.

        A digest reader loses the article only when they follow a removed topic and
        nothing else that matches it: no remaining topic, no source of it, none of
        `keywords` (the readers' keyword keys its stored text matches)."""
        async with self._db.transaction() as conn:
            row = await conn.fetch_one(
                "SELECT topics FROM articles WHERE article_id = ? AND recalled = 0",
                (article_id,),
            )
            if row is None:
                return None
            before = _split(row["topics"])
            after = tuple(sorted((set(before) | set(add)) - set(remove)))
            added = tuple(sorted(set(after) - set(before)))
            removed = tuple(sorted(set(before) - set(after)))
            stamp = now.isoformat(timespec="seconds")
            correction = Correction(article_id, editor_id, added, removed, before, after, stamp)
            if not added and not removed:
                return correction
            await conn.execute(
                "UPDATE articles SET topics = ? WHERE article_id = ?", (" ".join(after), article_id)
            )
            await conn.execute("DELETE FROM article_topics WHERE article_id = ?", (article_id,))
            await conn.executemany(
                "INSERT INTO article_topics (topic_id, article_id) VALUES (?, ?)",
                [(topic, article_id) for topic in after],
            )
            if removed:
                # Source keys are case-folded in Python, as the poller does: SQLite's
                # lower() leaves Cyrillic feed names alone.
                rows = await conn.fetch_all(
                    "SELECT f.name FROM feed_items fi JOIN feeds f ON f.feed_id = fi.feed_id"
                    " WHERE fi.article_id = ?",
                    (article_id,),
                )
                sources = sorted({r["name"].casefold() for r in rows})
                # Only readers who follow a removed topic can lose the article, and only
                # when nothing else of theirs matches it. Categories and a duplicate's text
                # are not stored, so a keyword that matched only there is not seen here.
                await conn.execute(
                    "DELETE FROM digest_items WHERE article_id = :article_id"
                    " AND chat_id IN (SELECT chat_id FROM subscriptions WHERE kind = 'topic'"
                    " AND key IN (SELECT value FROM json_each(:removed)))"
                    f" AND chat_id NOT IN ({_STILL_MATCHING})",
                    {
                        "article_id": article_id,
                        "removed": Texts(removed),
                        "topics": Texts(after),
                        "keywords": Texts(sorted(keywords)),
                        "sources": Texts(sources),
                    },
                )
            await conn.execute(
                "INSERT INTO topic_corrections (article_id, editor_id, added, removed,"
                " topics_before, topics_after, corrected_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    article_id,
                    editor_id,
                    " ".join(added),
                    " ".join(removed),
                    " ".join(before),
                    " ".join(after),
                    stamp,
                ),
            )
        return correction

    async def history(self, article_id: int) -> list[Correction]:
        rows = await self._db.fetch_all(
            "SELECT * FROM topic_corrections WHERE article_id = ? ORDER BY correction_id",
            (article_id,),
        )
        return [_correction(r) for r in rows]

    async def corrected_articles(self) -> list[CorrectedArticle]:
        """Every corrected article once, oldest first, with its corrections' net effect."""
        rows = await self._db.fetch_all(
            "SELECT * FROM topic_corrections ORDER BY article_id, correction_id"
        )
        by_article: dict[int, list[Correction]] = {}
        for row in rows:
            by_article.setdefault(row["article_id"], []).append(_correction(row))
        out: list[CorrectedArticle] = []
        for article_id, corrections in by_article.items():
            article = await article_by_id(self._db, article_id)
            if article is None:
                continue
            out.append(CorrectedArticle(article, article.topics, _net_removed(corrections)))
        return out


def _net_removed(corrections: Sequence[Correction]) -> tuple[str, ...]:
    removed: set[str] = set()
    for c in corrections:
        removed = (removed | set(c.removed)) - set(c.added)
    return tuple(sorted(removed - set(corrections[-1].after)))

"""What readers can do in a private chat (SPEC 4), independent of Telegram.

Handlers call these methods and render the outcome; every rule about what a subscription
may be (limits, keyword shape, topic and source names) lives here.
"""

from __future__ import annotations

import enum
import hashlib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from bot.i18n import LANGUAGES
from bot.topics.taxonomy import Taxonomy, Topic
from storage.chats import Chat, ChatRepository
from storage.feeds import FeedRepository
from storage.subscriptions import AddOutcome, Subscription, SubscriptionRepository

MAX_SUBSCRIPTIONS = 50
MAX_KEYWORD_CHARS = 64
MAX_KEYWORD_WORDS = 5
SOURCE_PREFIX = "source:"


class Problem(enum.Enum):
    """Why an argument cannot name a subscription (SPEC 4.3, 4.10)."""

    EMPTY = "empty"
    TOO_LONG = "too_long"
    TOO_MANY_WORDS = "too_many_words"
    NO_LETTERS = "no_letters"
    SOURCE_MISSING = "source_missing"
    UNKNOWN_SOURCE = "unknown_source"


class Outcome(enum.Enum):
    ADDED = "added"
    REMOVED = "removed"
    DUPLICATE = "duplicate"
    NOT_FOUND = "not_found"
    LIMIT = "limit"


@dataclass(frozen=True)
class Target:
    """A subscription a reader named: what it is, how to show it, how it is keyed."""

    kind: str  # "topic" | "keyword" | "source"
    value: str
    key: str


@dataclass(frozen=True)
class Rejected:
    problem: Problem
    text: str  # the cleaned argument, for the reply (bounded in length)
    length: int = 0
    words: int = 0


@dataclass(frozen=True)
class Change:
    outcome: Outcome
    target: Target


@dataclass(frozen=True)
class Toggle:
    topic: Topic
    subscribed: bool | None  # None: the limit stopped a new subscription


def parse_switch(word: str) -> bool | None:
    """`on` / `off` (any case, surrounding spaces ignored) as True / False; else None."""
    return {"on": True, "off": False}.get(word.strip().casefold())


def clean_argument(text: str) -> str:
    """Drop invisible format characters (zero-width spaces, bidi marks) and control
    characters, and collapse whitespace: what is left is what a reader can see."""
    kept = (
        " " if ch.isspace() else ch
        for ch in text
        if not (unicodedata.category(ch) in ("Cf", "Cc") and not ch.isspace())
    )
    return " ".join("".join(kept).split())


def subscription_tag(sub: Subscription) -> str:
    """A short fingerprint of what a subscription is (kind and key), carried by its remove
    button beside the row id: SQLite reuses the id of a deleted row, so an old button must
    not remove whatever subscription took that id since."""
    return hashlib.sha256(f"{sub.kind}:{sub.key}".encode()).hexdigest()[:8]


def _keyword_key_default(phrase: str) -> str:
    return phrase.casefold().replace("ё", "е")


class ReaderService:
    def __init__(
        self,
        chats: ChatRepository,
        subscriptions: SubscriptionRepository,
        feeds: FeedRepository,
        taxonomy: Taxonomy,
        keyword_key: Callable[[str], str] = _keyword_key_default,
    ) -> None:
        self._chats = chats
        self._subscriptions = subscriptions
        self._feeds = feeds
        self.taxonomy = taxonomy
        self._keyword_key = keyword_key

    async def register(self, chat_id: int, language: str) -> tuple[Chat, bool]:
        """First contact creates the reader; a returning or unblocking one is re-activated."""
        return await self._chats.register(chat_id, language)

    async def chat(self, chat_id: int) -> Chat | None:
        return await self._chats.get(chat_id)

    async def topic_states(self, chat_id: int) -> list[tuple[Topic, bool]]:
        subscribed = await self._subscriptions.topic_ids(chat_id)
        return [(topic, topic.id in subscribed) for topic in self.taxonomy.topics]

    async def toggle_topic(self, chat_id: int, topic_id: str) -> Toggle | None:
        """Flip one topic; None for a topic id that does not exist (forged button)."""
        topic = self.taxonomy.get(topic_id)
        if topic is None:
            return None
        if await self._subscriptions.remove(chat_id, "topic", topic.id):
            return Toggle(topic, subscribed=False)
        outcome = await self._subscriptions.add(
            chat_id, "topic", topic.id, topic.id, MAX_SUBSCRIPTIONS
        )
        return Toggle(topic, subscribed=None if outcome is AddOutcome.LIMIT else True)

    async def resolve(self, argument: str) -> Target | Rejected:
        """Read an argument as a topic, `source:NAME` or a keyword (SPEC 4.3)."""
        text = clean_argument(argument)
        if not text:
            return Rejected(Problem.EMPTY, text)
        if len(text) > MAX_KEYWORD_CHARS:
            return Rejected(Problem.TOO_LONG, text[:MAX_KEYWORD_CHARS] + "…", length=len(text))
        if text.casefold().startswith(SOURCE_PREFIX):
            name = text[len(SOURCE_PREFIX) :].strip()
            if not name:
                return Rejected(Problem.SOURCE_MISSING, text)
            feed = await self._feeds.find_by_name(name)
            if feed is None:
                return Rejected(Problem.UNKNOWN_SOURCE, name)
            return Target("source", feed.name, feed.name.casefold())
        topic = self.taxonomy.find(text)
        if topic is not None:
            return Target("topic", topic.id, topic.id)
        words = len(text.split())
        if words > MAX_KEYWORD_WORDS:
            return Rejected(Problem.TOO_MANY_WORDS, text, words=words)
        if not any(ch.isalnum() for ch in text):
            return Rejected(Problem.NO_LETTERS, text)
        return Target("keyword", text, self._keyword_key(text))

    async def subscribe(self, chat_id: int, argument: str) -> Change | Rejected:
        target = await self.resolve(argument)
        if isinstance(target, Rejected):
            return target
        added = await self._subscriptions.add(
            chat_id, target.kind, target.value, target.key, MAX_SUBSCRIPTIONS
        )
        outcome = {
            AddOutcome.ADDED: Outcome.ADDED,
            AddOutcome.DUPLICATE: Outcome.DUPLICATE,
            AddOutcome.LIMIT: Outcome.LIMIT,
        }[added]
        return Change(outcome, target)

    async def unsubscribe(self, chat_id: int, argument: str) -> Change | Rejected:
        target = await self.resolve(argument)
        if isinstance(target, Rejected):
            if target.problem is not Problem.UNKNOWN_SOURCE:
                return target
            # A feed removed since: the reader must still be able to drop its subscription.
            name = target.text
            target = Target("source", name, name.casefold())
        removed = await self._subscriptions.remove(chat_id, target.kind, target.key)
        if removed is None:
            return Change(Outcome.NOT_FOUND, target)
        return Change(Outcome.REMOVED, Target(removed.kind, removed.value, removed.key))

    async def unsubscribe_by_id(
        self, chat_id: int, subscription_id: int, tag: str | None = None
    ) -> Subscription | None:
        """Remove one of this chat's subscriptions by id; with `tag` (from a button), only
        when the row still is the subscription the button named (`subscription_tag`)."""
        if tag is None:
            return await self._subscriptions.remove_by_id(chat_id, subscription_id)
        subs = await self._subscriptions.list(chat_id)
        named = next((s for s in subs if s.subscription_id == subscription_id), None)
        if named is None or subscription_tag(named) != tag:
            return None
        return await self._subscriptions.remove(chat_id, named.kind, named.key)

    async def subscriptions(self, chat_id: int) -> list[Subscription]:
        return await self._subscriptions.list(chat_id)

    async def set_paused(self, chat_id: int, paused: bool) -> bool:
        """True when this changed anything (pausing a paused reader does not)."""
        return await self._chats.set_paused(chat_id, paused)

    async def set_previews(self, chat_id: int, previews: bool) -> bool:
        """True when the setting changed (SPEC 7.5: `/previews on|off`)."""
        return await self._chats.set_previews(chat_id, previews)

    async def set_language(self, chat_id: int, language: str) -> bool | None:
        """None for a language we do not speak."""
        if language not in LANGUAGES:
            return None
        await self._chats.set_language(chat_id, language)
        return True

    async def sources(self) -> list[tuple[str, str]]:
        """(name for `source:NAME`, title readers see) of every feed (SPEC 6.0)."""
        return [(feed.name, feed.display_title) for feed in await self._feeds.list()]

"""Phrase matching for topics and reader keywords (SPEC 5.2, 4.3).

Phrases are indexed by the lemma of their first word, so classifying an article costs a
few dictionary look-ups per token however many keywords there are, rather than a scan of
every keyword per article. Topics and reader keywords share one index type and one
Normalizer, so "/subscribe Куба" matches exactly what the topic keyword "Куба" would.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import Generic, TypeVar

from bot.topics.normalize import Normalizer, PhraseWord, Token
from bot.topics.taxonomy import Taxonomy

K = TypeVar("K", bound=Hashable)

Span = tuple[int, int]


class PhraseIndex(Generic[K]):
    """Keys (topic ids, subscription ids, ...) each with phrases; finds keys in token runs."""

    def __init__(self, normalizer: Normalizer) -> None:
        self._normalizer = normalizer
        self._by_first: dict[str, list[tuple[tuple[PhraseWord, ...], K]]] = {}
        self._phrases: dict[K, set[tuple[PhraseWord, ...]]] = {}

    def __len__(self) -> int:
        return len(self._phrases)

    def __contains__(self, key: object) -> bool:
        return key in self._phrases

    def add(self, key: K, phrase: str) -> None:
        """Index one phrase under key; a key may have several phrases.

        Raises ValueError for a phrase without a single word (only punctuation)."""
        words = self._normalizer.phrase(phrase)
        if not words:
            raise ValueError(f"phrase {phrase!r} has no words")
        phrases = self._phrases.setdefault(key, set())
        if words in phrases:
            return
        phrases.add(words)
        self._by_first.setdefault(words[0].lemma, []).append((words, key))

    def discard(self, key: K) -> None:
        """Forget every phrase of key (a reader unsubscribed); unknown keys are ignored."""
        phrases = self._phrases.pop(key, None)
        if not phrases:
            return
        for words in phrases:
            entries = self._by_first[words[0].lemma]
            entries[:] = [e for e in entries if e[1] != key]
            if not entries:
                del self._by_first[words[0].lemma]

    def find(self, tokens: Sequence[Token]) -> set[K]:
        """Keys with a phrase whose words occur as consecutive tokens."""
        found: set[K] = set()
        for key, _, _ in self.occurrences(tokens, found):
            found.add(key)
        return found

    def find_all(self, fields: Iterable[Sequence[Token]]) -> set[K]:
        """Keys found in any field; a phrase never spans two fields (title, summary...)."""
        found: set[K] = set()
        for tokens in fields:
            found |= self.find(tokens)
        return found

    def spans(self, tokens: Sequence[Token]) -> list[tuple[K, int, int]]:
        """Every occurrence as (key, start, end), end exclusive."""
        return list(self.occurrences(tokens))

    def occurrences(
        self, tokens: Sequence[Token], skip: set[K] | None = None
    ) -> Iterator[tuple[K, int, int]]:
        """Occurrences as (key, start, end), lazily; keys in skip (which the caller may
        grow while iterating) are not looked for."""
        by_first = self._by_first
        n = len(tokens)
        for i, token in enumerate(tokens):
            for lemma in token.lemmas:
                entries = by_first.get(lemma)
                if entries is None:
                    continue
                for words, key in entries:
                    if skip is not None and key in skip:
                        continue
                    end = i + len(words)
                    if end > n or not words[0].matches(token):
                        continue
                    j = i + 1
                    for word in words[1:]:
                        if not word.matches(tokens[j]):
                            break
                        j += 1
                    else:
                        yield key, i, end


class Matcher:
    """Assigns topic ids to an article. Built once per taxonomy.

    A topic's exclusion phrase cancels the topic's keyword matches that lie inside it, so
    "пресс-конференция" is not the event keyword "конференция", while an article with a
    press conference and also a forum still gets the events topic.
    """

    def __init__(
        self,
        normalizer: Normalizer,
        keywords: PhraseIndex[str],
        exclude: PhraseIndex[str],
    ) -> None:
        self.normalizer = normalizer
        self._keywords = keywords
        self._exclude = exclude

    @classmethod
    def from_taxonomy(cls, taxonomy: Taxonomy, normalizer: Normalizer) -> Matcher:
        """Index every topic's phrases in all languages: an article's language is not
        known reliably, and Russian and English phrases cannot collide anyway."""
        keywords: PhraseIndex[str] = PhraseIndex(normalizer)
        exclude: PhraseIndex[str] = PhraseIndex(normalizer)
        for topic in taxonomy.topics:
            for phrases in topic.keywords.values():
                for phrase in phrases:
                    keywords.add(topic.id, phrase)
            for phrases in topic.exclude.values():
                for phrase in phrases:
                    exclude.add(topic.id, phrase)
        return cls(normalizer, keywords, exclude)

    def article_tokens(
        self, title: str, summary: str, categories: Iterable[str] = ()
    ) -> list[list[Token]]:
        """The article's fields, tokenised once; reuse them for reader keywords."""
        tokens = self.normalizer.tokens
        return [tokens(title), tokens(summary), *(tokens(c) for c in categories)]

    def match_tokens(self, fields: Iterable[Sequence[Token]]) -> frozenset[str]:
        """Topic ids found in already tokenised fields."""
        found: set[str] = set()
        exclude = self._exclude
        for tokens in fields:
            excluded: dict[str, list[Span]] | None = None
            for topic, start, end in self._keywords.occurrences(tokens, found):
                if topic in exclude:
                    if excluded is None:
                        excluded = _spans_by_key(exclude.spans(tokens))
                    if any(s <= start and end <= e for s, e in excluded.get(topic, ())):
                        continue
                found.add(topic)
        return frozenset(found)

    def match_topics(
        self, title: str, summary: str, categories: Iterable[str] = ()
    ) -> frozenset[str]:
        """Topic ids of an article (SPEC 5.2)."""
        return self.match_tokens(self.article_tokens(title, summary, categories))


def _spans_by_key(spans: Iterable[tuple[K, int, int]]) -> dict[K, list[Span]]:
    out: dict[K, list[Span]] = {}
    for key, start, end in spans:
        out.setdefault(key, []).append((start, end))
    return out

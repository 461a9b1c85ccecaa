"""Phrase matching for topics and reader keywords (SPEC 5.2, 4.3).

Phrases are indexed by the lemma of their first word, so classifying an article costs a
few dictionary look-ups per token however many keywords there are, rather than a scan of
every keyword per article. Topics and reader keywords share one index type and one
Normalizer, so "/subscribe Куба" matches exactly what the topic keyword "Куба" would.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from bot.topics.normalize import Normalizer, PhraseWord, Token
from bot.topics.taxonomy import Rule, Taxonomy

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


_SENTENCE_END_RE = re.compile(r"[.!?…]\s+(?=[«\"„(\[]?[A-ZА-ЯЁ0-9])")
# A full stop after these is an abbreviation, not the end of a sentence: "в г. Дзержинске",
# "завод им. Свердлова", "5 тыс. Машин" never split a rule's words apart.
_ABBREVIATIONS = frozenset(
    {
        *("г", "гг", "ул", "пр", "д", "им", "св", "тыс", "млн", "млрд", "руб", "долл"),
        *("обл", "т", "е", "п", "см", "напр", "ок", "mr", "dr", "st", "vs", "inc", "co"),
    }
)

# Keys of the one phrase index a Matcher searches: a topic's keyword, a topic's
# exclusion, a gazetteer.
_KEYWORD, _EXCLUDE, _GAZETTEER = 0, 1, 2
_Key = tuple[int, str]


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a topic was assigned: the words of the article that did it, and the rule or
    gazetteer that turned them into the topic (None for a keyword of the topic)."""

    topic: str
    words: tuple[str, ...]
    rule: str | None = None
    gazetteer: str | None = None


@dataclass(frozen=True, slots=True)
class Exclusion:
    """A topic the article nearly got: the words that pointed to it and what cancelled
    them (an exclusion phrase of the topic, or a veto rule)."""

    topic: str
    words: str
    by: str
    rule: str | None = None


@dataclass(frozen=True)
class Judgement:
    topics: frozenset[str]
    reasons: tuple[Reason, ...]
    exclusions: tuple[Exclusion, ...]


def keyword_index(normalizer: Normalizer, phrases: Mapping[str, str]) -> PhraseIndex[str]:
    """Readers' keywords (key -> one phrase a reader wrote) as one index; a keyword of no
    words matches nothing, so it is left out rather than refused."""
    index: PhraseIndex[str] = PhraseIndex(normalizer)
    for key, phrase in phrases.items():
        with contextlib.suppress(ValueError):
            index.add(key, phrase)
    return index


class Matcher:
    """Assigns topic ids to an article. Built once per taxonomy.

    A topic's exclusion phrase cancels the topic's keyword matches that lie inside it, so
    "пресс-конференция" is not the event keyword "конференция", while an article with a
    press conference and also a forum still gets the events topic.

    All phrases (keywords, exclusions, gazetteers) live in one index, so an article is
    scanned once whatever the number of rules. Texts are split into sentences: a phrase
    never spans two, and a rule of scope "sentence" needs its groups in one of them.
    """

    def __init__(self, normalizer: Normalizer, index: PhraseIndex[_Key], taxonomy: Taxonomy):
        self.normalizer = normalizer
        self._index = index
        self._gazetteer_topics = {g.name: g.topics for g in taxonomy.gazetteers if g.topics}
        self._sentence_rules = _rules_by_first_group(
            r for r in taxonomy.rules if r.scope == "sentence"
        )
        self._article_rules = _rules_by_first_group(
            r for r in taxonomy.rules if r.scope == "article"
        )

    @classmethod
    def from_taxonomy(cls, taxonomy: Taxonomy, normalizer: Normalizer) -> Matcher:
        """Index every topic's phrases in all languages: an article's language is not
        known reliably, and Russian and English phrases cannot collide anyway."""
        index: PhraseIndex[_Key] = PhraseIndex(normalizer)
        for topic in taxonomy.topics:
            for phrases in topic.keywords.values():
                for phrase in phrases:
                    index.add((_KEYWORD, topic.id), phrase)
            for phrases in topic.exclude.values():
                for phrase in phrases:
                    index.add((_EXCLUDE, topic.id), phrase)
        for gazetteer in taxonomy.gazetteers:
            for phrase in gazetteer.phrases:
                index.add((_GAZETTEER, gazetteer.name), phrase)
        return cls(normalizer, index, taxonomy)

    def article_tokens(
        self, title: str, summary: str, categories: Iterable[str] = ()
    ) -> list[list[Token]]:
        """The article's sentences, tokenised once; reuse them for reader keywords."""
        tokens = self.normalizer.tokens
        out = [tokens(s) for text in (title, summary) for s in split_sentences(text)]
        out.extend(tokens(c) for c in categories)
        return out

    def match_tokens(self, fields: Iterable[Sequence[Token]]) -> frozenset[str]:
        """Topic ids found in already tokenised fields."""
        return self.judge(fields).topics

    def match_topics(
        self, title: str, summary: str, categories: Iterable[str] = ()
    ) -> frozenset[str]:
        """Topic ids of an article (SPEC 5.2)."""
        return self.match_tokens(self.article_tokens(title, summary, categories))

    def explain(self, title: str, summary: str, categories: Iterable[str] = ()) -> Judgement:
        """The topics with what assigned each, and what was cancelled (SPEC 5.4)."""
        return self.judge(self.article_tokens(title, summary, categories), explain=True)

    def judge(self, fields: Iterable[Sequence[Token]], *, explain: bool = False) -> Judgement:
        """Without `explain`, each topic keeps only its first reason and nothing cancelled
        is recorded: the poller's path stays one scan and a few dictionary look-ups."""
        assigned: dict[str, Reason] = {}
        exclusions: list[Exclusion] = []
        vetoes: list[tuple[str, _Hits, Rule]] = []
        seen_groups: dict[str, _Hit] = {}
        found_keywords: set[_Key] = set()
        gazetteer_topics = self._gazetteer_topics
        for tokens in fields:
            hits: list[tuple[str, int, int]] = []
            spans: dict[str, list[Span]] = {}
            groups: dict[str, _Hit] = {}
            for (kind, name), start, end in self._index.occurrences(tokens, found_keywords):
                if kind == _KEYWORD:
                    hits.append((name, start, end))
                elif kind == _EXCLUDE:
                    spans.setdefault(name, []).append((start, end))
                elif name not in groups:
                    groups[name] = (tokens, start, end)
            for topic, start, end in hits:
                if topic in assigned:
                    continue
                cover = next(
                    ((s, e) for s, e in spans.get(topic, ()) if s <= start and end <= e), None
                )
                if cover is None:
                    assigned[topic] = Reason(topic, (_words(tokens, start, end),))
                    found_keywords.add((_KEYWORD, topic))
                elif explain:
                    exclusions.append(
                        Exclusion(topic, _words(tokens, start, end), _words(tokens, *cover))
                    )
            if not groups:
                continue
            for name, hit in groups.items():
                seen_groups.setdefault(name, hit)
                for topic in gazetteer_topics.get(name, ()):
                    if topic not in assigned:
                        assigned[topic] = Reason(topic, (_words(*hit),), gazetteer=name)
            self._apply(self._sentence_rules, groups, assigned, vetoes)
        if seen_groups:
            self._apply(self._article_rules, seen_groups, assigned, vetoes)
        # Applied once every rule has fired, so a veto wins whatever the rules' order. A
        # veto cancels the topic in the whole article, so its `unless` is looked for in
        # the whole article too, whatever the rule's scope.
        for topic, by, rule in vetoes:
            if any(name in seen_groups for name in rule.unless):
                continue
            reason = assigned.pop(topic, None)
            if reason is not None and explain:
                words = " + ".join(reason.words)
                exclusions.append(Exclusion(topic, words, _join(by), rule.id))
        return Judgement(frozenset(assigned), tuple(assigned.values()), tuple(exclusions))

    @staticmethod
    def _apply(
        rules: Mapping[str, Sequence[tuple[int, Rule]]],
        groups: dict[str, _Hit],
        assigned: dict[str, Reason],
        vetoes: list[tuple[str, _Hits, Rule]],
    ) -> None:
        """Rules are indexed by the gazetteers of their first group, so a sentence costs
        a look-up per gazetteer found rather than a pass over every rule."""
        candidates: dict[int, Rule] = {}
        for name in groups:
            found_rules = rules.get(name)
            if found_rules:
                candidates.update(found_rules)
        for _, rule in sorted(candidates.items()):
            if rule.topics and any(name in groups for name in rule.unless):
                continue
            found: list[_Hit] = []
            for group in rule.groups:
                hit = next((groups[name] for name in group if name in groups), None)
                if hit is None:
                    break
                found.append(hit)
            else:
                for topic in rule.topics:
                    if topic not in assigned:
                        assigned[topic] = Reason(topic, _texts(found), rule=rule.id)
                vetoes.extend((topic, tuple(found), rule) for topic in rule.veto)


_Hit = tuple[Sequence[Token], int, int]
_Hits = tuple[_Hit, ...]


def _texts(hits: Iterable[_Hit]) -> tuple[str, ...]:
    return tuple(_words(*hit) for hit in hits)


def _join(hits: Iterable[_Hit]) -> str:
    return " + ".join(_texts(hits))


def _rules_by_first_group(rules: Iterable[Rule]) -> dict[str, tuple[tuple[int, Rule], ...]]:
    """Each rule under the gazetteers of its first group, with its place in the file:
    rules fire in file order, so the first reason shown for a topic does not depend on
    the order gazetteers were found in."""
    out: dict[str, list[tuple[int, Rule]]] = {}
    for n, rule in enumerate(rules):
        for name in rule.groups[0]:
            out.setdefault(name, []).append((n, rule))
    return {name: tuple(found) for name, found in out.items()}


def split_sentences(text: str) -> list[str]:
    """Sentences of a title or summary; a full stop after one letter (an initial) or a
    known abbreviation does not end one."""
    out: list[str] = []
    start = 0
    for m in _SENTENCE_END_RE.finditer(text):
        end = m.start()
        if text[end] == ".":
            first = end
            while first > start and text[first - 1].isalnum():
                first -= 1
            if end - first <= 1 or text[first:end].casefold() in _ABBREVIATIONS:
                continue
        out.append(text[start : m.start() + 1])
        start = m.end()
    out.append(text[start:])
    return out


def _words(tokens: Sequence[Token], start: int, end: int) -> str:
    return " ".join(t.text for t in tokens[start:end])

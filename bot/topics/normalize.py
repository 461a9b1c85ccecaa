"""Text normalisation for topic and keyword matching (SPEC 5.2).

Decisions, each forced by news text:

* Words are runs of Unicode letters and digits; hyphens, apostrophes and other punctuation
  split words. "IT-компании" is then "IT" + "компании", so the keyword "IT" finds it, and
  "T-Hub" is the two-word phrase "t hub", found as consecutive tokens. Soft hyphens and
  stress marks, which feeds copy from print layouts, are removed before splitting.
* "ё" is "е" in every lemma, so "экспортёр" and "экспортер" are one word. The dictionary
  still sees the "ё" where the text has it, since it disambiguates ("заём" is the loan,
  "заем" may also be a form of "заесть").
* Cyrillic words go to their pymorphy3 lemma. Snowball is not enough for Russian (it
  stems "Китай" to "кита" but "Китая" to "кит").
* Latin words go to their English Snowball stem ("exports", "exporting" -> "export"),
  except a few words Snowball conflates with common unrelated ones, which keep a stem
  of their own (_EN_STEM_OVERRIDES: "important" is not "import", "container" is not
  "contain", "digital" is not "digit", "localization" is not "local").
* Ambiguity: a token keeps every lemma pymorphy gives at least MIN_LEMMA_SCORE of its
  probability mass, while a keyword word takes a single lemma: itself if it is one of
  those lemmas (editors write dictionary forms: "заём", though "заем" may also be
  "заесть"), else its most likely lemma (a reader's "Кубе" is "куба"). So "Кубе"
  (куба 0.94, куб 0.06) matches "Куба", and "стали" (стать 0.98, сталь 0.02) does not
  match "сталь": the rare reading is dropped on the text side, never invented on the
  keyword side.
* Capitals: a token is "in capitals" when all its letters are upper case and it has at
  least two characters ("ГАЗ", "IT", "КНР"). A Russian abbreviation with a lower-case case
  ending ("ГАЗа", "ВУЗов", "МИДом") is also in capitals, its lemma being the capital part.
  A keyword word written in capitals matches only tokens in capitals, literally
  (case-folded), so "ГАЗ" never matches "газа" and "IT" never matches the pronoun "it".
  A keyword word in lower case that is an ordinary dictionary word matches only tokens
  not in capitals, so the fuel "газ" never matches the car maker "ГАЗ"; one that is an
  abbreviation or unknown to the dictionary ("вуз", "мсп") matches either, since readers
  type abbreviations in lower case.
* A text with no lower-case letters at all (a shouted headline) carries no information in
  its capitals, so it is read as if written in lower case.
"""

from __future__ import annotations

import enum
import functools
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import pymorphy3
import snowballstemmer

MIN_LEMMA_SCORE = 0.1
DEFAULT_CACHE_SIZE = 200_000

_WORD_RE = re.compile(r"[^\W_]+")
_CYRILLIC_RE = re.compile(r"[а-яА-ЯёЁ]")
_LATIN_RE = re.compile(r"[a-zA-Z]")
# "ГАЗа", "ВУЗов", "МИДом"; "CEOs". Capital part first, then a short lower-case ending.
_INFLECTED_ABBR_RE = re.compile(r"([А-ЯЁ]{2,})[а-яё]{1,3}|([A-Z]{2,})s")
_SHOUTED_MIN_WORDS = 3


def _overrides(stem: str, *words: str) -> dict[str, str]:
    return dict.fromkeys(words, stem)


_EN_STEM_OVERRIDES: Mapping[str, str] = MappingProxyType(
    {
        **_overrides("important", "important", "importance", "importantly", "unimportant"),
        **_overrides("container", "container", "containers", "containerised", "containerized"),
        **_overrides("digital", "digital", "digitally"),
        **_overrides(
            "digitaliz",
            "digitalization",
            "digitalisation",
            "digitalize",
            "digitalise",
            "digitalized",
            "digitalised",
        ),
        **_overrides(
            "localiz",
            "localization",
            "localisation",
            "localizations",
            "localisations",
            "localize",
            "localise",
            "localized",
            "localised",
            "localizes",
            "localises",
            "localizing",
            "localising",
        ),
    }
)
_CLEAN = str.maketrans({"\u00ad": None, "\u0301": None, "\u0300": None})


@dataclass(frozen=True, slots=True)
class Token:
    """One word of a text: its candidate lemmas and whether it was written in capitals."""

    text: str
    lemmas: frozenset[str]
    caps: bool


class Case(enum.Enum):
    """Which tokens a keyword word may match, by how they are written."""

    CAPS = "caps"
    NOT_CAPS = "not_caps"
    ANY = "any"


@dataclass(frozen=True, slots=True)
class PhraseWord:
    """One word of a keyword phrase: a single lemma, and the case of tokens it matches."""

    lemma: str
    case: Case

    def matches(self, token: Token) -> bool:
        if self.lemma not in token.lemmas:
            return False
        if self.case is Case.ANY:
            return True
        return token.caps is (self.case is Case.CAPS)


class Normalizer:
    """Turns text into Tokens and keyword phrases into PhraseWords, the same way for both.

    Building a MorphAnalyzer costs a fraction of a second and parsing a word tens of
    microseconds, so one Normalizer is built at start-up and passed around; it caches the
    analysis of each word form (bounded), since news vocabulary repeats.
    """

    def __init__(
        self,
        morph: pymorphy3.MorphAnalyzer | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self._morph = morph if morph is not None else pymorphy3.MorphAnalyzer()
        # A Snowball stemmer keeps per-word state: two threads sharing one garble stems or
        # raise IndexError. The poller classifies on worker threads, so one per thread.
        self._stemmers = threading.local()
        self._token = functools.lru_cache(maxsize=cache_size)(self._make_token)
        self._lemmas = functools.lru_cache(maxsize=cache_size)(self._candidate_lemmas)

    def tokens(self, text: str) -> list[Token]:
        """The text's words in order, normalised."""
        if "\u00ad" in text or "\u0301" in text or "\u0300" in text:
            text = text.translate(_CLEAN)  # slow on Cyrillic text: only when needed
        if text.isupper() and len(_WORD_RE.findall(text)) >= _SHOUTED_MIN_WORDS:
            text = text.lower()
        token = self._token
        return [token(w) for w in _WORD_RE.findall(text)]

    def phrase(self, phrase: str) -> tuple[PhraseWord, ...]:
        """A keyword phrase as words to match against consecutive tokens."""
        return tuple(self._phrase_words(phrase))

    def phrase_key(self, phrase: str) -> str:
        """Canonical form of a reader's keyword, so "Кубе" and "Куба" are stored once.

        Words that must be in capitals stay upper case: "ГАЗ" and "газ" match different
        things and are different subscriptions.
        """
        return " ".join(
            w.lemma.upper() if w.case is Case.CAPS else w.lemma for w in self.phrase(phrase)
        )

    def _phrase_words(self, phrase: str) -> Iterator[PhraseWord]:
        for word in _WORD_RE.findall(phrase.translate(_CLEAN)):
            caps, base = _split_caps(word)
            lower = base.lower()
            if caps:
                yield PhraseWord(_fold(lower), Case.CAPS)
            else:
                yield PhraseWord(self._keyword_lemma(lower), self._lower_case_rule(lower))

    def _make_token(self, word: str) -> Token:
        caps, base = _split_caps(word)
        lower = base.lower()
        lemmas = self._lemmas(lower)
        if caps and _fold(lower) not in lemmas:
            lemmas = lemmas | {_fold(lower)}
        return Token(word, lemmas, caps)

    def _keyword_lemma(self, lower: str) -> str:
        if _CYRILLIC_RE.search(lower):
            # Only a lemma the same word form gets in a text can ever match.
            if _fold(lower) in self._lemmas(lower):
                return _fold(lower)
            return _fold(self._morph.parse(lower)[0].normal_form)
        if _LATIN_RE.search(lower):
            return self._stem(lower)
        return lower

    def _lower_case_rule(self, lower: str) -> Case:
        """Dictionary words in lower case refuse capitals; abbreviations take either."""
        if not _CYRILLIC_RE.search(lower):
            return Case.ANY
        if not self._morph.word_is_known(lower):
            return Case.ANY
        return Case.ANY if "Abbr" in self._morph.parse(lower)[0].tag else Case.NOT_CAPS

    def _candidate_lemmas(self, lower: str) -> frozenset[str]:
        if _CYRILLIC_RE.search(lower):
            scores: dict[str, float] = {}
            parses = self._morph.parse(lower)
            for p in parses:
                form = _fold(p.normal_form)
                scores[form] = scores.get(form, 0.0) + p.score
            first = _fold(parses[0].normal_form)
            return frozenset(f for f, s in scores.items() if s >= MIN_LEMMA_SCORE or f == first)
        if _LATIN_RE.search(lower):
            return frozenset((self._stem(lower),))
        return frozenset((lower,))

    def _stem(self, lower: str) -> str:
        override = _EN_STEM_OVERRIDES.get(lower)
        if override:
            return override
        stemmer = getattr(self._stemmers, "english", None)
        if stemmer is None:
            stemmer = self._stemmers.english = snowballstemmer.stemmer("english")
        return stemmer.stemWord(lower)


def _fold(word: str) -> str:
    return word.replace("ё", "е")


def _split_caps(word: str) -> tuple[bool, str]:
    """Whether the word is written in capitals, and the part that carries its meaning."""
    if len(word) >= 2 and word.isupper():
        return True, word
    m = _INFLECTED_ABBR_RE.fullmatch(word)
    if m:
        return True, m.group(1) or m.group(2)
    return False, word

"""Topic taxonomy (SPEC 5.1): loaded from a TOML data file, validated once at start-up.

The file is data, not code, so that editors can tune keyword lists without a release; a
mistake in it must stop the bot with a message naming the file and the topic rather than
silently dropping a topic that readers are subscribed to.

Besides each topic's keywords and exclusions, the file holds knowledge that one keyword
cannot carry (issue 12):

* gazetteers: named lists of phrases (countries, foreign carmakers, supply verbs), which
  may include other gazetteers ("@name") and may assign topics by themselves (a list of
  chemical makers assigns `chemicals`);
* rules: "every group of `all` occurs in one sentence (or anywhere in the article)" then
  assign `topics`, or `veto` them. A rule names a kind of thing ("a foreign country with a
  supply verb is trade", "a road accident is not machinery"), never one headline.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

LANGS: tuple[str, ...] = ("ru", "en")
# A phrase needs a word (a letter or digit): "—" alone would match nothing, silently.
_HAS_WORD_RE = re.compile(r"[^\W_]")
_GAZETTEER_KEYS = frozenset({"phrases", "topics"})
_RULE_KEYS = frozenset({"id", "all", "topics", "veto", "scope", "unless"})
# Ids travel in callback data (64 bytes with the prefix) and hashtags: keep them short.
_ID_RE = re.compile(r"[a-z_]{1,32}")
# Telegram makes "#tag" clickable when the tag is 1-256 letters, decimal digits and "_"
# with at least one letter (tdlib's match_hashtags); anything else ends the tag early or
# leaves it plain text. Posts carry several tags, so keep each far shorter than that.
MAX_HASHTAG = 32


class TaxonomyError(ValueError):
    """The taxonomy file is missing, malformed, or breaks a rule of SPEC 5.1."""


@dataclass(frozen=True)
class Topic:
    id: str
    emoji: str
    names: Mapping[str, str]
    keywords: Mapping[str, tuple[str, ...]]
    exclude: Mapping[str, tuple[str, ...]]
    hashtags: Mapping[str, str] = field(default_factory=dict)  # language -> tag, no "#"

    def name(self, lang: str) -> str:
        """The topic's name in `lang`; English for a language the file does not carry."""
        return self.names.get(lang) or self.names["en"]

    def hashtag(self, lang: str) -> str:
        """The tag (without "#") posts in `lang` carry; the id where the file has none,
        since ids are valid hashtags too."""
        return self.hashtags.get(lang) or self.id


def _fold(text: str) -> str:
    """Lookup key for names typed by readers: case, ё/е and outer spaces do not matter."""
    return " ".join(text.split()).casefold().replace("ё", "е")


@dataclass(frozen=True)
class Gazetteer:
    """A named list of phrases, includes expanded; `topics` are assigned on any match."""

    name: str
    phrases: tuple[str, ...]
    topics: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    """Fires when each group (a tuple of gazetteer names) has a match: in one sentence,
    or anywhere in the article with scope "article", and no gazetteer of `unless` does.
    Then assigns `topics` and cancels `veto`, whatever assigned them."""

    id: str
    groups: tuple[tuple[str, ...], ...]
    topics: tuple[str, ...] = ()
    veto: tuple[str, ...] = ()
    scope: str = "sentence"
    unless: tuple[str, ...] = ()


RULE_SCOPES = ("sentence", "article")


@dataclass(frozen=True)
class Taxonomy:
    topics: tuple[Topic, ...]
    gazetteers: tuple[Gazetteer, ...] = ()
    rules: tuple[Rule, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.topics)

    def get(self, topic_id: str) -> Topic | None:
        for topic in self.topics:
            if topic.id == topic_id:
                return topic
        return None

    def find(self, text: str) -> Topic | None:
        """The topic a reader named by id or by its name in any language (SPEC 4.3)."""
        key = _fold(text)
        if not key:
            return None
        for topic in self.topics:
            if key == topic.id or any(key == _fold(n) for n in topic.names.values()):
                return topic
        return None

    def hashtag(self, topic_id: str, lang: str) -> str:
        """A topic's tag in `lang`; the id itself for a topic no longer in the file (an
        old article or a queued row may still name it)."""
        topic = self.get(topic_id)
        return topic.hashtag(lang) if topic else topic_id

    def hashtag_topic(self, tag: str) -> str | None:
        """The id of the topic an editor's `#tag` names: by id or by its tag in any
        language (the load makes sure one tag names one topic)."""
        key = _fold(tag.removeprefix("#"))
        for topic in self.topics:
            if key == topic.id or any(key == _fold(h) for h in topic.hashtags.values()):
                return topic.id
        return None


def default_topics_path() -> Path:
    """The taxonomy shipped with the package (bot/data/topics.toml)."""
    return Path(__file__).resolve().parent.parent / "data" / "topics.toml"


def _phrases(raw: Any, where: str, field: str) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise TaxonomyError(f"{where}: [{field}] must be a table of ru/en lists")
    out: dict[str, tuple[str, ...]] = {}
    for lang, items in raw.items():
        if lang not in LANGS:
            raise TaxonomyError(f"{where}: {field}.{lang}: unknown language, expected ru or en")
        out[lang] = _strings(items, f"{where}: {field}.{lang}", phrases=True)
    return out


def _is_letter(ch: str) -> bool:
    return unicodedata.category(ch).startswith("L")


def is_hashtag(tag: str) -> bool:
    """Whether Telegram shows `#tag` as one clickable hashtag (see MAX_HASHTAG)."""
    return (
        0 < len(tag) <= MAX_HASHTAG
        and all(ch == "_" or _is_letter(ch) or unicodedata.category(ch) == "Nd" for ch in tag)
        and any(_is_letter(ch) for ch in tag)
    )


def _hashtags(raw: Any, where: str) -> dict[str, str]:
    """`[topics.hashtag]` ru/en; optional, a missing language falls back to the id."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise TaxonomyError(f"{where}: [hashtag] must be a table of ru/en strings")
    out: dict[str, str] = {}
    for lang, tag in raw.items():
        if lang not in LANGS:
            raise TaxonomyError(f"{where}: hashtag.{lang}: unknown language, expected ru or en")
        if not isinstance(tag, str) or not is_hashtag(tag.removeprefix("#")):
            raise TaxonomyError(
                f"{where}: hashtag.{lang} {tag!r} is not a Telegram hashtag: 1-{MAX_HASHTAG}"
                " letters, digits and _, at least one letter"
            )
        out[lang] = tag.removeprefix("#")
    return out


def _topic(raw: Any, where: str) -> Topic:
    if not isinstance(raw, dict):
        raise TaxonomyError(f"{where}: each [[topics]] entry must be a table")
    topic_id = raw.get("id")
    # An id is the hashtag where the file gives none, so it needs a letter ("_" is none).
    if not isinstance(topic_id, str) or not (_ID_RE.fullmatch(topic_id) and is_hashtag(topic_id)):
        raise TaxonomyError(f"{where}: id {topic_id!r} must be 1-32 of a-z and _, with a letter")
    where = f"{where} (id {topic_id!r})"
    emoji = raw.get("emoji", "")
    if not isinstance(emoji, str):
        raise TaxonomyError(f"{where}: emoji must be a string")
    names = raw.get("name")
    if not isinstance(names, dict):
        raise TaxonomyError(f"{where}: [topics.name] with ru and en is required")
    for lang in LANGS:
        value = names.get(lang)
        if not isinstance(value, str) or not value.strip():
            raise TaxonomyError(f"{where}: name.{lang} is missing or empty")
    keywords = _phrases(raw.get("keywords"), where, "keywords")
    if not any(keywords.values()):
        raise TaxonomyError(f"{where}: at least one keyword is required")
    return Topic(
        id=topic_id,
        emoji=emoji,
        names=MappingProxyType({k: v.strip() for k, v in names.items() if isinstance(v, str)}),
        keywords=MappingProxyType(keywords),
        exclude=MappingProxyType(_phrases(raw.get("exclude"), where, "exclude")),
        hashtags=MappingProxyType(_hashtags(raw.get("hashtag"), where)),
    )


def load_taxonomy(path: Path) -> Taxonomy:
    """Read and validate the taxonomy; raise TaxonomyError naming the file and topic."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise TaxonomyError(f"{path}: cannot read taxonomy: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TaxonomyError(f"{path}: invalid TOML: {exc}") from exc
    return _taxonomy(data, path)


def _taxonomy(data: dict[str, Any], path: Path) -> Taxonomy:
    raw_topics = data.get("topics")
    if not isinstance(raw_topics, list) or not raw_topics:
        raise TaxonomyError(f"{path}: no [[topics]] entries")
    topics: list[Topic] = []
    seen: set[str] = set()
    tags: dict[str, str] = {}  # folded id or tag -> topic id, for /post #tag
    for n, raw in enumerate(raw_topics, start=1):
        topic = _topic(raw, f"{path}: topic #{n}")
        if topic.id in seen:
            raise TaxonomyError(f"{path}: topic #{n}: duplicate id {topic.id!r}")
        seen.add(topic.id)
        topics.append(topic)
        for tag in {topic.id, *(_fold(h) for h in topic.hashtags.values())}:
            if tags.setdefault(tag, topic.id) != topic.id:
                raise TaxonomyError(
                    f"{path}: topic #{n} (id {topic.id!r}): hashtag {tag!r} already names"
                    f" topic {tags[tag]!r}"
                )
    gazetteers = _gazetteers(data.get("gazetteers", {}), path, seen)
    rules: list[Rule] = []
    rule_ids: set[str] = set()
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise TaxonomyError(f"{path}: rules must be a list of [[rules]] tables")
    for n, raw in enumerate(raw_rules, start=1):
        rule, inline = _rule(raw, f"{path}: rule #{n}", gazetteers, seen)
        if rule.id in rule_ids:
            raise TaxonomyError(f"{path}: rule #{n}: duplicate id {rule.id!r}")
        rule_ids.add(rule.id)
        rules.append(rule)
        gazetteers.update(inline)
    return Taxonomy(topics=tuple(topics), gazetteers=tuple(gazetteers.values()), rules=tuple(rules))


def _strings(raw: Any, where: str, *, phrases: bool = False) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(p, str) and p.strip() for p in raw):
        raise TaxonomyError(f"{where} must be a list of non-empty strings")
    if phrases:
        for p in raw:
            if not p.startswith("@") and not _HAS_WORD_RE.search(p):
                raise TaxonomyError(f"{where}: phrase {p!r} has no word")
    return tuple(p.strip() for p in raw)


def _known_keys(raw: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    """A misspelt key ("unles") would be ignored and its rule would quietly misbehave."""
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise TaxonomyError(
            f"{where}: unknown key {', '.join(unknown)}; expected {', '.join(sorted(allowed))}"
        )


def _topic_ids(raw: Any, where: str, known: set[str]) -> tuple[str, ...]:
    ids = _strings(raw, where) if raw is not None else ()
    for topic_id in ids:
        if topic_id not in known:
            raise TaxonomyError(f"{where}: unknown topic {topic_id!r}")
    return ids


def _gazetteers(raw: Any, path: Path, topic_ids: set[str]) -> dict[str, Gazetteer]:
    """Gazetteers with "@name" includes expanded; an unknown or circular include is an
    error, since a silently empty list would quietly stop a rule from ever firing."""
    if not isinstance(raw, dict):
        raise TaxonomyError(f"{path}: [gazetteers] must be a table of named lists")
    declared: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for name, body in raw.items():
        where = f"{path}: gazetteer {name!r}"
        if not _ID_RE.fullmatch(name):
            raise TaxonomyError(f"{where}: names are 1-32 of a-z and _")
        if not isinstance(body, dict):
            raise TaxonomyError(f"{where} must be a table with phrases = [...]")
        _known_keys(body, _GAZETTEER_KEYS, where)
        phrases = _strings(body.get("phrases"), f"{where}: phrases", phrases=True)
        if not phrases:
            raise TaxonomyError(f"{where}: phrases = [...] needs at least one phrase")
        declared[name] = (phrases, _topic_ids(body.get("topics"), f"{where}: topics", topic_ids))

    expanded: dict[str, tuple[str, ...]] = {}

    def expand(name: str, trail: tuple[str, ...]) -> tuple[str, ...]:
        if name in expanded:
            return expanded[name]
        if name in trail:
            raise TaxonomyError(f"{path}: gazetteer {name!r} includes itself via {trail}")
        out: list[str] = []
        for phrase in declared[name][0]:
            if phrase.startswith("@"):
                ref = phrase[1:]
                if ref not in declared:
                    raise TaxonomyError(f"{path}: gazetteer {name!r}: unknown {phrase!r}")
                out.extend(expand(ref, (*trail, name)))
            else:
                out.append(phrase)
        expanded[name] = tuple(dict.fromkeys(out))
        return expanded[name]

    return {
        name: Gazetteer(name=name, phrases=expand(name, ()), topics=topics)
        for name, (_, topics) in declared.items()
    }


def _rule(
    raw: Any, where: str, gazetteers: dict[str, Gazetteer], topic_ids: set[str]
) -> tuple[Rule, dict[str, Gazetteer]]:
    """A rule, and the gazetteers made of the phrases it lists inline."""
    if not isinstance(raw, dict):
        raise TaxonomyError(f"{where}: each [[rules]] entry must be a table")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not re.fullmatch(r"[a-z0-9_-]{1,48}", rule_id):
        raise TaxonomyError(f"{where}: id {rule_id!r} must be 1-48 of a-z, 0-9, - and _")
    where = f"{where} (id {rule_id!r})"
    _known_keys(raw, _RULE_KEYS, where)
    raw_groups = raw.get("all")
    if not isinstance(raw_groups, list) or not raw_groups:
        raise TaxonomyError(f"{where}: all = [...] needs at least one group")
    inline: dict[str, Gazetteer] = {}

    def group(raw_group: Any, label: str) -> tuple[str, ...]:
        items = _strings(
            raw_group if isinstance(raw_group, list) else [raw_group], label, phrases=True
        )
        if not items:
            raise TaxonomyError(f"{label}: an empty group")
        names = [i[1:] for i in items if i.startswith("@")]
        for name in names:
            if name not in gazetteers:
                raise TaxonomyError(f"{where}: unknown gazetteer @{name}")
        phrases = tuple(i for i in items if not i.startswith("@"))
        if phrases:
            name = f"{rule_id}#{len(inline) + 1}"
            inline[name] = Gazetteer(name=name, phrases=phrases)
            names.append(name)
        return tuple(names)

    groups = [group(g, f"{where}: all #{n}") for n, g in enumerate(raw_groups, start=1)]
    unless = group(raw["unless"], f"{where}: unless") if "unless" in raw else ()
    topics = _topic_ids(raw.get("topics"), f"{where}: topics", topic_ids)
    veto = _topic_ids(raw.get("veto"), f"{where}: veto", topic_ids)
    if not topics and not veto:
        raise TaxonomyError(f"{where}: a rule needs topics = [...] or veto = [...]")
    both = sorted(set(topics) & set(veto))
    if both:
        raise TaxonomyError(f"{where}: {', '.join(both)} is both assigned and vetoed")
    scope = raw.get("scope", "sentence")
    if scope not in RULE_SCOPES:
        raise TaxonomyError(f"{where}: scope must be one of {', '.join(RULE_SCOPES)}")
    rule = Rule(
        id=rule_id, groups=tuple(groups), topics=topics, veto=veto, scope=scope, unless=unless
    )
    return rule, inline

"""Topic taxonomy (SPEC 5.1): loaded from a TOML data file, validated once at start-up.

The file is data, not code, so that editors can tune keyword lists without a release; a
mistake in it must stop the bot with a message naming the file and the topic rather than
silently dropping a topic that readers are subscribed to.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

LANGS: tuple[str, ...] = ("ru", "en")
# Ids travel in callback data (64 bytes with the prefix) and hashtags: keep them short.
_ID_RE = re.compile(r"[a-z_]{1,32}")


class TaxonomyError(ValueError):
    """The taxonomy file is missing, malformed, or breaks a rule of SPEC 5.1."""


@dataclass(frozen=True)
class Topic:
    id: str
    emoji: str
    names: Mapping[str, str]
    keywords: Mapping[str, tuple[str, ...]]
    exclude: Mapping[str, tuple[str, ...]]

    def name(self, lang: str) -> str:
        """The topic's name in `lang`; English for a language the file does not carry."""
        return self.names.get(lang) or self.names["en"]


def _fold(text: str) -> str:
    """Lookup key for names typed by readers: case, ё/е and outer spaces do not matter."""
    return " ".join(text.split()).casefold().replace("ё", "е")


@dataclass(frozen=True)
class Taxonomy:
    topics: tuple[Topic, ...]

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
        if not isinstance(items, list) or not all(isinstance(p, str) and p.strip() for p in items):
            raise TaxonomyError(f"{where}: {field}.{lang} must be a list of non-empty strings")
        out[lang] = tuple(p.strip() for p in items)
    return out


def _topic(raw: Any, where: str) -> Topic:
    if not isinstance(raw, dict):
        raise TaxonomyError(f"{where}: each [[topics]] entry must be a table")
    topic_id = raw.get("id")
    if not isinstance(topic_id, str) or not _ID_RE.fullmatch(topic_id):
        raise TaxonomyError(f"{where}: id {topic_id!r} must be 1-32 of a-z and _")
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
    raw_topics = data.get("topics")
    if not isinstance(raw_topics, list) or not raw_topics:
        raise TaxonomyError(f"{path}: no [[topics]] entries")
    topics: list[Topic] = []
    seen: set[str] = set()
    for n, raw in enumerate(raw_topics, start=1):
        topic = _topic(raw, f"{path}: topic #{n}")
        if topic.id in seen:
            raise TaxonomyError(f"{path}: topic #{n}: duplicate id {topic.id!r}")
        seen.add(topic.id)
        topics.append(topic)
    return Taxonomy(topics=tuple(topics))

"""Reader-facing texts in Russian and English: `ru.toml` and `en.toml` beside this file, and
one file per feature in the `ru/` and `en/` folders.

Texts are HTML (the bot's parse mode). Values passed to a text are escaped unless they are
`Html`, so a reader's keyword can never inject markup; `plain()` renders for places that
are not HTML (callback query answers, command descriptions).
"""

from __future__ import annotations

import html
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

LANGUAGES = ("ru", "en")
DEFAULT_LANGUAGE = "en"
_RUSSIAN_SPEAKING = {"ru", "uk", "be"}


class Html(str):
    """A fragment already safe to put into an HTML message."""


def language_for(language_code: str | None) -> str:
    """Telegram's `language_code` (e.g. "ru", "uk", "en-US") to one of ours (SPEC 4.1)."""
    base = (language_code or "").split("-")[0].lower()
    return "ru" if base in _RUSSIAN_SPEAKING else "en"


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@dataclass(frozen=True)
class Catalogue:
    texts: Mapping[str, Mapping[str, str]]  # language -> key -> template

    @classmethod
    def load(cls, folder: Path | None = None) -> Catalogue:
        """`ru.toml`/`en.toml`, plus one file per feature in `ru/`/`en/` (same names in both)."""
        folder = folder or Path(__file__).resolve().parent
        texts = {}
        for language in LANGUAGES:
            merged: dict[str, str] = {}
            files = [folder / f"{language}.toml", *sorted((folder / language).glob("*.toml"))]
            for path in files:
                with path.open("rb") as file:
                    flat = _flatten(tomllib.load(file))
                clash = merged.keys() & flat.keys()
                if clash:
                    raise ValueError(f"{path}: keys defined twice: {sorted(clash)}")
                merged.update(flat)
            texts[language] = merged
        return cls(texts)

    def translator(self, language: str) -> Translator:
        return Translator(self, language if language in self.texts else DEFAULT_LANGUAGE)

    def template(self, language: str, key: str) -> str:
        try:
            return self.texts[language][key]
        except KeyError:
            return self.texts[DEFAULT_LANGUAGE][key]


@dataclass(frozen=True)
class Translator:
    catalogue: Catalogue
    language: str

    def __call__(self, key: str, /, **values: object) -> Html:
        escaped = {
            name: value if isinstance(value, Html) else html.escape(str(value), quote=False)
            for name, value in values.items()
        }
        return Html(self.catalogue.template(self.language, key).format(**escaped))

    def plain(self, key: str, /, **values: object) -> str:
        return self.catalogue.template(self.language, key).format(**values)


def _flatten(tree: Mapping[str, object], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for name, value in tree.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{key}."))
        else:
            flat[key] = str(value)
    return flat

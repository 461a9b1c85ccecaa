"""FEEDS_FILE (SPEC 6.0): the feeds seeded at start-up, validated before anything runs."""

from __future__ import annotations

import codecs
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bot.config import ConfigError

_NAME_RE = re.compile(r"^[\w.-]{1,40}$")


@dataclass(frozen=True)
class FeedSpec:
    url: str
    name: str
    encoding: str | None = None
    title: str | None = None  # shown to readers as the source (else the feed's own title)


def default_name(url: str) -> str:
    """`https://www.niann.ru/rss.xml` -> `niann.ru`: short enough for `source:NAME`."""
    host = urlsplit(url).hostname or "feed"
    return host.removeprefix("www.")[:40]


def check_url(url: str) -> str | None:
    """Why `url` cannot be a feed URL, or None. Only http(s): no file://, ftp:// (SPEC 8.3)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "only http and https URLs are allowed"
    if not parts.hostname:
        return "the URL has no host"
    return None


def load_feeds_file(path: Path) -> list[FeedSpec]:
    """Parse and validate FEEDS_FILE; any mistake is a `ConfigError` naming the entry."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError("FEEDS_FILE", f"cannot read {str(path)!r}: {error}") from None
    entries = data.get("feeds", [])
    if not isinstance(entries, list):
        raise ConfigError("FEEDS_FILE", f"{path}: expected [[feeds]] tables")
    specs: list[FeedSpec] = []
    seen_urls: set[str] = set()
    seen_names: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        where = f"{path}, feed #{number}"
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            raise ConfigError("FEEDS_FILE", f'{where}: every [[feeds]] needs url = "https://..."')
        url = entry["url"].strip()
        problem = check_url(url)
        if problem:
            raise ConfigError("FEEDS_FILE", f"{where}: {problem} ({url!r})")
        name = str(entry.get("name") or default_name(url)).strip()
        if not _NAME_RE.match(name):
            raise ConfigError(
                "FEEDS_FILE", f"{where}: name {name!r} may hold letters, digits, '.', '_', '-'"
            )
        encoding = entry.get("encoding")
        if encoding is not None:
            try:
                codecs.lookup(str(encoding))
            except LookupError:
                raise ConfigError("FEEDS_FILE", f"{where}: unknown encoding {encoding!r}") from None
        title = entry.get("title")
        if title is not None and (not isinstance(title, str) or not title.strip()):
            raise ConfigError("FEEDS_FILE", f"{where}: title must be non-empty text")
        if url in seen_urls or name.casefold() in seen_names:
            raise ConfigError("FEEDS_FILE", f"{where}: duplicate url or name ({url}, {name})")
        seen_urls.add(url)
        seen_names.add(name.casefold())
        specs.append(
            FeedSpec(
                url=url,
                name=name,
                encoding=str(encoding) if encoding else None,
                title=" ".join(title.split()) if title else None,
            )
        )
    return specs

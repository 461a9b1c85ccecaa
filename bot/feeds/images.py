"""An item's picture (SPEC 7.5): the URL a channel post shows as its photo.

Feeds carry pictures in several places; the first that yields a usable URL wins, in the
order that says most plainly "this is the story's picture": an `<enclosure>` of type
`image/*`, then `media:content` that is an image, then `media:thumbnail`, then the first
`<img>` of the item's HTML. The URL is handed to Telegram, which fetches it, so only an
absolute http(s) URL of sane length without spaces or control characters is kept; a
relative one is resolved against the feed's own URL when it is known, as links are.
Anything else (`javascript:`, `data:`, `file:`, a 10 kB URL) means no picture, never an
error: the post goes out as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from bot.urls import http_url

# Telegram's URLs in practice and browsers' practical limit; a longer one is a trap.
MAX_IMAGE_URL = 2048
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp")


def item_image(entry: Mapping[str, Any], base_url: str | None = None) -> str | None:
    """The item's picture URL, or None. `entry` is one of feedparser's entries."""
    for candidate in _candidates(entry):
        url = image_url(candidate, base_url)
        if url is not None:
            return url
    return None


def image_url(value: object, base_url: str | None = None) -> str | None:
    """`value` as an absolute http(s) URL Telegram may fetch, or None."""
    return http_url(value, base_url, max_chars=MAX_IMAGE_URL)


def _candidates(entry: Mapping[str, Any]) -> Iterator[object]:
    for enclosure in _dicts(entry.get("enclosures")):
        if str(enclosure.get("type") or "").lower().startswith("image/"):
            yield enclosure.get("href") or enclosure.get("url")
    for media in _dicts(entry.get("media_content")):
        if _is_image(media):
            yield media.get("url")
    for thumbnail in _dicts(entry.get("media_thumbnail")):
        yield thumbnail.get("url")
    for html in _html_fragments(entry):
        yield first_img_src(html)


def _is_image(media: Mapping[str, Any]) -> bool:
    """media:content says `medium="image"` or an image type; with neither, the file name."""
    medium = str(media.get("medium") or "").lower()
    kind = str(media.get("type") or "").lower()
    if medium or kind:
        return medium == "image" or kind.startswith("image/")
    path = urlsplit(str(media.get("url") or "")).path.lower()
    return path.endswith(_IMAGE_EXTENSIONS)


def _dicts(value: object) -> Iterable[Mapping[str, Any]]:
    if not isinstance(value, list):
        return ()
    return [item for item in value if isinstance(item, Mapping)]


def _html_fragments(entry: Mapping[str, Any]) -> Iterator[str]:
    for content in _dicts(entry.get("content")):
        value = content.get("value")
        if isinstance(value, str) and "<img" in value.lower():
            yield value
    summary = entry.get("summary")
    if isinstance(summary, str) and "<img" in summary.lower():
        yield summary


class _Found(Exception):
    """The first <img> is known: the rest of the fragment need not be parsed."""


class _FirstImage(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.src: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.src = dict(attrs).get("src") or ""
            raise _Found


def first_img_src(html: str) -> str | None:
    """The `src` of the first `<img>` in an HTML fragment (None when there is none).
    Markup that html.parser gives up on (`<![foo[`) means no picture, not an error."""
    parser = _FirstImage()
    try:
        parser.feed(html)
        parser.close()
    except _Found:
        pass
    except (AssertionError, ValueError):
        return None
    return parser.src or None

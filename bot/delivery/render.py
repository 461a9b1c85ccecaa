"""The push message (SPEC 7.5): bold title, summary, source, topic hashtags, the link.

Every string from a feed is escaped, so a title like `<script> & co` is shown, not parsed.
Telegram counts the 4096-character limit on the text *after* entity parsing, so the
length is measured on what the reader sees; the summary is cut first, then the title,
and always on the raw text before escaping, so a cut never splits `&amp;` or a tag.
Lengths are counted in UTF-16 units, which is never less than Telegram's count.

`render_plain()` is the same message without markup, for the one retry SPEC 7.3 allows
after Telegram refused the HTML.

Hashtags are in the message's language (the translator's: a reader's, or a channel's),
looked up by `hashtag(topic_id, language)`, e.g. `Taxonomy.hashtag`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from typing import Protocol

from aiogram.types import LinkPreviewOptions

from bot.i18n import Html, Translator
from bot.urls import http_url

MAX_MESSAGE_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024  # a photo's caption, after entities parsing (Bot API sendPhoto)
MAX_SOURCE_LENGTH = 64
ELLIPSIS = "…"
LINK_MARK = "🔗"
_WORD_CUT_WINDOW = 40  # look this far back for a space to cut at
_TAG = re.compile(r"<[^>]*>")

# (topic id, language) -> the tag without "#"; Taxonomy.hashtag, which knows every topic.
HashtagOf = Callable[[str, str], str]


def id_hashtag(topic_id: str, language: str) -> str:
    """Tags as topic ids, in every language: for senders built without a taxonomy."""
    return topic_id


class PushItem(Protocol):
    """What a push shows; storage's OutboxRow and Article both fit."""

    @property
    def title(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def link(self) -> str | None: ...
    @property
    def source(self) -> str | None: ...
    @property
    def topics(self) -> Sequence[str]: ...


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def visible_length(text: str) -> int:
    """Length of an HTML message as Telegram counts it: tags out, entities decoded."""
    return utf16_len(html.unescape(_TAG.sub("", text)))


def safe_link(link: str | None) -> str | None:
    """The article's link when Telegram can open it (http or https), else None."""
    return http_url(link)


def link_preview(item: PushItem) -> LinkPreviewOptions:
    """Preview the article itself. `is_disabled` must be explicit: left out, aiogram fills
    it from the bot's default, which is previews off."""
    link = safe_link(item.link)
    if link is None:
        return LinkPreviewOptions(is_disabled=True)
    return LinkPreviewOptions(is_disabled=False, url=link)


def render_html(
    item: PushItem, t: Translator, limit: int = MAX_MESSAGE_LENGTH, *, hashtag: HashtagOf
) -> str:
    """The push in HTML parse mode, at most `limit` visible characters."""

    def compose(title: str, summary: str) -> str:
        blocks = []
        if title:
            blocks.append(f"<b>{_escape(title)}</b>")
        if summary:
            blocks.append(_escape(summary))
        footer = []
        if source := _source(item):
            footer.append(t("push.source", source=source))
        if tags := _hashtags(item, t.language, hashtag):
            footer.append(_escape(tags))
        if link := safe_link(item.link):
            read = t("push.read_more")
            footer.append(f'{LINK_MARK} <a href="{html.escape(link, quote=True)}">{read}</a>')
        if footer:
            blocks.append("\n".join(footer))
        return "\n\n".join(blocks)

    return _fit(compose, visible_length, item, limit)


def render_plain(
    item: PushItem, t: Translator, limit: int = MAX_MESSAGE_LENGTH, *, hashtag: HashtagOf
) -> str:
    """The same push as plain text (no parse mode): nothing escaped, the bare link."""

    def compose(title: str, summary: str) -> str:
        blocks = [part for part in (title, summary) if part]
        footer = []
        if source := _source(item):
            footer.append(t.plain("push.source", source=source))
        if tags := _hashtags(item, t.language, hashtag):
            footer.append(tags)
        if link := safe_link(item.link):
            footer.append(f"{LINK_MARK} {link}")
        if footer:
            blocks.append("\n".join(footer))
        return "\n\n".join(blocks)

    text = _fit(compose, utf16_len, item, limit)
    return _cut_units(text, limit)  # only a monstrous link can still be too long


def _escape(text: str) -> Html:
    return Html(html.escape(text, quote=False))


def _source(item: PushItem) -> str | None:
    source = " ".join((item.source or "").split())
    return _shorten(source, len(source) - MAX_SOURCE_LENGTH) if source else None


def _hashtags(item: PushItem, language: str, hashtag: HashtagOf) -> str:
    """Tags are hashtag-safe: the taxonomy refuses others at load, and ids are [a-z_]+."""
    return " ".join(f"#{hashtag(topic, language)}" for topic in item.topics)


def _fit(
    compose: Callable[[str, str], str],
    measure: Callable[[str], int],
    item: PushItem,
    limit: int,
) -> str:
    """Compose, then cut the summary, then the title, until the message fits."""
    title, summary = item.title.strip(), item.summary.strip()
    text = compose(title, summary)
    over = measure(text) - limit
    while over > 0 and summary:
        summary = _shorten(summary, over)
        text = compose(title, summary)
        over = measure(text) - limit
    while over > 0 and title:
        title = _shorten(title, over)
        text = compose(title, summary)
        over = measure(text) - limit
    return text


def _shorten(text: str, over: int) -> str:
    """`text` with at least `over` characters fewer, ending in an ellipsis ('' if nothing
    sensible is left). Cuts at a space when one is near."""
    if over <= 0:
        return text
    keep = len(text) - over - len(ELLIPSIS)
    if keep < 1:
        return ""
    cut = text[:keep]
    space = cut.rfind(" ")
    if space > 0 and keep - space <= _WORD_CUT_WINDOW:
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def _cut_units(text: str, limit: int) -> str:
    """Plain text cut to `limit` UTF-16 units (no markup to break)."""
    if utf16_len(text) <= limit:
        return text
    out, used = [], 0
    for char in text:
        size = 2 if ord(char) > 0xFFFF else 1
        if used + size > limit:
            break
        out.append(char)
        used += size
    return "".join(out)

"""Rendering of readers' screens: texts and inline keyboards, from plain data.

Pure functions of their inputs (a translator, topics, subscriptions), so every screen can
be checked in a unit test and both languages render the same structure.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram.types import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup

from bot.delivery.render import safe_link
from bot.i18n import Html, Translator
from bot.news import Latest
from bot.readers import (
    MAX_KEYWORD_CHARS,
    MAX_KEYWORD_WORDS,
    MAX_SUBSCRIPTIONS,
    Change,
    Outcome,
    Problem,
    Rejected,
    subscription_tag,
)
from bot.topics.taxonomy import Taxonomy, Topic
from bot.ui.callbacks import ChooseLanguage, RemoveSubscription, TopicToggle
from storage.articles import Article
from storage.chats import Chat
from storage.subscriptions import Subscription

COMMANDS = (
    "start",
    "topics",
    "subscribe",
    "unsubscribe",
    "list",
    "latest",
    "pause",
    "resume",
    "digest",
    "quiet",
    "tz",
    "lang",
    "previews",
    "help",
)
LANGUAGE_BUTTONS = (("ru", "🇷🇺 Русский"), ("en", "🇬🇧 English"))
CHECK = "✅"


def bot_commands(t: Translator) -> list[BotCommand]:
    return [BotCommand(command=name, description=t.plain(f"commands.{name}")) for name in COMMANDS]


def topic_label(topic: Topic, language: str) -> str:
    return f"{topic.emoji} {topic.name(language)}"


def topics_keyboard(states: list[tuple[Topic, bool]], language: str) -> InlineKeyboardMarkup:
    """Two topics a row; a check mark on the reader's topics (SPEC 4.2)."""
    buttons = [
        InlineKeyboardButton(
            text=f"{CHECK} {topic_label(topic, language)}" if on else topic_label(topic, language),
            callback_data=TopicToggle(topic=topic.id).pack(),
        )
        for topic, on in states
    ]
    return InlineKeyboardMarkup(
        inline_keyboard=[buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    )


def target_label(kind: str, value: str, taxonomy: Taxonomy, language: str) -> str:
    """Plain text of a topic, keyword or source, as in /list."""
    if kind == "topic":
        topic = taxonomy.get(value)
        return topic_label(topic, language) if topic else value
    return f"«{value}»" if kind == "keyword" else value


def subscription_label(sub: Subscription, taxonomy: Taxonomy, language: str) -> str:
    """Plain text: a topic with its emoji and name, a keyword or source as written."""
    return target_label(sub.kind, sub.value, taxonomy, language)


def described(t: Translator, kind: str, value: str, taxonomy: Taxonomy) -> Html:
    """'the topic X' / 'the keyword Y' / 'the source Z' for replies."""
    if kind == "topic":
        topic = taxonomy.get(value)
        return t("label.topic", topic=topic_label(topic, t.language) if topic else value)
    if kind == "keyword":
        return t("label.keyword", keyword=value)
    return t("label.source", source=value)


def unsubscribe_keyboard(
    subs: list[Subscription], taxonomy: Taxonomy, language: str
) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=f"❌ {subscription_label(sub, taxonomy, language)}",
                    callback_data=RemoveSubscription(
                        subscription_id=sub.subscription_id, tag=subscription_tag(sub)
                    ).pack(),
                )
            ]
            for sub in subs
        ]
    )


def language_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=text, callback_data=ChooseLanguage(language=code).pack())
                for code, text in LANGUAGE_BUTTONS
            ]
        ]
    )


def sources_text(t: Translator, sources: Sequence[tuple[str, str]], shown: int = 30) -> Html:
    """Feed names for `source:NAME`, each with the title readers know it by when that
    differs (/help); bounded so a long feed list cannot overflow a message."""
    if not sources:
        return t("help.no_sources")
    parts = []
    for name, title in sources[:shown]:
        part = f"<code>{html.escape(name)}</code>"
        if title and title.casefold() != name.casefold():
            part += f" ({html.escape(_short(title, 60))})"
        parts.append(part)
    return Html(", ".join(parts) + (", …" if len(sources) > shown else ""))


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def rejection_text(t: Translator, rejected: Rejected, sources: list[tuple[str, str]]) -> Html:
    """Why an argument was refused, in the reader's language (SPEC 4.10)."""
    match rejected.problem:
        case Problem.EMPTY:
            return t("subscribe.usage")
        case Problem.TOO_LONG:
            return t("subscribe.too_long", max=MAX_KEYWORD_CHARS, length=rejected.length)
        case Problem.TOO_MANY_WORDS:
            return t("subscribe.too_many_words", max=MAX_KEYWORD_WORDS, count=rejected.words)
        case Problem.NO_LETTERS:
            return t("subscribe.no_letters")
        case Problem.SOURCE_MISSING:
            return t("subscribe.source_missing", example=sources[0][0] if sources else "niann")
        case Problem.UNKNOWN_SOURCE:
            return t(
                "subscribe.unknown_source", source=rejected.text, sources=sources_text(t, sources)
            )
    raise ValueError(rejected.problem)


def list_text(
    t: Translator, chat: Chat, subs: list[Subscription], taxonomy: Taxonomy, timezone: str
) -> Html:
    """The reader's subscriptions grouped by kind, then their delivery settings (SPEC 4.5):
    mode (instant, digest, paused), time zone (theirs, else `timezone`), quiet hours,
    link previews."""
    lines = [t("list.header")]
    if not subs:
        lines.append(t("list.empty"))
    for kind in ("topic", "keyword", "source"):
        labels = [subscription_label(s, taxonomy, chat.language) for s in subs if s.kind == kind]
        if labels:
            lines.append(t(f"list.{kind}s", items=", ".join(labels)))
    if subs:
        lines.append(t("list.count", count=len(subs), limit=MAX_SUBSCRIPTIONS))
    lines.append("")
    if chat.paused:
        lines.append(t("list.mode_paused"))
    elif chat.digest_time:
        lines.append(t("list.mode_digest", time=chat.digest_time))
    else:
        lines.append(t("list.mode_instant"))
    lines.append(t("list.timezone", timezone=chat.timezone or timezone))
    if chat.quiet_start and chat.quiet_end:
        lines.append(t("list.quiet", window=f"{chat.quiet_start}-{chat.quiet_end}"))
    else:
        lines.append(t("list.quiet_none"))
    lines.append(t("list.previews_on" if chat.previews else "list.previews_off"))
    return Html("\n".join(lines))


def change_text(t: Translator, change: Change, taxonomy: Taxonomy) -> Html:
    """The reply to /subscribe or /unsubscribe once the argument named something."""
    target = change.target
    label = described(t, target.kind, target.value, taxonomy)
    match change.outcome:
        case Outcome.ADDED if target.kind == "topic":
            topic = taxonomy.get(target.value)
            return t("subscribe.added_topic", topic=topic_label(topic, t.language) if topic else "")
        case Outcome.ADDED if target.kind == "keyword":
            return t("subscribe.added_keyword", keyword=target.value)
        case Outcome.ADDED:
            return t("subscribe.added_source", source=target.value)
        case Outcome.DUPLICATE:
            return t("subscribe.already", label=label)
        case Outcome.LIMIT:
            return t("subscribe.limit", limit=MAX_SUBSCRIPTIONS)
        case Outcome.REMOVED:
            return t("unsubscribe.removed", label=label)
        case Outcome.NOT_FOUND:
            return t("unsubscribe.not_found", label=label)
    raise ValueError(change.outcome)


LATEST_TITLE_CHARS = 200


def latest_line(article: Article, zone: ZoneInfo, *, with_id: bool = False) -> str:
    """`<a href=link>Title</a> · source · 26.11 14:05`, everything external escaped;
    editors also see the article's number, for /why and /retopic (SPEC 5.4)."""
    title = article.title or article.link or "…"
    if len(title) > LATEST_TITLE_CHARS:
        title = title[: LATEST_TITLE_CHARS - 1].rstrip() + "…"
    text = html.escape(title, quote=False)
    link = safe_link(article.link)
    if link:
        text = f'<a href="{html.escape(link, quote=True)}">{text}</a>'
    moment = datetime.fromisoformat(article.published_at or article.stored_at)
    parts = [text, *([html.escape(article.source)] if article.source else [])]
    parts.append(moment.astimezone(zone).strftime("%d.%m %H:%M"))
    if with_id:
        parts.append(f"№{article.article_id}")
    return " · ".join(parts)


def latest_text(
    t: Translator, latest: Latest, taxonomy: Taxonomy, timezone: str, *, with_ids: bool = False
) -> Html:
    """The /latest reply (SPEC 4.6): a numbered list of linked titles, newest first."""
    if latest.target is None:
        if not latest.articles:
            key = "latest.empty_subscriptions" if latest.subscribed else "latest.no_subscriptions"
            return t(key)
        header = t("latest.header_subscriptions")
    else:
        label = target_label(latest.target.kind, latest.target.value, taxonomy, t.language)
        if not latest.articles:
            return t("latest.empty_target", label=label)
        header = t("latest.header_target", label=label)
    zone = ZoneInfo(timezone)
    lines = [
        f"{n}. {latest_line(a, zone, with_id=with_ids)}"
        for n, a in enumerate(latest.articles, start=1)
    ]
    return Html("\n".join([header, *lines]))

"""Rendering of editors' and admins' screens (SPEC 8): texts and keyboards from plain data."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.admin import FeedHealth, ImportReport, Refused
from bot.delivery.render import MAX_CAPTION_LENGTH, utf16_len, visible_length
from bot.editorial import (
    CopiesReport,
    Draft,
    ItemProblem,
    PostProblem,
    PostRejected,
    Press,
    topics_label,
)
from bot.i18n import Catalogue, Html, Translator
from bot.ui.callbacks import BreakingAction
from storage.breaking import Breaking, Delivery
from storage.channels import Channel
from storage.feeds import Feed
from storage.stats import Stats

MAX_LISTED = 20  # URLs listed per group in an import report
MAX_MESSAGE = 4096  # Telegram's limit, in UTF-16 code units
MAX_URL = 200  # a URL shown in a list is cut to this many characters
MAX_ERROR = 150  # likewise a feed's last error
MAX_TITLE = 80  # a feed's title beside its name


def cut(text: str, limit: int) -> str:
    """`text` at most `limit` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def split_message(text: str, limit: int = MAX_MESSAGE) -> list[Html]:
    """A long listing as several messages, cut between lines (so no HTML tag is split:
    every line of these views closes its own tags). The HTML is measured, which is never
    shorter than the text Telegram counts."""
    parts: list[Html] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        length = utf16_len(line)
        if current and size + 1 + length > limit:
            parts.append(Html("\n".join(current)))
            current, size = [], 0
        current.append(line)
        size += length + (1 if len(current) > 1 else 0)
    parts.append(Html("\n".join(current)))
    return parts


def refusal_text(t: Translator, refused: Refused) -> Html:
    return t(refused.key, reason=refused.reason)


def post_rejection_text(t: Translator, rejected: PostRejected) -> Html:
    if rejected.problem is PostProblem.UNKNOWN_TOPICS:
        return t("editor.post_unknown_topics", tags=rejected.detail)
    if rejected.problem is PostProblem.TOO_LONG:
        return t("editor.post_too_long", length=rejected.detail, limit=rejected.limit)
    return t("editor.post_usage")


def preview_text(t: Translator, draft: Draft) -> Html:
    item = draft.item
    audience = topics_label(item.topics) if item.topics else t.plain("editor.everyone")
    text = t(
        "editor.preview",
        id=item.breaking_id,
        text=item.text,
        audience=audience,
        readers=draft.readers,
        channels=draft.channels,
    )
    return Html(f"{text}\n\n{t('editor.preview_photo')}") if item.photo else text


def preview_keyboard(t: Translator, item_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=t.plain("editor.button_send"),
                    callback_data=BreakingAction(item_id=item_id, send=True).pack(),
                ),
                InlineKeyboardButton(
                    text=t.plain("editor.button_cancel"),
                    callback_data=BreakingAction(item_id=item_id, send=False).pack(),
                ),
            ]
        ]
    )


def press_text(t: Translator, outcome: Press, item_id: int, queued: int) -> Html | None:
    """The preview's new text after a press, or None to leave it as it is."""
    if outcome is Press.SENT:
        return t("editor.sent", id=item_id, queued=queued)
    if outcome is Press.CANCELLED:
        return t("editor.cancelled", id=item_id)
    if outcome is Press.EXPIRED:
        return t("editor.expired", id=item_id)
    return None


def press_toast(t: Translator, outcome: Press) -> str:
    return t.plain(f"editor.toast_{outcome.value}")


def report_text(catalogue: Catalogue, item: Breaking, delivery: Delivery, language: str) -> str:
    t = catalogue.translator(language)
    return t(
        "editor.report",
        id=item.breaking_id,
        sent=delivery.sent,
        blocked=delivery.blocked,
        failed=delivery.failed,
    )


def copies_text(
    t: Translator, key: str, item_id: int, report: CopiesReport | ItemProblem | PostRejected
) -> Html:
    if isinstance(report, PostRejected):  # /correct's new text
        if report.problem is PostProblem.TOO_LONG:
            return t("editor.correct_too_long", length=report.detail, limit=report.limit)
        return t("editor.correct_usage")
    if isinstance(report, ItemProblem):
        return t(f"editor.item_{report.value}", id=item_id)
    return t(key, id=item_id, done=report.done, failed=report.failed, waiting=report.waiting)


def feeds_text(t: Translator, feeds: list[FeedHealth], tz: str) -> Html:
    if not feeds:
        return t("admin.feeds_none")
    zone = ZoneInfo(tz)
    lines = [str(t("admin.feeds_header", count=len(feeds)))]
    for health in feeds:
        feed = health.feed
        ok = feed.failures == 0
        lines.append(
            t(
                "admin.feed_line",
                mark="✅" if ok else "⚠️",
                id=feed.feed_id,
                name=_named(feed),
                url=cut(feed.url, MAX_URL),
                success=_when(t, feed.last_success_at, zone),
                items=health.items,
            )
        )
        if feed.last_error and not ok:
            lines.append(
                t(
                    "admin.feed_error",
                    error=cut(feed.last_error, MAX_ERROR),
                    when=_when(t, feed.last_error_at, zone),
                )
            )
    return Html("\n".join(lines))


def _named(feed: Feed) -> str:
    """The short name, and the title readers see when it differs (SPEC 6.0)."""
    title = feed.display_title
    if title.casefold() == feed.name.casefold():
        return feed.name
    return f"{feed.name} «{cut(title, MAX_TITLE)}»"


def _when(t: Translator, stamp: str | None, zone: ZoneInfo) -> str:
    if not stamp:
        return t.plain("admin.never")
    return datetime.fromisoformat(stamp).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def import_text(t: Translator, report: ImportReport) -> Html:
    lines = [
        str(
            t(
                "admin.import_done",
                added=len(report.added),
                skipped=len(report.skipped),
                invalid=len(report.invalid),
            )
        )
    ]
    for url in report.invalid[:MAX_LISTED]:
        lines.append(t("admin.import_invalid_line", url=cut(url, MAX_URL)))
    return Html("\n".join(lines))


def channel_settings(t: Translator, channel: Channel) -> str:
    """Language as the code admins type after `lang=`; the photo switch (SPEC 8.4)."""
    photos = t.plain("admin.photos_on" if channel.photos else "admin.photos_off")
    return t.plain("admin.channel_settings", language=channel.language, photos=photos)


def channel_topics(t: Translator, channel: Channel) -> str:
    return topics_label(channel.topics) if channel.topics else t.plain("admin.all_topics")


def channel_line(t: Translator, channel: Channel) -> Html:
    thread = f" / {channel.thread_id}" if channel.thread_id else ""
    return t(
        "admin.channel_line",
        label=channel.label,
        id=f"{channel.chat_id}{thread}",
        kind=channel.kind,
        topics=channel_topics(t, channel),
        settings=channel_settings(t, channel),
        state="" if channel.active else t.plain("admin.channel_inactive"),
    )


def channel_done_text(t: Translator, action: str, channel: Channel) -> Html:
    """The reply to `/channel add|set|remove` that changed something."""
    if action == "remove":
        return t("admin.channel_removed", label=channel.label)
    settings = channel_settings(t, channel)
    if action == "set":
        return t("admin.channel_set", label=channel.label, settings=settings)
    topics = channel_topics(t, channel)
    return t("admin.channel_added", label=channel.label, topics=topics, settings=settings)


def channels_text(t: Translator, channels: list[Channel]) -> Html:
    if not channels:
        return t("admin.channels_none")
    lines = [str(t("admin.channels_header"))] + [str(channel_line(t, c)) for c in channels]
    return Html("\n".join(lines))


def editors_text(t: Translator, editors: list[int], admins: frozenset[int]) -> Html:
    lines = [str(t("admin.editors_header"))]
    lines += [str(t("admin.editors_admin", id=user_id)) for user_id in sorted(admins)]
    lines += [str(t("admin.editors_editor", id=user_id)) for user_id in editors]
    if len(lines) == 1:
        lines.append(str(t("admin.editors_none")))
    return Html("\n".join(lines))


def stats_caption(t: Translator, stats: Stats, limit: int = MAX_CAPTION_LENGTH) -> Html:
    """`stats_text` as a photo's caption (1,024 characters after entities): the longest
    list (topics, keywords) loses its last items, marked "…", until it fits."""
    lines = str(stats_text(t, stats)).split("\n")
    while visible_length("\n".join(lines)) > limit:
        longest = max(range(len(lines)), key=lambda i: visible_length(lines[i]))
        head, sep, _ = lines[longest].removesuffix(", …").rpartition(", ")
        if not sep:  # no list left to shorten: the line goes
            del lines[longest]
            continue
        lines[longest] = f"{head}, …"
    return Html("\n".join(lines))


def stats_text(t: Translator, stats: Stats) -> Html:
    topics = ", ".join(f"#{topic} {n}" for topic, n in stats.topics) or "—"
    keywords = ", ".join(f"«{word}» {n}" for word, n in stats.keywords) or "—"
    return t(
        "editor.stats",
        total=stats.readers_total,
        active=stats.readers_active,
        paused=stats.readers_paused,
        blocked=stats.readers_blocked,
        topics=topics,
        keywords=keywords,
        feeds_ok=stats.feeds_ok,
        feeds_failing=stats.feeds_failing,
        articles=stats.articles_today,
        pending=stats.outbox["pending"],
        sent=stats.outbox["sent"],
        failed=stats.outbox["failed"],
        dropped=stats.outbox["dropped"],
    )

"""Replies to /addfeed (SPEC 8.3), and the list of a page's feeds read back on a press.

The list is stateless: each feed is a numbered line `N. /addfeed URL [name]` of the
message itself, and its button carries N and a tag (a short hash of the line's URL and
name). On a press the line is read from `callback.message.text` (which Telegram gives
back as sent: the sender cannot alter a bot's message) and must hash to the tag, so data
from another or an older list, or typed by hand, adds nothing. The hash is not secret: an
admin who forges it could send the command anyway, and anyone else is refused first.
"""

from __future__ import annotations

import hashlib
import html
import re

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.admin import FeedAdded, FeedChoice, NoFeedFound, Refused
from bot.i18n import Html, Translator
from bot.ui.callbacks import FeedPick
from bot.ui.staff_views import cut, refusal_text

MAX_TITLE = 100  # a feed's own title in the reply
MAX_LABEL = 48  # and on a button
MAX_URL = 200  # a URL named in a refusal
MAX_REASON = 150

_LINE = re.compile(r"^(\d{1,2})\. /addfeed (\S+)(?: (\S+))?$", re.MULTILINE)


def line_tag(url: str, name: str | None) -> str:
    return hashlib.sha256(f"{url} {name or ''}".encode()).hexdigest()[:8]


def addfeed_reply(
    t: Translator, result: FeedAdded | FeedChoice | NoFeedFound | Refused
) -> tuple[Html, InlineKeyboardMarkup | None]:
    """The text (and buttons, for a choice) answering /addfeed or a press."""
    if isinstance(result, Refused):
        return refusal_text(t, result), None
    if isinstance(result, FeedAdded):
        return added_text(t, result), None
    if isinstance(result, NoFeedFound):
        return not_found_text(t, result), None
    return choice_text(t, result), choice_keyboard(result)


def added_text(t: Translator, added: FeedAdded) -> Html:
    feed = added.feed
    title = cut(feed.display_title, MAX_TITLE)
    url = cut(feed.url, MAX_URL)  # the feed found may not be the page the admin gave
    return t(
        "admin.feed_added",
        title=title,
        name=feed.name,
        id=feed.feed_id,
        items=added.items,
        url=url,
    )


def not_found_text(t: Translator, found: NoFeedFound) -> Html:
    """What was tried and why each is not a feed; at most 10 lines of bounded length,
    so it fits one message."""
    discovery = found.discovery
    lines = [
        t(
            "addfeed.none_found",
            url=cut(found.page_url, MAX_URL),
            reason=cut(discovery.page_reason, MAX_REASON),
        ),
        t("addfeed.none_declared" if discovery.declared else "addfeed.none_common"),
    ]
    for url, reason in discovery.tried:
        line = t("addfeed.tried_line", url=cut(url, MAX_URL), reason=cut(reason, MAX_REASON))
        lines.append(line)
    return Html("\n".join(lines))


def choice_text(t: Translator, choice: FeedChoice) -> Html:
    """Lines of at most ~350 characters (URLs are at most 300, names 40), ten at most:
    one message."""
    lines = [t("addfeed.found", count=len(choice.feeds), url=cut(choice.page_url, MAX_URL))]
    for number, feed in enumerate(choice.feeds, start=1):
        command = " ".join(filter(None, ("/addfeed", feed.url, choice.name)))
        lines.append(Html(f"{number}. <code>{html.escape(command, quote=False)}</code>"))
    return Html("\n".join(lines))


def choice_keyboard(choice: FeedChoice) -> InlineKeyboardMarkup:
    """One button per feed, labelled with the feed's own title (its URL when it has none)."""
    rows = []
    for number, feed in enumerate(choice.feeds, start=1):
        label = cut(feed.parsed.title or feed.url, MAX_LABEL)
        data = FeedPick(number=number, tag=line_tag(feed.url, choice.name)).pack()
        rows.append([InlineKeyboardButton(text=f"{number}. {label}", callback_data=data)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def picked(text: str | None, pick: FeedPick) -> tuple[str, str | None] | None:
    """(URL, name) of line `pick.number` of a list message, if its tag matches."""
    for match in _LINE.finditer(text or ""):
        if int(match[1]) == pick.number:
            url, name = match[2], match[3]
            return (url, name) if line_tag(url, name) == pick.tag else None
    return None

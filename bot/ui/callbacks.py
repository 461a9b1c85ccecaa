"""Callback data of the bot's inline buttons. Anything else that arrives is forged or stale.

Ids are bounded to what SQLite stores (a signed 64-bit integer, rows numbered from 1): a
forged `unsub:99999999999999999999` is refused by the filter (the reader is told the button
is out of date) instead of overflowing in the database driver."""

from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from pydantic import Field

MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]


class TopicToggle(CallbackData, prefix="topic"):
    topic: str


class RemoveSubscription(CallbackData, prefix="unsub"):
    subscription_id: RowId
    tag: str  # bot.readers.subscription_tag: the id alone may name a newer row


class ChooseLanguage(CallbackData, prefix="lang"):
    language: str


class BreakingAction(CallbackData, prefix="brk"):
    item_id: RowId
    send: bool


class FeedPick(CallbackData, prefix="addf"):
    """A feed from an /addfeed page's list: its number in that message's text and a tag of
    its line (`bot.ui.feed_views`). URLs do not fit Telegram's 64 bytes of callback data."""

    number: Annotated[int, Field(ge=1, le=99)]
    tag: Annotated[str, Field(min_length=8, max_length=8)]

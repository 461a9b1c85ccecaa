"""Callback data of the bot's inline buttons. Anything else that arrives is forged or stale."""

from aiogram.filters.callback_data import CallbackData


class TopicToggle(CallbackData, prefix="topic"):
    topic: str


class RemoveSubscription(CallbackData, prefix="unsub"):
    subscription_id: int


class ChooseLanguage(CallbackData, prefix="lang"):
    language: str


class BreakingAction(CallbackData, prefix="brk"):
    item_id: int
    send: bool

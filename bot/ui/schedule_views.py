"""Digest and quiet-hours screens (SPEC 4.11, 4.12): callback data and keyboards.

Times in callback data are 'HHMM': aiogram's CallbackData uses ':' as its separator.
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Translator

DIGEST_TIMES = ("07:00", "08:00", "09:00", "12:00", "18:00", "21:00")
QUIET_WINDOWS = ("22:00-07:00", "23:00-07:00", "23:00-08:00", "00:00-08:00")
OFF = "off"


class ScheduleMenu(CallbackData, prefix="sched"):
    menu: str  # "digest" | "quiet"


class DigestChoice(CallbackData, prefix="digest"):
    at: str  # "HHMM" or "off"


class QuietChoice(CallbackData, prefix="quiet"):
    window: str  # "HHMM-HHMM" or "off"


def _compact(text: str) -> str:
    return text.replace(":", "")


# The callback values the keyboards offer; a press with any other value is forged.
DIGEST_CHOICES = frozenset({OFF, *(_compact(at) for at in DIGEST_TIMES)})
QUIET_CHOICES = frozenset({OFF, *(_compact(window) for window in QUIET_WINDOWS)})


def expand(value: str) -> str:
    """'0800' -> '08:00', '2300-0800' -> '23:00-08:00' (anything else is returned as is)."""
    return "-".join(
        f"{part[:2]}:{part[2:]}" if len(part) == 4 and part.isdigit() else part
        for part in value.split("-")
    )


def schedule_row(t: Translator) -> list[InlineKeyboardButton]:
    """The row under the topics: digest and quiet hours by buttons."""
    return [
        InlineKeyboardButton(
            text=t.plain("digest.button"), callback_data=ScheduleMenu(menu="digest").pack()
        ),
        InlineKeyboardButton(
            text=t.plain("quiet.button"), callback_data=ScheduleMenu(menu="quiet").pack()
        ),
    ]


def has_schedule_row(markup: InlineKeyboardMarkup | None) -> bool:
    prefix = ScheduleMenu.__prefix__ + ":"
    return markup is not None and any(
        (button.callback_data or "").startswith(prefix)
        for row in markup.inline_keyboard
        for button in row
    )


def with_schedule_row(markup: InlineKeyboardMarkup, t: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[*markup.inline_keyboard, schedule_row(t)])


def digest_keyboard(t: Translator) -> InlineKeyboardMarkup:
    times = [
        InlineKeyboardButton(text=at, callback_data=DigestChoice(at=_compact(at)).pack())
        for at in DIGEST_TIMES
    ]
    off = InlineKeyboardButton(
        text=t.plain("digest.instant_button"), callback_data=DigestChoice(at=OFF).pack()
    )
    return InlineKeyboardMarkup(inline_keyboard=[times[:3], times[3:], [off]])


def quiet_keyboard(t: Translator) -> InlineKeyboardMarkup:
    windows = [
        InlineKeyboardButton(text=w, callback_data=QuietChoice(window=_compact(w)).pack())
        for w in QUIET_WINDOWS
    ]
    off = InlineKeyboardButton(
        text=t.plain("quiet.off_button"), callback_data=QuietChoice(window=OFF).pack()
    )
    return InlineKeyboardMarkup(inline_keyboard=[windows[:2], windows[2:], [off]])

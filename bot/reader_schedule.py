"""What a reader can change about when news reaches them (SPEC 4.11, 4.12), independent
of Telegram: time zone, daily digest, quiet hours. Invalid input raises `ScheduleError`
(or returns None for an unknown zone) before anything is stored."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.digest import DigestJob
from bot.schedule import Window, find_zone, format_time, parse_time, parse_window
from storage.chats import Chat
from storage.schedules import ScheduleRepository


def utc_now() -> datetime:
    return datetime.now(UTC)


class ScheduleService:
    def __init__(
        self,
        schedules: ScheduleRepository,
        digests: DigestJob,
        timezone: str,
        *,
        clock: Callable[[], datetime] = utc_now,
        on_queued: Callable[[], object] | None = None,
    ) -> None:
        self._schedules = schedules
        self._digests = digests
        self.timezone = timezone  # the TIMEZONE setting: readers without a zone of their own
        self._clock = clock
        self._on_queued = on_queued

    def zone_of(self, chat: Chat) -> str:
        return chat.timezone or self.timezone

    def local_now(self, zone: str) -> str:
        return self._clock().astimezone(ZoneInfo(zone)).strftime("%H:%M")

    async def set_digest(self, chat_id: int, argument: str) -> str:
        """Switch to one digest a day at 'HH:MM'; returns the time as stored."""
        at = format_time(parse_time(argument))
        await self._schedules.set_digest(chat_id, at)
        return at

    async def digest_off(self, chat: Chat) -> int | None:
        """Back to instant pushes; None if the reader was not on a digest, else how many
        kept articles were queued as pushes."""
        if not chat.digest_time:
            return None
        moved = await self._schedules.digest_off(chat.chat_id, self._clock())
        if moved and self._on_queued is not None:
            self._on_queued()
        return moved

    async def set_timezone(self, chat_id: int, argument: str) -> str | None:
        """The canonical zone name stored, or None for a name the zone database lacks."""
        zone = find_zone(argument)
        if zone is not None:
            await self._schedules.set_timezone(chat_id, zone)
        return zone

    async def set_quiet(self, chat_id: int, argument: str) -> Window:
        window = parse_window(argument)
        await self._schedules.set_quiet(chat_id, format_time(window.start), format_time(window.end))
        return window

    async def quiet_off(self, chat_id: int) -> None:
        await self._schedules.set_quiet(chat_id, None, None)

    async def catch_up(self, chat_id: int) -> None:
        """After a change of digest time or zone: a digest now due goes at once."""
        await self._digests.run_for(chat_id)

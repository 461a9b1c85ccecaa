"""How many requests to Telegram may be in flight at once (SPEC 7.2, 7.4).

Telegram answers 50-300 ms after a request leaves a server. One request at a time holds
the rate to one per round trip: 6.5 messages/s at 150 ms against 25 allowed. To hold
SEND_RATE_PER_SECOND the sender keeps `rate × round trip` requests in flight, plus one
for the jitter, never more than 8 (SPEC 7.2) and never two to one chat.

Why measured and not a fixed 8. Every request in flight is a message that may arrive
twice after a crash (SPEC 7.4), and one more that a 429 finds already under way. At
25/s and a 150 ms round trip the rate needs 4-5 in flight, against a local API 2. The
window follows the round trip as TCP does: a smoothed estimate plus twice its mean
deviation, so a jittery Telegram gets the larger window it needs. The estimate starts
at 300 ms (the worst the SPEC names), so the first messages after a start already go at
the full rate, and shrinks within a few answers when Telegram is closer.

The window is shared by everything that sends on the bot's behalf in bulk: the outbox
sender and the editors' corrections and recalls. Together they stay within one window,
one rate (the shared `Pacer`) and one request per chat.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

MAX_IN_FLIGHT = 8  # SPEC 7.2: never more than 8
INITIAL_ROUND_TRIP = 0.3  # seconds: the slow end of 50-300 ms
_GAIN = 0.125  # TCP's smoothing of the estimate (RFC 6298)
_DEVIATION_GAIN = 0.25


class SendWindow:
    """Requests in flight, per chat and in total, and how many may be."""

    def __init__(
        self,
        rate_per_second: float | None,
        *,
        fixed: int | None = None,
        ceiling: int = MAX_IN_FLIGHT,
        initial_round_trip: float = INITIAL_ROUND_TRIP,
    ) -> None:
        """`rate_per_second` None (no global limit): the window is the ceiling. `fixed`
        pins the size (tests, benchmarks)."""
        if fixed is not None and fixed < 1:
            raise ValueError("a window holds at least one request")
        self._rate = rate_per_second
        self._fixed = fixed
        self._ceiling = ceiling
        self._smoothed = initial_round_trip
        self._deviation = initial_round_trip / 2
        self._probing = False
        self._chats: set[int] = set()
        self._listeners: list[Callable[[], None]] = []
        self._freed = asyncio.Event()

    # ----------------------------------------------------------------- the size

    @property
    def size(self) -> int:
        if self._probing:
            return 1
        if self._fixed is not None:
            return self._fixed
        if self._rate is None:
            return self._ceiling
        needed = math.ceil(self._rate * self.round_trip) + 1
        return max(1, min(self._ceiling, needed))

    @property
    def round_trip(self) -> float:
        """The round trip the window is planned for: estimate plus twice the deviation."""
        return self._smoothed + 2 * self._deviation

    def probe(self) -> None:
        """Telegram failed (5xx, network): one request at a time until one succeeds, so
        each look at a dead Telegram costs one attempt, not a full window."""
        self._probing = True

    def observe(self, seconds: float) -> None:
        """One request succeeded, `seconds` from leaving to its answer: the round trip
        estimate learns, and a probe that got through opens the full window again."""
        self._probing = False
        seconds = max(0.0, seconds)
        error = seconds - self._smoothed
        self._smoothed += _GAIN * error
        self._deviation += _DEVIATION_GAIN * (abs(error) - self._deviation)

    # ---------------------------------------------------------------- in flight

    @property
    def in_flight(self) -> int:
        return len(self._chats)

    def busy(self, chat_id: int) -> bool:
        return chat_id in self._chats

    def can_start(self, chat_id: int) -> bool:
        return len(self._chats) < self.size and chat_id not in self._chats

    def start(self, chat_id: int) -> None:
        """A request to `chat_id` leaves now (the caller checked `can_start`)."""
        if chat_id in self._chats:
            raise RuntimeError(f"a request to chat {chat_id} is in flight already")
        self._chats.add(chat_id)

    def finish(self, chat_id: int) -> None:
        """That request is over (answered, failed or abandoned): wake whoever waits."""
        self._chats.discard(chat_id)
        self._freed.set()
        for listener in self._listeners:
            listener()

    def on_free(self, listener: Callable[[], None]) -> None:
        """Call `listener()` whenever a request finishes (the sender's dispatcher)."""
        self._listeners.append(listener)

    async def acquire(self, chat_id: int) -> None:
        """Wait until a request to `chat_id` may leave, and book it (editors' edits)."""
        while not self.can_start(chat_id):
            self._freed.clear()
            await self._freed.wait()
        self.start(chat_id)

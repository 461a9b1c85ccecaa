"""Telegram's broadcast limits as a pure pacer (SPEC 7.2): the caller passes the clock.

Three limits, from the Bot API FAQ: about 30 messages a second overall (we use
SEND_RATE_PER_SECOND), one message a second to one chat, and 20 a minute to one group or
channel. The limits are kept as the times of the last sends, not only as token buckets:
Telegram (and the test server) count a *sliding* window, and a bucket that refills
20/min would allow 21 sends inside one minute after a burst (likewise, the global bucket
alone let SEND_RATE_PER_SECOND plus its burst through in one second). A 429's
`retry_after` pauses everything (`pause_until`).

Times are the caller's monotonic seconds, taken when a request leaves (SPEC 7.2): with
requests overlapping, the answer says nothing about when the next one may go. A small
`margin` absorbs the difference between when a request leaves and when Telegram counts
it. It is 50 ms for one chat's limits, which cost a fan-out nothing, and 35 ms for the
global window, where every millisecond is throughput: 30 sends per 1.05 s would cap
SEND_RATE 30 at 28.6/s (0.952 of it), per 1.035 s at 29.0/s. With requests overlapping,
their arrival order can differ from their departure order by some milliseconds; 20 ms
proved too little on a loaded machine (a 429 in an end-to-end test at SEND_RATE 50).
"""

from __future__ import annotations

import math
from collections import deque

from bot.pacing import TokenBucket


class Pacer:
    """`reserve()` says how long to wait before a send to a chat may go, and books it when
    it may go now. State is kept only for chats sent to within the last window."""

    def __init__(
        self,
        rate_per_second: float | None,
        *,
        chat_interval: float | None = 1.0,
        group_limit: int | None = 20,
        group_window: float = 60.0,
        margin: float = 0.05,
        global_margin: float = 0.035,
        burst_seconds: float = 0.1,
    ) -> None:
        """None disables a limit (benchmarks against a local server, tests).

        The global bucket holds `rate * burst_seconds` sends (at least one), so a busy
        sender need not sleep between every two messages; on top of it, no window of one
        second (plus `margin`) ever holds more than `rate` sends, burst or not (SPEC 7.2
        makes SEND_RATE_PER_SECOND a ceiling; an operator may set it to Telegram's 30)."""
        if rate_per_second is not None and rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        self.rate = rate_per_second
        self._global = (
            TokenBucket(capacity=max(1.0, rate_per_second * burst_seconds), rate=rate_per_second)
            if rate_per_second
            else None
        )
        # The ceiling: at most `per_window` sends in any `window` seconds (for a rate
        # under 1/s, one send per 1/rate seconds).
        per_window = max(1, math.floor(rate_per_second or 1))
        self._global_cap = per_window if rate_per_second else None
        self._global_window = max(1.0, per_window / (rate_per_second or 1)) + global_margin
        self._global_sends: deque[float] = deque(maxlen=per_window)
        self._interval = None if chat_interval is None else chat_interval + margin
        self._group_limit = group_limit
        self._group_window = group_window + margin
        self._last: dict[int, float] = {}  # chat -> time of its last send
        self._groups: dict[int, deque[float]] = {}  # chat -> its last `group_limit` sends
        self._paused_until = -math.inf
        self._pruned_at = -math.inf

    # ------------------------------------------------------------------ the pause

    def pause_until(self, until: float) -> None:
        """Stop every send until `until` (a 429's retry_after); never shortens a pause."""
        self._paused_until = max(self._paused_until, until)

    @property
    def paused_until(self) -> float:
        return self._paused_until

    def pause_left(self, now: float) -> float:
        return max(0.0, self._paused_until - now)

    # ----------------------------------------------------------------- the limits

    def chat_delay(self, chat_id: int, is_private: bool, now: float) -> float:
        """Seconds until this chat's own limits allow a send (ignores the global ones)."""
        ready = -math.inf
        last = self._last.get(chat_id)
        if last is not None and self._interval is not None:
            ready = last + self._interval
        if not is_private and self._group_limit is not None:
            window = self._groups.get(chat_id)
            if window is not None and len(window) >= self._group_limit:
                ready = max(ready, window[0] + self._group_window)
        return max(0.0, ready - now)

    def delay(self, chat_id: int, is_private: bool, now: float) -> float:
        """Seconds until a send to this chat may go: pause, global rate and chat limits."""
        wait = max(self.pause_left(now), self.chat_delay(chat_id, is_private, now))
        if self._global is not None:
            wait = max(wait, self._global.delay(now))
        if self._global_cap is not None and len(self._global_sends) >= self._global_cap:
            wait = max(wait, self._global_sends[0] + self._global_window - now)
        return wait

    def take(self, chat_id: int, is_private: bool, now: float) -> None:
        """Book a send to this chat at `now` (call it right before the request)."""
        if self._global is not None:
            self._global.try_take(now)
        if self._global_cap is not None:
            self._global_sends.append(now)
        self.hold_chat(chat_id, is_private, now)
        self._prune(now)

    def hold_chat(self, chat_id: int, is_private: bool, now: float) -> None:
        """Count a send to this chat at `now` against the chat's own limits only. Alone,
        for a message that may have left unseen by this pacer (it was in flight when the
        last process died): the global rate does not count it (the restart gap covers it)."""
        if self._interval is not None:
            self._last[chat_id] = now
        if not is_private and self._group_limit is not None:
            window = self._groups.get(chat_id)
            if window is None:
                window = self._groups[chat_id] = deque(maxlen=self._group_limit)
            window.append(now)

    def reserve(self, chat_id: int, is_private: bool, now: float) -> float:
        """0 and the send is booked, or the seconds to wait before asking again."""
        wait = self.delay(chat_id, is_private, now)
        if wait <= 0:
            self.take(chat_id, is_private, now)
        return wait

    def spacing(self, is_private: bool) -> float:
        """The steady-state seconds between two sends to one chat (0: no per-chat limit)."""
        spacing = self._interval or 0.0
        if not is_private and self._group_limit:
            spacing = max(spacing, self._group_window / self._group_limit)
        return spacing

    @property
    def tracked_chats(self) -> int:
        return len(self._last.keys() | self._groups.keys())

    def _prune(self, now: float) -> None:
        """Forget chats idle for longer than any window, at most once a window."""
        horizon = max(self._interval or 0.0, self._group_window)
        if now - self._pruned_at < horizon:
            return
        self._pruned_at = now
        cutoff = now - horizon
        self._last = {chat: t for chat, t in self._last.items() if t > cutoff}
        self._groups = {chat: w for chat, w in self._groups.items() if w and w[-1] > cutoff}

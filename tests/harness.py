# ruff: noqa: ASYNC109 - the test API takes timeout= like asyncio.wait_for does.
"""End-to-end harness: the real bot as a subprocess, and fake readers driving it.

Synchronisation never uses fixed sleeps.  Everything waits on events of the fake
Telegram (``tg.wait_for``), and "nothing happened" is proven with a barrier:

``tg_barrier(tg)`` first waits until the bot has *fetched* every queued update
(``tg.wait_updates_consumed``), then sends ``/help`` from a dedicated probe user
(``BARRIER_USER_ID`` plus a counter) and waits for the bot's reply to that user.  aiogram dispatches
updates in order, so once the probe is answered the bot has dispatched everything
queued before it.  With aiogram's default ``handle_as_tasks=True`` handlers run
concurrently, so a *much slower* handler for an earlier update could in theory still
be running; for quick handlers (DB + a reply) the barrier is reliable.  The probe
user is a real user to the bot (it may be stored in its DB): pick another
``user_id``/``text`` if a test counts users.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import signal
import sqlite3
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import asyncpg
from fake_telegram import ApiCall, FakeTelegram

from storage.sql import postgres

BARRIER_USER_ID = 990_000_001
ENV_PREFIXES_TO_DROP = ("BOT_", "TELEGRAM_")
# Settings the bot reads (bot/config.py): a developer's shell must not leak into tests.
CONFIG_VARS_TO_DROP = frozenset(
    {
        "DATABASE_PATH",
        "DATABASE_URL",
        "FEEDS_FILE",
        "TOPICS_FILE",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "ADMIN_IDS",
        "CHANNEL_IDS",
        "POLL_INTERVAL_SECONDS",
        "SEND_RATE_PER_SECOND",
        "MAX_ITEM_AGE_HOURS",
        "TIMEZONE",
        "METRICS_PORT",
        "WEBHOOK_URL",
        "WEBHOOK_SECRET",
        "WEB_HOST",
        "WEB_PORT",
    }
)


# -------------------------------------------------------------------- buttons


def _markup(message: Mapping[str, Any]) -> dict[str, Any]:
    markup = message.get("reply_markup") or {}
    if isinstance(markup, str):
        markup = json.loads(markup)
    return markup if isinstance(markup, dict) else {}


def button_rows(message: Mapping[str, Any]) -> list[list[tuple[str, str | None]]]:
    """Inline keyboard as rows of (text, callback_data or None for URL buttons)."""
    return [
        [(button.get("text", ""), button.get("callback_data")) for button in row]
        for row in _markup(message).get("inline_keyboard", [])
    ]


def buttons(message: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """Flat list of (text, callback_data) of sendMessage params or a stored message."""
    return [button for row in button_rows(message) for button in row]


def find_button(message: Mapping[str, Any], text: str) -> tuple[str, str]:
    """The callback button whose text equals ``text``, else the only one containing it."""
    callbacks = [(t, d) for t, d in buttons(message) if d is not None]
    exact = [b for b in callbacks if b[0] == text]
    if exact:
        return exact[0]
    partial = [b for b in callbacks if text.lower() in b[0].lower()]
    if len(partial) == 1:
        return partial[0]
    problem = "ambiguous" if partial else "not found"
    raise AssertionError(
        f"button {text!r} {problem}; callback buttons: {[t for t, _ in callbacks]}; "
        f"all buttons: {buttons(message)}"
    )


# ------------------------------------------------------------------- database


def read_db(db_path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Read the bot's database beside the running bot (WAL allows a second reader)."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        return db.execute(sql, params).fetchall()


def read_postgres(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """The same on PostgreSQL, in the one SQL spelling (storage/sql.py). The test's own
    event loop is busy awaiting the bot, so the query runs on a loop of its own."""

    async def run() -> list[tuple]:
        connection = await asyncpg.connect(url)
        try:
            text, args = postgres(sql, params)
            return [tuple(row) for row in await connection.fetch(text, *args)]
        finally:
            await connection.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def query(bot: BotProcess, sql: str, params: tuple = ()) -> list[tuple]:
    if bot.database_url is not None:
        return read_postgres(bot.database_url, sql, params)
    return read_db(bot.db_path, sql, params)


# Written by the bot's own clock, not by any update: the start-up stats snapshot lands
# whenever the scheduler gets to it, maybe between two dumps of a test.
UNPROMPTED_TABLES = frozenset({"stats_snapshots"})


def table_dump(bot: BotProcess) -> dict[str, list[tuple]]:
    """Every row of every table that updates write, to compare before and after; barrier
    probe users left out."""
    if bot.database_url is not None:
        tables = query(bot, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    else:
        tables = query(
            bot, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    state = {}
    for (table,) in sorted(tables):
        if table in UNPROMPTED_TABLES:
            continue
        rows = query(bot, f'SELECT * FROM "{table}"')
        if table == "chats":
            rows = [row for row in rows if not BARRIER_USER_ID <= row[0] < BARRIER_USER_ID + 10**6]
        state[table] = sorted(rows, key=repr)
    return state


# -------------------------------------------------------------------- barrier


async def tg_barrier(
    tg: FakeTelegram,
    *,
    user_id: int | None = None,
    text: str = "/help",
    timeout: float = 10.0,
) -> None:
    """Prove the bot dispatched every update queued so far (see module docstring).

    Each probe comes from a new user id (BARRIER_USER_ID + a call counter) so that the
    bot's per-user flood control never throttles a test's many barriers."""
    await tg.wait_updates_consumed(timeout=timeout)
    mark = tg.mark()
    if user_id is None:
        user_id = BARRIER_USER_ID + mark
    tg.queue_update(tg.private_message(user_id, text, first_name="Barrier"))
    await tg.wait_for(
        "sendMessage",
        lambda call: call.params.get("chat_id") == user_id,
        timeout=timeout,
        after=mark,
    )


# ---------------------------------------------------------------- bot process


class BotProcess:
    """The real bot (``python -m bot``) in its own working directory.

    The working directory holds the SQLite DB, the feeds file and ``bot.log``
    (stdout+stderr).  ``start()`` again after ``stop()`` restarts with the same
    files, which is how restart/persistence tests work.
    """

    def __init__(
        self,
        tg: FakeTelegram,
        workdir: Path,
        *,
        env: Mapping[str, str | None] | None = None,
        args: Sequence[str] = (),
        feeds: str | None = None,
        launcher: str | None = None,
    ) -> None:
        self.tg = tg
        self.launcher = launcher  # tests/bot_launcher.py's socket; None: exec python
        self.database_url = (env or {}).get("DATABASE_URL")  # None: SQLite at db_path
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.workdir / "newsbot.sqlite3"
        self.feeds_path = self.workdir / "feeds.toml"
        self.log_path = self.workdir / "bot.log"
        self.args = list(args)
        self.env_overrides: dict[str, str | None] = dict(env or {})
        if feeds is not None or not self.feeds_path.exists():
            self.feeds_path.write_text(feeds or "", encoding="utf-8")
        self._proc: asyncio.subprocess.Process | LaunchedProcess | None = None
        self._starts = 0

    # ------------------------------------------------------------ environment

    def build_env(self) -> dict[str, str]:
        """os.environ without stale bot config, plus the test's settings.

        An override whose value is None removes that variable."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(ENV_PREFIXES_TO_DROP) and key not in CONFIG_VARS_TO_DROP
        }
        env.update(
            {
                "BOT_TOKEN": self.tg.token,
                "TELEGRAM_API_BASE": self.tg.base_url,
                "DATABASE_PATH": str(self.db_path),
                "FEEDS_FILE": str(self.feeds_path),
                "LOG_LEVEL": "DEBUG",
                "PYTHONUNBUFFERED": "1",
            }
        )
        for key, value in self.env_overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = str(value)
        return env

    # -------------------------------------------------------------- lifecycle

    def _open_log(self) -> IO[bytes]:
        handle = self.log_path.open("ab")
        self._starts += 1
        handle.write(f"===== harness: start #{self._starts} =====\n".encode())
        handle.flush()
        return handle

    async def start(self, wait_ready: bool = True, timeout: float = 30.0) -> None:
        """Start the bot; with wait_ready, return once it long-polls the fake."""
        if self.running:
            raise RuntimeError("bot process is already running")
        poll_mark = self.tg.poll_count
        self._open_log().close()
        self._proc = await self._spawn()
        if wait_ready:
            await self.wait_ready(poll_mark, timeout=timeout)

    async def _spawn(self) -> asyncio.subprocess.Process | LaunchedProcess:
        if self.launcher is not None:
            return await LaunchedProcess.launch(
                self.launcher, self.args, self.workdir, self.build_env(), self.log_path
            )
        with self.log_path.open("ab") as log_handle:
            return await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                *self.args,
                cwd=self.workdir,
                env=self.build_env(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_handle,
                stderr=asyncio.subprocess.STDOUT,
            )

    async def wait_ready(self, poll_mark: int, timeout: float = 30.0) -> None:
        """Wait for a getUpdates received after ``poll_mark``; fail fast on early exit."""
        proc = self._require_proc()
        ready = asyncio.ensure_future(self.tg.wait_poll(after=poll_mark, timeout=timeout))
        exited = asyncio.ensure_future(proc.wait())
        try:
            await asyncio.wait({ready, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (ready, exited):
                if not task.done():
                    task.cancel()
            await asyncio.gather(ready, exited, return_exceptions=True)
        if not ready.cancelled() and ready.exception() is None:
            return
        if proc.returncode is not None:
            raise AssertionError(
                f"bot exited with code {proc.returncode} before polling.\n{self.log_tail()}"
            )
        raise AssertionError(
            f"bot did not call getUpdates within {timeout}s.\n"
            f"{self.tg.summary()}\n{self.log_tail()}"
        )

    async def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send ``sig`` and wait for exit; kill and fail if it does not exit in time."""
        proc = self._require_proc()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                await self.kill()
                raise AssertionError(
                    f"bot did not exit within {timeout}s after {sig.name}; killed it.\n"
                    f"{self.log_tail()}"
                ) from None
        return self._returncode()

    async def kill(self) -> int:
        """SIGKILL (a crash as far as the bot is concerned)."""
        proc = self._require_proc()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        return self._returncode()

    async def wait_exit(self, timeout: float = 15.0) -> int:
        """Wait for the bot to exit on its own; AssertionError with its log on timeout."""
        proc = self._require_proc()
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"bot still running after {timeout}s.\n{self.log_tail()}"
            ) from None
        return self._returncode()

    # ---------------------------------------------------------------- state

    def _require_proc(self) -> asyncio.subprocess.Process | LaunchedProcess:
        if self._proc is None:
            raise RuntimeError("bot process was never started")
        return self._proc

    def _returncode(self) -> int:
        code = self._require_proc().returncode
        assert code is not None
        return code

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.returncode

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def log_text(self) -> str:
        """Everything the bot printed (all starts), decoded leniently."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, lines: int = 80) -> str:
        tail = self.log_text().splitlines()[-lines:]
        return f"--- bot log tail ({self.log_path}) ---\n" + "\n".join(tail)


# --------------------------------------------------------------------- reader


class Reader:
    """A Telegram user in a private chat with the bot.

    Each ``expect_*`` keeps its own cursor into ``tg.calls``, so successive calls
    return successive messages/edits/answers.  Only successful calls are returned
    unless ``ok_only=False`` (a failed sendMessage never reached the user).
    """

    def __init__(
        self,
        tg: FakeTelegram,
        user_id: int,
        language_code: str | None = "en",
        first_name: str = "Ann",
        username: str | None = None,
    ) -> None:
        self.tg = tg
        self.user_id = user_id
        self.chat_id = user_id
        self.language_code = language_code
        self.first_name = first_name
        self.username = username
        tg.register_user(
            user_id, first_name=first_name, language_code=language_code, username=username
        )
        start = tg.mark()
        self._cursors = {"message": start, "edit": start, "answer": start, "document": start}
        self._query_ids: set[str] = set()

    def __repr__(self) -> str:
        return f"Reader(user_id={self.user_id}, language_code={self.language_code!r})"

    # ----------------------------------------------------------------- input

    async def send(self, text: str) -> int:
        """Queue a private text message from this user; returns its update_id."""
        update = self.tg.private_message(
            self.user_id,
            text,
            language_code=self.language_code,
            first_name=self.first_name,
            username=self.username,
        )
        return self.tg.queue_update(update)

    async def ask(
        self, text: str, *, timeout: float = 10.0, contains: str | None = None
    ) -> dict[str, Any]:
        """Send ``text`` and return the first message sent to this chat after it.

        Messages that arrived before this send are skipped (they cannot be the reply)."""
        self._cursors["message"] = max(self._cursors["message"], self.tg.mark())
        await self.send(text)
        return await self.expect_message(timeout=timeout, contains=contains)

    async def press(
        self,
        message: Mapping[str, Any] | ApiCall,
        button_text: str | None = None,
        data: str | None = None,
    ) -> str:
        """Press an inline button of a bot message; returns the callback query id.

        ``message`` may be sendMessage params (from expect_message), an ApiCall, or a
        stored message; the *current* stored message is used (edits applied), so the
        message_id and keyboard are what the user would see."""
        stored = self.stored_message(message)
        if data is None:
            if button_text is None:
                raise ValueError("press() needs button_text or data")
            _, found = find_button(stored, button_text)
            data = found
        update = self.tg.callback_query(
            self.user_id, stored, data, language_code=self.language_code
        )
        query_id = update["callback_query"]["id"]
        self._query_ids.add(query_id)
        self.tg.queue_update(update)
        return query_id

    def stored_message(self, message: Mapping[str, Any] | ApiCall) -> dict[str, Any]:
        """Resolve params/ApiCall/stored message to the fake's current stored message."""
        tg = self.tg
        # Duck-typed: the module may be imported under two names (tests.x and x).
        call = message if hasattr(message, "response") else None
        if call is None:
            call = next((c for c in reversed(tg.calls) if c.params is message), None)
        if call is not None:
            if not (call.ok and isinstance(call.result, dict)):
                raise AssertionError(f"{call.brief()} did not leave a message to press")
            message = call.result
        assert isinstance(message, Mapping)
        chat_id = message.get("chat", {}).get("id") if "chat" in message else None
        chat_id = chat_id if chat_id is not None else message.get("chat_id", self.chat_id)
        if "message_id" in message:
            found = tg.get_message(chat_id, message["message_id"])
            if found is None:
                raise AssertionError(
                    f"message {message['message_id']} in chat {chat_id} is gone (deleted?)"
                )
            return found
        text = message.get("text")
        for stored in reversed(tg.messages.get(chat_id, [])):
            if text is None or stored.get("text") == text:
                return stored
        raise AssertionError(f"no stored bot message in chat {chat_id} matches {message!r}")

    # ---------------------------------------------------------------- output

    async def _expect(
        self,
        cursor: str,
        methods: tuple[str, ...],
        predicate: Callable[[ApiCall], bool],
        timeout: float,
        ok_only: bool,
    ) -> ApiCall:
        def matches(call: ApiCall) -> bool:
            return (not ok_only or call.ok) and predicate(call)

        call = await self.tg.wait_for(
            methods, matches, timeout=timeout, after=self._cursors[cursor]
        )
        self._cursors[cursor] = call.index + 1
        return call

    def _to_me(self, call: ApiCall) -> bool:
        return call.params.get("chat_id") == self.chat_id

    async def expect_message(
        self, timeout: float = 10.0, contains: str | None = None, *, ok_only: bool = True
    ) -> dict[str, Any]:
        """Params of the next sendMessage to this chat (containing ``contains``, if given;
        non-matching messages in between are skipped)."""

        def wanted(call: ApiCall) -> bool:
            return self._to_me(call) and (
                contains is None or contains in str(call.params.get("text", ""))
            )

        call = await self._expect("message", ("sendMessage",), wanted, timeout, ok_only)
        return call.params

    async def expect_message_call(self, timeout: float = 10.0, *, ok_only: bool = True) -> ApiCall:
        """Like expect_message but the whole ApiCall (response has the message_id)."""
        return await self._expect("message", ("sendMessage",), self._to_me, timeout, ok_only)

    async def expect_edit(self, timeout: float = 10.0, *, ok_only: bool = True) -> ApiCall:
        """Next editMessageText/editMessageReplyMarkup/editMessageCaption in this chat."""
        methods = ("editMessageText", "editMessageReplyMarkup", "editMessageCaption")
        return await self._expect("edit", methods, self._to_me, timeout, ok_only)

    async def expect_callback_answer(
        self, timeout: float = 10.0, *, ok_only: bool = True
    ) -> ApiCall:
        """Next answerCallbackQuery for a query this reader made."""

        def mine(call: ApiCall) -> bool:
            return str(call.params.get("callback_query_id")) in self._query_ids

        return await self._expect("answer", ("answerCallbackQuery",), mine, timeout, ok_only)

    async def expect_document(self, timeout: float = 10.0, *, ok_only: bool = True) -> ApiCall:
        """Next sendDocument to this chat (params["document"] is an UploadedFile)."""
        return await self._expect("document", ("sendDocument",), self._to_me, timeout, ok_only)

    # ------------------------------------------------------------- silence

    async def barrier(self, **kwargs: Any) -> None:
        """See tg_barrier."""
        await tg_barrier(self.tg, **kwargs)

    async def assert_silent(
        self,
        since: int,
        *,
        barrier: bool = True,
        methods: Sequence[str] = ("sendMessage", "sendDocument", "sendPhoto"),
    ) -> None:
        """Assert nothing was delivered to this chat after mark ``since``.

        With ``barrier`` (default) first proves the bot processed earlier updates."""
        if barrier:
            await tg_barrier(self.tg)
        delivered = [
            call
            for call in self.tg.calls[since:]
            if call.method in methods and call.ok and self._to_me(call)
        ]
        assert not delivered, f"{self} expected silence but got:\n" + "\n".join(
            call.brief() for call in delivered
        )

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Current state of the bot's messages in this chat (after edits/deletes)."""
        return self.tg.messages.get(self.chat_id, [])

    @property
    def last_message(self) -> dict[str, Any] | None:
        return self.tg.last_message(self.chat_id)


# ------------------------------------------------------------ forked launch


class LaunchedProcess:
    """A bot forked by tests/bot_launcher.py, with the part of
    `asyncio.subprocess.Process` the harness uses (pid, returncode, wait, signals)."""

    def __init__(
        self, pid: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._reader = reader
        self._writer = writer
        self._exited: asyncio.Future[int] | None = None

    @classmethod
    async def launch(
        cls, socket_path: str, args: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path
    ) -> LaunchedProcess:
        reader, writer = await asyncio.open_unix_connection(socket_path)
        request = {"args": list(args), "cwd": str(cwd), "env": dict(env), "log": str(log)}
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        answer = json.loads(await reader.readline())
        return cls(int(answer["pid"]), reader, writer)

    async def wait(self) -> int:
        if self.returncode is None:
            if self._exited is None:
                self._exited = asyncio.ensure_future(self._read_exit())
            self.returncode = await asyncio.shield(self._exited)
        return self.returncode

    async def _read_exit(self) -> int:
        line = await self._reader.readline()
        self._writer.close()
        if not line:
            raise RuntimeError("the bot launcher went away before the bot exited")
        return int(json.loads(line)["returncode"])

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

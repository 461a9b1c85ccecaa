# ruff: noqa: ASYNC109 - the test API takes timeout= like asyncio.wait_for does.
"""Shared fixtures: the fake Telegram server, the bot subprocess and readers.

Import helpers in tests as ``from harness import Reader`` / ``from fake_telegram
import FakeTelegram`` (tests/ is on sys.path through this conftest), never as
``tests.harness``: two import names would mean two copies of every class.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from fake_telegram import FakeTelegram
from feed_server import FeedServer
from harness import BotProcess, Reader
from pg_server import PostgresServer, Unavailable, running_server

BOT_PROCESSES = pytest.StashKey[list[BotProcess]]()
FAKE_TELEGRAM = pytest.StashKey[FakeTelegram]()

StartBot = Callable[..., Awaitable[BotProcess]]
MakeReader = Callable[..., Reader]


# The longest tests (25 s to over 2 min each, mostly waiting on restarts and timers; none
# of them measures a rate), by node id prefix. Collected first, xdist starts them at once
# and they overlap the short ones, instead of one of them running alone at the end.
LONG_TESTS = (
    "tests/e2e/test_fault_kill.py",
    "tests/e2e/test_reader_schedule.py::test_a_restart_across_the_digest_time",
    "tests/e2e/test_fault_telegram.py::test_server_errors_for_30_seconds",
    "tests/e2e/test_fault_telegram.py::test_one_send_hangs_for_60_seconds",
    "tests/e2e/test_fault_feeds.py",
    "tests/e2e/test_fault_db_locked.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long tests first; the order is otherwise kept (the sort is stable)."""
    items.sort(key=lambda item: not item.nodeid.startswith(LONG_TESTS))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[Any]:
    """On failure, attach the fake's recent calls and every bot's log tail."""
    report = yield
    if report.failed:
        tg = item.stash.get(FAKE_TELEGRAM, None)
        if tg is not None:
            report.sections.append(("fake telegram", tg.summary()))
        for index, proc in enumerate(item.stash.get(BOT_PROCESSES, []), start=1):
            report.sections.append((f"bot #{index} log", proc.log_tail(120)))
    return report


@pytest_asyncio.fixture
async def tg(request: pytest.FixtureRequest) -> AsyncIterator[FakeTelegram]:
    """A started fake Bot API server; fails the test if the fake itself crashed."""
    fake = FakeTelegram()
    await fake.start()
    request.node.stash[FAKE_TELEGRAM] = fake
    try:
        yield fake
    finally:
        await fake.stop()
    assert not fake.errors, "fake Telegram raised internally:\n" + "\n".join(fake.errors)


@pytest.fixture(scope="session")
def bot_launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    """tests/bot_launcher.py for this test worker: its socket, or None with BOT_LAUNCH=exec.

    Started on first use (about 10 s of imports), stopped at the end of the session."""
    if os.environ.get("BOT_LAUNCH") == "exec":
        yield None
        return
    socket_path = str(tmp_path_factory.mktemp("launcher") / "launcher.sock")
    launcher = subprocess.Popen(
        [sys.executable, "-u", str(Path(__file__).with_name("bot_launcher.py")), socket_path],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert launcher.stdout is not None
        if launcher.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the bot launcher failed to start: exit {launcher.wait()}")
        yield socket_path
    finally:
        launcher.terminate()
        launcher.wait(timeout=10)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """This worker's throwaway PostgreSQL server, started on first use (about 2 s).

    Without the server binaries the PostgreSQL tests are skipped with one line; under CI
    (CI=true) they must run, so there the missing binaries fail them."""
    try:
        server_context = running_server()
        server = server_context.__enter__()
    except Unavailable as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PostgreSQL tests: {error}")
        pytest.skip(f"PostgreSQL tests skipped: {error}")
    try:
        yield server
    finally:
        server_context.__exit__(None, None, None)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """`sqlite` unless the test is parametrized over BACKENDS (indirect)."""
    return str(getattr(request, "param", "sqlite"))


@pytest_asyncio.fixture
async def database_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    """A new empty PostgreSQL database for a `postgresql` test; None on SQLite."""
    if backend != "postgresql":
        return None
    server: PostgresServer = request.getfixturevalue("pg_server")
    return await server.create_database()


@pytest.fixture
def bot_env(database_url: str | None) -> dict[str, str | None]:
    """Extra environment for every bot started by ``start_bot`` (None unsets a var).

    Fill it in the test (or in a module-level fixture override) before starting. A
    `postgresql` test's bots share its database (DATABASE_URL), restarts included."""
    return {} if database_url is None else {"DATABASE_URL": database_url}


@pytest_asyncio.fixture
async def start_bot(
    tg: FakeTelegram,
    bot_env: dict[str, str | None],
    tmp_path: Path,
    request: pytest.FixtureRequest,
    bot_launcher: str | None,
) -> AsyncIterator[StartBot]:
    """Factory: ``await start_bot(env=..., args=..., feeds=..., workdir=...)``.

    Each call gets its own working directory under tmp_path unless ``workdir`` is
    given (pass ``bot.workdir`` to restart on the same DB).  All processes are
    stopped (SIGTERM, then SIGKILL) at teardown."""
    processes: list[BotProcess] = []
    request.node.stash[BOT_PROCESSES] = processes
    numbers = itertools.count(1)

    async def start(
        *,
        env: Mapping[str, str | None] | None = None,
        args: Sequence[str] = (),
        feeds: str | None = None,
        workdir: Path | None = None,
        wait_ready: bool = True,
        timeout: float = 30.0,
    ) -> BotProcess:
        directory = workdir or tmp_path / f"bot{next(numbers)}"
        proc = BotProcess(
            tg,
            directory,
            env={**bot_env, **(env or {})},
            args=args,
            feeds=feeds,
            launcher=bot_launcher,
        )
        processes.append(proc)
        await proc.start(wait_ready=wait_ready, timeout=timeout)
        return proc

    yield start

    for proc in processes:
        if not proc.running:
            continue
        try:
            await proc.stop(timeout=10)
        except AssertionError as error:
            warnings.warn(f"bot needed SIGKILL at teardown: {error}", stacklevel=1)


@pytest.fixture
def reader(tg: FakeTelegram) -> MakeReader:
    """Factory: ``reader()`` -> a new Reader with a fresh user id (1001, 1002, ...)."""
    user_ids = itertools.count(1001)

    def make(
        user_id: int | None = None,
        *,
        language_code: str | None = "en",
        first_name: str = "Ann",
        username: str | None = None,
    ) -> Reader:
        return Reader(
            tg,
            user_id if user_id is not None else next(user_ids),
            language_code=language_code,
            first_name=first_name,
            username=username,
        )

    return make


@pytest_asyncio.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    """A local HTTP server for feeds (tests/feed_server.py)."""
    async with FeedServer() as server:
        yield server

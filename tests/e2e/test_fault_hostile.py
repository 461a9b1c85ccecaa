"""Fault suite, hostile readers (issue 6, SPEC 4.10): over-long messages, every reader
command with malformed arguments, forged and replayed callback data, a flood from one user,
SQL, HTML and invisible characters in keywords.

What must hold each time: a short, clear reply that Telegram accepts (the fake validates
the HTML and the length of everything sent), no handler error, and no change to the
database beyond what the command is allowed to make.
"""

from __future__ import annotations

import asyncio
import re
import time
import unicodedata

from harness import buttons, query, table_dump

from bot.i18n import Catalogue
from bot.ui.views import COMMANDS

EN = Catalogue.load().translator("en")
STALE = EN.plain("errors.stale_button")
THROTTLED = "Too many messages at once"
INTERNAL = ("Something went wrong", "что-то сломалось")
MAX_MESSAGE = 4096
INVISIBLE = "\u200b\u200d\ufeff\u202e"


# ------------------------------------------------------------------- helpers


def assert_clean(tg, bot) -> None:
    """Every call the bot made was accepted, no reply was the internal-error one, and no
    handler failed (the error router logs `update_id=N failed`)."""
    refused = [c.brief() for c in tg.calls if not c.ok and c.method != "getUpdates"]
    assert not refused, "Telegram refused:\n" + "\n".join(refused)
    internal = [
        c.brief()
        for c in tg.calls
        if any(marker in str(c.params.get("text", "")) for marker in INTERNAL)
    ]
    assert not internal, "internal-error replies:\n" + "\n".join(internal)
    failures = re.findall(r"update_id=\d+ failed.*", bot.log_text())
    assert not failures, "\n".join(failures)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def filled(prefix: str, char: str = "ж") -> str:
    """`prefix` followed by `char` up to Telegram's 4096-character limit."""
    return prefix + char * (MAX_MESSAGE - len(prefix))


# ------------------------------------------------------------- long messages


async def test_4096_character_messages_get_short_replies(start_bot, reader, tg):
    bot = await start_bot()
    cases = {
        filled(""): "I understand commands",
        filled("/subscribe "): "at most 64 characters long; yours has 4085",
        filled("/latest "): "at most 64 characters long; yours has 4088",
        filled("/tz "): "don't know the time zone",
        filled("/", "z"): "I don't know the command /zzzz",
        filled("/lang "): "",
        filled("/digest "): "",
    }
    for text, expected in cases.items():
        assert len(text) == MAX_MESSAGE
        ann = reader()
        await ann.ask("/start")
        before = table_dump(bot)
        reply = await ann.ask(text)
        assert expected in reply["text"], text[:20]
        assert utf16_len(reply["text"]) < 700, text[:20]
        assert table_dump(bot) == before, text[:20]
    assert_clean(tg, bot)


# ------------------------------------------------ every command, bad arguments

JUNK = ["   ", INVISIBLE, "🙃⁉️…", filled("")[:3000], "\x00\x01\x7f"]
MALFORMED = {
    "subscribe": [*JUNK, "a b c d e f g", "source:", "source:no_such_feed", "x" * 65],
    "unsubscribe": [*JUNK, "never-subscribed", "source:ghost", "x" * 65],
    "latest": [*JUNK, "source:ghost", "x" * 65],
    "digest": [
        *JUNK,
        "25:00",
        "-1",
        "99999999999999999999:00",
        "08:00 extra",
        "8:61",
        "08:00:00",
        "nan",
        "1e9",
    ],
    "quiet": [*JUNK, "23:00-23:00", "23:00", "a-b", "23:00-08:00-09:00", "-", "24:00-08:00"],
    "tz": [*JUNK, "../../../etc/passwd", "Europe/Moscow\x00", "UTC+99", "Europe/Moscow extra"],
    "lang": [*JUNK, "fr", "ru en", "1", "-1", "рус"],
    "previews": [*JUNK, "maybe", "on off", "1", "ON\x00", "вкл"],
}
# Commands without arguments ignore whatever follows them.
EXTRA = ["extra words", "99999999999999999999999", INVISIBLE, filled("")[:3000]]


def test_malformed_arguments_cover_every_reader_command():
    """A new reader command must say here how it treats junk."""
    takes_args = set(MALFORMED)
    assert set(COMMANDS) - takes_args == {"start", "topics", "list", "pause", "resume", "help"}


async def test_every_reader_command_with_malformed_arguments_changes_nothing(start_bot, reader, tg):
    bot = await start_bot()
    for command, arguments in MALFORMED.items():
        for argument in ["", *arguments]:
            ann = reader()
            await ann.ask("/start")
            before = table_dump(bot)
            text = f"/{command} {argument}".rstrip()
            reply = await ann.ask(text)
            assert utf16_len(reply["text"]) < 1500, text[:40]
            assert table_dump(bot) == before, f"{text[:40]!r} changed the database"
    assert_clean(tg, bot)


async def test_commands_without_arguments_ignore_extra_ones(start_bot, reader, tg):
    bot = await start_bot()
    columns = "language, role, paused, active, timezone, digest_time, quiet_start, quiet_end"
    for command in ("start", "topics", "list", "pause", "resume", "help"):
        bare = reader()
        expected = await bare.ask(f"/{command}")
        (want,) = query(bot, f"SELECT {columns} FROM chats WHERE chat_id = ?", (bare.chat_id,))
        for extra in EXTRA:
            ann = reader()
            reply = await ann.ask(f"/{command} {extra}")
            assert reply["text"] == expected["text"], (command, extra[:20])
            assert buttons(reply) == buttons(expected)
            got = query(bot, f"SELECT {columns} FROM chats WHERE chat_id = ?", (ann.chat_id,))
            assert got == [want], (command, extra[:20])
    assert query(bot, "SELECT count(*) FROM subscriptions") == [(0,)]
    assert_clean(tg, bot)


# ------------------------------------------------------------ forged buttons

FORGED = [
    "unsub:-1",
    "unsub:0",
    "unsub:99999999999999999999999",
    "unsub:-99999999999999999999999",
    "unsub:1:2",
    "unsub",
    "unsub:",
    "unsub:1e3",
    "topic:china:extra",
    "topic:" + "x" * 58,
    "topic:../china",
    "lang:ru:en",
    "lang:",
    "lang:RU",
    "brk:1:1",
    "brk:-1:0",
    "brk:99999999999999999999:1",
    "brk:1",
    "brk:1:maybe",
    "sched:",
    "sched:nope",
    "sched:digest:x",
    "digest:2500",
    "digest:9999",
    "digest:",
    "digest:0800:x",
    "digest:-100",
    "digest:0805",
    "quiet:0800-0800",
    "quiet:junk",
    "quiet:",
    "quiet:2300-0800-0900",
    "quiet:2330-0815",
    "addf:",
    "addf:0:abcdef12",
    "addf:100:abcdef12",
    "addf:1:abc",
    "addf:1:abcdef123",
    "addf:x:abcdef12",
    INVISIBLE,
    "😀" * 16,
    ":",
    "::::",
]


async def test_forged_callback_data_for_every_prefix_is_stale_and_changes_nothing(
    start_bot, reader, tg
):
    bot = await start_bot()
    for data in FORGED:
        assert len(data.encode()) <= 64
        ann = reader()
        await ann.ask("/subscribe Куба")
        keyboard = await ann.ask("/topics")
        before = table_dump(bot)
        mark = tg.mark()
        await ann.press(keyboard, data=data)
        answer = await ann.expect_callback_answer()
        assert answer.params.get("text") == STALE, data
        await ann.barrier()
        touched = [
            c.brief()
            for c in tg.calls[mark:]
            if c.params.get("chat_id") == ann.chat_id and c.method != "answerCallbackQuery"
        ]
        assert not touched, f"{data!r}: {touched}"
        assert table_dump(bot) == before, f"{data!r} changed the database"
    assert_clean(tg, bot)


async def test_replayed_remove_button_cannot_remove_a_newer_subscription(start_bot, reader, tg):
    """SQLite gives a new row the id of a deleted one: the old "❌ Куба" button, pressed
    again, removed "Дзержинск" (the subscription that took its id)."""
    bot = await start_bot()
    ann = reader()
    await ann.ask("/subscribe Куба")
    menu = await ann.ask("/unsubscribe")
    ((_, old),) = buttons(menu)
    await ann.press(menu, data=old)
    assert "Removed" in (await ann.expect_callback_answer()).params["text"]
    await ann.ask("/subscribe Дзержинск")
    before = table_dump(bot)
    for _ in range(2):  # pressed again, twice
        await ann.press(menu, data=old)
        assert (await ann.expect_callback_answer()).params["text"] == STALE
    assert table_dump(bot) == before
    assert query(bot, "SELECT value FROM subscriptions WHERE chat_id = ?", (ann.chat_id,)) == [
        ("Дзержинск",)
    ]

    # A double tap on a live button removes once and says so once.
    fresh = await ann.ask("/unsubscribe")
    ((_, data),) = buttons(fresh)
    await ann.press(fresh, data=data)
    await ann.press(fresh, data=data)
    answers = [(await ann.expect_callback_answer()).params["text"] for _ in range(2)]
    assert answers.count(STALE) == 1, answers
    assert query(bot, "SELECT count(*) FROM subscriptions") == [(0,)]
    assert_clean(tg, bot)


# ---------------------------------------------------------------------- flood

FLOOD_RATE = 100  # updates a second
FLOOD_SECONDS = 3.0


async def test_flood_from_one_user_is_dropped_others_are_answered_promptly(start_bot, reader, tg):
    bot = await start_bot()
    flooder, other = reader(), reader()
    await other.ask("/start")
    mark = tg.mark()
    started = time.monotonic()

    async def flood() -> int:
        sent = 0
        while (elapsed := time.monotonic() - started) < FLOOD_SECONDS:
            due = int(elapsed * FLOOD_RATE) + 1
            while sent < due:
                await flooder.send(f"/subscribe flood{sent}")
                sent += 1
            await asyncio.sleep(1 / FLOOD_RATE)
        return sent

    flooding = asyncio.create_task(flood())
    delays = []
    while not flooding.done():
        asked = time.monotonic()
        reply = await other.ask("/help", timeout=10)
        delays.append(time.monotonic() - asked)
        assert "What I can do" in reply["text"]
        await asyncio.wait({flooding}, timeout=0.4)  # pacing of the other reader's questions
    sent = await flooding
    elapsed = time.monotonic() - started
    await other.barrier(timeout=20)

    assert sent >= FLOOD_RATE * FLOOD_SECONDS * 0.9
    assert len(delays) >= 4
    assert max(delays) < 5.0, delays
    to_flooder = [
        c.params["text"]
        for c in tg.calls[mark:]
        if c.method == "sendMessage" and c.params.get("chat_id") == flooder.chat_id
    ]
    notices = [text for text in to_flooder if THROTTLED in text]
    assert len(notices) == 1, f"{len(notices)} slow-down notices for one flood"
    served = [text for text in to_flooder if "Subscribed to the keyword" in text]
    # A burst of 10, then 2 a second: never the whole flood.
    assert len(served) <= 10 + 2 * elapsed + 2, len(served)
    assert len(to_flooder) == len(served) + 1
    stored = query(bot, "SELECT count(*) FROM subscriptions WHERE chat_id = ?", (flooder.chat_id,))
    assert stored == [(len(served),)]
    assert_clean(tg, bot)


# ----------------------------------------------------------- hostile keywords


def has_invisible(text: str) -> bool:
    """Format characters (zero-width, bidi) or control characters other than line breaks."""
    return any(
        unicodedata.category(ch) == "Cf" or (unicodedata.category(ch) == "Cc" and ch != "\n")
        for ch in text
    )


async def test_sql_html_and_invisible_characters_in_keywords(start_bot, reader, tg):
    bot = await start_bot()
    tables = query(bot, "SELECT name, sql FROM sqlite_master ORDER BY name")
    # Three readers: flood control allows ten messages at once.
    ann, bob, cid = reader(first_name="<script>&amp;\u202e"), reader(), reader()
    greeting = await ann.ask("/start")
    assert "&lt;script&gt;&amp;amp;" in greeting["text"]
    assert not has_invisible(greeting["text"])

    markup = {
        "'; DROP TABLE chats; --": "'; DROP TABLE chats; --",
        "Robert'); DELETE FROM subscriptions; --": "Robert'); DELETE FROM subscriptions; --",
        "<script>alert(1)</script>": "&lt;script&gt;alert(1)&lt;/script&gt;",
        "&amp; <b>bold</b>": "&amp;amp; &lt;b&gt;bold&lt;/b&gt;",
    }
    invisible = {
        "Ку\u200bба": "<b>Куба</b>",
        "\u202eабуК\u200d": "<b>абуК</b>",
        "\ufeffT-Hub": "<b>T-Hub</b>",
    }
    for person, keywords in ((ann, markup), (bob, invisible)):
        for keyword, shown in keywords.items():
            reply = await person.ask(f"/subscribe {keyword}")
            assert "Subscribed to the keyword" in reply["text"], keyword
            assert shown in reply["text"], keyword
    duplicate = await bob.ask("/subscribe \u200dКуба\ufeff")
    assert "already" in duplicate["text"]

    values = [v for (v,) in query(bot, "SELECT value FROM subscriptions ORDER BY value")]
    assert len(values) == len(markup) + len(invisible)
    assert not [v for v in values if has_invisible(v)], values
    assert "<script>alert(1)</script>" in values and "'; DROP TABLE chats; --" in values
    assert query(bot, "SELECT name, sql FROM sqlite_master ORDER BY name") == tables

    listing = await ann.ask("/list")
    assert "&lt;script&gt;" in listing["text"] and "&amp;amp;" in listing["text"]
    for person in (ann, bob):
        menu = await person.ask("/unsubscribe")
        labels = [text for text, _ in buttons(menu)]
        assert len(labels) in (len(markup), len(invisible))
        assert not [label for label in labels if has_invisible(label)]
    assert "❌ «<script>alert(1)</script>»" in [
        text for text, _ in buttons(await ann.ask("/unsubscribe"))
    ]
    for keyword in [*markup, *invisible]:
        await cid.ask(f"/latest {keyword}")  # a reply Telegram accepts (checked below)
    removed = await bob.ask("/unsubscribe К\u200bуба")  # not the same invisible spot
    assert "removed" in removed["text"].lower()
    assert len(query(bot, "SELECT value FROM subscriptions")) == len(values) - 1
    assert_clean(tg, bot)

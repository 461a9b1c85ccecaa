"""Hashtags in each chat's language (SPEC 7.5) and channels' settings (SPEC 8.4), through
the real bot, the fake Bot API and a local feed: one bot start for all the checks."""

from __future__ import annotations

import re

from delivery_helpers import publish, sends, start_primed, story, wait_delivered
from fake_telegram import parse_html
from harness import query

from bot.topics.taxonomy import default_topics_path, load_taxonomy

ADMIN = 900
CHANNEL_A = -1001000000101  # @agency_a, added with lang=en photos=off
CHANNEL_B = -1001000000102  # added without lang: Russian
CHINA = "Китайский автоконцерн откроет сборку в Нижегородской области"
SUMMARY = "Совместное предприятие с партнёрами из КНР локализует производство."


def hashtags(text: str) -> list[str]:
    return re.findall(r"#\w+", text)


async def deliver(tg, bot, feed_server, chats, *items):
    """Publish, wait for a post in every chat, and return each chat's text and the
    topics of the newest article."""
    mark = tg.mark()
    publish(feed_server, *items)
    await wait_delivered(tg, chats, after=mark)
    texts = {c.params["chat_id"]: c.params["text"] for c in sends(tg, after=mark) if c.ok}
    [(topics,)] = query(bot, "SELECT topics FROM articles ORDER BY article_id DESC LIMIT 1")
    return texts, topics.split()


async def test_posts_carry_each_chats_hashtags_and_channel_set_changes_them(
    tg, start_bot, feed_server, reader, tmp_path
):
    taxonomy = load_taxonomy(default_topics_path())

    def tags(topics, language):
        return [f"#{taxonomy.hashtag(topic, language)}" for topic in topics]

    tg.register_chat(CHANNEL_A, "channel", title="Agency A", username="agency_a")
    tg.register_chat(CHANNEL_B, "channel", title="Agency B")
    for chat_id in (CHANNEL_A, CHANNEL_B):
        tg.set_member(chat_id, tg.bot_id, "administrator")
    env = {"POLL_INTERVAL_SECONDS": "1", "ADMIN_IDS": str(ADMIN)}
    bot = await start_primed(start_bot, feed_server, tmp_path / "bot", env)
    admin = reader(ADMIN)
    added = await admin.ask("/channel add @agency_a china lang=en photos=off")
    assert "Posting to @agency_a: #china; language: en, photos: off." in added["text"]
    added = await admin.ask(f"/channel add {CHANNEL_B} #Китай")  # a post's tag names it too
    assert "#china; language: ru, photos: on." in added["text"]
    ivan, ann = reader(language_code="ru"), reader(language_code="en")
    for person in (ivan, ann):
        await person.ask("/subscribe china")

    first = story(1, CHINA, SUMMARY)
    chats = [CHANNEL_A, CHANNEL_B, ivan.chat_id, ann.chat_id]
    texts, topics = await deliver(tg, bot, feed_server, chats, first)
    assert "china" in topics
    assert hashtags(texts[ivan.chat_id]) == tags(topics, "ru")
    assert hashtags(texts[ann.chat_id]) == tags(topics, "en")
    assert hashtags(texts[CHANNEL_A]) == tags(topics, "en")
    assert hashtags(texts[CHANNEL_B]) == tags(topics, "ru")
    assert "#Китай" in texts[ivan.chat_id] and "#China" in texts[CHANNEL_A]

    # A line with anything wrong in it changes nothing and says how to write it.
    settings = "SELECT chat_id, language, photos FROM chats WHERE target = 1 ORDER BY chat_id DESC"
    before = query(bot, settings)
    assert before == [(CHANNEL_A, "en", 0), (CHANNEL_B, "ru", 1)]
    for line, reply in [
        ("/channel set @agency_a photos off colour=red", "Not understood: colour=red"),
        ("/channel set @agency_a photos", "Not understood: photos …"),
        ("/channel set @agency_a photos off lang=de", "Unknown language de"),
        ("/channel set @agency_a", "Usage: /channel set ID|@name photos on|off"),
        ("/channel set @nobody photos off", "No channel @nobody"),
        ("/channel set", "Usage: /channel set"),
        ("/channel add @agency_a china lang=de", "Unknown language de"),
    ]:
        answer, _ = parse_html((await admin.ask(line))["text"])
        assert reply in answer, (line, answer)
    assert query(bot, settings) == before

    done = await admin.ask("/channel set @agency_a photos off lang=ru")
    assert done["text"] == "@agency_a now: language: ru, photos: off."
    done = await admin.ask(f"/channel set {CHANNEL_B} lang=en")
    assert done["text"] == "Agency B now: language: en, photos: on."
    listing = (await admin.ask("/channels"))["text"]
    lines = {line.split()[1]: line for line in listing.splitlines() if line.startswith("•")}
    assert lines["@agency_a"].endswith("#china; language: ru, photos: off")
    assert lines["Agency"].endswith("#china; language: en, photos: on")  # Agency B

    second = story(2, "Китай закупит станки нижегородского завода", SUMMARY)
    texts, topics = await deliver(tg, bot, feed_server, [CHANNEL_A, CHANNEL_B], second, first)
    assert hashtags(texts[CHANNEL_A]) == tags(topics, "ru")
    assert hashtags(texts[CHANNEL_B]) == tags(topics, "en")

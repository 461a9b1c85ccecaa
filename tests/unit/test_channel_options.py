"""`/channel set` and `/channel add ... lang=` (SPEC 8.4): parsing, and that a refused
line changes nothing."""

from __future__ import annotations

import pytest

from bot.admin import AdminService, ChannelOptions, Refused, parse_channel_options
from bot.i18n import Catalogue
from bot.ui.staff_views import channel_done_text, channels_text
from storage.channels import ChannelRepository
from storage.database import Database


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("photos off", ChannelOptions(photos=False)),
        ("photos on", ChannelOptions(photos=True)),
        ("photos=off", ChannelOptions(photos=False)),
        ("lang=en", ChannelOptions(language="en")),
        ("lang en", ChannelOptions(language="en")),
        ("language=ru", ChannelOptions(language="ru")),
        ("photos off lang=en", ChannelOptions(photos=False, language="en")),
        ("lang=EN Photos ON", ChannelOptions(photos=True, language="en")),
    ],
)
def test_options_are_understood(args: str, expected: ChannelOptions) -> None:
    assert parse_channel_options(args.split()) == expected


@pytest.mark.parametrize(
    ("args", "key", "reason"),
    [
        ("", "admin.channel_set_usage", ""),
        ("photos", "admin.channel_bad_option", "photos …"),
        ("photos lang=en", "admin.channel_bad_option", "photos …"),
        ("lang=", "admin.channel_bad_option", "lang= …"),
        ("photos maybe", "admin.channel_bad_option", "photos maybe"),
        ("photos off off", "admin.channel_bad_option", "off"),
        ("colour=red", "admin.channel_bad_option", "colour=red"),
        ("preview off", "admin.channel_bad_option", "preview"),
        ("photos on photos off", "admin.channel_bad_option", "photos"),
        ("lang=de", "admin.channel_bad_language", "de"),
        ("photos off lang=fr", "admin.channel_bad_language", "fr"),
    ],
)
def test_anything_else_is_refused_whole(args: str, key: str, reason: str) -> None:
    assert parse_channel_options(args.split()) == Refused(key, reason)


def service(db: Database) -> AdminService:
    channels = ChannelRepository(db)
    return AdminService(None, None, None, channels, None, None, None)  # type: ignore[arg-type]


async def test_set_changes_only_what_is_given_and_nothing_on_a_refusal(db: Database) -> None:
    channels = ChannelRepository(db)
    await channels.upsert(-1001, "channel", "Agency", "agency_news")
    admin = service(db)

    changed = await admin.configure_channel(["@agency_news", "photos", "off"])
    assert not isinstance(changed, Refused)
    assert (changed.photos, changed.language) == (False, "ru")
    changed = await admin.configure_channel(["-1001", "lang=en"])
    assert not isinstance(changed, Refused)
    assert (changed.photos, changed.language) == (False, "en")

    for args in (["-1001", "photos", "on", "lang=de"], ["-1001", "photos"], ["-1001"], []):
        assert isinstance(await admin.configure_channel(args), Refused)
    assert await admin.configure_channel(["@nobody", "photos", "on"]) == Refused(
        "admin.channel_unknown", "@nobody"
    )
    channel = await channels.get(-1001)
    assert channel is not None and (channel.photos, channel.language) == (False, "en")


async def test_replies_show_language_and_photos(db: Database) -> None:
    channels = ChannelRepository(db)
    await channels.upsert(-1001, "channel", "Agency", "agency_news", topics=["china"])
    channel = await channels.configure(-1001, photos=False, language="en")
    assert channel is not None
    catalogue = Catalogue.load()
    en, ru = catalogue.translator("en"), catalogue.translator("ru")
    assert "#china; language: en, photos: off" in channels_text(en, [channel])
    assert "#china; язык: en, фото: выкл." in channels_text(ru, [channel])
    assert channel_done_text(en, "set", channel) == "@agency_news now: language: en, photos: off."
    added = channel_done_text(en, "add", channel)
    assert added == "Posting to @agency_news: #china; language: en, photos: off."

"""What admins manage (SPEC 8.1, 8.3, 8.4, 8.6): editors, feeds, channels, OPML.

Telegram and HTTP calls (getChatMember, a feed's first fetch, an uploaded file) happen
here, so handlers only parse and render.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from bot.delivery.channels import ResolvedChat, can_post, resolve_chat
from bot.feeds.catalog import check_url, default_name
from bot.feeds.fetch import Fetcher, FetchError
from bot.feeds.parse import NotAFeed, ParsedFeed, ParseError
from bot.feeds.probe import Discovery, FoundFeed, parse_fetched
from bot.feeds.probe import discover as find_feeds
from bot.opml import MAX_BYTES, OpmlError, parse_opml, render_opml
from bot.readers import parse_switch
from bot.topics.taxonomy import Taxonomy
from storage.articles import ArticleRepository
from storage.channels import TARGET_KINDS, Channel, ChannelRepository
from storage.feeds import Feed, FeedRepository
from storage.outbox import OutboxRepository
from storage.roles import RoleRepository

_NAME_RE = re.compile(r"^[\w.-]{1,40}$")
CHANNEL_LANGUAGES = ("ru", "en")


@dataclass(frozen=True)
class Refused:
    """Why an admin's request changed nothing; `reason` is shown as is (escaped)."""

    key: str  # i18n key under admin.*
    reason: str = ""


@dataclass(frozen=True)
class FeedHealth:
    feed: Feed
    items: int


@dataclass(frozen=True)
class FeedAdded:
    feed: Feed
    items: int  # items in its first fetch (stored by the next poll, not pushed)


@dataclass(frozen=True)
class FeedChoice:
    """A page names several feeds: the admin picks one (`name` goes to the one picked)."""

    page_url: str
    feeds: tuple[FoundFeed, ...]
    name: str | None


@dataclass(frozen=True)
class NoFeedFound:
    page_url: str
    discovery: Discovery  # what was tried, and why each is not a feed


@dataclass(frozen=True)
class ImportReport:
    added: list[str]
    skipped: list[str]  # already there
    invalid: list[str]  # not http(s), or no host


@dataclass(frozen=True)
class ChannelOptions:
    """A channel's settings as an admin wrote them (SPEC 8.4); None keeps the current."""

    photos: bool | None = None
    language: str | None = None


def parse_channel_options(args: Sequence[str]) -> ChannelOptions | Refused:
    """`photos on|off` and `lang=ru|en` in any order (`photos=off` and `lang en` too).

    All or nothing: one word not understood refuses the whole line, so a typo never
    applies half of what the admin meant."""
    found: dict[str, str] = {}
    words = [word.casefold() for word in args]
    while words:
        word = words.pop(0)
        key, sep, value = word.partition("=")
        key = "lang" if key == "language" else key
        if key not in ("photos", "lang") or key in found:
            return Refused("admin.channel_bad_option", word)
        if not sep and words and "=" not in words[0]:
            value = words.pop(0)
        if not value:
            return Refused("admin.channel_bad_option", f"{word} …")
        found[key] = value
    if not found:
        return Refused("admin.channel_set_usage")
    photos = found.get("photos")
    switch = None if photos is None else parse_switch(photos)
    if photos is not None and switch is None:
        return Refused("admin.channel_bad_option", f"photos {photos}")
    language = found.get("lang")
    if language is not None and language not in CHANNEL_LANGUAGES:
        return Refused("admin.channel_bad_language", language)
    return ChannelOptions(switch, language)


class _TooBig(Exception):
    pass


class _CappedBuffer(io.BytesIO):
    """A download destination that refuses to grow past `cap` bytes, so a file whose
    size Telegram did not tell (`file_size` None) is never read whole."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self._cap = cap

    def write(self, data, /) -> int:  # data: any bytes-like object
        if self.tell() + len(data) > self._cap:
            raise _TooBig
        return super().write(data)


class AdminService:
    def __init__(
        self,
        roles: RoleRepository,
        feeds: FeedRepository,
        articles: ArticleRepository,
        channels: ChannelRepository,
        outbox: OutboxRepository,
        taxonomy: Taxonomy,
        fetcher: Fetcher,
    ) -> None:
        self._roles = roles
        self._feeds = feeds
        self._articles = articles
        self._channels = channels
        self._outbox = outbox
        self._taxonomy = taxonomy
        self._fetcher = fetcher

    # ------------------------------------------------------------- editors

    async def set_editor(self, ref: str | None, editor: bool) -> int | Refused:
        """The user id whose role is now as asked, or why not."""
        try:
            user_id = int((ref or "").strip())
        except ValueError:
            return Refused("admin.editor_usage")
        if user_id <= 0:
            return Refused("admin.editor_usage")
        changed = await self._roles.set_editor(user_id, editor)
        if not changed:
            return Refused("admin.editor_already" if editor else "admin.editor_not_editor")
        return user_id

    async def editors(self) -> list[int]:
        return await self._roles.editors()

    # --------------------------------------------------------------- feeds

    async def feed_health(self) -> list[FeedHealth]:
        counts = await self._articles.count_by_feed()
        return [FeedHealth(feed, counts.get(feed.feed_id, 0)) for feed in await self._feeds.list()]

    async def add_feed(
        self, url: str, name: str | None, *, discover: bool = True
    ) -> FeedAdded | FeedChoice | NoFeedFound | Refused:
        """Fetch once and refuse what is not a feed; the poller does the rest (its first
        poll stores the items without pushing them, SPEC 6.5). A page that is not a feed
        is searched for feeds (SPEC 8.3) unless `discover` is off (a feed picked from a
        page's list must be that feed, not lead to another search)."""
        url = url.strip()
        if problem := check_url(url):
            return Refused("admin.feed_bad_url", problem)
        name = (name or "").strip() or None
        if name is not None and not _NAME_RE.match(name):
            return Refused("admin.feed_bad_name")
        if await self._feeds.find_by_url(url):
            return Refused("admin.feed_exists")
        try:
            page = await self._fetcher.fetch(url)
        except FetchError as error:
            return Refused("admin.feed_not_feed", error.reason)
        try:
            parsed = await parse_fetched(page)
        except NotAFeed as error:
            if not discover:
                return Refused("admin.feed_not_feed", error.reason)
            found = await find_feeds(self._fetcher, page, error.reason)
        except ParseError as error:
            # Only a page that is not a feed is searched: a feed broken for the moment
            # (malformed XML, an empty body) must not be swapped for another address.
            return Refused("admin.feed_not_feed", error.reason)
        else:
            return await self._store(url, name, parsed)
        if not found.feeds:
            return NoFeedFound(url, found)
        if len(found.feeds) > 1:
            return FeedChoice(url, found.feeds, name)
        only = found.feeds[0]
        if await self._feeds.find_by_url(only.url):
            return Refused("admin.feed_exists")
        return await self._store(only.url, name, only.parsed)

    async def _store(self, url: str, name: str | None, parsed: ParsedFeed) -> FeedAdded:
        """Its own title is stored at once, so readers see it before the first poll."""
        name = name or default_name(url)
        if not _NAME_RE.match(name):  # a host such as "::1" makes no source:NAME
            name = "feed"
        feed = await self._feeds.upsert(url, name, None, feed_title=parsed.title or None)
        return FeedAdded(feed, len(parsed.items))

    async def find_feed(self, ref: str) -> Feed | None:
        ref = ref.strip()
        if ref.isascii() and ref.isdecimal():  # not "²": int() refuses it
            return await self._feeds.get(int(ref))
        return await self._feeds.find_by_url(ref) or await self._feeds.find_by_name(ref)

    async def delete_feed(self, ref: str | None) -> Feed | Refused:
        feed = await self.find_feed(ref or "") if ref and ref.strip() else None
        if feed is None:
            return Refused("admin.feed_unknown", (ref or "").strip()[:100])
        await self._feeds.delete(feed.feed_id)
        return feed

    # ---------------------------------------------------------------- OPML

    async def export_opml(self) -> tuple[bytes, int]:
        """The OPML document and how many feeds it lists."""
        feeds = await self._feeds.list()
        return render_opml((feed.url, feed.name) for feed in feeds), len(feeds)

    async def import_opml(self, bot: Bot, file_id: str, size: int | None) -> ImportReport | Refused:
        """Adds every new http(s) feed of an uploaded OPML file, without fetching them:
        the poller checks them (a failing one shows in /feeds)."""
        if size is not None and size > MAX_BYTES:
            return Refused("admin.opml_bad", f"the file is over {MAX_BYTES // 1024} KB")
        try:
            data = await bot.download(file_id, destination=_CappedBuffer(MAX_BYTES))
        except TelegramAPIError as error:
            return Refused("admin.opml_bad", f"download failed: {error.message}")
        except _TooBig:  # Telegram did not say the size: stopped at the cap
            return Refused("admin.opml_bad", f"the file is over {MAX_BYTES // 1024} KB")
        assert isinstance(data, io.BytesIO)
        try:
            outlines = parse_opml(data.getvalue())
        except OpmlError as error:
            return Refused("admin.opml_bad", error.reason)
        report = ImportReport([], [], [])
        for outline in outlines:
            if check_url(outline.url):
                report.invalid.append(outline.url)
                continue
            if await self._feeds.find_by_url(outline.url):
                report.skipped.append(outline.url)
                continue
            name = outline.name if outline.name and _NAME_RE.match(outline.name) else None
            feed = await self._feeds.upsert(outline.url, name or default_name(outline.url), None)
            report.added.append(feed.url)
        return report

    # ------------------------------------------------------------ channels

    async def channels(self) -> list[Channel]:
        return await self._channels.list()

    async def add_channel(self, bot: Bot, args: Sequence[str]) -> Channel | Refused:
        """`ID|@name[/THREAD] [topics...] [lang=ru|en]`: Telegram confirms the chat and
        that the bot may post there (getChatMember, SPEC 8.4); no topics means every topic.
        A new channel posts in Russian unless told; an existing one keeps its language."""
        if not args:
            return Refused("admin.channel_usage")
        ref, _, thread = args[0].partition("/")
        words = [word for word in args[1:] if "=" not in word]
        options = ChannelOptions()
        if settings := [word for word in args[1:] if "=" in word]:
            parsed = parse_channel_options(settings)
            if isinstance(parsed, Refused):
                return parsed
            options = parsed
        found = {word: self._taxonomy.hashtag_topic(word) for word in words}  # id or tag
        topics = [topic for topic in found.values() if topic]
        unknown = [word for word, topic in found.items() if topic is None]
        if unknown:
            return Refused("admin.channel_unknown_topics", " ".join(unknown))
        if thread and not (thread.isascii() and thread.isdecimal()):
            return Refused("admin.channel_usage")
        try:
            chat: ResolvedChat = await resolve_chat(bot, ref)
            if chat.kind not in TARGET_KINDS or chat.chat_id >= 0:
                return Refused("admin.channel_not_group", ref)
            if not await can_post(bot, chat):
                return Refused("admin.channel_no_rights", chat.title or ref)
        except TelegramAPIError as error:
            return Refused("admin.channel_unreachable", f"{ref}: {error.message}")
        channel = await self._channels.upsert(
            chat.chat_id,
            chat.kind,
            chat.title,
            chat.username,
            int(thread) if thread else None,
            topics,
        )
        if options == ChannelOptions():
            return channel
        configured = await self._channels.configure(
            channel.chat_id, photos=options.photos, language=options.language
        )
        return configured or channel

    async def configure_channel(self, args: Sequence[str]) -> Channel | Refused:
        """`ID|@name photos on|off lang=ru|en` (SPEC 8.4): the options are checked before
        the channel is looked up, and nothing changes unless all of them are right."""
        if len(args) < 2:
            return Refused("admin.channel_set_usage")
        options = parse_channel_options(args[1:])
        if isinstance(options, Refused):
            return options
        channel = await self._channels.find(args[0])
        if channel is not None:
            channel = await self._channels.configure(
                channel.chat_id, photos=options.photos, language=options.language
            )
        return channel or Refused("admin.channel_unknown", args[0][:100])

    async def remove_channel(self, ref: str | None) -> Channel | Refused:
        channel = await self._channels.find(ref or "") if ref and ref.strip() else None
        if channel is None or not await self._channels.remove(channel.chat_id):
            return Refused("admin.channel_unknown", (ref or "").strip()[:100])
        return channel

    async def migrate(self, old_id: int, new_id: int) -> None:
        """A group became a supergroup: settings, filter and queue follow (SPEC 8.4)."""
        await self._outbox.move_chat(old_id, new_id, datetime.now(UTC))

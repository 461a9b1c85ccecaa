"""Channel targets on Telegram's side (SPEC 8.4): resolving ids, checking rights, seeding.

CHANNEL_IDS may name a channel by @username; the outbox needs its numeric id, which only
`getChat` knows. Telegram being unreachable at start-up must not stop the bot: a numeric id
is seeded anyway, a @username is skipped with a warning and tried again at the next start.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiogram import Bot
from aiogram.enums import ChatMemberStatus
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ChatMemberAdministrator, ChatMemberOwner

from storage.channels import TARGET_KINDS, ChannelRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedChat:
    chat_id: int
    kind: str  # private | group | supergroup | channel
    title: str | None
    username: str | None


def parse_ref(ref: str | int) -> int | str:
    """`-100123` -> -100123, `@name` -> "@name" (getChat takes either)."""
    if isinstance(ref, int):
        return ref
    ref = ref.strip()
    try:
        return int(ref)
    except ValueError:
        return ref if ref.startswith("@") else f"@{ref}"


async def resolve_chat(bot: Bot, ref: str | int) -> ResolvedChat:
    """The chat behind an id or @username; raises aiogram's TelegramAPIError subclasses
    (TelegramBadRequest "chat not found" for an unknown name)."""
    chat = await bot.get_chat(parse_ref(ref))
    return ResolvedChat(chat.id, chat.type, chat.title, chat.username)


async def can_post(bot: Bot, chat: ResolvedChat) -> bool:
    """Whether the bot may post there (SPEC 8.4 checks it with getChatMember): in a channel
    it must be an administrator allowed to post; in a group, any non-restricted member."""
    member = await bot.get_chat_member(chat.chat_id, bot.id)
    if isinstance(member, ChatMemberOwner):
        return True
    if chat.kind == "channel":
        return isinstance(member, ChatMemberAdministrator) and bool(member.can_post_messages)
    if member.status in (ChatMemberStatus.LEFT, ChatMemberStatus.KICKED):
        return False
    if member.status == ChatMemberStatus.RESTRICTED:
        return bool(getattr(member, "can_send_messages", False))
    return True


async def seed_channels(
    bot: Bot, channels: ChannelRepository, refs: Sequence[str | int]
) -> list[int]:
    """Make every new CHANNEL_IDS entry a target for all topics; returns the chat ids
    seeded. A chat the bot already knows is left alone: an admin's /channel remove or
    filter, or Telegram's word that the bot was kicked, outlives a restart. One bad entry
    is logged and skipped."""
    seeded = []
    for ref in refs:
        target = parse_ref(ref)
        if isinstance(target, int) and await channels.known(target):
            continue
        try:
            chat = await resolve_chat(bot, target)
        except TelegramAPIError as error:
            if isinstance(target, str):
                log.warning("CHANNEL_IDS: cannot resolve %s (%s); skipped", target, error)
                continue
            known = await channels.get(target)
            kind = known.kind if known else "channel"
            log.warning(
                "CHANNEL_IDS: getChat(%s) failed (%s); seeding it as a %s", target, error, kind
            )
            chat = ResolvedChat(target, kind, None, None)
        if chat.kind not in TARGET_KINDS or chat.chat_id >= 0:
            log.warning(
                "CHANNEL_IDS: %s is a %s chat, not a channel or group; skipped", ref, chat.kind
            )
            continue
        if await channels.known(chat.chat_id):
            continue
        await channels.upsert(chat.chat_id, chat.kind, chat.title, chat.username, topics=None)
        seeded.append(chat.chat_id)
    if seeded:
        log.info("auto-post targets from CHANNEL_IDS: %s", ", ".join(map(str, seeded)))
    return seeded

"""The /stats picture, drawn off the event loop (SPEC 8.5)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bot.i18n import Translator
from bot.topics.taxonomy import Taxonomy
from storage.snapshots import Snapshot


async def stats_picture(
    history: Sequence[Snapshot], t: Translator, taxonomy: Taxonomy, days: int
) -> bytes:
    """The chart as PNG bytes. matplotlib draws in a worker thread (it is CPU-bound, and
    its first import takes a moment), and is imported only when an editor asks."""

    def topic_name(topic_id: str) -> str:
        topic = taxonomy.get(topic_id)
        return topic.name(t.language) if topic is not None else topic_id

    def draw() -> bytes:
        from bot.ui.stats_chart import render_chart

        return render_chart(history, t=t, topic_name=topic_name, days=days)

    return await asyncio.to_thread(draw)

"""Feeds made up in tests: small RSS documents and FEEDS_FILE text pointing at a FeedServer."""

from datetime import UTC, datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def rss(*items, title="Test feed") -> bytes:
    """A small RSS 2.0 document; items are (guid, title, link, published, summary)."""
    body = "".join(
        "<item>"
        f"<guid isPermaLink='false'>{escape(guid)}</guid><title>{escape(title)}</title>"
        f"<link>{escape(link)}</link><pubDate>{format_datetime(published)}</pubDate>"
        f"<description>{escape(summary)}</description></item>"
        for guid, title, link, published, summary in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://news.example/</link>{body}"
        "</channel></rss>"
    ).encode()


def feeds_toml(server, *paths, encoding=None) -> str:
    """FEEDS_FILE text for paths of `server`; each feed is named after its path."""
    lines = []
    for path in paths:
        lines += ["[[feeds]]", f'url = "{server.url(path)}"', f'name = "{path.strip("/")}"']
        if encoding and path in encoding:
            lines.append(f'encoding = "{encoding[path]}"')
    return "\n".join(lines) + "\n"

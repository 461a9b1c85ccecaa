"""Where a site page says its feeds are (SPEC 8.3): pure functions of the page, no I/O.

`/addfeed` given a home page instead of a feed looks here for candidates, then fetches
each with the bot's Fetcher (`bot.feeds.probe`); nothing found here is trusted until it
parses as a feed.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit, urlunsplit

from bot.feeds.parse import header_charset
from bot.urls import http_url

MAX_CANDIDATES = 10  # feeds a page may propose; the rest are ignored
MAX_HTML_CHARS = 256 * 1024  # the head is at the top; a 5 MB page is not parsed whole
MAX_URL_CHARS = 300  # longer hrefs are dropped: each is listed in one Telegram message
COMMON_PATHS = ("/rss", "/feed", "/rss.xml", "/feed.xml")

# Content types of `<link rel="alternate">` that name a feed parse_feed can read (JSON
# Feed cannot be parsed, so it is not offered).
FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/xml",
        "text/xml",
    }
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]{1,40})""", re.I)


def feed_links(
    body: bytes, content_type: str | None, page_url: str, limit: int = MAX_CANDIDATES
) -> list[str]:
    """URLs of the page's `<link rel="alternate">` feeds in document order: absolute
    http(s) (resolved against `<base href>`, else `page_url`, the fetch's final URL),
    without fragment or duplicates, at most `limit`."""
    parser = _LinkParser(page_url, limit)
    try:
        parser.feed(decode_page(body, content_type))
        parser.close()
    except _Done:
        pass
    except (AssertionError, ValueError):  # markup html.parser gives up on: what was found
        pass
    return parser.links


def common_feed_urls(page_url: str) -> list[str]:
    """The usual feed addresses on the page's site, except the page itself."""
    parts = urlsplit(page_url)
    site = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    return [site + path for path in COMMON_PATHS if site + path != page_url]


def decode_page(body: bytes, content_type: str | None) -> str:
    """Text of the first MAX_HTML_CHARS of a page: the header's charset, else a `<meta>`
    one, else UTF-8; undecodable bytes become U+FFFD (an href is ASCII anyway)."""
    head = body[: MAX_HTML_CHARS * 4]
    for name in (header_charset(content_type), _meta_charset(head)):
        if name:
            try:
                return head.decode(name, "replace")[:MAX_HTML_CHARS]
            except (LookupError, UnicodeError):  # unknown, not text ("base64"), or "idna"
                continue
    return head.decode("utf-8", "replace")[:MAX_HTML_CHARS]


def absolute_http_url(href: str, base: str) -> str | None:
    """`href` resolved against `base`, if it is a plain http(s) URL we would fetch
    (without its fragment; an empty path is "/")."""
    url = http_url(href, base, max_chars=MAX_URL_CHARS)
    if url is None:
        return None
    parts = urlsplit(url)
    url = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))
    return url if len(url) <= MAX_URL_CHARS else None


class _Done(Exception):
    """The head is over, or enough links were found: stop parsing."""


class _LinkParser(HTMLParser):
    def __init__(self, page_url: str, limit: int) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self._base = page_url
        self._base_seen = False
        self._limit = limit

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":  # links in the body are not the page's declared feeds
            raise _Done
        values = {name: value or "" for name, value in attrs}
        if tag == "base" and not self._base_seen and "href" in values:
            self._base_seen = True  # HTML: the first <base href> counts
            self._base = absolute_http_url(values["href"], self._base) or self._base
        elif tag == "link":
            self._link(values)

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            raise _Done

    def _link(self, values: dict[str, str]) -> None:
        rel = values.get("rel", "").casefold().split()
        kind = values.get("type", "").split(";")[0].strip().casefold()
        if "alternate" not in rel or kind not in FEED_TYPES:
            return
        url = absolute_http_url(values.get("href", ""), self._base)
        if url is None or url in self.links:
            return
        self.links.append(url)
        if len(self.links) >= self._limit:
            raise _Done


def _meta_charset(head: bytes) -> str | None:
    match = _META_CHARSET.search(head[:4096])
    return match.group(1).decode("ascii") if match else None

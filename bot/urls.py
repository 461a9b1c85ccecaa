"""The one check of a URL the bot hands on or fetches: absolute http(s) with a host.

Links in posts, pictures Telegram is asked to fetch, and feeds found on a page all pass
through it, so a malformed value (`http://[::1`, a space, a control character that
`urlsplit` lets by) means "no URL" everywhere, never an exception in a feed's parse.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit


def http_url(value: object, base: str | None = None, *, max_chars: int | None = None) -> str | None:
    """`value` (resolved against `base` when given) as an absolute http(s) URL with a
    host, else None: not a string, empty, longer than `max_chars` before or after
    resolving, holding whitespace or a non-printable character, malformed, or of
    another scheme."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or (max_chars is not None and len(value) > max_chars):
        return None
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        return None
    try:
        # Only a relative URL is resolved: urljoin would fill "https://" from the base.
        url = urljoin(base, value) if base and not urlsplit(value).scheme else value
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # "http://[::1" and other malformed netlocs
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    if max_chars is not None and len(url) > max_chars:
        return None
    return url

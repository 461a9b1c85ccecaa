"""OPML (SPEC 8.6): the feed list as a file, and back. Pure: bytes in, bytes out.

An uploaded OPML comes from a user, so it is read defensively: at most MAX_BYTES, no
DOCTYPE (which is how entity-expansion bombs and external entities arrive; a feed list
never needs one), at most MAX_FEEDS outlines.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

MAX_BYTES = 1024 * 1024
MAX_FEEDS = 500


class OpmlError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Outline:
    url: str
    name: str | None


def render_opml(feeds: Iterable[tuple[str, str]], title: str = "Regional news feeds") -> bytes:
    """(url, name) pairs as an OPML 2.0 document."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        f"  <head><title>{_text(title)}</title></head>",
        "  <body>",
    ]
    for url, name in feeds:
        lines.append(
            f'    <outline type="rss" text={quoteattr(name)} title={quoteattr(name)}'
            f" xmlUrl={quoteattr(url)}/>"
        )
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines).encode("utf-8")


def parse_opml(data: bytes) -> list[Outline]:
    """Every outline with an `xmlUrl`, nested ones too, in document order; raises
    OpmlError for what is not a reasonable OPML file."""
    if len(data) > MAX_BYTES:
        raise OpmlError(f"the file is over {MAX_BYTES // 1024} KB")
    head = data[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in data.lower():
        raise OpmlError("the file declares a DOCTYPE or entities, which OPML does not need")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        raise OpmlError(f"not XML: {error}") from None
    if root.tag.lower() != "opml":
        raise OpmlError(f"not OPML: the root element is <{root.tag}>")
    found = []
    for node in root.iter("outline"):
        url = (node.get("xmlUrl") or node.get("xmlurl") or "").strip()
        if not url:
            continue
        if len(found) >= MAX_FEEDS:
            raise OpmlError(f"more than {MAX_FEEDS} feeds")
        name = (node.get("title") or node.get("text") or "").strip() or None
        found.append(Outline(url, name))
    return found


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

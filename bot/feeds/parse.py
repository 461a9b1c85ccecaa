"""Turn fetched feed bytes into plain-text items (SPEC 6.2): pure, synchronous, CPU-bound.

The caller runs `parse_feed` in a worker thread (`asyncio.to_thread`). feedparser does the
RSS/Atom/RDF work, but two jobs are done here because feedparser gets them wrong on the
feeds we poll:

* Decoding. feedparser lets a declaration beat a UTF-8 byte-order mark, and when the
  declared charset fails it walks on to windows-1252 and iso-8859-2, which always
  "succeed" and turn Russian into mojibake. We pick the charset ourselves (`_decode`) and
  hand feedparser UTF-8 whose declaration no longer lies.
* Plain text. feedparser keeps markup in RSS titles (even `<script>`), so every title,
  summary and category goes through `html_to_text`.

A document that is not well-formed XML is refused whole (nothing half-stored), after a few
repairs for breakage that loses nothing (HTML entities such as `&nbsp;`, bare `&`, control
characters, undeclared namespace prefixes). A DOCTYPE that declares entities is refused
before parsing: no real feed needs one, and it is how entity-expansion bombs start.
"""

from __future__ import annotations

import codecs
import html.entities
import io
import re
import xml.sax
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import feedparser

# feedparser's own join (with its fix-up of `http:///x`): ids and links must come out
# exactly as when feedparser resolves them itself, or stored items would look new.
from feedparser.urls import _urljoin

from bot.feeds.images import item_image

# feedparser joins an item's link with the base always, its id only when the id is an
# RSS guid without isPermaLink or with isPermaLink exactly "true" (or an Atom id), and
# with xml:base in scope when there is one.
_XML_BASE = re.compile(r"\bbase\s*=", re.IGNORECASE)
_GUID_TAG = re.compile(r"<(?:\w+:)?guid\b([^>]*)>", re.IGNORECASE)
_PERMALINK = re.compile(r"ispermalink\s*=\s*(['\"])(.*?)\1", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Item:
    guid: str | None
    link: str | None  # absolute http(s) URL, or None
    title: str  # plain text, entities decoded, tags removed, whitespace collapsed
    summary: str  # plain text, cut to about 300 characters at a word boundary with "…"
    published: datetime | None  # timezone-aware UTC (published, else updated)
    categories: tuple[str, ...]
    image: str | None = None  # the item's picture: absolute http(s) URL (bot/feeds/images.py)


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    items: tuple[Item, ...]


class ParseError(Exception):
    """The body is not a usable feed; `reason` is short human text for /feeds and logs."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotAFeed(ParseError):
    """The body is a document of another kind (an HTML page, JSON), not a broken feed:
    `/addfeed` searches such a page for its feeds (SPEC 8.3)."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"not a feed ({kind})")


SUMMARY_LIMIT = 300

# --------------------------------------------------------------------------- parse_feed


def parse_feed(
    body: bytes,
    *,
    content_type: str | None = None,
    encoding: str | None = None,
    base_url: str | None = None,
) -> ParsedFeed:
    """Parse feed bytes as fetched.

    `content_type` is the full HTTP header: its charset is tried before the XML declaration
    (old KOI8-R servers name the charset only there); `encoding` is a per-feed override
    from FEEDS_FILE and beats everything; `base_url` (the final URL of the fetch) resolves
    relative links.
    """
    text = _decode(body, content_type, encoding)
    if not text.strip():
        raise ParseError("empty document")
    _refuse_non_feeds(text)
    text = _repair(text)
    # feedparser given a base URL joins it with itself at every element of the document
    # (a fifth of its time), and only two values per item need it. When the document
    # leaves no doubt which ids feedparser would join, both are joined here instead.
    join_ids = _ids_joined(text) if base_url else None
    resolve_here = join_ids is not None
    parser_base = None if resolve_here else base_url
    result = _feedparser(text, parser_base)
    error = result.get("bozo_exception")
    if _is_unbound_prefix(error):
        result = _feedparser(_declare_prefixes(text), parser_base)
        error = result.get("bozo_exception")
    if not result.get("version"):
        if _mime_type(content_type) in ("text/html", "application/xhtml+xml"):
            raise NotAFeed("an HTML page")
        raise NotAFeed("no RSS or Atom root element")
    if isinstance(error, xml.sax.SAXException):
        # A cut-off or broken document: what feedparser's loose parser salvaged may be
        # missing items or hold half a description, so none of it is kept.
        raise ParseError(f"malformed XML: {_sax_message(error)}")
    # Other bozo kinds (CharacterEncodingOverride, NonXMLContentType) lose nothing.
    base = base_url if resolve_here else None
    items = (
        _item(entry, base, bool(join_ids), image_base=base_url)
        for entry in result.get("entries", ())
    )
    return ParsedFeed(
        title=html_to_text(result.get("feed", {}).get("title", "")),
        items=tuple(item for item in items if item is not None),
    )


def _feedparser(text: str, base_url: str | None) -> Any:
    headers = {"content-type": "application/xml; charset=utf-8"}  # the truth, after _decode
    if base_url:
        headers["content-location"] = base_url
    # A BytesIO, never bytes or str: feedparser treats a string as a URL or a file name.
    return feedparser.parse(
        io.BytesIO(text.encode("utf-8")),
        response_headers=headers,
        sanitize_html=False,  # html_to_text drops all markup anyway
        resolve_relative_uris=False,  # only links matter, and those are resolved regardless
    )


def _ids_joined(text: str) -> bool | None:
    """Whether feedparser, given a base URL, would join every id with it (True) or none
    (False); None when that depends on the item or on xml:base: feedparser decides."""
    if _XML_BASE.search(text):
        return None
    joined = set()
    for attributes in _GUID_TAG.findall(text):
        permalink = _PERMALINK.search(attributes)
        joined.add(permalink is None or permalink.group(2) == "true")
        if len(joined) > 1:
            return None
    return joined != {False}  # Atom ids, and guids without the attribute, are joined


def _item(
    entry: Any, base_url: str | None = None, join_id: bool = True, image_base: str | None = None
) -> Item | None:
    """`base_url`: resolve the link (and the id when `join_id`) against it, as feedparser
    would have (it parsed without the base). `image_base` resolves a relative picture."""
    guid = _clean(entry.get("id"))
    link = _clean(entry.get("link"))
    if base_url:
        if guid and join_id:
            guid = _clean(_urljoin(base_url, guid))
        link = _clean(_urljoin(base_url, link)) if link else link
    if link is not None and not link.lower().startswith(("http://", "https://")):
        link = None  # relative without a base, javascript:, mailto: ...
    title = html_to_text(entry.get("title", ""))
    if guid is None and link is None and not title:
        return None
    summary = entry.get("summary") or ""
    if not summary and entry.get("content"):
        summary = entry["content"][0].get("value", "")
    return Item(
        guid=guid,
        link=link,
        title=title,
        summary=cut_summary(html_to_text(summary)),
        published=_timestamp(entry.get("published_parsed") or entry.get("updated_parsed")),
        categories=_categories(entry.get("tags") or ()),
        image=item_image(entry, image_base),
    )


def _clean(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _timestamp(parsed: Any) -> datetime | None:
    """feedparser's struct_time is already UTC."""
    if not parsed:
        return None
    try:
        return datetime(*parsed[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _categories(tags: Any) -> tuple[str, ...]:
    """Atom's human `label` when present, else the `term` (RSS `<category>` text)."""
    seen: dict[str, None] = {}
    for tag in tags:
        name = html_to_text(tag.get("label") or tag.get("term") or "")
        if name:
            seen.setdefault(name, None)
    return tuple(seen)


def _sax_message(error: xml.sax.SAXException) -> str:
    message = error.getMessage()
    if isinstance(error, xml.sax.SAXParseException):
        return f"{message} (line {error.getLineNumber()})"
    return message


def _is_unbound_prefix(error: object) -> bool:
    return isinstance(error, xml.sax.SAXException) and "unbound prefix" in error.getMessage()


# ------------------------------------------------------------------------------ decoding

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_DECLARED_RE = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_CHARSET_ALIASES = {"win-1251": "cp1251", "win1251": "cp1251", "x-cp1251": "cp1251"}


def _decode(body: bytes, content_type: str | None, override: str | None) -> str:
    """Pick the charset: override > byte-order mark > UTF-8 that validates > HTTP header
    charset > XML declaration, trying each strictly; failing all, replacement characters.

    UTF-8 that validates beats a header or declaration because real Cyrillic text in
    windows-1251 or KOI8-R is never valid UTF-8, while "charset=windows-1251" from a
    server's default config in front of a UTF-8 feed is common.
    """
    if override:
        codec = _codec(override)
        if codec is None:
            raise ParseError(f"unknown encoding {override!r}")
        return body.removeprefix(codecs.BOM_UTF8).decode(codec, "replace")
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, "replace")
    if body.startswith(b"<\x00?\x00"):
        return body.decode("utf-16-le", "replace")
    if body.startswith(b"\x00<\x00?"):
        return body.decode("utf-16-be", "replace")
    if _mostly_utf8(body):
        return body.decode("utf-8", "replace")
    candidates = [_codec(header_charset(content_type)), _codec(_declared_charset(body))]
    charsets = [codec for codec in candidates if codec and _ascii_compatible(codec)]
    for codec in charsets:
        try:
            return body.decode(codec)
        except UnicodeDecodeError:
            continue
    return body.decode(charsets[0] if charsets else "utf-8", "replace")


def _mostly_utf8(body: bytes) -> bool:
    """Valid UTF-8, or UTF-8 with a few broken bytes (a CMS cutting text mid-character):
    decoded as UTF-8, single-byte Cyrillic leaves almost nothing but errors."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return True
    text = body.decode("utf-8", "replace")
    errors = text.count("\ufffd")
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    return non_ascii - errors >= 10 * errors


def header_charset(content_type: str | None) -> str | None:
    """The `charset` parameter of a Content-Type header (feeds and /addfeed's pages)."""
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def _declared_charset(body: bytes) -> str | None:
    match = _DECLARED_RE.match(body[:1024])
    return match.group(1).decode("ascii") if match else None


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    name = _CHARSET_ALIASES.get(name.strip().lower(), name.strip())
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _ascii_compatible(codec: str) -> bool:
    """A UTF-16/32 declaration in a document without a BOM or NUL bytes is a lie."""
    return b"<?xml".decode(codec, "replace") == "<?xml"


def _mime_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


# ----------------------------------------------------------------------- refusal and repair

_HTML_RE = re.compile(
    r"\A\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!doctype\s+html|<html[\s>]|<head[\s>])",
    re.IGNORECASE | re.DOTALL,
)
_INTERNAL_SUBSET_RE = re.compile(r"<!DOCTYPE[^\[>]*\[", re.IGNORECASE)


def _refuse_non_feeds(text: str) -> None:
    """Cheap checks before feedparser sees the document."""
    if _HTML_RE.match(text[:4096]):
        raise NotAFeed("an HTML page")
    if text.lstrip()[:1] in ("{", "["):
        raise NotAFeed("JSON")
    subset = _INTERNAL_SUBSET_RE.search(text)
    if subset and "<!ENTITY" in text[subset.end() :]:
        # expat 2.4+ has its own amplification limits, but they only bound the damage;
        # refusing up front costs one regex and no feed we read declares entities.
        raise ParseError("DTD with entity declarations (entity expansion is refused)")


_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
_NAMED_REF_RE = re.compile(r"&([A-Za-z][A-Za-z0-9]{1,31});")
_BARE_AMP_RE = re.compile(r"&(?!#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z][\w.-]{0,31};)")
_FORBIDDEN_CHARS_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_DECLARED_ENCODING_RE = re.compile(r"""\A(<\?xml[^>]*?encoding\s*=\s*)(["'])[^"']*\2""")


def _repair(text: str) -> str:
    """Fix what loses nothing: HTML entities XML does not know (`&nbsp;`, `&laquo;` from
    CMS templates) become character references, a bare `&` becomes `&amp;`, characters
    XML forbids are dropped, whitespace before the declaration goes, and the declaration
    says UTF-8 (what feedparser will be given). A truncated document stays broken."""
    text = text.lstrip().lstrip("\ufeff")
    text = _DECLARED_ENCODING_RE.sub(r"\1\2utf-8\2", text, count=1)
    text = _FORBIDDEN_CHARS_RE.sub("", text)
    text = _NAMED_REF_RE.sub(_numeric_reference, text)
    return _BARE_AMP_RE.sub("&amp;", text)


def _numeric_reference(match: re.Match[str]) -> str:
    name = match.group(1)
    if name in _XML_ENTITIES:
        return match.group(0)
    value = html.entities.html5.get(name + ";")
    if value is None:
        return match.group(0)  # unknown: expat will say "undefined entity"
    return "".join(f"&#{ord(char)};" for char in value)


# Where a feed forgets xmlns:yandex="..." the real URI lets feedparser map the elements.
_KNOWN_NAMESPACES = {
    "atom": "http://www.w3.org/2005/Atom",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "media": "http://search.yahoo.com/mrss/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "turbo": "http://turbo.yandex.ru",
    "yandex": "http://news.yandex.ru",
}
_PREFIX_USE_RE = re.compile(r"<([A-Za-z_][\w.-]*):[A-Za-z_]|\s([A-Za-z_][\w.-]*):[\w.-]+\s*=")
_PREFIX_DECL_RE = re.compile(r"xmlns:([A-Za-z_][\w.-]*)\s*=")
_ROOT_RE = re.compile(r"<[A-Za-z_][\w.:-]*")


def _declare_prefixes(text: str) -> str:
    """Declare namespace prefixes a feed uses but never declared, on its root element
    (expat: "unbound prefix"), so the strict parse can still prove the document whole."""
    used = {a or b for a, b in _PREFIX_USE_RE.findall(text)}
    missing = used - set(_PREFIX_DECL_RE.findall(text)) - {"xml", "xmlns"}
    root = _ROOT_RE.search(text)
    if not missing or root is None:
        return text
    declarations = "".join(
        f' xmlns:{prefix}="{_KNOWN_NAMESPACES.get(prefix, "urn:x-undeclared:" + prefix)}"'
        for prefix in sorted(missing)
    )
    return text[: root.end()] + declarations + text[root.end() :]


# ---------------------------------------------------------------------------- plain text

_BLOCK_TAGS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt"),
        *("figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header"),
        *("hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "td"),
        *("tfoot", "th", "thead", "tr", "ul"),
    }
)
_SKIPPED_TAGS = frozenset({"script", "style", "template", "noscript"})
_ANY_TAG = re.compile(r"<[^>]*>")
_INVISIBLE = str.maketrans({"\u200b": None, "\ufeff": None, "\xad": None})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(fragment: str) -> str:
    """Markup to one line of plain text: tags dropped (with the content of <script> and
    <style>), entities decoded (`&nbsp;` becomes a space), whitespace collapsed.

    The result is text, not HTML: whoever renders it for Telegram must escape it again.
    """
    if not fragment:
        return ""
    if "<" not in fragment and "&" not in fragment:
        return " ".join(fragment.translate(_INVISIBLE).split())
    parser = _TextExtractor()
    try:
        parser.feed(fragment)
        parser.close()
        text = "".join(parser.parts)
    except (AssertionError, ValueError):  # html.parser gives up on `<![foo[`: strip roughly
        text = html.unescape(_ANY_TAG.sub(" ", fragment))
    # str.split() without arguments splits on every Unicode space, no-break space included.
    return " ".join(text.translate(_INVISIBLE).split())


def cut_summary(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """Cut to at most `limit` characters at a word boundary, ending with "…".

    A single word longer than half the limit is cut inside rather than leaving a stub.
    """
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    if not text[limit - 1].isspace():
        space = head.rfind(" ")
        if space > limit // 2:
            head = head[:space]
    return head.rstrip(" ,;:—–-") + "…"

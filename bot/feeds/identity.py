"""Identity of articles (SPEC 6.4): pure functions from an item to the keys it is stored by.

`item_key` identifies an item within its feed (guid, else link, else title and date, as
lemon24/reader does); `canonical_link` and `title_key` recognise one article seen in two
feeds. The keys are for comparison only: show readers `Item.link`, never the canonical form.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import unicodedata
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from bot.feeds.parse import Item

# Only parameters that never select content. `ref`, `from`, `source` are left alone: on
# some sites they pick the page (`from=20` pages a list), and a missed duplicate costs less
# than two different articles merged into one.
_TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "ysclid",
        "_openstat",
        "mc_cid",
        "mc_eid",
        "igshid",
        "_ga",
        "_gl",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters left as they are when re-quoting: everything printable in ASCII that URLs use,
# and "%" so existing escapes survive. Only non-ASCII and spaces get percent-encoded.
_SAFE = "!#$%&'()*+,/:;=?@[]~-._"
_ESCAPE_RE = re.compile(r"%[0-9a-fA-F]{2}")


def canonical_link(url: str) -> str:
    """A comparison key for a link: equal for the same article however it was linked.

    - scheme: `http` and `https` compare equal, so both become `https` (feeds of one site
      often disagree on it, and no news site serves different articles on the two);
    - host: lower-cased, a leading `www.` dropped (same reasoning), IDN as punycode, the
      default port dropped;
    - path and query: percent-escapes upper-cased and non-ASCII characters escaped, so
      `/новости` and `/%D0%BD...` agree; an empty path is `/`;
    - query: tracking parameters removed (`utm_*` in any case, fbclid, gclid, yclid, ysclid,
      _openstat, mc_cid, mc_eid and a few more), the rest kept in their order;
    - fragment: dropped, except `#!` (old AJAX sites address articles with it).

    Something that is not an absolute http(s) URL comes back stripped and otherwise as is.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return url
    host = _canonical_host(parts.hostname)
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if parts.username is not None:
        netloc = parts.netloc.rpartition("@")[0] + "@" + netloc
    path = _requote(parts.path) or "/"
    query = "&".join(
        _requote(pair) for pair in parts.query.split("&") if pair and not _is_tracking(pair)
    )
    fragment = parts.fragment if parts.fragment.startswith("!") else ""
    return urlunsplit(("https", netloc, path, query, _requote(fragment)))


def _canonical_host(hostname: str) -> str:
    host = hostname.lower().rstrip(".")
    with contextlib.suppress(UnicodeError):  # a label over 63 characters, say
        host = host.encode("idna").decode("ascii")
    return host.removeprefix("www.")


def _is_tracking(pair: str) -> bool:
    name = unquote(pair.partition("=")[0]).strip().lower()
    return name.startswith("utm_") or name in _TRACKING_PARAMS


def _requote(text: str) -> str:
    text = quote(text, safe=_SAFE)
    return _ESCAPE_RE.sub(lambda match: match.group(0).upper(), text)


def item_key(item: Item) -> str:
    """The item's identity within its feed (SPEC 6.4): guid, else link, else a hash of the
    normalised title and the publication time."""
    if item.guid:
        return f"guid:{item.guid}"
    if item.link:
        return f"link:{canonical_link(item.link)}"
    published = item.published.isoformat() if item.published else ""
    digest = hashlib.sha1(f"{title_key(item.title)}\n{published}".encode()).hexdigest()
    return f"hash:{digest}"


def title_key(title: str) -> str:
    """A title reduced for cross-feed comparison: case, ё/е, quotes, punctuation, emoji and
    spacing do not count, so «Кулибин» and "Кулибин" agree. Hyphens become spaces, so
    `онлайн-хакатон` equals `онлайн хакатон`."""
    text = unicodedata.normalize("NFKC", title).casefold().replace("ё", "е")
    kept = (char if unicodedata.category(char)[0] in "LNM" else " " for char in text)
    return " ".join("".join(kept).split())

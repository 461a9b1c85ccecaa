"""Feeds a site page names (SPEC 8.3): `<link rel="alternate">` in the head, common paths;
and the probe that fetches each candidate (against the local feed server)."""

import pytest
from feed_server import FeedServer
from feedgen import rss

from bot.feeds.discover import (
    MAX_CANDIDATES,
    MAX_HTML_CHARS,
    MAX_URL_CHARS,
    common_feed_urls,
    feed_links,
)
from bot.feeds.fetch import Fetcher, FetchResult
from bot.feeds.probe import discover

PAGE = "https://site.example/news/index.html"


def page(head: str, body: str = "") -> bytes:
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>".encode()


def link(href: str, kind: str = "application/rss+xml", rel: str = "alternate") -> str:
    return f'<link rel="{rel}" type="{kind}" href="{href}">'


def test_relative_hrefs_resolve_against_the_final_url():
    head = link("rss.xml") + link("/atom.xml", "application/atom+xml") + link("../up.xml")
    assert feed_links(page(head), "text/html", PAGE) == [
        "https://site.example/news/rss.xml",
        "https://site.example/atom.xml",
        "https://site.example/up.xml",
    ]


def test_protocol_relative_and_base_href():
    head = '<base href="https://cdn.example/feeds/">' + link("a.xml") + link("//other.example/b")
    assert feed_links(page(head), None, PAGE) == [
        "https://cdn.example/feeds/a.xml",
        "https://other.example/b",
    ]


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:application/rss+xml;base64,PHJzcz4=",
        "file:///etc/passwd",
        "ftp://site.example/rss.xml",
        "mailto:news@site.example",
        "http://",
        "http://[::1",
        "https://site.example/a b.xml",
        "https://site.example/\x00.xml",
        "https://site.example/a\u00a0b.xml",
        "https://site.example/a\u2028b.xml",
        "",
    ],
)
def test_hrefs_that_are_not_http_urls_are_dropped(href):
    assert feed_links(page(link(href)), "text/html", PAGE) == []


def test_rel_with_several_tokens_any_case_and_type_parameters():
    head = (
        link("/a.xml", rel="alternate nofollow")
        + link("/b.xml", rel="  NoFollow\tALTERNATE ")
        + link("/c.xml", kind="Application/Atom+XML; charset=utf-8")
    )
    assert [url.rsplit("/", 1)[1] for url in feed_links(page(head), None, PAGE)] == [
        "a.xml",
        "b.xml",
        "c.xml",
    ]


def test_wrong_rel_or_type_is_not_a_feed():
    head = (
        link("/style.css", "text/css")
        + link("/alt.html", "text/html")
        + link("/feed.json", "application/feed+json")
        + link("/x.xml", rel="stylesheet")
        + link("/y.xml", rel="alternative")
        + '<link rel="alternate" href="/no-type.xml">'
        + '<link type="application/rss+xml" href="/no-rel.xml">'
    )
    assert feed_links(page(head), None, PAGE) == []


def test_duplicates_and_fragments_count_once():
    head = link("/rss.xml") + link("https://site.example/rss.xml#top") + link("rss.xml", rel="x")
    head += link("/rss.xml", "application/atom+xml")
    assert feed_links(page(head), None, PAGE) == ["https://site.example/rss.xml"]


def test_links_in_the_body_do_not_count():
    html = page(link("/head.xml"), body=link("/body.xml"))
    assert feed_links(html, None, PAGE) == ["https://site.example/head.xml"]


def test_a_page_without_head_still_declares_its_links():
    html = ("<title>x</title>" + link("/a.xml") + "<p>text</p>").encode()
    assert feed_links(html, None, PAGE) == ["https://site.example/a.xml"]


def test_the_number_considered_is_bounded():
    head = "".join(link(f"/f{n}.xml") for n in range(5000))
    urls = feed_links(page(head), None, PAGE)
    assert len(urls) == MAX_CANDIDATES
    assert urls[-1] == f"https://site.example/f{MAX_CANDIDATES - 1}.xml"


def test_huge_attribute_is_dropped_and_the_rest_still_read():
    head = link("/" + "a" * 100_000) + f'<meta name="x" content="{"b" * 100_000}">'
    head += link("/ok.xml")
    assert feed_links(page(head), None, PAGE) == ["https://site.example/ok.xml"]
    assert not feed_links(page(link("/" + "a" * MAX_URL_CHARS)), None, PAGE)
    # One attribute past the part read: cut off in the middle, nothing found, no error.
    assert feed_links(page(link("/" + "a" * 10_000_000) + link("/ok.xml")), None, PAGE) == []


def test_only_the_top_of_a_huge_page_is_read():
    html = b"<html><head>" + b"<!--" + b"x" * (MAX_HTML_CHARS * 2) + b"-->" + link("/a").encode()
    assert feed_links(html, None, PAGE) == []


def test_broken_markup_and_garbage_do_not_raise():
    for body in (b"", b"\xff\xfe\x00<", b"<link", b'<link rel="alternate" type=', b"<<<>>>&#;"):
        assert feed_links(body, "text/html; charset=nonsense", PAGE) == []
    body = b'<meta charset="base64">' + link("/ok.xml").encode()
    assert feed_links(body, None, PAGE) == ["https://site.example/ok.xml"]
    # Charsets whose codec raises UnicodeError rather than LookupError.
    for charset in ("idna", "undefined"):
        assert feed_links(page(link("/ok.xml")), f"text/html; charset={charset}", PAGE) == [
            "https://site.example/ok.xml"
        ]
    # Markup html.parser gives up on: the links before it are kept.
    body = page(link("/ok.xml") + "<![foo[" + link("/late.xml"))
    assert feed_links(body, "text/html", PAGE) == ["https://site.example/ok.xml"]


def test_charset_of_the_page_is_used_for_non_ascii_paths():
    body = page(link("/лента.xml")).replace(b"<head>", b'<head><meta charset="windows-1251">')
    body = body.decode().encode("cp1251")
    assert feed_links(body, None, PAGE) == ["https://site.example/лента.xml"]


def test_common_paths_are_on_the_pages_site_and_skip_the_page_itself():
    assert common_feed_urls("https://www.niann.ru/news/?p=2") == [
        "https://www.niann.ru/rss",
        "https://www.niann.ru/feed",
        "https://www.niann.ru/rss.xml",
        "https://www.niann.ru/feed.xml",
    ]
    assert "http://site.example:8080/rss" not in common_feed_urls("http://site.example:8080/rss")


# ------------------------------------------------------------------------------------ probe


def fetched(server: FeedServer, body: bytes, path: str = "/") -> FetchResult:
    return FetchResult(200, body, None, None, "text/html", server.url(path))


async def test_probe_keeps_declared_links_that_parse_and_says_why_the_others_fail(
    feed_server, fetcher
):
    feed_server.serve("/a.xml", rss(title="Feed A"))
    feed_server.serve("/b.xml", b"<html><head></head></html>", content_type="text/html")
    feed_server.redirect("/c.xml", "/a.xml")  # the same feed twice
    feed_server.serve("/rss", rss(title="never asked"))
    head = link("/a.xml") + link("/b.xml") + link("/missing.xml") + link("/c.xml")
    found = await discover(fetcher, fetched(feed_server, page(head)), "not a feed (an HTML page)")
    assert found.declared
    assert [(f.url, f.parsed.title) for f in found.feeds] == [(feed_server.url("/a.xml"), "Feed A")]
    assert dict(found.tried) == {
        feed_server.url("/b.xml"): "not a feed (an HTML page)",
        feed_server.url("/missing.xml"): "HTTP 404",
    }
    assert feed_server.hits("/rss") == 0  # the page named feeds: no guessing


async def test_probe_tries_common_paths_when_the_page_names_none(feed_server, fetcher):
    feed_server.serve("/rss.xml", rss(title="Only here"))
    feed_server.serve("/feed.xml", rss(title="Also here"))
    found = await discover(fetcher, fetched(feed_server, page("")), "not a feed (an HTML page)")
    assert not found.declared
    assert [f.url for f in found.feeds] == [feed_server.url("/rss.xml")]  # the first that works
    assert [url for url, _ in found.tried] == [feed_server.url("/rss"), feed_server.url("/feed")]


async def test_probe_with_nothing_anywhere(feed_server, fetcher):
    found = await discover(fetcher, fetched(feed_server, page("")), "empty document")
    assert found.feeds == () and found.page_reason == "empty document"
    assert [reason for _, reason in found.tried] == ["HTTP 404"] * 4


async def test_the_search_has_one_deadline_and_names_what_did_not_answer(feed_server, session):
    """Ten slow candidates, four at a time, each within the Fetcher's own timeout, once
    kept an admin waiting a minute: what is unanswered at the deadline is listed."""
    feed_server.serve("/a.xml", rss(title="Feed A"))
    feed_server.hang("/slow.xml")
    head = link("/slow.xml") + link("/a.xml")
    patient = Fetcher(session, timeout=30.0)
    found = await discover(
        patient, fetched(feed_server, page(head)), "not a feed (an HTML page)", within=0.5
    )
    assert [f.parsed.title for f in found.feeds] == ["Feed A"]
    assert found.tried == ((feed_server.url("/slow.xml"), "no answer within the search's 0.5 s"),)

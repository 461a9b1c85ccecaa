"""Feed fetching (SPEC 6.1, 6.3) against the local feed server over real sockets."""

import socket
import time
import tracemalloc

import pytest
from feed_server import RSS_CONTENT_TYPE, FeedServer, read_fixture

from bot.feeds.fetch import USER_AGENT, Fetcher, FetchError

FEED = read_fixture("rss-utf8.xml")
LAST_MODIFIED = "Mon, 20 Oct 2025 15:40:00 GMT"


@pytest.fixture
async def server():
    async with FeedServer() as feed_server:
        yield feed_server


async def fetch_error(fetcher: Fetcher, url: str) -> FetchError:
    with pytest.raises(FetchError) as caught:
        await fetcher.fetch(url)
    return caught.value


async def test_200_returns_body_and_validators(server, fetcher):
    server.serve("/rss.xml", FEED, last_modified=LAST_MODIFIED)
    result = await fetcher.fetch(server.url("/rss.xml"))
    assert result.status == 200
    assert result.body == FEED
    assert result.etag is not None and result.etag.startswith('"')
    assert result.last_modified == LAST_MODIFIED
    assert result.content_type == RSS_CONTENT_TYPE
    assert result.url == server.url("/rss.xml")
    request = server.requests_for("/rss.xml")[0]
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.headers["Accept"].startswith("application/rss+xml")
    assert "gzip" in request.headers["Accept-Encoding"]
    assert "If-None-Match" not in request.headers
    assert "If-Modified-Since" not in request.headers


async def test_second_conditional_fetch_is_304(server, fetcher):
    server.serve("/rss.xml", FEED, last_modified=LAST_MODIFIED)
    first = await fetcher.fetch(server.url("/rss.xml"))
    second = await fetcher.fetch(
        server.url("/rss.xml"), etag=first.etag, last_modified=first.last_modified
    )
    assert second.status == 304
    assert second.body is None
    assert (second.etag, second.last_modified) == (first.etag, first.last_modified)
    request = server.requests_for("/rss.xml")[1]
    assert request.headers["If-None-Match"] == first.etag
    assert request.headers["If-Modified-Since"] == LAST_MODIFIED

    server.replace("/rss.xml", FEED + b"\n")
    third = await fetcher.fetch(server.url("/rss.xml"), etag=first.etag)
    assert third.status == 200
    assert third.body == FEED + b"\n"
    assert third.etag != first.etag


async def test_304_by_last_modified_alone(server, fetcher):
    server.serve("/rss.xml", FEED, etag=None, last_modified=LAST_MODIFIED)
    result = await fetcher.fetch(server.url("/rss.xml"), last_modified=LAST_MODIFIED)
    assert result.status == 304
    assert result.etag is None
    assert result.last_modified == LAST_MODIFIED


async def test_304_without_validators_keeps_the_ones_sent(server, fetcher):
    server.serve("/rss.xml", b"", status=304, etag=None)
    result = await fetcher.fetch(server.url("/rss.xml"), etag='"v1"', last_modified=LAST_MODIFIED)
    assert (result.status, result.body) == (304, None)
    assert (result.etag, result.last_modified) == ('"v1"', LAST_MODIFIED)


@pytest.mark.parametrize("status", [500, 404, 403, 410])
async def test_http_error_status(server, fetcher, status):
    server.serve("/rss.xml", b"oops", status=status, content_type="text/plain")
    error = await fetch_error(fetcher, server.url("/rss.xml"))
    assert error.reason == f"HTTP {status}"
    assert error.status == status


async def test_unknown_path_is_404(server, fetcher):
    assert (await fetch_error(fetcher, server.url("/missing.xml"))).reason == "HTTP 404"


async def test_slow_server_within_the_timeout_is_fine(server, fetcher):
    server.serve("/rss.xml", FEED, delay=0.05)
    assert (await fetcher.fetch(server.url("/rss.xml"))).body == FEED


async def test_timeout(server, session):
    server.hang("/rss.xml")
    fetcher = Fetcher(session, timeout=0.5)
    started = time.monotonic()
    error = await fetch_error(fetcher, server.url("/rss.xml"))
    assert error.reason == "timeout after 0.5 s"
    assert 0.4 < time.monotonic() - started < 2.0
    assert server.hits("/rss.xml") == 1


async def test_slow_loris_trickle_is_stopped_by_the_total_timeout(server, session):
    server.trickle("/rss.xml", interval=0.05)  # 10 kB at 20 bytes a second: ~8 minutes
    fetcher = Fetcher(session, timeout=0.5)
    started = time.monotonic()
    error = await fetch_error(fetcher, server.url("/rss.xml"))
    assert error.reason == "timeout after 0.5 s"
    assert time.monotonic() - started < 2.0
    assert 0 < server.bytes_sent("/rss.xml") < 100


async def test_oversize_body_is_stopped_at_the_cap_while_streaming(server, session):
    size = 20 * 1024 * 1024
    server.oversize("/big.xml", size)  # chunked: no Content-Length to refuse it early
    fetcher = Fetcher(session, max_bytes=1024 * 1024)
    error = await fetch_error(fetcher, server.url("/big.xml"))
    assert error.reason == "body over 1 MB"
    assert server.bytes_sent("/big.xml") < size // 2


async def test_oversize_content_length_is_refused_before_reading(server, session):
    server.oversize("/big.xml", 20 * 1024 * 1024, content_length=True)
    error = await fetch_error(Fetcher(session), server.url("/big.xml"))
    assert error.reason == "body over 5 MB"
    assert server.bytes_sent("/big.xml") < 10 * 1024 * 1024


async def test_body_exactly_at_the_cap_is_accepted(server, session):
    body = b"x" * 4096
    server.serve("/rss.xml", body)
    assert (await Fetcher(session, max_bytes=4096).fetch(server.url("/rss.xml"))).body == body
    error = await fetch_error(Fetcher(session, max_bytes=4095), server.url("/rss.xml"))
    assert error.reason == "body over 4095 bytes"


async def test_gzip_body_is_decompressed(server, fetcher):
    server.serve("/rss.xml", FEED, gzip=True)
    result = await fetcher.fetch(server.url("/rss.xml"))
    assert result.body == FEED


async def test_gzip_bomb_is_refused_at_the_cap_in_bounded_memory(server, session):
    server.gzip_bomb("/bomb.xml", 64 * 1024 * 1024)
    fetcher = Fetcher(session, max_bytes=1024 * 1024)
    tracemalloc.start()
    try:
        error = await fetch_error(fetcher, server.url("/bomb.xml"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.reason == "body over 1 MB"
    assert peak < 16 * 1024 * 1024


async def test_redirect_is_followed(server, fetcher):
    server.serve("/feed.xml", FEED)
    server.redirect("/rss", "/feed.xml")
    result = await fetcher.fetch(server.url("/rss"))
    assert result.body == FEED
    assert result.url == server.url("/feed.xml")


async def test_five_redirects_are_followed_and_six_are_too_many(server, fetcher):
    server.serve("/feed.xml", FEED)
    for hop in range(6):
        server.redirect(f"/r{hop}", f"/r{hop + 1}" if hop < 5 else "/feed.xml", status=302)
    assert (await fetcher.fetch(server.url("/r1"))).body == FEED  # r1..r5: 5 redirects
    assert (await fetch_error(fetcher, server.url("/r0"))).reason == "too many redirects"


async def test_redirect_loop_is_refused(server, fetcher):
    server.redirect("/a", "/b")
    server.redirect("/b", "/a")
    assert (await fetch_error(fetcher, server.url("/a"))).reason == "too many redirects"
    assert server.hits("/a") + server.hits("/b") <= 6


async def test_redirect_to_a_non_http_url_is_refused(server, fetcher):
    server.redirect("/rss", "ftp://files.example/rss.xml")
    error = await fetch_error(fetcher, server.url("/rss"))
    assert error.reason.startswith("redirect to a non-HTTP URL")


async def test_connection_refused(fetcher):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = await fetch_error(fetcher, f"http://127.0.0.1:{port}/rss.xml")
    assert error.reason == "connection failed: Connection refused"


@pytest.mark.parametrize(
    ("url", "reason"),
    [("ftp://files.example/rss.xml", "not an http(s) URL"), ("http://[::1/rss", "invalid URL")],
)
async def test_bad_urls_are_fetch_errors(fetcher, url, reason):
    assert (await fetch_error(fetcher, url)).reason.startswith(reason)

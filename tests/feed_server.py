"""A local feed server for tests: real HTTP on 127.0.0.1 with the breakage real feeds show.

Feed fetching is tested against real sockets rather than a mocked session, so timeouts,
redirects, compression and streaming caps are exercised exactly as in production.  Each
behaviour is opt-in per path:

* ``serve`` / ``replace``: a static body with an ETag (``"auto"``: derived from the body)
  and Last-Modified; ``If-None-Match`` / ``If-Modified-Since`` give 304 as real servers do;
* ``redirect``: 301 (or another code) to a path or URL; two redirects to each other loop;
* ``hang``: accept the request and never answer (until ``stop``);
* ``trickle``: slow-loris, headers at once and then one byte every ``interval`` seconds;
* ``oversize``: a large body generated lazily while streaming (nothing is held in memory);
* ``serve(..., gzip=True)`` and ``gzip_bomb``: ``Content-Encoding: gzip`` bodies.

Every request is recorded (``requests``, ``hits``) and ``wait_for_hits`` lets a test await
a request instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import hashlib
import zlib
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

RSS_CONTENT_TYPE = "application/rss+xml; charset=utf-8"
_STREAM_CHUNK = 64 * 1024


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: CIMultiDictProxy[str]


@dataclass
class _Route:
    kind: str  # "static", "redirect", "hang", "trickle", "oversize", "gzip_bomb"
    body: bytes = b""
    content_type: str | None = RSS_CONTENT_TYPE
    etag: str | None = "auto"
    last_modified: str | None = None
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    gzip: bool = False
    location: str = ""
    interval: float = 0.1
    size: int = 0
    content_length: bool = False
    bytes_sent: int = 0

    def current_etag(self) -> str | None:
        if self.etag == "auto":
            return '"' + hashlib.sha1(self.body).hexdigest()[:16] + '"'
        return self.etag


class FeedServer:
    """Serve feeds on 127.0.0.1 (a free port) from inside the test's event loop."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._routes: dict[str, _Route] = {}
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._closing = asyncio.Event()
        self._hit = asyncio.Condition()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FeedServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def url(self, path: str) -> str:
        return self.base_url + _normalise_path(path)

    # -- behaviours --------------------------------------------------------------------------

    def serve(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str | None = RSS_CONTENT_TYPE,
        etag: str | None = "auto",
        last_modified: str | None = None,
        status: int = 200,
        delay: float = 0,
        headers: dict[str, str] | None = None,
        gzip: bool = False,
    ) -> None:
        """Serve ``body``; ``etag="auto"`` derives a strong ETag from it, None sends none."""
        self._routes[_normalise_path(path)] = _Route(
            kind="static",
            body=body,
            content_type=content_type,
            etag=etag,
            last_modified=last_modified,
            status=status,
            delay=delay,
            headers=dict(headers or {}),
            gzip=gzip,
        )

    def replace(self, path: str, body: bytes, *, last_modified: str | None = None) -> None:
        """New content between polls: an ``"auto"`` ETag changes with it."""
        route = self._routes[_normalise_path(path)]
        route.body = body
        if last_modified is not None:
            route.last_modified = last_modified

    def redirect(self, path: str, to: str, *, status: int = 301) -> None:
        """Redirect ``path`` to ``to`` (a path on this server or an absolute URL)."""
        location = to if "://" in to else _normalise_path(to)
        self._routes[_normalise_path(path)] = _Route(
            kind="redirect", status=status, location=location
        )

    def hang(self, path: str) -> None:
        """Accept the request and never answer: only the client's timeout ends it."""
        self._routes[_normalise_path(path)] = _Route(kind="hang")

    def trickle(
        self, path: str, body: bytes = b"<rss>" + b" " * 10_000, *, interval: float = 0.1
    ) -> None:
        """Slow-loris: headers at once, then one byte of ``body`` every ``interval`` s."""
        self._routes[_normalise_path(path)] = _Route(kind="trickle", body=body, interval=interval)

    def oversize(
        self, path: str, size: int = 20 * 1024 * 1024, *, content_length: bool = False
    ) -> None:
        """Stream ``size`` bytes generated on the fly (chunked unless ``content_length``)."""
        self._routes[_normalise_path(path)] = _Route(
            kind="oversize", size=size, content_length=content_length
        )

    def gzip_bomb(self, path: str, size: int = 64 * 1024 * 1024) -> None:
        """A small gzip body that inflates to ``size`` bytes of XML-ish padding."""
        self._routes[_normalise_path(path)] = _Route(
            kind="gzip_bomb", body=_gzip_bomb(size), size=size
        )

    # -- inspection ---------------------------------------------------------------------------

    def hits(self, path: str) -> int:
        path = _normalise_path(path)
        return sum(1 for request in self.requests if request.path == path)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        path = _normalise_path(path)
        return [request for request in self.requests if request.path == path]

    def bytes_sent(self, path: str) -> int:
        """Body bytes written so far for a streamed route (``oversize``, ``trickle``)."""
        return self._routes[_normalise_path(path)].bytes_sent

    async def wait_for_hits(self, path: str, count: int = 1) -> None:
        """Await the `count`-th request to `path` (wrap in asyncio.timeout in tests)."""
        async with self._hit:
            await self._hit.wait_for(lambda: self.hits(path) >= count)

    # -- handler -----------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=request.query_string,
                headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            )
        )
        async with self._hit:
            self._hit.notify_all()
        route = self._routes.get(request.path)
        if route is None:
            return web.Response(status=404, text="not found")
        handler = getattr(self, f"_respond_{route.kind}")
        response: web.StreamResponse = await handler(request, route)
        return response

    async def _respond_static(self, request: web.Request, route: _Route) -> web.StreamResponse:
        if route.delay:
            await self._sleep(route.delay)
        headers = CIMultiDict(route.headers)
        if route.status == 304:  # a bare 304, whatever was asked
            return web.Response(status=304, headers=headers)
        etag = route.current_etag()
        if etag is not None:
            headers["ETag"] = etag
        if route.last_modified is not None:
            headers["Last-Modified"] = route.last_modified
        if route.status == 200 and _not_modified(request, etag, route.last_modified):
            return web.Response(status=304, headers=headers)
        if route.content_type is not None:
            headers["Content-Type"] = route.content_type
        body = route.body
        if route.gzip:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        return web.Response(status=route.status, body=body, headers=headers)

    async def _respond_redirect(self, request: web.Request, route: _Route) -> web.StreamResponse:
        return web.Response(status=route.status, headers={"Location": route.location})

    async def _respond_hang(self, request: web.Request, route: _Route) -> web.StreamResponse:
        await self._closing.wait()
        return web.Response(status=503)

    async def _respond_trickle(self, request: web.Request, route: _Route) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": RSS_CONTENT_TYPE})
        response.content_length = len(route.body)
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for index in range(len(route.body)):
                await response.write(route.body[index : index + 1])
                route.bytes_sent += 1
                if await self._sleep(route.interval):
                    break
        return response

    async def _respond_oversize(self, request: web.Request, route: _Route) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": RSS_CONTENT_TYPE})
        if route.content_length:
            response.content_length = route.size
        else:
            response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = b"<!-- padding -->" * (_STREAM_CHUNK // 16)
        with contextlib.suppress(ConnectionError):
            while route.bytes_sent < route.size and not self._closing.is_set():
                piece = chunk[: route.size - route.bytes_sent]
                await response.write(piece)
                route.bytes_sent += len(piece)
            await response.write_eof()
        return response

    async def _respond_gzip_bomb(self, request: web.Request, route: _Route) -> web.StreamResponse:
        headers = {"Content-Type": RSS_CONTENT_TYPE, "Content-Encoding": "gzip"}
        response = web.StreamResponse(headers=headers)
        response.content_length = len(route.body)
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for start in range(0, len(route.body), _STREAM_CHUNK):
                await response.write(route.body[start : start + _STREAM_CHUNK])
                route.bytes_sent += min(_STREAM_CHUNK, len(route.body) - start)
            await response.write_eof()
        return response

    async def _sleep(self, seconds: float) -> bool:
        """Sleep, waking early when the server stops; True if it is stopping."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._closing.wait()
        return self._closing.is_set()


def _normalise_path(path: str) -> str:
    return path if path.startswith("/") else "/" + path


def _not_modified(request: web.Request, etag: str | None, last_modified: str | None) -> bool:
    """RFC 9110 13.2.2: If-None-Match, when present, decides; else If-Modified-Since."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        if etag is None:
            return False
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag.removeprefix("W/") in tags
    if_modified_since = request.headers.get("If-Modified-Since")
    if if_modified_since is None or last_modified is None:
        return False
    try:
        return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False


@functools.cache
def _gzip_bomb(size: int) -> bytes:
    """Compress ``size`` bytes of padding without ever holding them (about 1000:1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip container
    block = b" " * (1024 * 1024)
    parts: list[bytes] = [compressor.compress(b'<?xml version="1.0"?><rss><channel>')]
    for offset in range(0, size, len(block)):
        parts.append(compressor.compress(block[: size - offset]))
    parts.append(compressor.flush())
    return b"".join(parts)


def read_fixture(name: str) -> bytes:
    """Bytes of a sample feed in ``tests/data/feeds`` (copied from the shared fixtures)."""
    return (Path(__file__).parent / "data" / "feeds" / name).read_bytes()


__all__ = ["RSS_CONTENT_TYPE", "FeedServer", "RecordedRequest", "read_fixture"]

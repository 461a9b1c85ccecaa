"""Fetch a feed over HTTP (SPEC 6.1): I/O only, the bytes go to `bot.feeds.parse` untouched.

Every way a fetch can fail on the network ends as one `FetchError` with a short reason for
/feeds and the logs, so the poll job records it and moves on to the next feed (SPEC 6.3).
A 304 is a result, not an error: it costs no parsing.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass

import aiohttp

USER_AGENT = "newsbot/0.1 (+regional economy news bot; feed reader)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)
MAX_REDIRECTS = 5
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class FetchResult:
    status: int  # 200 (any 2xx) or 304
    body: bytes | None  # None for 304
    etag: str | None
    last_modified: str | None
    content_type: str | None  # the full Content-Type header, charset included
    url: str  # final URL after redirects


class FetchError(Exception):
    """A feed could not be fetched; `reason` is short human text ("HTTP 500")."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status  # the HTTP status for "HTTP <code>" errors, else None


class Fetcher:
    """Conditional GET with a hard deadline and a body cap, on a session the caller owns."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        timeout: float = 20.0,
        max_bytes: int = 5 * 1024 * 1024,
    ) -> None:
        self._session = session
        self._timeout = timeout
        self._max_bytes = max_bytes

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """GET `url`; send the validators of the last response so an unchanged feed is a 304.

        The deadline covers everything (DNS, connect, redirects, the whole body): aiohttp's
        read timeout alone resets on every byte, so a server trickling one byte a second
        would hold the fetch for hours.
        """
        headers = {"Accept": ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            async with asyncio.timeout(self._timeout):
                return await self._get(url, headers, etag, last_modified)
        except TimeoutError:
            # Also aiohttp's own ServerTimeoutError/ConnectionTimeoutError, which subclass it.
            raise FetchError(f"timeout after {self._timeout:g} s") from None
        except aiohttp.TooManyRedirects:
            raise FetchError("too many redirects") from None
        except aiohttp.NonHttpUrlRedirectClientError as error:
            raise FetchError(f"redirect to a non-HTTP URL: {error}") from None
        except aiohttp.NonHttpUrlClientError:
            raise FetchError("not an http(s) URL") from None
        except aiohttp.InvalidURL as error:
            raise FetchError(f"invalid URL: {error}") from None
        except aiohttp.ClientConnectorCertificateError as error:
            raise FetchError(f"TLS certificate error: {error.certificate_error}") from None
        except aiohttp.ClientConnectorError as error:
            raise FetchError(f"connection failed: {_describe_connector_error(error)}") from None
        except aiohttp.ClientPayloadError as error:
            raise FetchError(f"broken response body: {_first_line(error)}") from None
        except aiohttp.ClientResponseError as error:  # malformed headers, bad status line
            raise FetchError(f"bad HTTP response: {error.message or error.status}") from None
        except (aiohttp.ClientError, OSError) as error:
            raise FetchError(f"connection failed: {_first_line(error)}") from None

    async def _get(
        self, url: str, headers: dict[str, str], etag: str | None, last_modified: str | None
    ) -> FetchResult:
        timeout = aiohttp.ClientTimeout(total=self._timeout, sock_read=self._timeout)
        async with self._session.get(
            url,
            headers=headers,
            timeout=timeout,
            # aiohttp raises once the redirect count reaches max_redirects: +1 lets 5 through.
            max_redirects=MAX_REDIRECTS + 1,
        ) as response:
            final_url = str(response.url)
            new_etag = response.headers.get("ETag")
            new_last_modified = response.headers.get("Last-Modified")
            if response.status == 304:
                return FetchResult(
                    status=304,
                    body=None,
                    etag=new_etag or etag,
                    last_modified=new_last_modified or last_modified,
                    content_type=response.headers.get("Content-Type"),
                    url=final_url,
                )
            if not 200 <= response.status < 300:
                raise FetchError(f"HTTP {response.status}", status=response.status)
            body = await self._read_capped(response)
            return FetchResult(
                status=response.status,
                body=body,
                etag=new_etag,
                last_modified=new_last_modified,
                content_type=response.headers.get("Content-Type"),
                url=final_url,
            )

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        """Read at most max_bytes + 1 decompressed bytes, so a 20 MB body or a gzip bomb
        is refused after holding about the cap, never the whole thing."""
        too_big = FetchError(f"body over {_human_size(self._max_bytes)}")
        declared = response.content_length
        if declared is not None and declared > self._max_bytes and not _is_compressed(response):
            response.close()
            raise too_big
        body = bytearray()
        while True:
            # response.content yields bytes after aiohttp's gzip/deflate decoding.
            chunk = await response.content.read(min(_CHUNK, self._max_bytes + 1 - len(body)))
            if not chunk:
                return bytes(body)
            body += chunk
            if len(body) > self._max_bytes:
                response.close()  # drop the connection instead of draining the rest
                raise too_big


def create_session(*, user_agent: str = USER_AGENT, limit: int = 20) -> aiohttp.ClientSession:
    """A session for feed fetching; the caller owns it and must close it.

    Call it inside the running event loop. `limit` bounds connections overall (SPEC 6.1:
    20 feeds at once); cookies are kept per host because some anti-bot front ends set one
    and redirect back, which would otherwise loop.
    """
    connector = aiohttp.TCPConnector(limit=limit, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
        auto_decompress=True,
    )


def _is_compressed(response: aiohttp.ClientResponse) -> bool:
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    return encoding not in ("", "identity")


def _human_size(size: int) -> str:
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


def _describe_connector_error(error: aiohttp.ClientConnectorError) -> str:
    """ "Connection refused" rather than aiohttp's "Connect call failed ('1.2.3.4', 80)"."""
    os_error = error.os_error
    if isinstance(os_error, socket.gaierror):
        return f"cannot resolve host {error.host}"
    if os_error.errno and os_error.errno > 0:
        return os.strerror(os_error.errno)
    return os_error.strerror or _first_line(os_error)


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:200]

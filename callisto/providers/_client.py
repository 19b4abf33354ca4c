"""The providers' upstream HTTP client: kept connections, each body read to its end.

Every adapter calls its API through one :class:`UpstreamClient`, an aiohttp session. It was
chosen by measurement (``python -m bench.upstream_clients``): against the fake model, aiohttp
spends a quarter of httpx's CPU per streamed call at concurrency 1 and a third at 64, where
httpx's pool does work on every request that grows with its idle connections.

A connection goes back to the pool only when its response body has been read to its end. The
adapters stop reading at the stream's last event (``[DONE]``, ``message_stop``), a few bytes
before the body ends, so :meth:`UpstreamClient.stream` reads what is left on the way out, for at
most :data:`DRAIN_SECONDS` and :data:`DRAIN_BYTES`. A call that ends with an exception (a
cancelled run, a deadline, a broken stream) before its body is all in closes its connection
instead.

Transport failures become provider errors here, by one table: timeouts are
:class:`~callisto.errors.ProviderTimeout`, any other aiohttp failure (refused, reset, a body cut
short) a :class:`~callisto.errors.ProviderServerError`. Both name the URL without its query.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import httpx
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from callisto.config import ProviderSettings
from callisto.errors import ProviderServerError, ProviderTimeout
from callisto.providers._http import shown_url

__all__ = [
    "DRAIN_BYTES",
    "DRAIN_SECONDS",
    "KEEPALIVE_SECONDS",
    "UpstreamClient",
    "UpstreamResponse",
]

DRAIN_SECONDS = 0.1
"""How long the rest of a body may take once the adapter has read its last event. The end of a
chunked body follows the last event at once from a sound server; one that holds the body open
costs its call this long, and then its connection."""

DRAIN_BYTES = 64 * 1024
"""The most bytes read after the last event to keep a connection; past that it is closed."""

KEEPALIVE_SECONDS = 4.0
"""How long an idle connection is kept: under the 5 s after which uvicorn, and many servers,
close theirs, so a call is not sent on a connection that its server is closing."""


_Proxy = tuple[URL | None, aiohttp.BasicAuth | None]


class UpstreamResponse:
    """A streamed response: its status and headers, then its body, read once.

    Attributes:
        status_code: The HTTP status.
        headers: The response headers (names case-insensitive).
    """

    __slots__ = ("_body", "_response", "headers", "status_code")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self._body: bytes | None = None
        self.status_code = response.status
        self.headers: Mapping[str, str] = response.headers

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """Yield the body as it arrives, in the pieces the network gives."""
        async for chunk in self._response.content.iter_any():
            yield chunk

    async def aread(self) -> bytes:
        """Read the whole body (an error answer's, say); :attr:`text` then holds it."""
        if self._body is None:
            self._body = await self._response.read()
        return self._body

    @property
    def text(self) -> str:
        """The body read by :meth:`aread`, decoded (UTF-8 unless the header says otherwise)."""
        if self._body is None:
            raise RuntimeError("the body was not read; call aread() first")
        charset = self._response.charset or "utf-8"
        try:
            return self._body.decode(charset, errors="replace")
        except LookupError:  # a charset Python does not know
            return self._body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """Return the body read by :meth:`aread`, parsed as JSON (``ValueError`` if it is not)."""
        return json.loads(self.text)


class UpstreamClient:
    """One provider's HTTP client: a pool of kept connections, with the provider's settings.

    ``settings.timeout`` bounds connecting (waiting for a free connection included) and every
    read, so a stream that stalls mid-way times out; at most ``settings.max_connections`` are
    open at once. ``settings.headers`` go with every request. Proxies come from the
    environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``), read once per origin: aiohttp's
    own ``trust_env`` reads them, and ``~/.netrc``, in a thread on every request, which doubled
    the CPU of a call. TLS is verified against the same certificates as httpx's (``certifi``,
    or ``SSL_CERT_FILE``/``SSL_CERT_DIR``).
    Redirects are not followed. The session is opened on first use, in the running loop.

    Args:
        provider: The provider name, to say who failed.
        settings: The provider's settings.
        base_url: Prefixed to request URLs that start with ``/``.
        drain_seconds: How long the end of a body may take (:data:`DRAIN_SECONDS`).
    """

    def __init__(
        self,
        provider: str,
        settings: ProviderSettings,
        *,
        base_url: str = "",
        drain_seconds: float = DRAIN_SECONDS,
    ) -> None:
        self.provider = provider
        self.drain_seconds = drain_seconds
        if base_url:
            httpx.URL(base_url)  # a malformed base URL fails here, when the provider is built
        self._base_url = base_url
        self._settings = settings
        self._ssl = httpx.create_ssl_context()
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            connect=settings.timeout,
            sock_connect=settings.timeout,
            sock_read=settings.timeout,
        )
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, _Proxy] = {}

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._settings.max_connections,
                limit_per_host=0,
                keepalive_timeout=KEEPALIVE_SECONDS,
                ssl=self._ssl,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=self._settings.headers,
                timeout=self._timeout,
            )
        return self._session

    def _proxy(self, url: str) -> _Proxy:
        """Return the proxy the environment names for ``url``'s origin, and its credentials."""
        scheme, _, rest = url.partition("://")
        origin = scheme + "://" + rest.partition("/")[0]
        found = self._proxies.get(origin)
        if found is None:
            try:
                found = get_env_proxy_for_url(URL(origin))
            except (LookupError, ValueError):  # none for this origin, or an unusable URL
                found = (None, None)
            self._proxies[origin] = found
        return found

    async def aclose(self) -> None:
        """Close every connection; the client opens new ones if it is used again."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> AsyncIterator[UpstreamResponse]:
        """Send a request and yield its response once its headers are in.

        The body is read by the caller; what it leaves unread is read on a normal exit (see the
        module docstring), so the connection serves the next call.

        Args:
            method: The HTTP method.
            url: The URL, or a path after the client's ``base_url``.
            json: A body to send as JSON (compact, UTF-8, no NaN), as httpx sends it.
            headers: Headers for this request, over the client's.
            params: Query parameters.

        Raises:
            ProviderTimeout: Connecting, or a read, took longer than the timeout.
            ProviderServerError: The connection failed, broke, or the URL is unusable.
        """
        target = self._base_url + url if url.startswith("/") else url
        data = None
        sent = dict(headers or {})
        if json is not None:
            data = _dumps(json)
            if not any(name.lower() == "content-type" for name in sent):
                sent["Content-Type"] = "application/json"
        proxy, proxy_auth = self._proxy(target)
        try:
            response = await self._open().request(
                method,
                target,
                data=data,
                headers=sent,
                params=params,
                allow_redirects=False,
                proxy=proxy,
                proxy_auth=proxy_auth,
            )
            try:
                yield UpstreamResponse(response)
            except BaseException:
                _release(response)
                raise
            await _drain(response, self.drain_seconds)
        except TimeoutError as exc:
            raise ProviderTimeout(
                f"{self.provider} did not answer in time at {shown_url(target)} "
                f"({type(exc).__name__})"
            ) from exc
        except aiohttp.ClientError as exc:
            raise ProviderServerError(
                f"{self.provider} connection failed at {shown_url(target)}: {type(exc).__name__}"
            ) from exc


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _release(response: aiohttp.ClientResponse) -> None:
    """Give the connection back if its body was read to the end, else close it."""
    if response.content.at_eof():
        response.release()
    else:
        response.close()


async def _drain(response: aiohttp.ClientResponse, seconds: float) -> None:
    """Read what the caller left of the body, within bounds, then release the connection."""
    if not response.content.at_eof():
        try:
            async with asyncio.timeout(seconds):
                left = DRAIN_BYTES
                while left > 0 and not response.content.at_eof():
                    chunk = await response.content.readany()
                    if not chunk:
                        break
                    left -= len(chunk)
        except (TimeoutError, aiohttp.ClientError):
            pass  # closed below: the connection cannot carry another call
    _release(response)

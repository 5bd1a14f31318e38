"""An async transport made of small httpx pools, for the async requests httpx still sends
(streams, the Batch API, proxies; JSON answers go through :mod:`.h1` where it applies).

httpcore's pool scans every connection for every request event, so its cost per request grows
with the number of open connections: at concurrency 64 against a 50 ms loopback server, one
``AsyncHTTPTransport`` ran 2,000 requests in 22.6 s with 64 keep-alive connections and 4.9 s
with the default 20 (which closes and reopens the rest on every request); eight pools of eight
ran them in 3.2 s (``benchmarks/bench_map.py``). A request goes to the least busy pool; a new
pool opens only when every open one is full, so a single conversation keeps one connection.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator, Callable

import httpx

PER_POOL = 8
MAX_POOLS = 16


class _Released(httpx.AsyncByteStream):
    """The answer's body; closing it frees its pool's slot (a stream holds it until then)."""

    def __init__(self, inner: httpx.AsyncByteStream, pool: _Pool) -> None:
        self._inner, self._pool, self._open = inner, pool, True

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        if self._open:
            self._open = False
            self._pool.busy -= 1
        await self._inner.aclose()


class _Pool:
    def __init__(self, transport: httpx.AsyncHTTPTransport) -> None:
        self.transport, self.busy = transport, 0


class PooledAsyncTransport(httpx.AsyncBaseTransport):
    """Up to ``MAX_POOLS`` pools of ``PER_POOL`` connections, filled least-busy first."""

    def __init__(self, *, ssl_context: Callable[[], ssl.SSLContext] | None = None) -> None:
        # called per pool, so built once (loading the CA file takes 40 ms); HttpClients passes
        # the one its other async path (h1) uses too
        self._ssl = ssl_context or functools.cache(httpx.create_ssl_context)
        self._pools: list[_Pool] = []

    def _new_pool(self) -> _Pool:
        limits = httpx.Limits(max_connections=PER_POOL, max_keepalive_connections=PER_POOL)
        pool = _Pool(httpx.AsyncHTTPTransport(limits=limits, verify=self._ssl()))
        self._pools.append(pool)
        return pool

    def _pick(self) -> _Pool:
        pool = min(self._pools, key=lambda p: p.busy, default=None)
        if pool is None or (pool.busy >= PER_POOL and len(self._pools) < MAX_POOLS):
            pool = self._new_pool()
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pool = self._pick()
        pool.busy += 1
        try:
            response = await pool.transport.handle_async_request(request)
        except BaseException:
            pool.busy -= 1
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Released(response.stream, pool)
        return response

    async def aclose(self) -> None:
        pools, self._pools = self._pools, []
        for pool in pools:
            await pool.transport.aclose()

"""The pooled async transport: connections reused, slots freed, one pool for one conversation."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from lexilux_nb.client.pool import MAX_POOLS, PER_POOL, PooledAsyncTransport

BODY = b'{"ok": true}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


class Server:
    """A keep-alive loopback server that counts the connections it accepted."""

    def __init__(self, delay: float = 0.02) -> None:
        self.delay, self.connections = delay, 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                await asyncio.sleep(self.delay)
                writer.write(RESPONSE)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/"

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()


async def _run(concurrency: int, total: int, server: Server, url: str) -> PooledAsyncTransport:
    transport = PooledAsyncTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        todo = iter(range(total))

        async def worker() -> None:
            for _ in todo:
                response = await client.get(url)
                assert response.json() == {"ok": True}

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        assert all(pool.busy == 0 for pool in transport._pools)
        pools = len(transport._pools)
    transport.pools_seen = pools  # type: ignore[attr-defined]
    return transport


async def test_concurrent_requests_reuse_their_connections() -> None:
    server = Server()
    async with server as url:
        transport = await _run(32, 320, server, url)
    # 32 at once need 32 connections, opened once: the default httpx pool (20 kept alive)
    # would reopen the other 12 on nearly every request.
    assert server.connections == 32
    assert transport.pools_seen == 32 // PER_POOL  # type: ignore[attr-defined]


async def test_one_conversation_keeps_one_connection() -> None:
    server = Server(delay=0)
    async with server as url:
        transport = await _run(1, 20, server, url)
    assert server.connections == 1
    assert transport.pools_seen == 1  # type: ignore[attr-defined]


async def test_pools_are_capped() -> None:
    server = Server(delay=0.05)
    async with server as url:
        transport = await _run(PER_POOL * MAX_POOLS + 8, 300, server, url)
    assert transport.pools_seen == MAX_POOLS  # type: ignore[attr-defined]
    assert server.connections == PER_POOL * MAX_POOLS


async def test_an_unread_stream_holds_its_slot_until_closed() -> None:
    server = Server(delay=0)
    transport = PooledAsyncTransport()
    async with server as url, httpx.AsyncClient(transport=transport) as client:
        async with client.stream("GET", url) as response:
            assert response.status_code == 200
            assert transport._pools[0].busy == 1
        assert transport._pools[0].busy == 0


async def test_a_failed_connection_frees_its_slot() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    transport = PooledAsyncTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/")
        assert [pool.busy for pool in transport._pools] == [0]

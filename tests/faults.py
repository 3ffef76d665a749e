"""A fault-injecting TCP proxy: make PostgreSQL or Redis vanish under a running app.

``FaultProxy(host, port)`` listens on 127.0.0.1 (``.port``) and forwards bytes both ways
to the target. ``down()`` resets every open connection and resets new ones right after
accepting them, which is what a crashed service looks like to a client; ``up()`` forwards
again. The proxy runs an asyncio loop in one daemon thread, so hundreds of concurrent
connections cost no threads.

Usage::

    with FaultProxy("127.0.0.1", 6379) as proxy:
        url = f"redis://127.0.0.1:{proxy.port}/0"
        ...
        proxy.down()  # existing and new connections fail
        proxy.up()    # new connections work again
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from types import TracebackType
from typing import Any

_CHUNK = 64 * 1024
_RST = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset, not a FIN


def _reset(writer: asyncio.StreamWriter) -> None:
    """Abort a connection with a TCP reset so the peer sees the failure at once."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RST)
    writer.transport.abort()


class FaultProxy:
    """TCP proxy to ``target_host:target_port`` that tests can switch off and on."""

    def __init__(self, target_host: str, target_port: int, *, connect_timeout_s: float = 5.0):
        self.target = (target_host, target_port)
        self.connect_timeout_s = connect_timeout_s
        self._down = False
        self._closed = False
        self._conns: set[asyncio.StreamWriter] = set()
        self._accepted = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()
        self._server: asyncio.Server = self._call(self._start())
        self.port: int = self._server.sockets[0].getsockname()[1]

    # ------------------------------------------------------------------ public API

    def down(self) -> None:
        """Reset every open connection; new ones are reset as soon as they are accepted."""
        self._call(self._set_down(True))

    def up(self) -> None:
        """Forward new connections again (connections cut by ``down`` stay cut)."""
        self._call(self._set_down(False))

    @property
    def is_down(self) -> bool:
        return self._down

    @property
    def active(self) -> int:
        """Connections currently open through the proxy (each counted once, both sides)."""
        return self._call(self._count()) if not self._closed else 0

    @property
    def accepted(self) -> int:
        """Client connections accepted so far, forwarded or reset."""
        return self._accepted

    def close(self) -> None:
        """Stop listening, reset every connection and stop the loop thread."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(RuntimeError):
            self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ loop side

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def _call(self, coro: Any) -> Any:
        if self._closed and not self._loop.is_running():
            coro.close()
            raise RuntimeError("the proxy is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    async def _start(self) -> asyncio.Server:
        return await asyncio.start_server(
            self._handle, "127.0.0.1", 0, backlog=1024, reuse_address=True
        )

    async def _set_down(self, down: bool) -> None:
        self._down = down
        if down:
            for writer in list(self._conns):
                _reset(writer)
            self._conns.clear()

    async def _count(self) -> int:
        return len(self._conns) // 2

    async def _shutdown(self) -> None:
        self._server.close()
        await self._set_down(True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self._accepted += 1
        if self._down:
            _reset(client_w)
            return
        try:
            up_r, up_w = await asyncio.wait_for(
                asyncio.open_connection(*self.target), self.connect_timeout_s
            )
        except (OSError, TimeoutError):
            _reset(client_w)
            return
        if self._down:  # went down while connecting upstream
            _reset(up_w)
            _reset(client_w)
            return
        self._conns.update((client_w, up_w))
        try:
            await asyncio.gather(
                self._pump(client_r, up_w), self._pump(up_r, client_w), return_exceptions=True
            )
        finally:
            for w in (client_w, up_w):
                if w in self._conns:
                    self._conns.discard(w)
                    w.close()

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy one direction until EOF, then pass the half-close on."""
        try:
            while data := await reader.read(_CHUNK):
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof() and not writer.is_closing():
                writer.write_eof()
        except (OSError, asyncio.IncompleteReadError):
            # One side failed: take the other down with it, as a real peer would see.
            writer.transport.abort()

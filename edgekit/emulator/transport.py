"""The device side of the ADB transport protocol: one TCP connection carrying many streams.

A :class:`Connection` reads messages (CNXN, OPEN, OKAY, WRTE, CLSE), answers the host's CNXN with
the device banner, and for each OPEN asks its device for a service handler
(``device.service_handler(name)``, None when unsupported) which it runs on a new :class:`Stream`.
A stream keeps one WRTE in flight at a time (the host's OKAY releases the next), as adbd does.
"""

from __future__ import annotations

import asyncio
import traceback
from typing import Any, Awaitable, Callable, Protocol

from edgekit.emulator import adb_protocol as P
from edgekit.emulator.daemon_log import log

ServiceHandler = Callable[["Stream", str], Awaitable[None]]


class StreamClosed(Exception):
    """The stream was closed (by either side) while a service was still writing to it."""


class ServiceProvider(Protocol):
    profile: Any  # .properties go into the CNXN banner

    def service_handler(self, service: str) -> ServiceHandler | None: ...


class Stream:
    """One adb stream: ordered data both ways with one-WRTE-in-flight flow control."""

    def __init__(self, conn: "Connection", local_id: int, remote_id: int):
        self.conn = conn
        self.local_id = local_id
        self.remote_id = remote_id
        self.inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.can_send = asyncio.Event()
        self.can_send.set()
        self.write_lock = asyncio.Lock()
        self.closed = False
        self._pending = bytearray()
        self._eof = False

    @property
    def max_payload(self) -> int:
        return self.conn.max_payload

    async def read(self) -> bytes | None:
        """Next chunk the host wrote (acknowledged once taken), or None when the host closed."""
        if self._eof:
            return None
        chunk = await self.inbox.get()
        if chunk is None:
            self._eof = True
            return None
        if not self.closed:
            await self.conn.send(P.A_OKAY, self.local_id, self.remote_id)
        return chunk

    async def readexactly(self, n: int) -> bytes | None:
        while len(self._pending) < n:
            chunk = await self.read()
            if chunk is None:
                return None
            self._pending += chunk
        data = bytes(self._pending[:n])
        del self._pending[:n]
        return data

    async def write(self, data: bytes) -> None:
        async with self.write_lock:
            view = memoryview(data)
            step = self.conn.max_payload
            for off in range(0, len(view), step):
                while not self.can_send.is_set():
                    await self.can_send.wait()
                if self.closed:
                    raise StreamClosed()
                self.can_send.clear()
                await self.conn.send(P.A_WRTE, self.local_id, self.remote_id, bytes(view[off:off + step]))

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.can_send.set()
            try:
                await self.conn.send(P.A_CLSE, self.local_id, self.remote_id)
            except ConnectionError:
                pass
        self.conn.streams.pop(self.local_id, None)

    def remote_closed(self) -> None:
        self.closed = True
        self.inbox.put_nowait(None)
        self.can_send.set()


class Connection:
    def __init__(self, device: ServiceProvider, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.device = device
        self.reader = reader
        self.writer = writer
        self.version = P.A_VERSION
        self.max_payload = P.MAX_PAYLOAD
        self.streams: dict[int, Stream] = {}
        self.next_id = 1
        self.tasks: set[asyncio.Task] = set()
        self.peer = writer.get_extra_info("peername")

    async def send(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        if self.writer.is_closing():
            raise ConnectionResetError("adb connection closed")
        self.writer.write(P.pack_message(command, arg0, arg1, data, self.version < P.A_VERSION_SKIP_CHECKSUM))
        await self.writer.drain()

    async def run(self) -> None:
        log(f"adb connection from {self.peer}")
        try:
            while True:
                header = await self.reader.readexactly(P.HEADER.size)
                cmd, arg0, arg1, length, _check, magic = P.HEADER.unpack(header)
                if magic != cmd ^ 0xFFFFFFFF or length > P.MAX_PAYLOAD_LIMIT:
                    log(f"bad message header from {self.peer}; closing")
                    break
                data = await self.reader.readexactly(length) if length else b""
                await self.dispatch(cmd, arg0, arg1, data)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for stream in list(self.streams.values()):
                stream.remote_closed()
            for task in list(self.tasks):
                task.cancel()
            self.writer.close()
            log(f"adb connection from {self.peer} closed")

    async def dispatch(self, cmd: int, arg0: int, arg1: int, data: bytes) -> None:
        if cmd == P.A_CNXN:
            self.version = min(arg0, P.A_VERSION) if arg0 >= P.A_VERSION_MIN else P.A_VERSION_MIN
            self.max_payload = max(4096, min(arg1, P.MAX_PAYLOAD))
            for stream in list(self.streams.values()):
                stream.remote_closed()
            self.streams.clear()
            await self.send(P.A_CNXN, P.A_VERSION, P.MAX_PAYLOAD, P.banner(self.device.profile.properties))
        elif cmd == P.A_OPEN:
            service = data.rstrip(b"\0").decode("utf-8", "replace")
            handler = self.device.service_handler(service)
            if handler is None or arg0 == 0:
                log(f"OPEN {service!r}: unsupported")
                await self.send(P.A_CLSE, 0, arg0)
                return
            local_id = self.next_id
            self.next_id = (self.next_id % 0x7FFFFFFF) + 1
            stream = Stream(self, local_id, arg0)
            self.streams[local_id] = stream
            await self.send(P.A_OKAY, local_id, arg0)
            task = asyncio.create_task(self._run_service(handler, stream, service))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        elif cmd == P.A_OKAY:
            stream = self.streams.get(arg1)
            if stream is not None:
                stream.remote_id = arg0
                stream.can_send.set()
        elif cmd == P.A_WRTE:
            stream = self.streams.get(arg1)
            if stream is None:
                await self.send(P.A_CLSE, arg1, arg0)
            else:
                stream.inbox.put_nowait(data)
        elif cmd == P.A_CLSE:
            stream = self.streams.pop(arg1, None)
            if stream is not None:
                stream.remote_closed()
        # AUTH / STLS / SYNC: not used (no authentication, no TLS)

    async def _run_service(self, handler: ServiceHandler, stream: Stream, service: str) -> None:
        try:
            await handler(stream, service)
        except (StreamClosed, ConnectionError, asyncio.CancelledError):
            pass
        except Exception:
            log(f"service {service!r} failed:\n{traceback.format_exc()}")
        finally:
            await stream.close()

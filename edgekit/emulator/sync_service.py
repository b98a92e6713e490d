"""The ``sync:`` service (adb push / pull / stat / ls) confined to the device's root.

Paths are resolved with the device root as ``/``: ``..`` and symlinks are followed the way the
device sees them; a path whose ``..`` or relative symlink climbs above the root is refused with
an adb FAIL, so nothing outside the device filesystem is ever read or written.
"""

from __future__ import annotations

import errno
import os
import stat as statmod
from collections import deque
from pathlib import Path

from edgekit.emulator import adb_protocol as P
from edgekit.emulator.transport import StreamClosed

ESCAPE_MESSAGE = "refused: {path} escapes the device filesystem"


class PathEscape(Exception):
    pass


def resolve(root: Path, guest_path: str, follow_last: bool = True) -> Path:
    """Host path of ``guest_path`` inside ``root``; raises PathEscape when it would leave it."""
    pending = deque(p for p in guest_path.split("/") if p not in ("", "."))
    stack: list[str] = []
    links = 0
    while pending:
        name = pending.popleft()
        if name == "..":
            if not stack:
                raise PathEscape(guest_path)
            stack.pop()
            continue
        host = root.joinpath(*stack, name)
        if (pending or follow_last) and os.path.islink(host):
            links += 1
            if links > 40:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), guest_path)
            target = os.readlink(host)
            if target.startswith("/"):
                stack = []  # absolute link: a device path, from the device root
            pending.extendleft(reversed([p for p in target.split("/") if p not in ("", ".")]))
            continue
        stack.append(name)
    return root.joinpath(*stack)


class SyncService:
    def __init__(self, stream, root: Path, log=None):
        self.stream = stream
        self.root = Path(root)
        self.log = log or (lambda msg: None)
        self.out = bytearray()

    # -- output buffering --------------------------------------------------------------------
    async def flush(self) -> None:
        if self.out:
            data, self.out = bytes(self.out), bytearray()
            await self.stream.write(data)

    async def emit(self, data: bytes) -> None:
        self.out += data
        if len(self.out) >= self.stream.max_payload:
            await self.flush()

    async def fail(self, message: str) -> None:
        msg = message.encode("utf-8", "replace")
        await self.emit(P.SYNC_REQ.pack(P.ID_FAIL, len(msg)) + msg)
        await self.flush()

    async def read_exactly(self, n: int) -> bytes:
        data = await self.stream.readexactly(n)
        if data is None:
            raise StreamClosed()
        return data

    # -- main loop ---------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            while await self.handle_one():
                await self.flush()
            await self.flush()
        except StreamClosed:
            pass

    async def handle_one(self) -> bool:
        ident, length = P.SYNC_REQ.unpack(await self.read_exactly(8))
        if length > 1024:
            await self.fail("path too long")
            return False
        raw = await self.read_exactly(length)
        path = raw.decode("utf-8", "surrogateescape")
        if ident == P.ID_QUIT:
            return False
        if ident in (P.ID_STAT, P.ID_STA2, P.ID_LST2):
            return await self.do_stat(ident, path)
        if ident in (P.ID_LIST, P.ID_LIS2):
            return await self.do_list(ident == P.ID_LIS2, path)
        if ident == P.ID_SEND:
            spec, comma, mode_text = path.rpartition(",")
            if not comma:
                await self.fail("missing , in ID_SEND")
                return False
            try:
                mode = int(mode_text, 0)
            except ValueError:
                await self.fail("bad mode")
                return False
            return await self.do_send(spec, mode)
        if ident == P.ID_SND2:
            _id, mode, flags = P.STAT_V1.unpack(await self.read_exactly(12))[:3]
            if flags:
                await self.fail(f"unknown flags: {flags}")
                return False
            return await self.do_send(path, mode)
        if ident == P.ID_RECV:
            return await self.do_recv(path)
        if ident == P.ID_RCV2:
            _id, flags = P.SYNC_REQ.unpack(await self.read_exactly(8))
            if flags:
                await self.fail(f"unknown flags: {flags}")
                return False
            return await self.do_recv(path)
        await self.fail(f"unknown command {ident:08x}")
        return False

    # -- requests ----------------------------------------------------------------------------
    async def refuse(self, path: str) -> bool:
        self.log(f"sync: refused path {path!r} (escapes the device filesystem)")
        await self.fail(ESCAPE_MESSAGE.format(path=path))
        return False

    async def do_stat(self, ident: int, path: str) -> bool:
        try:
            host = resolve(self.root, path, follow_last=(ident == P.ID_STA2))
        except PathEscape:
            # adb clients abort on a FAIL in answer to a stat, so report an empty regular file:
            # the push / pull that follows (SEND / RECV) is then refused with a FAIL and its message.
            self.log(f"sync: stat of {path!r} (escapes the device filesystem): answered as a placeholder")
            mode = statmod.S_IFREG
            if ident == P.ID_STAT:
                await self.emit(P.STAT_V1.pack(P.ID_STAT, mode, 0, 0))
            else:
                await self.emit(P.STAT_V2.pack(ident, 0, 0, 0, mode, 1, 0, 0, 0, 0, 0, 0))
            return True
        except OSError as exc:
            host, err = None, exc.errno or errno.ENOENT
        st = None
        if host is not None:
            try:
                st = os.stat(host) if ident == P.ID_STA2 else os.lstat(host)
                err = 0
            except OSError as exc:
                err = exc.errno or errno.ENOENT
        if ident == P.ID_STAT:
            if st is None:
                await self.emit(P.STAT_V1.pack(P.ID_STAT, 0, 0, 0))
            else:
                await self.emit(P.STAT_V1.pack(P.ID_STAT, st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime) & 0xFFFFFFFF))
        else:
            if st is None:
                await self.emit(P.STAT_V2.pack(ident, err, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
            else:
                await self.emit(P.STAT_V2.pack(ident, 0, st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid,
                                               st.st_gid, st.st_size, int(st.st_atime), int(st.st_mtime), int(st.st_ctime)))
        return True

    async def do_list(self, v2: bool, path: str) -> bool:
        try:
            host = resolve(self.root, path, follow_last=True)
        except PathEscape:
            return await self.refuse(path)
        except OSError:
            host = None
        entries: list[tuple[str, Path]] = []
        if host is not None and host.is_dir():
            parent = host.parent if host != self.root else host
            entries = [(".", host), ("..", parent)]
            try:
                entries += [(e.name, Path(e.path)) for e in os.scandir(host)]
            except OSError:
                entries = []
        for name, p in entries:
            bname = name.encode("utf-8", "surrogateescape")
            try:
                st = os.lstat(p)
            except OSError as exc:
                if v2:
                    await self.emit(P.DENT_V2.pack(P.ID_DNT2, exc.errno or errno.ENOENT, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, len(bname)) + bname)
                continue
            if v2:
                await self.emit(P.DENT_V2.pack(P.ID_DNT2, 0, st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid, st.st_gid,
                                               st.st_size, int(st.st_atime), int(st.st_mtime), int(st.st_ctime), len(bname)) + bname)
            else:
                await self.emit(P.DENT_V1.pack(P.ID_DENT, st.st_mode, st.st_size & 0xFFFFFFFF,
                                               int(st.st_mtime) & 0xFFFFFFFF, len(bname)) + bname)
        if v2:
            await self.emit(P.DENT_V2.pack(P.ID_DONE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        else:
            await self.emit(P.DENT_V1.pack(P.ID_DONE, 0, 0, 0, 0))
        return True

    async def _drain_data(self) -> None:
        """After a failure, swallow the DATA the client keeps sending until DONE (as adbd does)."""
        while True:
            ident, n = P.SYNC_REQ.unpack(await self.read_exactly(8))
            if ident != P.ID_DATA or n > P.SYNC_DATA_MAX:
                return
            await self.read_exactly(n)

    async def do_send(self, path: str, mode: int) -> bool:
        is_link = statmod.S_ISLNK(mode)
        try:
            # like adbd: an existing symlink at the path is replaced, never written through
            host = resolve(self.root, path, follow_last=False)
        except PathEscape:
            await self.refuse(path)
            await self._drain_data()
            return False
        except OSError as exc:
            await self.fail(f"couldn't create file: {exc.strerror}")
            await self._drain_data()
            return False
        fd = -1
        try:
            host.parent.mkdir(parents=True, exist_ok=True)
            if is_link:
                ident, n = P.SYNC_REQ.unpack(await self.read_exactly(8))
                if ident != P.ID_DATA or n > P.SYNC_DATA_MAX:
                    await self.fail("invalid data message: expected ID_DATA")
                    return False
                target = (await self.read_exactly(n)).rstrip(b"\0").decode("utf-8", "surrogateescape")
                if os.path.lexists(host):
                    os.unlink(host)
                os.symlink(target, host)
                ident, mtime = P.SYNC_REQ.unpack(await self.read_exactly(8))
                if ident != P.ID_DONE:
                    await self.fail("invalid data message: expected ID_DONE")
                    return False
            else:
                if host.is_dir() and not host.is_symlink():
                    raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
                if os.path.lexists(host):
                    os.unlink(host)
                perm = (mode & 0o7777) or 0o644
                fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                while True:
                    ident, n = P.SYNC_REQ.unpack(await self.read_exactly(8))
                    if ident == P.ID_DATA:
                        if n > P.SYNC_DATA_MAX:
                            await self.fail("oversize data message")
                            return False
                        data = await self.read_exactly(n)
                        view = memoryview(data)
                        while view:
                            written = os.write(fd, view)
                            view = view[written:]
                    elif ident == P.ID_DONE:
                        mtime = n
                        break
                    else:
                        await self.fail("invalid data message")
                        return False
                os.fchmod(fd, perm)
                os.close(fd)
                fd = -1
            try:
                os.utime(host, (mtime, mtime), follow_symlinks=False)
            except OSError:
                pass
        except OSError as exc:
            if fd >= 0:
                os.close(fd)
                fd = -1
                try:
                    os.unlink(host)
                except OSError:
                    pass
            await self.fail(f"couldn't create file: {exc.strerror or exc}")
            await self._drain_data()
            return False
        finally:
            if fd >= 0:
                os.close(fd)
        await self.emit(P.SYNC_REQ.pack(P.ID_OKAY, 0))
        return True

    async def do_recv(self, path: str) -> bool:
        try:
            host = resolve(self.root, path, follow_last=True)
            fd = os.open(host, os.O_RDONLY | os.O_CLOEXEC)
        except PathEscape:
            return await self.refuse(path)
        except OSError as exc:
            await self.fail(f"open failed: {exc.strerror}")
            return False
        try:
            while True:
                try:
                    chunk = os.read(fd, P.SYNC_DATA_MAX)
                except OSError as exc:
                    await self.fail(f"read failed: {exc.strerror}")
                    return False
                if not chunk:
                    break
                await self.emit(P.SYNC_REQ.pack(P.ID_DATA, len(chunk)) + chunk)
        finally:
            os.close(fd)
        await self.emit(P.SYNC_REQ.pack(P.ID_DONE, 0))
        return True

"""The ``shell:`` / ``shell,v2,...:`` / ``exec:`` services: run one device command for the host.

The command runs by the device's execution route (``counting.shell_route`` for an
``edgekit-counted`` command, else ``guest.guest_command``: chroot + qemu-arm-static) in its own
session. With shell protocol v2 stdout, stderr and the exit code travel as separate packets; without
it stdout and stderr are merged and the exit code is lost (as with adbd). A pty is used when the
host asks for one (``adb shell -t``, or an interactive shell). A command killed by the device's
memory cap gets one ``edgekit-device: out of memory ...`` line on stderr and exit 137.
"""

from __future__ import annotations

import asyncio
import os
import pty
import signal
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from edgekit.emulator import adb_protocol as P
from edgekit.emulator import counting, guest
from edgekit.emulator.daemon_log import log
from edgekit.emulator.profiles import Profile
from edgekit.emulator.transport import Stream, StreamClosed

if TYPE_CHECKING:
    from edgekit.emulator.memory_cap import MemoryCap

SHELL_CHUNK = 32 * 1024


class ShellDevice(Protocol):
    """What a shell command needs from its device (``daemon.Device``)."""

    profile: Profile
    root: Path
    cap: "MemoryCap"
    procs: set[int]      # running shell commands (each leads its own session)
    sessions: set[int]   # every session started (background children outlive their shell)


def parse_shell_service(service: str) -> tuple[bool, bool, str | None, str]:
    """(shell protocol v2, use a pty, TERM, command) from ``shell[,args]:cmd`` or ``exec:cmd``."""
    head, _, command = service.partition(":")
    if head == "exec":
        return False, False, None, command
    args = head.split(",")[1:]
    v2 = "v2" in args
    use_pty = None
    term = None
    for a in args:
        if a == "raw":
            use_pty = False
        elif a == "pty":
            use_pty = True
        elif a.startswith("TERM="):
            term = a[5:]
    if use_pty is None:
        use_pty = command == ""
    return v2, use_pty, term, command


def is_shell_service(service: str) -> bool:
    return service.startswith("shell") and (service[5:6] in (":", ",")) or service.startswith("exec:")


async def run_shell(device: ShellDevice, stream: Stream, service: str) -> None:
    """Serve one shell/exec stream until the command exits (or the host closes the stream)."""
    v2, use_pty, term, command = parse_shell_service(service)
    if command:
        argv = ["/bin/sh", "-c", command]
    else:
        argv = ["/bin/sh", "-i"] if use_pty else ["/bin/sh"]
    extra = {"TERM": term or "dumb"} if use_pty else {}
    cgroup = device.cap.cgroup
    # `edgekit-counted ... -- PROGRAM ...` takes the counted route (dynamic qemu-arm + the counting plugin)
    gc = counting.shell_route(command, root=device.root, profile=device.profile, cgroup=cgroup) if command else None
    if gc is None:
        gc = guest.guest_command(argv, root=device.root, profile=device.profile, cgroup=cgroup, env=extra,
                                 set_ctty=use_pty)
    oom_before = device.cap.kills()

    async def send(packet_id: int, data: bytes) -> None:
        for off in range(0, len(data), SHELL_CHUNK):
            part = data[off:off + SHELL_CHUNK]
            await stream.write(P.shell_packet(packet_id, part) if v2 else part)

    master = -1
    if use_pty:
        master, slave = pty.openpty()
        try:
            proc = await asyncio.create_subprocess_exec(*gc.argv, stdin=slave, stdout=slave, stderr=slave,
                                                        env=gc.env, preexec_fn=gc.preexec_fn)
        finally:
            os.close(slave)
        loop = asyncio.get_running_loop()
        out_reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(out_reader), os.fdopen(os.dup(master), "rb", 0))
        err_reader = None
    else:
        proc = await asyncio.create_subprocess_exec(
            *gc.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE if v2 else asyncio.subprocess.STDOUT,
            env=gc.env, preexec_fn=gc.preexec_fn)
        out_reader, err_reader = proc.stdout, proc.stderr
    device.procs.add(proc.pid)
    device.sessions.add(proc.pid)

    def kill_group() -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    async def pump(reader, packet_id: int) -> None:
        try:
            while True:
                try:
                    chunk = await reader.read(SHELL_CHUNK)
                except OSError:  # EIO from a pty once the child side is closed
                    chunk = b""
                if not chunk:
                    return
                await send(packet_id, chunk)
        except StreamClosed:
            kill_group()

    def write_stdin(data: bytes) -> None:
        if use_pty:
            try:
                os.write(master, data)
            except OSError:
                pass
        elif proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.write(data)

    def close_stdin() -> None:
        if use_pty:
            write_stdin(b"\x04")
        elif proc.stdin is not None:
            proc.stdin.close()

    async def feed() -> None:
        buf = bytearray()
        while True:
            data = await stream.read()
            if data is None:  # the host closed the stream: end the command
                kill_group()
                return
            if not v2:
                write_stdin(data)
            else:
                buf += data
                while len(buf) >= P.SHELL_HEADER.size:
                    pid, n = P.SHELL_HEADER.unpack_from(buf)
                    if len(buf) < P.SHELL_HEADER.size + n:
                        break
                    payload = bytes(buf[P.SHELL_HEADER.size:P.SHELL_HEADER.size + n])
                    del buf[:P.SHELL_HEADER.size + n]
                    if pid == P.SHELL_STDIN:
                        write_stdin(payload)
                    elif pid == P.SHELL_CLOSE_STDIN:
                        close_stdin()
                    elif pid == P.SHELL_WINDOW and use_pty:
                        _set_winsize(master, payload)
            if not use_pty and proc.stdin is not None:
                try:
                    await proc.stdin.drain()
                except (ConnectionError, BrokenPipeError):
                    pass

    feeder = asyncio.create_task(feed())
    pumps = [asyncio.create_task(pump(out_reader, P.SHELL_STDOUT))]
    if err_reader is not None:
        pumps.append(asyncio.create_task(pump(err_reader, P.SHELL_STDERR)))
    try:
        rc = await proc.wait()
        await asyncio.gather(*pumps)
    finally:
        device.procs.discard(proc.pid)
        feeder.cancel()
        for t in pumps:
            t.cancel()
        if master >= 0:
            os.close(master)
    code = 128 - rc if rc < 0 else rc
    if device.cap.kills() > oom_before and code == 128 + signal.SIGKILL:
        mb = device.profile.memory_mb
        msg = (f"edgekit-device: out of memory: killed by the {mb} MB memory cap of device profile "
               f"{device.profile.name} (exit {code})\n")
        log(f"shell {command!r}: {msg.strip()}")
        await send(P.SHELL_STDERR, msg.encode())
    if v2 and not stream.closed:
        await stream.write(P.shell_packet(P.SHELL_EXIT, bytes([code & 0xFF])))


def _set_winsize(fd: int, payload: bytes) -> None:
    try:
        import fcntl
        import termios

        rows, cols, xpix, ypix = (int(x) for x in payload.decode().split("x"))
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, xpix, ypix))
    except (ValueError, OSError):
        pass

"""The device daemon: the device side of the ADB transport protocol over TCP.

Run by ``edgekit emulator start`` as ``python -m edgekit.emulator.daemon`` (detached). It owns a
private mount namespace holding the device filesystem, a memory cgroup capping everything the
device runs, and serves any number of adb connections, each with any number of streams:
``shell:`` / ``shell,v2,...:`` / ``exec:`` and ``sync:``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pty
import signal
import struct
import sys
import time
import traceback
from pathlib import Path

from edgekit.emulator import adb_protocol as P
from edgekit.emulator import counting, guest
from edgekit.emulator.cgroup import MemoryCgroup
from edgekit.emulator.profiles import Profile, load_profile
from edgekit.emulator.sync_service import StreamClosed, SyncService

READY_FILE = "daemon.json"
STATE_FILE = "state.json"
SHELL_CHUNK = 32 * 1024
WATCHDOG_PERIOD = 0.1


def log(msg: str) -> None:
    sys.stderr.write(time.strftime("%H:%M:%S ") + msg + "\n")
    sys.stderr.flush()


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
    def __init__(self, device: "Device", reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
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

    async def _run_service(self, handler, stream: Stream, service: str) -> None:
        try:
            await handler(stream, service)
        except (StreamClosed, ConnectionError, asyncio.CancelledError):
            pass
        except Exception:
            log(f"service {service!r} failed:\n{traceback.format_exc()}")
        finally:
            await stream.close()


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


class Device:
    def __init__(self, profile: Profile, root: Path, cgroup: MemoryCgroup | None):
        self.profile = profile
        self.root = root
        self.cgroup = cgroup
        self.procs: set[int] = set()  # running shell commands (each leads its own session)
        self.sessions: set[int] = set()  # every session started (background children outlive their shell)

    def service_handler(self, service: str):
        if service.startswith("shell") and (service[5:6] in (":", ",")) or service.startswith("exec:"):
            return self.shell
        if service == "sync:":
            return self.sync
        return None

    async def sync(self, stream: Stream, service: str) -> None:
        await SyncService(stream, self.root, log).run()

    def oom_kills(self) -> int:
        return self.cgroup.oom_kills() if self.cgroup else self.watchdog_kills

    watchdog_kills = 0

    async def memory_watchdog(self) -> None:
        """Fallback cap without a cgroup: sum the RSS of every device process (the sessions the
        daemon started), SIGKILL the largest while the sum exceeds the cap."""
        cap = (self.profile.memory_mb or 0) << 20
        page = os.sysconf("SC_PAGE_SIZE")
        while True:
            await asyncio.sleep(WATCHDOG_PERIOD)
            if not self.sessions:
                continue
            usage: list[tuple[int, int]] = []
            for pid in self.session_pids():
                try:
                    usage.append((int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page, pid))
                except (OSError, ValueError, IndexError):
                    continue
            total = sum(r for r, _ in usage)
            if total > cap and usage:
                rss, pid = max(usage)
                try:
                    os.kill(pid, signal.SIGKILL)
                    self.watchdog_kills += 1
                    log(f"memory watchdog: {total >> 20} MB > cap {cap >> 20} MB: killed pid {pid} ({rss >> 20} MB)")
                except ProcessLookupError:
                    pass

    def session_pids(self) -> list[int]:
        """Host pids of every process still running in a session the device started."""
        pids = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
                if int(stat[stat.rindex(")") + 2:].split()[3]) in self.sessions:
                    pids.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
        return pids

    def kill_everything(self) -> None:
        for pid in self.cgroup.pids() if self.cgroup else self.session_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    async def shell(self, stream: Stream, service: str) -> None:
        v2, use_pty, term, command = parse_shell_service(service)
        if command:
            argv = ["/bin/sh", "-c", command]
        else:
            argv = ["/bin/sh", "-i"] if use_pty else ["/bin/sh"]
        extra = {"TERM": term or "dumb"} if use_pty else {}
        # `edgekit-counted ... -- PROGRAM ...` takes the counted route (dynamic qemu-arm + the counting plugin)
        gc = counting.shell_route(command, root=self.root, profile=self.profile, cgroup=self.cgroup) if command else None
        if gc is None:
            gc = guest.guest_command(argv, root=self.root, profile=self.profile, cgroup=self.cgroup, env=extra,
                                     set_ctty=use_pty)
        oom_before = self.oom_kills()

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
        self.procs.add(proc.pid)
        self.sessions.add(proc.pid)

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
            self.procs.discard(proc.pid)
            feeder.cancel()
            for t in pumps:
                t.cancel()
            if master >= 0:
                os.close(master)
        code = 128 - rc if rc < 0 else rc
        if self.oom_kills() > oom_before and code == 128 + signal.SIGKILL:
            mb = self.profile.memory_mb
            msg = (f"edgekit-device: out of memory: killed by the {mb} MB memory cap of device profile "
                   f"{self.profile.name} (exit {code})\n")
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


async def serve(device: Device, host: str, port: int, ready) -> None:
    connections: set[asyncio.Task] = set()

    async def on_connect(reader, writer):
        task = asyncio.current_task()
        connections.add(task)
        try:
            await Connection(device, reader, writer).run()
        except asyncio.CancelledError:
            pass
        finally:
            connections.discard(task)

    server = await asyncio.start_server(on_connect, host, port, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    watchdog = asyncio.create_task(device.memory_watchdog()) if device.cgroup is None else None
    ready()
    await stop.wait()
    log("stopping")
    if watchdog is not None:
        watchdog.cancel()
    server.close()
    device.kill_everything()
    for task in list(connections):
        task.cancel()
    await asyncio.sleep(0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgekit.emulator.daemon", description=__doc__)
    ap.add_argument("--profile", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--rootfs", help="device image rootfs (default: the built image of the current recipe)")
    ap.add_argument("--detach", action="store_true", help="fork into the background (new session) and return at once")
    args = ap.parse_args(argv)
    from edgekit.emulator import image

    if args.detach:
        if os.fork() > 0:
            os._exit(0)
        os.setsid()
    state_path = Path(args.run_dir) / STATE_FILE
    if state_path.exists():  # record the real daemon pid (the launcher forked)
        try:
            state = json.loads(state_path.read_text())
            state["pid"] = os.getpid()
            tmp = state_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(state, indent=2) + "\n")
            os.replace(tmp, state_path)
        except (OSError, ValueError):
            pass

    run_dir = Path(args.run_dir)
    ready_path = run_dir / READY_FILE
    try:
        ready_path.unlink()
    except FileNotFoundError:
        pass
    profile = load_profile(args.profile)
    rootfs = Path(args.rootfs) if args.rootfs else image.rootfs_path()
    guest.unshare_mounts()
    root = guest.prepare_root(rootfs, run_dir, profile, log)
    cgroup = None if os.environ.get("EDGEKIT_EMULATOR_NO_CGROUP") else MemoryCgroup.create(f"port-{args.port}", profile.memory_mb << 20)
    if cgroup is None:
        log(f"no writable memory cgroup: the {profile.memory_mb} MB cap is enforced by polling RSS "
            f"every {WATCHDOG_PERIOD} s (a fast allocation can overshoot between polls)")
    else:
        log(f"memory cap {profile.memory_mb} MB enforced by cgroup {cgroup.version} at {cgroup.path}")
    device = Device(profile, root, cgroup)

    def ready() -> None:
        info = {
            "pid": os.getpid(), "host": args.host, "port": args.port, "profile": profile.name,
            "profile_path": str(profile.path), "root": str(root), "rootfs": str(rootfs),
            "cgroup": cgroup.as_dict() if cgroup else None, "memory_cap_enforced": True,
            "memory_cap_by": f"cgroup {cgroup.version}" if cgroup else "rss watchdog",
            "memory_cap_mb": profile.memory_mb,
            "started_at": time.time(),
        }
        tmp = ready_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=2) + "\n")
        os.replace(tmp, ready_path)
        log(f"device {profile.name} listening on {args.host}:{args.port} (pid {os.getpid()})")

    try:
        asyncio.run(serve(device, args.host, args.port, ready))
    except OSError as exc:
        log(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
        return 3
    finally:
        if cgroup is not None:
            cgroup.remove()
        try:
            ready_path.unlink()
        except FileNotFoundError:
            pass
    log("stopped")
    return 0


def _main_reporting_failure(argv: list[str] | None = None) -> int:
    """main(), but a failure before serving is written to RUN_DIR/failed.txt for the launcher."""
    try:
        return main(argv)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - report anything to the launcher
        from edgekit.errors import EdgekitError

        text = exc.one_line() if isinstance(exc, EdgekitError) else f"{type(exc).__name__}: {exc}"
        log(f"failed: {text}\n{traceback.format_exc()}")
        args = argv if argv is not None else sys.argv[1:]
        if "--run-dir" in args:
            try:
                (Path(args[args.index("--run-dir") + 1]) / "failed.txt").write_text(text + "\n")
            except OSError:
                pass
        return 1


if __name__ == "__main__":
    sys.exit(_main_reporting_failure())

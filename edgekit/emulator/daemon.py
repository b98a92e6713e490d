"""The device daemon: one emulated device serving adb over TCP.

Run by ``edgekit emulator start`` as ``python -m edgekit.emulator.daemon`` (detached). It owns a
private mount namespace holding the device filesystem (``guest.prepare_root``), a memory cap on
everything the device runs (``memory_cap``: a cgroup, or the RSS watchdog), and serves any number
of adb connections (``transport``), each with any number of streams: ``shell:`` / ``shell,v2,...:``
/ ``exec:`` (``shell_service``) and ``sync:`` (``sync_service``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from edgekit.emulator import guest
from edgekit.emulator.daemon_log import log
from edgekit.emulator.instance import FAILED_FILE, READY_FILE, STATE_FILE
from edgekit.emulator.memory_cap import MemoryCap, create_cap
from edgekit.emulator.profiles import Profile, load_profile
from edgekit.emulator.shell_service import is_shell_service, run_shell
from edgekit.emulator.sync_service import SyncService
from edgekit.emulator.transport import Connection, Stream

class Device:
    """The services of one device (what a :class:`~edgekit.emulator.transport.Connection` opens)."""

    def __init__(self, profile: Profile, root: Path, cap: MemoryCap, sessions: set[int] | None = None):
        self.profile = profile
        self.root = root
        self.cap = cap
        self.procs: set[int] = set()  # running shell commands (each leads its own session)
        # every session started (background children outlive their shell); the watchdog cap reads it
        self.sessions: set[int] = set() if sessions is None else sessions

    def service_handler(self, service: str):
        if is_shell_service(service):
            return self.shell
        if service == "sync:":
            return self.sync
        return None

    async def shell(self, stream: Stream, service: str) -> None:
        await run_shell(self, stream, service)

    async def sync(self, stream: Stream, service: str) -> None:
        await SyncService(stream, self.root, log).run()

    def kill_everything(self) -> None:
        for pid in self.cap.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
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
    enforcer = asyncio.create_task(device.cap.enforce())
    ready()
    await stop.wait()
    log("stopping")
    enforcer.cancel()
    server.close()
    device.kill_everything()
    for task in list(connections):
        task.cancel()
    await asyncio.sleep(0)


def _record_pid(state_path: Path) -> None:
    """Write the real daemon pid into state.json (the launcher forked)."""
    if not state_path.exists():
        return
    try:
        state = json.loads(state_path.read_text())
        state["pid"] = os.getpid()
        tmp = state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(tmp, state_path)
    except (OSError, ValueError):
        pass


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
    run_dir = Path(args.run_dir)
    _record_pid(run_dir / STATE_FILE)
    ready_path = run_dir / READY_FILE
    try:
        ready_path.unlink()
    except FileNotFoundError:
        pass
    profile = load_profile(args.profile)
    rootfs = Path(args.rootfs) if args.rootfs else image.rootfs_path()
    guest.unshare_mounts()
    root = guest.prepare_root(rootfs, run_dir, profile, log)
    sessions: set[int] = set()
    cap = create_cap(f"port-{args.port}", profile.memory_mb, sessions, log)
    log(cap.describe())
    device = Device(profile, root, cap, sessions)

    def ready() -> None:
        info = {
            "pid": os.getpid(), "host": args.host, "port": args.port, "profile": profile.name,
            "profile_path": str(profile.path), "root": str(root), "rootfs": str(rootfs),
            "cgroup": cap.cgroup.as_dict() if cap.cgroup else None, "memory_cap_enforced": True,
            "memory_cap_by": cap.by,
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
        cap.release()
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
                (Path(args[args.index("--run-dir") + 1]) / FAILED_FILE).write_text(text + "\n")
            except OSError:
                pass
        return 1


if __name__ == "__main__":
    sys.exit(_main_reporting_failure())

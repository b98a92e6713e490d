"""The emulated devices' lifecycle (host side): start, stop, ensure_running, status, and
connecting them to the adb server.

What an instance is and where its state lives (``run/<port>/``) is :mod:`edgekit.emulator.instance`.
One start or stop at a time on this machine (a lock in the run root): several sessions may call
``ensure_running`` at once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from edgekit import adb
from edgekit.cache import locked
from edgekit.emulator import hosttools, image
from edgekit.emulator.cgroup import MemoryCgroup
from edgekit.emulator.instance import (DAEMON_MODULE, DEFAULT_HOST, FAILED_FILE, LOG_FILE, READY_FILE, STATE_FILE,
                                       Instance, emulator_alias, instances, load_instance, log_tail, run_dir, run_root)
from edgekit.emulator.profiles import DEFAULT_PROFILE, load_profile
from edgekit.errors import EdgekitError

DEFAULT_PORT = 5555
START_TIMEOUT = 30.0


# -- adb (edgekit.adb: one adb layer, on adbutils) -------------------------------------------------

def adb_serial(inst: Instance, states: dict[str, str] | None = None) -> tuple[str, str]:
    """(serial the adb server uses for this instance, its state) — the alias if that is how it sees it."""
    states = adb.states() if states is None else states
    if inst.serial in states:
        return inst.serial, states[inst.serial]
    alias = emulator_alias(inst.host, inst.port)
    if alias and alias in states:
        return alias, states[alias]
    return inst.serial, "not connected"


def connect_instance(inst: Instance) -> str:
    """Make the adb server see the instance (unless it already does); returns the serial to use."""
    serial, state = adb_serial(inst)
    if state == "device":
        return serial
    adb.connect(inst.serial)
    return inst.serial


# -- start / stop -----------------------------------------------------------------------------------

def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = DEFAULT_HOST) -> int:
    """A free TCP port outside adb's emulator scan range (5555-5585)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if not 5554 <= port <= 5586 and load_instance(port) is None:
            return port
    raise EdgekitError("no free TCP port found")


def check_host(need_image: bool = True) -> Path | None:
    """One-line errors for what the host lacks: adb, qemu-user-static, root, the image, binfmt."""
    hosttools.require_adb()
    hosttools.require_tool(hosttools.QEMU_ARM_STATIC, "qemu-user-static")
    hosttools.require_root("the emulated device")
    rootfs = image.rootfs_path() if need_image else None
    hosttools.ensure_binfmt()
    return rootfs


def start(profile: str = DEFAULT_PROFILE, port: int | None = DEFAULT_PORT, host: str = DEFAULT_HOST,
          log=None, private: bool = False) -> Instance:
    """Start an emulated device in the background and connect the adb server to it.

    ``private=True`` (tests): ``ensure_running`` never hands this instance to anyone else.
    """
    log = log or (lambda msg: None)
    prof = load_profile(profile)
    if not prof.is_emulated:
        raise EdgekitError(f"profile {prof.name} describes a real phone, not an emulated one",
                           hint="use armv7-lowend or armv7-midrange")
    check_host()
    # One start/stop at a time on this machine: several sessions may call ensure_running at once.
    with locked(run_root() / ".lock"):
        return _start_locked(prof, port, host, log, private)


def _start_locked(prof, port: int | None, host: str, log, private: bool) -> Instance:
    if port is None:
        port = free_port(host)
    if not 1 <= port <= 65535:
        raise EdgekitError(f"--port {port} is not a TCP port", hint="use 1024-65535")
    existing = load_instance(port)
    if existing is not None:
        if existing.daemon_alive():
            if existing.profile == prof.name:
                existing.serial = connect_instance(existing)
                log(f"already running: {existing.serial} ({existing.profile})")
                return existing
            raise EdgekitError(f"port {port} is already used by the emulated device {existing.profile} ({existing.serial})",
                               hint=f"`edgekit emulator stop --port {port}` first, or choose another --port")
        _cleanup(existing)
    if not port_free(host, port):
        raise EdgekitError(f"port {port} on {host} is in use", hint="choose another --port (or stop what listens there)")
    d = run_dir(port)
    d.mkdir(parents=True, exist_ok=True)
    for stale in (READY_FILE, FAILED_FILE):
        (d / stale).unlink(missing_ok=True)
    serial = f"{host}:{port}"
    state = {"port": port, "host": host, "profile": prof.name, "profile_path": str(prof.path), "serial": serial,
             "started_at": time.time(), "pid": None, "private": private}
    (d / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
    cmd = [sys.executable, "-m", DAEMON_MODULE, "--detach", "--profile", str(prof.path or prof.name), "--port", str(port),
           "--host", host, "--run-dir", str(d)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    with open(d / LOG_FILE, "wb") as logf:
        launcher = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, env=env,
                                  start_new_session=True, close_fds=True)
    if launcher.returncode != 0:
        raise EdgekitError(f"the emulator daemon did not start (exit {launcher.returncode})", hint=f"see {d / LOG_FILE}")
    deadline = time.time() + START_TIMEOUT
    while not (d / READY_FILE).exists():
        failed = d / FAILED_FILE
        if failed.exists():
            msg = failed.read_text().strip()
            _cleanup(load_instance(port))
            raise EdgekitError(f"the emulated device failed to start: {msg}")
        inst = load_instance(port)
        if inst and inst.pid and not inst.daemon_alive():
            tail = log_tail(d / LOG_FILE)
            _cleanup(inst)
            raise EdgekitError(f"the emulated device exited while starting: {tail}")
        if time.time() > deadline:
            tail = log_tail(d / LOG_FILE)
            _stop_locked([load_instance(port)], log)
            raise EdgekitError(f"the emulated device did not come up in {START_TIMEOUT:.0f} s: {tail}")
        time.sleep(0.05)
    inst = load_instance(port)
    assert inst is not None
    try:
        inst.serial = connect_instance(inst)
    except EdgekitError:
        _stop_locked([inst], log)
        raise
    log(f"started {serial} ({prof.name})")
    if inst.daemon.get("memory_cap_by") == "rss watchdog":
        sys.stderr.write(f"edgekit: warning: no writable memory cgroup on this host: the {prof.memory_mb} MB memory cap of "
                         f"{prof.name} is enforced by polling RSS only (a fast allocation can overshoot)\n")
    return inst


def _cleanup(inst: Instance | None) -> None:
    """Remove what a (dead) instance left: its cgroup (killing leftovers) and its run dir."""
    if inst is None:
        return
    cg = inst.daemon.get("cgroup")
    if cg:
        try:
            MemoryCgroup.from_dict(cg).remove()
        except (OSError, KeyError, ValueError):
            pass
    # The mounts lived in the daemon's private mount namespace: here run_dir/root is a plain dir.
    shutil.rmtree(inst.run_dir, ignore_errors=True)


def stop(port: int | None = None, log=None) -> list[Instance]:
    """Stop the emulated device on ``port`` (all when None): disconnect adb, end the daemon and all it ran."""
    log = log or (lambda msg: None)
    with locked(run_root() / ".lock"):
        targets = [i for i in instances() if port is None or i.port == port]
        _stop_locked(targets, log)
    return targets


def _stop_locked(targets: list, log) -> None:
    for inst in targets:
        if inst is None:
            continue
        adb.disconnect(inst.serial)  # (never raises: no adb server means nothing to disconnect)
        if inst.daemon_alive():
            os.kill(inst.pid, signal.SIGTERM)
            deadline = time.time() + 10
            while inst.daemon_alive() and time.time() < deadline:
                time.sleep(0.05)
            if inst.daemon_alive():
                try:
                    os.killpg(inst.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    os.kill(inst.pid, signal.SIGKILL)
        _cleanup(inst)
        alias = emulator_alias(inst.host, inst.port)
        if alias:  # an emulator-scan transport lingers as offline for a moment: wait it out
            deadline = time.time() + 8
            try:
                while alias in adb.states() and time.time() < deadline:
                    time.sleep(0.2)
            except EdgekitError:
                pass
        log(f"stopped {inst.serial} ({inst.profile})")


def status() -> list[dict]:
    """One row per known instance; ``state`` is ``device`` or ``offline`` (daemon dead or adb says so)."""
    rows = []
    known = instances()
    states: dict[str, str] = {}
    if known:  # (no instance: no need to ask, or start, an adb server)
        try:
            states = adb.states()
        except EdgekitError:
            pass
    for inst in known:
        row = inst.as_dict()
        alive = inst.daemon_alive()
        row["daemon"] = "running" if alive else "not running"
        row["serial"], adb_state = adb_serial(inst, states)
        row["adb"] = adb_state
        if not alive:
            row["state"] = "offline"
            row["problem"] = f"daemon not running (crashed or killed); last log line: {log_tail(inst.log_path)}"
        elif adb_state != "device":
            row["state"] = "offline" if adb_state in ("offline", "not connected") else adb_state
            row["problem"] = f"adb server sees it as {adb_state}; run `edgekit emulator start --port {inst.port}` to reconnect"
        else:
            row["state"] = "device"
        rows.append(row)
    return rows


def profile_rows() -> list[dict]:
    """One row per device profile (shipped, or in ``$EDGEKIT_DEVICES``): name, kind, qemu CPU, memory
    cap, cores, cost model (core and clock) — or ``error``, the one-line reason it does not load."""
    from edgekit import costmodel
    from edgekit.emulator.profiles import list_profiles

    rows = []
    for name in list_profiles():
        row: dict = {"name": name, "kind": None, "qemu_cpu": None, "memory_mb": None, "cores": None, "serial": None,
                     "cost_model": None, "description": "", "path": None}
        try:
            prof = load_profile(name)
            row.update(name=prof.name, kind=prof.kind, qemu_cpu=prof.qemu_cpu, memory_mb=prof.memory_mb,
                       cores=prof.cores, serial=prof.serial, description=prof.description,
                       path=str(prof.path) if prof.path else None)
            model = costmodel.load(prof)
            if model is not None:
                row["cost_model"] = {"core": model.core, "clock_mhz": model.clock_mhz}
        except EdgekitError as exc:
            row["error"] = exc.one_line()
        rows.append(row)
    return rows


def ensure_running(profile: str = DEFAULT_PROFILE, port: int | None = None) -> str:
    """Start the emulated device (or reuse a running one with this profile); returns its adb serial."""
    prof = load_profile(profile)
    found = [i for i in instances() if i.profile == prof.name and (i.port == port or (port is None and not i.private))]
    for inst in found:
        if inst.daemon_alive():
            return connect_instance(inst)
    if port is None:
        # a dead instance of this profile (its daemon was killed) restarts on its own port, so the device
        # keeps its adb address and nothing stays listed offline; start() cleans up what it left
        dead = [i for i in found if port_free(i.host, i.port)]
        if dead:
            port = dead[0].port
        else:
            port = DEFAULT_PORT if (load_instance(DEFAULT_PORT) is None and port_free(DEFAULT_HOST, DEFAULT_PORT)) else free_port()
    return start(prof.path or prof.name, port).serial

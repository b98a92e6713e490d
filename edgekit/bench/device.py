"""Devices over adb (through adbutils): pick, describe, push/pull, run quoted commands.

Every argument that reaches ``adb shell`` goes through :func:`shell_join` (``shlex.quote``), so a
model file named ``x; rm -rf /data;.tflite`` is just a file name on the device.

Transport problems (device unplugged, emulator killed, adb server killed) raise
:class:`DeviceLost`, a one-line error naming the device; command failures on a healthy device are
returned as :class:`ShellResult` with the exit code.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from edgekit.errors import EdgekitError

REMOTE_ROOT = "/data/local/tmp/edgekit"
ARM32_ABIS = ("armeabi-v7a", "armeabi")
PROPS = {
    "abi": "ro.product.cpu.abi",
    "abilist": "ro.product.cpu.abilist",
    "sdk": "ro.build.version.sdk",
    "release": "ro.build.version.release",
    "model": "ro.product.model",
    "manufacturer": "ro.product.manufacturer",
    "device": "ro.product.device",
    "hardware": "ro.hardware",
}
_TCP_SERIAL = re.compile(r"^[\w.\-]+:\d+$")


class DeviceLost(EdgekitError):
    """The device stopped answering over adb (exit code 3)."""

    def __init__(self, serial: str, detail: str):
        super().__init__(f"device {serial} disconnected: {detail}", exit_code=3)
        self.serial = serial
        self.detail = detail


class CommandTimeout(EdgekitError):
    """A device command produced nothing for longer than its timeout (the device still answers)."""

    def __init__(self, serial: str, seconds: float):
        super().__init__(f"a command on {serial} timed out after {seconds:g} s", "raise --timeout for slow models")
        self.serial = serial
        self.seconds = seconds


def shell_join(args: Sequence[str]) -> str:
    """argv -> one ``sh -c`` safe string."""
    return " ".join(shlex.quote(str(a)) for a in args)


@dataclass
class ShellResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + ("\n" if self.stdout and self.stderr else "") + self.stderr


def _client():
    try:
        from adbutils import AdbClient
    except ImportError as exc:  # pragma: no cover
        raise EdgekitError(f"adbutils is not installed ({exc})", "run make setup")
    return AdbClient()  # honours ANDROID_ADB_SERVER_HOST / ANDROID_ADB_SERVER_PORT


def _transport_errors() -> tuple[type[BaseException], ...]:
    from adbutils import AdbError

    return (AdbError, EOFError, ConnectionError, socket.timeout, TimeoutError, OSError)


def _brief(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, EOFError):
        text = f"the adb connection closed mid-command ({text})"
    return text[:200]


def list_serials() -> list[tuple[str, str]]:
    """(serial, state) of every device the adb server knows."""
    try:
        c = _client()
        with c.make_connection(timeout=10) as conn:
            conn.send_command("host:devices")
            conn.check_okay()
            text = conn.read_string_block()
    except _transport_errors() as exc:
        raise EdgekitError(f"cannot talk to the adb server: {_brief(exc)}", "install adb (apt-get install adb) and check `adb devices`")
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out.append((parts[0], parts[1]))
    return out


@dataclass
class Device:
    serial: str
    info: dict[str, Any] = field(default_factory=dict)
    profile: str | None = None            # emulated device profile name
    _dev: Any = None
    _shell_v2: bool | None = None

    # -- connection ------------------------------------------------------------------------------
    def _adb(self):
        if self._dev is None:
            self._dev = _client().device(serial=self.serial)
        return self._dev

    def state(self) -> str | None:
        try:
            return self._adb().get_state()
        except _transport_errors():
            return None

    def ensure_online(self, reconnect: bool = True) -> None:
        """Raise DeviceLost unless the device is in state ``device`` (re-``adb connect`` a TCP serial once)."""
        st = self.state()
        if st == "device":
            return
        if reconnect and _TCP_SERIAL.match(self.serial):
            try:
                _client().connect(self.serial, timeout=15)
            except _transport_errors():
                pass
            for _ in range(20):
                st = self.state()
                if st == "device":
                    return
                time.sleep(0.25)
        known = ", ".join(f"{s} ({st})" for s, st in list_serials()) or "none"
        raise DeviceLost(self.serial, f"not online over adb (state: {st or 'not found'}; adb sees: {known})")

    # -- commands --------------------------------------------------------------------------------
    def shell(self, args: Sequence[str] | str, timeout: float = 120.0) -> ShellResult:
        """Run argv (quoted here) or an already-quoted command string; stdout/stderr/exit code."""
        cmd = args if isinstance(args, str) else shell_join(args)
        from adbutils import AdbTimeout

        try:
            r = self._adb().shell2(cmd, timeout=timeout, v2=self._v2())
        except AdbTimeout as exc:
            if self.state() == "device":
                raise CommandTimeout(self.serial, timeout) from None
            raise DeviceLost(self.serial, _brief(exc)) from None
        except _transport_errors() as exc:
            raise DeviceLost(self.serial, _brief(exc)) from None
        stdout = r.stdout if r.stdout is not None else r.output
        return ShellResult(int(r.returncode), stdout or "", r.stderr or "")

    def _v2(self) -> bool:
        if self._shell_v2 is None:
            try:
                feats = self._adb().get_features()
            except _transport_errors() as exc:
                raise DeviceLost(self.serial, _brief(exc)) from None
            self._shell_v2 = "shell_v2" in feats.split(",")
        return self._shell_v2

    def push(self, local: str | Path, remote: str, mode: int = 0o644) -> None:
        try:
            self._adb().sync.push(str(local), remote, mode=mode)
        except _transport_errors() as exc:
            raise DeviceLost(self.serial, f"push of {Path(local).name} failed: {_brief(exc)}") from None

    def push_if_changed(self, local: str | Path, remote: str, mode: int = 0o644) -> bool:
        """Push unless a file of the same size is already there (remote paths are content-addressed)."""
        size = Path(local).stat().st_size
        try:
            st = self._adb().sync.stat(remote)
            if st.size == size and st.mode & 0o170000 == 0o100000:
                return False
        except _transport_errors():
            pass
        self.push(local, remote, mode)
        return True

    def pull(self, remote: str, local: str | Path) -> None:
        try:
            self._adb().sync.pull(remote, str(local))
        except _transport_errors() as exc:
            raise DeviceLost(self.serial, f"pull of {remote} failed: {_brief(exc)}") from None

    def mkdir(self, *paths: str) -> None:
        r = self.shell(["mkdir", "-p", *paths])
        if r.returncode != 0:
            raise EdgekitError(f"cannot create {' '.join(paths)} on {self.serial}: {r.output.strip()}")

    # -- description -----------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """ABI, model, SDK, cores, RAM ... (one shell round trip)."""
        sep = "@@EDGEKIT@@"
        parts = []
        for prop in PROPS.values():
            parts.append(f"getprop {shlex.quote(prop)}; echo {sep}")
        parts.append(f"(nproc 2>/dev/null || grep -c ^processor /proc/cpuinfo); echo {sep}")
        parts.append(f"grep MemTotal /proc/meminfo; echo {sep}")
        parts.append("uname -m")
        r = self.shell("; ".join(parts), timeout=60)
        chunks = [c.strip() for c in r.stdout.split(sep)]
        info: dict[str, Any] = {"serial": self.serial}
        for (key, _), val in zip(PROPS.items(), chunks):
            info[key] = val or None
        rest = chunks[len(PROPS):]
        try:
            info["cores"] = int(rest[0].split()[0])
        except (IndexError, ValueError):
            info["cores"] = None
        m = re.search(r"(\d+)\s*kB", rest[1] if len(rest) > 1 else "")
        info["ram_mb"] = round(int(m.group(1)) / 1024) if m else None
        info["machine"] = rest[2] if len(rest) > 2 and rest[2] else None
        if self.profile:
            info["profile"] = self.profile
            info["emulated"] = (info.get("hardware") or "").startswith("qemu") or _TCP_SERIAL.match(self.serial) is not None
        self.info = info
        return info

    def check_abi(self, allow_abi: bool) -> None:
        abi = self.info.get("abi")
        if abi in ARM32_ABIS:
            return
        if allow_abi:
            return
        raise EdgekitError(
            f"device {self.serial} has ABI {abi or 'unknown'}, not 32-bit ARM (armeabi-v7a)",
            "edgekit targets armeabi-v7a phones; pass --allow-abi to benchmark it anyway",
        )


def open_devices(serials: Sequence[str]) -> list[Device]:
    """Devices by serial; with no serial, the only online device (error if none or several)."""
    listed = list_serials()
    if not serials:
        online = [s for s, st in listed if st == "device"]
        if len(online) != 1:
            what = "no device" if not online else f"{len(online)} devices ({', '.join(online)})"
            raise EdgekitError(f"adb sees {what}", "pass --device SERIAL (see `adb devices`) or --emulator")
        serials = online
    devices = []
    for s in dict.fromkeys(serials):
        d = Device(s, profile=profile_for(s))
        d.ensure_online()
        devices.append(d)
    return devices


def profile_for(serial: str) -> str | None:
    """The profile naming this serial: a running emulated device's, or a real phone's devices/*.toml."""
    try:
        from edgekit import emulator

        for inst in emulator.instances():
            if inst.serial == serial:
                return inst.profile
        from edgekit.emulator.profiles import profile_for_serial

        p = profile_for_serial(serial)
        return p.name if p else None
    except Exception:  # noqa: BLE001 - naming is a nicety, never a failure
        return None


def emulator_device(profile: str | None) -> Device:
    """Start (or reuse) the emulated device through the emulator package's API."""
    try:
        from edgekit import emulator
        ensure_running = emulator.ensure_running  # type: ignore[attr-defined]
    except (ImportError, AttributeError) as exc:
        raise EdgekitError(f"the emulated device is not available in this edgekit ({exc})", "use --device SERIAL with a real phone")
    name = profile or getattr(emulator, "DEFAULT_PROFILE", None) or "armv7-lowend"
    serial = ensure_running(profile=name)
    d = Device(str(serial), profile=name)
    d.ensure_online()
    return d


def remote(*parts: str) -> str:
    return "/".join([REMOTE_ROOT, *[p.strip("/") for p in parts]])


def env_timeout(default: float) -> float:
    try:
        return float(os.environ.get("EDGEKIT_BENCH_TIMEOUT", default))
    except ValueError:
        return default

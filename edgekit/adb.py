"""The one adb layer: devices seen by the adb server, through adbutils (imported lazily).

    from edgekit import adb
    for row in adb.list_devices():          # serial, state, description (ABI, model, SDK, cores, RAM)
        print(row.serial, row.state, row.description)
    dev = adb.device("127.0.0.1:5600")      # a small object: shell, push, pull, getprop, describe
    dev.shell(["ls", "/data/local/tmp"])    # argv is quoted here (shlex.quote): file names stay names
    adb.connect("127.0.0.1:5600")           # adb connect, checked (adb itself exits 0 on failure)
    adb.disconnect("127.0.0.1:5600")        # never raises
    adb.states()                            # {serial: "device" | "offline" | ...}

The transport is hidden: the adb server's address comes from ``ANDROID_ADB_SERVER_HOST`` /
``ANDROID_ADB_SERVER_PORT`` (read at every call, so a test's private server is honoured), and
adbutils starts the server when none answers. adbutils is part of ``edgekit[bench]``; a core
install has none, and every entry point here then says so in one line.

Errors: the adb server unreachable -> :class:`EdgekitError` (exit 2); a device that stops answering
mid-command -> :class:`DeviceLost` (exit 3); a command silent for longer than its timeout on a
device that still answers -> :class:`CommandTimeout`. A command that fails on a healthy device is a
:class:`ShellResult` with its exit code, never an exception.
"""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from edgekit.errors import EdgekitError

# getprop name per description key (the order is the order of the probe's output)
PROPS = {
    "abi": "ro.product.cpu.abi",
    "abilist": "ro.product.cpu.abilist",
    "sdk": "ro.build.version.sdk",
    "release": "ro.build.version.release",
    "model": "ro.product.model",
    "manufacturer": "ro.product.manufacturer",
    "device": "ro.product.device",
    "hardware": "ro.hardware",
    "serialno": "ro.serialno",
}
TCP_SERIAL = re.compile(r"^[\w.\-]+:\d+$")
_SEP = "@@EDGEKIT@@"
SERVER_HINT = "install adb (apt-get install adb) and check `adb devices`"


class _Counting:
    """A binary file whose reads are reported (progress of a push)."""

    def __init__(self, fh: Any, on_bytes: Callable[[int], None]):
        self.fh, self.on_bytes = fh, on_bytes

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        if data:
            self.on_bytes(len(data))
        return data


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


def shell_join(args: Sequence[Any]) -> str:
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


# -- the adb server -------------------------------------------------------------------------------

def _adbutils():
    try:
        import adbutils
    except ImportError:
        from edgekit.extras import ExtraMissing

        raise ExtraMissing("talking to adb devices", "bench", ["adbutils"]) from None
    return adbutils


def client():
    """An adbutils client for the adb server of the environment (host/port read now)."""
    return _adbutils().AdbClient()


def transport_errors() -> tuple[type[BaseException], ...]:
    """What adbutils raises when the server or a device stops answering."""
    return (_adbutils().AdbError, EOFError, ConnectionError, socket.timeout, TimeoutError, OSError,
            subprocess.SubprocessError)


def brief(exc: BaseException) -> str:
    """One line (at most 200 characters) for a transport exception."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, EOFError):
        text = f"the adb connection closed mid-command ({text})"
    return text[:200]


def _server_error(exc: BaseException) -> EdgekitError:
    c = client()
    return EdgekitError(f"cannot talk to the adb server at {c.host}:{c.port}: {brief(exc)}", SERVER_HINT)


def states() -> dict[str, str]:
    """serial -> state (``device``, ``offline``, ``unauthorized`` ...) as the adb server lists them."""
    try:
        with client().make_connection(timeout=10) as conn:
            conn.send_command("host:devices")
            conn.check_okay()
            text = conn.read_string_block()
    except transport_errors() as exc:
        raise _server_error(exc) from None
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out[parts[0]] = parts[1]
    return out


def connect(serial: str, timeout: float = 15.0) -> None:
    """``adb connect SERIAL`` (host:port) until the server lists it as ``device``.

    adb answers a failed connect with text, not an error: that text is read, retried until
    ``timeout``, then raised as one line. A stale ``offline`` transport is dropped first."""
    deadline = time.monotonic() + timeout
    if states().get(serial) == "offline":      # e.g. the device's daemon was restarted
        disconnect(serial)
    while True:
        try:
            last = (client().connect(serial, timeout=max(1.0, min(10.0, timeout))) or "").strip()
        except transport_errors() as exc:
            last = brief(exc)
        if "connected to" in last and "cannot" not in last and "failed" not in last:
            break
        if time.monotonic() > deadline:
            raise EdgekitError(f"adb connect {serial} failed: {last.splitlines()[-1] if last else 'no answer'}",
                               hint="see `edgekit emulator status` and the device's log")
        time.sleep(0.3)
    while (state := states().get(serial)) != "device":
        if time.monotonic() > deadline:
            raise EdgekitError(f"{serial} is {state or 'absent'} in `adb devices` after connecting",
                               hint="see `edgekit emulator status`")
        time.sleep(0.2)


def disconnect(serial: str) -> None:
    """``adb disconnect SERIAL``; nothing happens when it was not connected, no server runs or
    adbutils is missing (then nothing can be connected either)."""
    try:
        c = client()
    except EdgekitError:
        return
    try:
        c.disconnect(serial)
    except transport_errors():
        pass


@dataclass(frozen=True)
class ListedDevice:
    """One line of ``adb devices`` with the device's description (None unless state ``device``)."""

    serial: str
    state: str
    description: dict[str, Any] | None = None
    error: str | None = None            # why the description is missing on an online device

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_devices(describe: bool = True) -> list[ListedDevice]:
    """Every device the adb server knows; online ones described (one shell round trip each).
    One device that cannot be described never hides the others (its ``error`` says why)."""
    rows = []
    for serial, state in states().items():
        desc, err = None, None
        if describe and state == "device":
            try:
                desc = device(serial).describe()
            except EdgekitError as exc:
                err = exc.one_line()[:200]
        rows.append(ListedDevice(serial, state, desc, err))
    return rows


def device(serial: str) -> "AdbDevice":
    return AdbDevice(serial)


# -- one device -----------------------------------------------------------------------------------

@dataclass
class AdbDevice:
    """A device by serial. Every method opens its own adb connection (safe from one thread per device)."""

    serial: str
    _dev: Any = field(default=None, repr=False, compare=False)
    _shell_v2: bool | None = field(default=None, repr=False, compare=False)

    def _adb(self):
        if self._dev is None:
            self._dev = client().device(serial=self.serial)
        return self._dev

    def state(self) -> str | None:
        """``device``, ``offline`` ... or None when the server does not know it (or is gone)."""
        try:
            return self._adb().get_state()
        except transport_errors():
            return None

    def ensure_online(self, reconnect: bool = True) -> None:
        """Raise DeviceLost unless the device is in state ``device`` (re-``adb connect`` a host:port serial once)."""
        st = self.state()
        if st == "device":
            return
        if reconnect and TCP_SERIAL.match(self.serial):
            try:
                client().connect(self.serial, timeout=15)
            except transport_errors():
                pass
            for _ in range(20):
                st = self.state()
                if st == "device":
                    return
                time.sleep(0.25)
        try:
            known = ", ".join(f"{s} ({v})" for s, v in states().items()) or "none"
        except EdgekitError:
            known = "no adb server"
        raise DeviceLost(self.serial, f"not online over adb (state: {st or 'not found'}; adb sees: {known})")

    # -- commands ----------------------------------------------------------------------------------
    def shell(self, args: Sequence[Any] | str, timeout: float = 120.0) -> ShellResult:
        """Run argv (quoted here) or an already-quoted command string; stdout, stderr, exit code."""
        cmd = args if isinstance(args, str) else shell_join(args)
        adbutils = _adbutils()
        try:
            r = self._adb().shell2(cmd, timeout=timeout, v2=self._v2())
        except adbutils.AdbTimeout as exc:
            if self.state() == "device":
                raise CommandTimeout(self.serial, timeout) from None
            raise DeviceLost(self.serial, brief(exc)) from None
        except transport_errors() as exc:
            raise DeviceLost(self.serial, brief(exc)) from None
        stdout = r.stdout if r.stdout is not None else r.output
        return ShellResult(int(r.returncode), stdout or "", r.stderr or "")

    def _v2(self) -> bool:
        """Does the device speak shell protocol v2 (separate stderr and a real exit code)?"""
        if self._shell_v2 is None:
            try:
                feats = self._adb().get_features()
            except transport_errors() as exc:
                raise DeviceLost(self.serial, brief(exc)) from None
            self._shell_v2 = "shell_v2" in feats.split(",")
        return self._shell_v2

    def push(self, local: str | Path, remote: str, mode: int = 0o644,
             on_bytes: Callable[[int], None] | None = None) -> None:
        """Push a file; ``on_bytes(n)`` (optional) hears of every chunk read for sending."""
        try:
            if on_bytes is None:
                self._adb().sync.push(str(local), remote, mode=mode)
            else:
                with open(local, "rb") as fh:
                    self._adb().sync.push(_Counting(fh, on_bytes), remote, mode=mode)
        except transport_errors() as exc:
            raise DeviceLost(self.serial, f"push of {Path(local).name} failed: {brief(exc)}") from None

    def push_if_changed(self, local: str | Path, remote: str, mode: int = 0o644) -> bool:
        """Push unless a regular file of the same size is already there (for content-addressed paths)."""
        size = Path(local).stat().st_size
        try:
            st = self._adb().sync.stat(remote)
            if st.size == size and st.mode & 0o170000 == 0o100000:
                return False
        except transport_errors():
            pass
        self.push(local, remote, mode)
        return True

    def pull(self, remote: str, local: str | Path) -> None:
        try:
            self._adb().sync.pull(remote, str(local))
        except transport_errors() as exc:
            raise DeviceLost(self.serial, f"pull of {remote} failed: {brief(exc)}") from None

    def mkdir(self, *paths: str) -> None:
        r = self.shell(["mkdir", "-p", *paths])
        if r.returncode != 0:
            raise EdgekitError(f"cannot create {' '.join(paths)} on {self.serial}: {r.output.strip()}")

    def getprop(self, name: str) -> str | None:
        """One system property (None when unset)."""
        return self.shell(["getprop", name], timeout=60).stdout.strip() or None

    # -- description -------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """serial, abi, abilist, sdk, release, model, manufacturer, device, hardware, cores, ram_mb
        (MemTotal in MiB), machine (uname -m) — one shell round trip."""
        parts = [f"getprop {shlex.quote(prop)}; echo {_SEP}" for prop in PROPS.values()]
        parts.append(f"(nproc 2>/dev/null || grep -c ^processor /proc/cpuinfo); echo {_SEP}")
        parts.append(f"grep MemTotal /proc/meminfo; echo {_SEP}")
        parts.append("uname -m")
        r = self.shell("; ".join(parts), timeout=60)
        return parse_description(self.serial, r.stdout)


def parse_description(serial: str, text: str) -> dict[str, Any]:
    """The probe's output (fields separated by a marker line) -> the description dict."""
    chunks = [c.strip() for c in text.split(_SEP)]
    chunks += [""] * (len(PROPS) + 3 - len(chunks))
    info: dict[str, Any] = {"serial": serial}
    for key, val in zip(PROPS, chunks):
        info[key] = val or None
    cores, mem, machine = chunks[len(PROPS):len(PROPS) + 3]
    try:
        info["cores"] = int(cores.split()[0])
    except (IndexError, ValueError):
        info["cores"] = None
    m = re.search(r"(\d+)\s*kB", mem)
    info["ram_mb"] = round(int(m.group(1)) / 1024) if m else None    # the kernel's kB are KiB: MiB
    info["machine"] = machine or None
    return info

"""Devices for the bench stage: an :class:`edgekit.adb.AdbDevice` with its description, ABI check,
profile name, and the remote layout under ``/data/local/tmp/edgekit``.

Every argument that reaches ``adb shell`` goes through :func:`edgekit.adb.shell_join`
(``shlex.quote``), so a model file named ``x; rm -rf /data;.tflite`` is just a file name on the device.
Transport problems (device unplugged, emulator killed, adb server killed) raise
:class:`~edgekit.adb.DeviceLost`; command failures on a healthy device are
:class:`~edgekit.adb.ShellResult` s with the exit code.
"""

from __future__ import annotations

from typing import Any, Sequence

from edgekit.adb import AdbDevice, CommandTimeout, DeviceLost, ShellResult, shell_join, states
from edgekit.errors import EdgekitError

__all__ = ["ARM32_ABIS", "REMOTE_ROOT", "CommandTimeout", "Device", "DeviceLost", "ShellResult", "emulator_device",
           "open_devices", "profile_for", "remote", "shell_join"]

REMOTE_ROOT = "/data/local/tmp/edgekit"
ARM32_ABIS = ("armeabi-v7a", "armeabi")


class Device(AdbDevice):
    """A device being benchmarked: ``info`` is its description (filled by :meth:`describe`)."""

    def __init__(self, serial: str, info: dict[str, Any] | None = None, profile: str | None = None,
                 emulated: bool | None = None):
        super().__init__(serial)
        self.info: dict[str, Any] = dict(info or {})
        self.profile = profile            # emulated device profile (or a real phone's devices/*.toml)
        self.emulated = emulated          # None: an edgekit emulator instance has this serial
        self.runtime: Any = None          # edgekit.bench.runtime.DeviceRuntime, once it is there

    def describe(self) -> dict[str, Any]:
        """ABI, model, SDK, cores, RAM ... (one shell round trip), plus the profile when there is one."""
        info = super().describe()
        if self.profile:
            info["profile"] = self.profile
            emulated = self.emulated if self.emulated is not None else emulator_profile(self.serial) is not None
            info["emulated"] = emulated or (info.get("hardware") or "").startswith("qemu")
        self.info = info
        return info

    @property
    def identity(self) -> str:
        """See :func:`identity`."""
        return identity(self)

    def check_abi(self, allow_abi: bool) -> None:
        abi = self.info.get("abi")
        if abi in ARM32_ABIS or allow_abi:
            return
        raise EdgekitError(
            f"device {self.serial} has ABI {abi or 'unknown'}, not 32-bit ARM (armeabi-v7a)",
            "edgekit targets armeabi-v7a phones; pass --allow-abi to benchmark it anyway",
        )


def identity(dev: Any) -> str:
    """A device's stable identity, which measurements belong to: ``emulator:<profile>`` for an emulated
    device, a phone's ``ro.serialno``; the adb serial only when the phone reports none."""
    info = getattr(dev, "info", None) or {}
    if info.get("emulated") and info.get("profile"):
        return f"emulator:{info['profile']}"
    return str(info.get("serialno") or dev.serial)


def open_devices(serials: Sequence[str]) -> list[Device]:
    """Devices by serial; with no serial, the only online device (error if none or several)."""
    listed = states()
    if not serials:
        online = [s for s, st in listed.items() if st == "device"]
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


def emulator_profile(serial: str) -> str | None:
    """The profile of the running edgekit emulated device with this adb serial, else None."""
    try:
        from edgekit import emulator

        return next((inst.profile for inst in emulator.instances() if inst.serial == serial), None)
    except Exception:  # noqa: BLE001 - naming is a nicety, never a failure
        return None


def profile_for(serial: str) -> str | None:
    """The profile naming this serial: a running emulated device's, or a real phone's devices/*.toml."""
    found = emulator_profile(serial)
    if found is not None:
        return found
    try:
        from edgekit.emulator.profiles import profile_for_serial

        p = profile_for_serial(serial)
        return p.name if p else None
    except Exception:  # noqa: BLE001 - naming is a nicety, never a failure
        return None


def emulator_device(profile: str | None) -> Device:
    """Start (or reuse) the emulated device through the emulator package's API."""
    try:
        from edgekit import emulator
        ensure_running = emulator.ensure_running
    except (ImportError, AttributeError) as exc:
        raise EdgekitError(f"the emulated device is not available in this edgekit ({exc})", "use --device SERIAL with a real phone")
    name = profile or getattr(emulator, "DEFAULT_PROFILE", None) or "armv7-lowend"
    serial = ensure_running(profile=name)
    d = Device(str(serial), profile=emulator_profile(str(serial)) or name, emulated=True)   # the profile's name, also for a .toml path
    d.ensure_online()
    return d


def remote(*parts: str) -> str:
    return "/".join([REMOTE_ROOT, *[p.strip("/") for p in parts]])

"""What the adb server sees: every device with ABI, model, SDK, cores and RAM (via adbutils)."""

from __future__ import annotations

import re

from edgekit.emulator import hosttools
from edgekit.errors import EdgekitError

SEP = "--edgekit--"
_PROPS = ("ro.product.cpu.abi", "ro.product.model", "ro.build.version.sdk", "ro.product.manufacturer")


def _probe_command() -> str:
    parts = [f"getprop {p}; echo {SEP}" for p in _PROPS]
    parts.append(f"(nproc 2>/dev/null || grep -c ^processor /proc/cpuinfo); echo {SEP}")
    parts.append(f"grep MemTotal /proc/meminfo; echo {SEP}")
    return "; ".join(parts)


def describe(device) -> dict:
    """Properties of one online adbutils device (one shell round trip)."""
    out = device.shell(_probe_command(), timeout=60)
    fields = [f.strip() for f in out.split(SEP)]
    fields += [""] * (len(_PROPS) + 2 - len(fields))
    abi, model, sdk, manufacturer = fields[:4]
    cores = int(fields[4]) if fields[4].isdigit() else None
    m = re.search(r"MemTotal:\s*(\d+)\s*kB", fields[5])
    ram_mb = int(m.group(1)) // 1024 if m else None
    return {"abi": abi, "model": model, "sdk": sdk, "manufacturer": manufacturer, "cores": cores, "ram_mb": ram_mb}


def list_devices() -> list[dict]:
    hosttools.require_adb()
    import adbutils

    from edgekit.emulator import control
    from edgekit.emulator.profiles import profile_for_serial

    client = adbutils.AdbClient()
    try:
        listed = client.list()
    except Exception as exc:  # noqa: BLE001 - adb server missing / refused
        control.adb("start-server")
        try:
            listed = client.list()
        except Exception:  # noqa: BLE001
            raise EdgekitError(f"cannot talk to the adb server: {exc}", hint="install adb (apt-get install adb) and run `adb start-server`")
    emulated = {}
    for inst in control.instances():
        emulated[inst.serial] = inst.profile
        alias = control.emulator_alias(inst.host, inst.port)
        if alias:
            emulated[alias] = inst.profile
    rows = []
    for info in listed:
        row = {"serial": info.serial, "state": info.state, "abi": None, "model": None, "sdk": None,
               "manufacturer": None, "cores": None, "ram_mb": None,
               "profile": emulated.get(info.serial) or ""}
        if not row["profile"]:
            prof = profile_for_serial(info.serial)
            row["profile"] = prof.name if prof else ""
        if info.state == "device":
            try:
                row.update(describe(client.device(info.serial)))
            except Exception as exc:  # noqa: BLE001 - one bad device must not hide the others
                row["error"] = str(exc)[:200]
        rows.append(row)
    return rows

"""`edgekit devices`: every adb device with ABI, model, SDK, cores, RAM and whether edgekit's device
runtime is on it; ``--clean`` removes what edgekit put there."""

from __future__ import annotations

import json

import typer

HELP = """List every device the adb server sees (phones and emulated devices) with ABI, model, SDK,
cores, RAM (MiB) and whether edgekit's device runtime (the Python + TFLite runtime that `edgekit bench`
pushes once, ~14 MB, docs/real-phones.md) is on it. Devices described in devices/*.toml (by serial) are
named after their profile. --clean removes everything edgekit put in /data/local/tmp/edgekit.

Examples:

  edgekit devices

  edgekit devices --json

  edgekit devices --clean --device 0123456789ABCDEF
"""


from edgekit.console import wide_console  # noqa: E402


def register(app: typer.Typer) -> None:
    app.command("devices", help=HELP)(devices)


def _profiles() -> dict[str, str]:
    """serial -> profile name of every emulated device of this machine (its adb alias too)."""
    try:
        from edgekit.emulator.instance import emulator_alias, instances
    except ImportError:  # pragma: no cover - an edgekit without the emulator
        return {}
    out: dict[str, str] = {}
    for inst in instances():
        out[inst.serial] = inst.profile
        alias = emulator_alias(inst.host, inst.port)
        if alias:
            out[alias] = inst.profile
    return out


def device_rows() -> list[dict]:
    """One flat row per device adb sees: serial, state, the description (abi, model, sdk, cores,
    ram_mb in MiB ...), the profile naming it ("" when none) and an error when it could not be described."""
    from edgekit.adb import PROPS, list_devices
    from edgekit.emulator.profiles import profile_for_serial

    emulated = _profiles()
    rows = []
    for d in list_devices():
        row: dict = {"serial": d.serial, "state": d.state, **{k: None for k in PROPS}, "cores": None, "ram_mb": None,
                     "machine": None}
        row.update({k: v for k, v in (d.description or {}).items() if k != "serial"})
        prof = emulated.get(d.serial)
        if not prof:
            p = profile_for_serial(d.serial)
            prof = p.name if p else ""
        row["profile"] = prof
        if d.error:
            row["error"] = d.error
        row["runtime"] = _runtime_status(d.serial) if d.state == "device" and not d.error else None
        rows.append(row)
    return rows


def _runtime_status(serial: str) -> str | None:
    """``present`` / ``missing`` / ``not built`` (no bundle on this host); None when it cannot be asked."""
    from edgekit.adb import AdbDevice
    from edgekit.bench import runtime
    from edgekit.errors import EdgekitError

    try:
        return runtime.status(AdbDevice(serial))
    except EdgekitError:
        return None


def clean(serials: list[str], json_out: bool) -> None:
    from edgekit.bench import runtime
    from edgekit.bench.device import REMOTE_ROOT, open_devices

    freed = {d.serial: runtime.clean(d) for d in open_devices(serials)}
    if json_out:
        typer.echo(json.dumps({"cleaned": [{"serial": s, "freed_bytes": n, "path": REMOTE_ROOT} for s, n in freed.items()]},
                              indent=2))
        return
    for s, n in freed.items():
        typer.echo(f"{s}: removed {REMOTE_ROOT} ({n / 1e6:.1f} MB freed)")


def devices(json_out: bool = typer.Option(False, "--json", help="Print the devices as JSON."),
            clean_flag: bool = typer.Option(False, "--clean", help="Remove /data/local/tmp/edgekit (the device runtime, "
                                            "pushed models and inputs) from the device(s)."),
            serials: list[str] = typer.Option([], "--device", "-d", help="With --clean: this device (repeatable; "
                                              "default: the only online device).")) -> None:
    if clean_flag:
        clean(serials, json_out)
        return
    rows = device_rows()
    if json_out:
        typer.echo(json.dumps({"devices": rows}, indent=2))
        return
    if not rows:
        typer.echo("no adb device (connect a phone, or: edgekit emulator start)")
        return
    from rich.table import Table

    from edgekit.metrics import METRICS

    t = Table(box=None)
    for col in ("serial", "state", "abi", "model", "sdk", "cores", "ram", "profile", "runtime"):
        t.add_column(col, no_wrap=col in ("serial", "profile"))
    for r in rows:
        ram = METRICS["memory"].format(r["ram_mb"]) if r.get("ram_mb") else "?"
        t.add_row(r["serial"], r["state"], r.get("abi") or "?", r.get("model") or "?", r.get("sdk") or "?",
                  str(r.get("cores") or "?"), ram, r.get("profile") or "", r.get("runtime") or "?")
    wide_console().print(t)
    for r in rows:
        if r.get("error"):
            typer.echo(f"{r['serial']}: not described: {r['error']}", err=True)

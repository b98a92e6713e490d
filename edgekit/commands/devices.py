"""`edgekit devices`: every adb device with ABI, model, SDK, cores and RAM."""

from __future__ import annotations

import json

import typer

HELP = """List every device the adb server sees (phones and emulated devices) with ABI, model, SDK,
cores and RAM (MiB). Devices described in devices/*.toml (by serial) are named after their profile.

Examples:

  edgekit devices

  edgekit devices --json
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
        rows.append(row)
    return rows


def devices(json_out: bool = typer.Option(False, "--json", help="Print the devices as JSON.")) -> None:
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
    for col in ("serial", "state", "abi", "model", "sdk", "cores", "ram", "profile"):
        t.add_column(col, no_wrap=col in ("serial", "profile"))
    for r in rows:
        ram = METRICS["memory"].format(r["ram_mb"]) if r.get("ram_mb") else "?"
        t.add_row(r["serial"], r["state"], r.get("abi") or "?", r.get("model") or "?", r.get("sdk") or "?",
                  str(r.get("cores") or "?"), ram, r.get("profile") or "")
    wide_console().print(t)
    for r in rows:
        if r.get("error"):
            typer.echo(f"{r['serial']}: not described: {r['error']}", err=True)

"""`edgekit devices`: every adb device with ABI, model, SDK, cores and RAM."""

from __future__ import annotations

import json

import typer

HELP = """List every device the adb server sees (phones and emulated devices) with ABI, model, SDK,
cores and RAM. Devices described in devices/*.toml (by serial) are named after their profile.

Examples:

  edgekit devices

  edgekit devices --json
"""


from edgekit.console import wide_console  # noqa: E402


def register(app: typer.Typer) -> None:
    app.command("devices", help=HELP)(devices)


def devices(json_out: bool = typer.Option(False, "--json", help="Print the devices as JSON.")) -> None:
    from edgekit.emulator.inventory import list_devices

    rows = list_devices()
    if json_out:
        typer.echo(json.dumps({"devices": rows}, indent=2))
        return
    if not rows:
        typer.echo("no adb device (connect a phone, or: edgekit emulator start)")
        return
    from rich.table import Table

    t = Table(box=None)
    for col in ("serial", "state", "abi", "model", "sdk", "cores", "ram", "profile"):
        t.add_column(col, no_wrap=col in ("serial", "profile"))
    for r in rows:
        ram = f"{r['ram_mb']} MB" if r.get("ram_mb") else "?"
        t.add_row(r["serial"], r["state"], r.get("abi") or "?", r.get("model") or "?", r.get("sdk") or "?",
                  str(r.get("cores") or "?"), ram, r.get("profile") or "")
    wide_console().print(t)

"""`edgekit emulator build|start|stop|status`: the emulated 32-bit ARM Android device."""

from __future__ import annotations

import json
import sys
from typing import Optional

import typer

from edgekit.emulator.profiles import DEFAULT_PROFILE

HELP = """The emulated 32-bit ARM Android device (armv7 under qemu, reached over adb).

Example:

  edgekit emulator build && edgekit emulator start --profile armv7-lowend && adb devices
"""

BUILD_HELP = """Build the device image (Debian armhf + python3 + numpy + the armv7 tflite-runtime 2.14) and,
from it, the device runtime bundle that `edgekit bench` pushes to a phone (docs/real-phones.md).

Cached in ${EDGEKIT_CACHE:-~/.cache/edgekit}/images/<recipe key>/ and .../runtime/<key>/, reused while
the recipe is unchanged (then this returns at once). Needs root, debootstrap, qemu-user-static.

Example:

  edgekit emulator build
"""

START_HELP = """Start an emulated device in the background and connect the adb server to it.

Prints the adb serial. Re-running with the same profile and port reuses the running device.

Examples:

  edgekit emulator start

  edgekit emulator start --profile armv7-midrange --port 5600 && adb -s 127.0.0.1:5600 shell uname -m
"""

STOP_HELP = """Stop emulated devices (all, or the one on --port): disconnect adb, end the daemon and every
process it ran, remove the instance's files.

Example:

  edgekit emulator stop --port 5555
"""

STATUS_HELP = """Show the device profiles (name, kind, qemu CPU, memory cap, cost model) and the emulated
devices this machine runs; a crashed daemon shows as offline.

Profiles are the shipped ones (package edgekit.devices) or those in $EDGEKIT_DEVICES; one that does
not load shows its error. --json prints {"profiles": [...], "devices": [...]}.
Exit code 1 when any known device is offline.

Example:

  edgekit emulator status --json
"""


from edgekit.console import wide_console  # noqa: E402


def register(app: typer.Typer) -> None:
    # (not no_args_is_help: with typer 0.29 that raises NoArgsIsHelpError through edgekit.cli.main)
    emu = typer.Typer(help=HELP, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})

    @emu.callback()
    def _group(ctx: typer.Context) -> None:
        if ctx.invoked_subcommand is None:
            typer.echo(ctx.get_help())
            raise typer.Exit(0)

    emu.command("build", help=BUILD_HELP)(build)
    emu.command("start", help=START_HELP)(start)
    emu.command("stop", help=STOP_HELP)(stop)
    emu.command("status", help=STATUS_HELP)(status)
    app.add_typer(emu, name="emulator", help=HELP)


def _err(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def build(
    force: bool = typer.Option(False, "--force", help="Rebuild even when the cached image is up to date."),
) -> None:
    from edgekit.emulator import image

    from edgekit.emulator import bundle

    d = image.build_image(force=force, log=lambda m: _err(f"[emulator] {m}"))
    bundle.build_bundle(force=force, log=lambda m: _err(f"[emulator] {m}"))   # what a phone gets pushed
    typer.echo(str(d))


def start(
    profile: str = typer.Option(DEFAULT_PROFILE, "--profile", help="Device profile name (devices/<name>.toml) or path."),
    port: int = typer.Option(5555, "--port", help="TCP port the device listens on (127.0.0.1)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; keep 127.0.0.1 unless you need remote adb."),
    json_out: bool = typer.Option(False, "--json", help="Print the device as JSON."),
) -> None:
    from edgekit.emulator import control

    inst = control.start(profile=profile, port=port, host=host, log=lambda m: _err(f"[emulator] {m}"))
    if json_out:
        typer.echo(json.dumps(inst.as_dict(), indent=2))
    else:
        typer.echo(inst.serial)


def stop(
    port: Optional[int] = typer.Option(None, "--port", help="Stop only the device on this port (default: all)."),
) -> None:
    from edgekit.emulator import control

    stopped = control.stop(port=port)
    if not stopped:
        _err("[emulator] no emulated device was running" + (f" on port {port}" if port else ""))
    for inst in stopped:
        typer.echo(f"stopped {inst.serial} ({inst.profile})")


def status(
    json_out: bool = typer.Option(False, "--json", help="Print the profiles and devices as JSON."),
) -> None:
    from edgekit.emulator import control

    profiles = control.profile_rows()
    rows = control.status()
    if json_out:
        typer.echo(json.dumps({"profiles": profiles, "devices": rows}, indent=2))
    else:
        _print_profiles(profiles)
        _print_devices(rows)
    if any(r["state"] != "device" for r in rows):
        raise typer.Exit(1)


def _dash(v) -> str:
    return "-" if v is None or v == "" else str(v)


def _print_profiles(profiles: list[dict]) -> None:
    from rich.markup import escape
    from rich.table import Table

    if not profiles:
        typer.echo("no device profile (the shipped ones are missing, or $EDGEKIT_DEVICES names an empty folder)")
        return
    t = Table(title="device profiles", title_justify="left", box=None)
    for col in ("profile", "kind", "qemu cpu", "memory cap", "cores", "cost model"):
        t.add_column(col, no_wrap=col == "profile")
    for p in profiles:
        cm = p.get("cost_model")
        model = f"{cm['core']} @ {cm['clock_mhz']:g} MHz (est.)" if cm else "-"
        if p.get("error"):
            model = "[red]does not load[/red]"
        cap = f"{p['memory_mb']} MB" if p.get("memory_mb") else "-"
        t.add_row(escape(p["name"]), _dash(p.get("kind")), _dash(p.get("qemu_cpu")), cap, _dash(p.get("cores")), model)
    wide_console().print(t)
    for p in profiles:
        if p.get("error"):
            _err(f"profile {p['name']}: {p['error']}")


def _print_devices(rows: list[dict]) -> None:
    if not rows:
        typer.echo("no emulated device running (start one: edgekit emulator start)")
        return
    from rich.table import Table

    t = Table(title="emulated devices", title_justify="left", box=None)
    for col in ("serial", "profile", "state", "daemon", "adb", "pid", "memory cap"):
        t.add_column(col, no_wrap=col in ("serial", "profile"))
    for r in rows:
        cap = "-" if r["daemon"] != "running" else f"{r.get('memory_cap_mb')} MB ({r.get('memory_cap_by')})"
        t.add_row(r["serial"], r["profile"], r["state"], r["daemon"], r["adb"], str(r["pid"]), cap)
    wide_console().print(t)
    for r in rows:
        if r.get("problem"):
            _err(f"{r['serial']}: {r['problem']}")

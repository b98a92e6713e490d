"""``edgekit bench --metric instructions``: counted runs of the python runner (issue 6).

On the emulated device the device script runs through the counted execution route
(``edgekit-counted``, see :mod:`edgekit.emulator.counting`): dynamic qemu-arm with the
instruction-counting plugin, one thread, a fixed guest environment. The script marks phases
with an unused syscall; the plugin appends the running counts at every mark to a file on the
device, pulled back here and turned into ``Measurement.instructions``.

Marks (tag, index) the device script sets::

    1 after the imports           2 after Interpreter() + allocate_tensors()
    5, 6 an empty pair (the cost of the marks and the clock reads themselves, subtracted)
    3 i / 4 i around invoke number i (0 = first, 1..W warm-up, W+1.. timed)
    9 done

A real phone has no such route: ``--metric instructions`` says so and stops.
"""

from __future__ import annotations

from typing import Any, Sequence

from edgekit.errors import EdgekitError

METRICS = ("latency", "instructions")
TAG_IMPORTED, TAG_LOADED, TAG_BEGIN, TAG_END, TAG_CAL_BEGIN, TAG_CAL_END, TAG_DONE = 1, 2, 3, 4, 5, 6, 9
COMMAND = "edgekit-counted"


def probe(dev: Any) -> str | None:
    """The counted route's banner on the emulated device; None on anything else (a real phone)."""
    r = dev.shell(f"{COMMAND} --probe", timeout=60)
    line = (r.stdout or "").strip().splitlines()
    if r.returncode == 0 and line and line[0].startswith(f"{COMMAND} 1 "):
        return line[0]
    return None


def _parse_banner(banner: str) -> dict[str, str]:
    info = {}
    for part in banner.split()[2:]:
        k, _, v = part.partition("=")
        info[k] = v
    return info


def probe_info(dev: Any) -> dict[str, str] | None:
    """The counted route's banner fields (plugin, cpu, profile ...) on the emulated device, else None."""
    banner = probe(dev)
    return None if banner is None else _parse_banner(banner)


def require(dev: Any) -> dict[str, str]:
    banner = probe(dev)
    if banner is None:
        raise EdgekitError(
            f"--metric instructions is unavailable on device {dev.serial}: instruction counts come from the "
            "emulated ARMv7 CPU (qemu), which a real phone does not have",
            hint="measure with --emulator [PROFILE], or use --metric latency on this device",
        )
    return _parse_banner(banner)


def command(script_argv: Sequence[str], out_remote: str, cwd: str) -> str:
    from edgekit.adb import shell_join

    return shell_join([COMMAND, "--out", out_remote, "--cwd", cwd, "--", *script_argv])


def collect(dev: Any, m: Any, counts_remote: str, warmup: int, runs: int, probe_info: dict[str, str] | None,
            op_names: Sequence[str] = ()) -> None:
    """Pull the count log of a counted run into ``m.instructions`` (also after a failure: the marks
    reached so far survive) and remove it from the device."""
    import tempfile
    from pathlib import Path

    from edgekit.adb import DeviceLost

    with tempfile.TemporaryDirectory(prefix="edgekit-counts-") as td:
        local = Path(td) / "counts.txt"
        try:
            dev.pull(counts_remote, local)
            text = local.read_text()
        except (DeviceLost, OSError) as exc:
            m.warnings.append(f"no instruction counts: {getattr(exc, 'message', exc)}")
            return
    try:
        dev.shell(["rm", "-f", counts_remote])
    except DeviceLost:
        pass
    apply_log(m, text, warmup, runs, probe_info, op_names)


def apply_log(m: Any, text: str, warmup: int, runs: int, probe_info: dict[str, str] | None,
              op_names: Sequence[str] = ()) -> None:
    """``m.instructions`` from a count log, with a warning when no invoke was reached or the timed
    invokes differ by more than 1%."""
    profile = (m.device or {}).get("profile") or (probe_info or {}).get("profile")
    m.instructions = record(text, warmup, runs, profile, probe_info, op_names)
    if m.instructions.get("per_invoke") is None:
        m.warnings.append("the counted run reached no invoke: no per-invoke instruction count")
    elif (m.instructions.get("timed_spread") or 0) > 0.01 * m.instructions["per_invoke"]:
        m.warnings.append(f"timed invokes differ by {m.instructions['timed_spread']} instructions "
                          "(more than 1%): does the model's work depend on its input or state?")


def _net(d: dict[str, int], cal: dict[str, int] | None) -> dict[str, int]:
    if not cal:
        return dict(d)
    return {k: v - cal.get(k, 0) for k, v in d.items()}


def record(text: str, warmup: int, runs: int, profile: str | None, probe_info: dict[str, str] | None = None,
           op_names: Sequence[str] = ()) -> dict[str, Any]:
    """``Measurement.instructions`` from the plugin's count log."""
    from edgekit.emulator.counting import diff, parse_log, thumb_between

    log = parse_log(text)
    by: dict[tuple[int, int], Any] = {}
    for m in log.marks:
        by.setdefault((m.tag, m.index), m)
    cal = None
    if (TAG_CAL_BEGIN, 0) in by and (TAG_CAL_END, 0) in by:
        cal = diff(by[(TAG_CAL_BEGIN, 0)], by[(TAG_CAL_END, 0)])
    cal_thumb = thumb_between(by[(TAG_CAL_BEGIN, 0)], by[(TAG_CAL_END, 0)]) if cal else None
    invokes: list[dict[str, int]] = []
    thumb: list[int | None] = []
    i = 0
    while (TAG_BEGIN, i) in by and (TAG_END, i) in by:
        invokes.append(_net(diff(by[(TAG_BEGIN, i)], by[(TAG_END, i)]), cal))
        t = thumb_between(by[(TAG_BEGIN, i)], by[(TAG_END, i)])
        thumb.append(None if t is None else t - (cal_thumb or 0))
        i += 1
    load = diff(by[(TAG_IMPORTED, 0)], by[(TAG_LOADED, 0)]) if (TAG_IMPORTED, 0) in by and (TAG_LOADED, 0) in by else None
    first = invokes[0] if invokes else None
    warm = invokes[1:1 + warmup]
    timed = invokes[1 + warmup:1 + warmup + runs]
    # The invoke's own cost: the smallest timed invoke. Python's allocator occasionally needs a new
    # pool inside one window (results stored between invokes move its state), adding ~100
    # instructions at fixed positions of the run - the same positions on every run.
    pool = timed or warm or ([first] if first else [])
    per_invoke = min(pool, key=lambda x: x["total"]) if pool else None
    per_thumb = thumb[invokes.index(per_invoke)] if per_invoke is not None else None
    rec: dict[str, Any] = {
        "unit": "guest instructions",
        "per_invoke": per_invoke["total"] if per_invoke else None,
        "classes": {k: v for k, v in per_invoke.items() if k != "total"} if per_invoke else {},
        "thumb_share": (per_thumb / per_invoke["total"]) if per_invoke and per_thumb is not None and per_invoke["total"] else None,
        "timed": [x["total"] for x in timed],
        "warmup": [x["total"] for x in warm],
        "first_invoke": first["total"] if first else None,
        "load": load["total"] if load else None,
        "load_classes": {k: v for k, v in load.items() if k != "total"} if load else {},
        "deterministic": len({x["total"] for x in timed}) <= 1 if timed else None,   # all timed invokes equal
        "timed_spread": (max(x["total"] for x in timed) - min(x["total"] for x in timed)) if timed else None,
        "mark_overhead": cal["total"] if cal else None,
        "complete": (TAG_DONE, 0) in by and len(timed) == runs,
        "marks": len(log.marks),
        "qemu_cpu": (probe_info or {}).get("cpu"),
        "plugin": (probe_info or {}).get("plugin"),
        "decode": log.stats,
    }
    if op_names:
        from edgekit.bench.ops import record as op_record

        rec["ops"] = op_record(by, list(op_names), cal)
        rec["ops_total"] = sum(o["instructions"] or 0 for o in rec["ops"])
    if per_invoke:
        rec.update(estimates_for(rec["classes"], profile))
    return rec


def estimates_for(classes: dict[str, int], profile: str | None) -> dict[str, Any]:
    """``estimate`` (the measured device profile's cost model) and ``estimates`` (every shipped
    profile with a cost model, keyed by profile) — all labelled as estimates."""
    from edgekit import costmodel
    from edgekit.emulator.profiles import list_profiles

    out: dict[str, Any] = {"estimate": None, "estimates": {}}
    for name in list_profiles():
        try:
            model = costmodel.load(name)
        except EdgekitError:
            continue
        if model is None:
            continue
        est = costmodel.estimate(classes, model)
        out["estimates"][name] = est
        if name == profile:
            out["estimate"] = est
    return out


def summary_table(console: Any, ms: Sequence[Any]) -> None:
    """The counted measurements as a second table under bench's summary (nothing when none)."""
    rows = [m for m in ms if m.instructions]
    if not rows:
        return
    from rich.markup import escape
    from rich.table import Table

    from edgekit.costmodel import mix_text

    t = Table(title="instructions per invoke on the emulated CPU (exact) and the cost model's estimate")
    for col, just in (("variant", "left"), ("device", "left"), ("instr./invoke", "right"), ("load", "right"),
                      ("class mix", "left"), ("Thumb", "right"), ("est. ms", "right"), ("est. core", "left"), ("emulated p50 ms", "right")):
        t.add_column(col, justify=just, overflow="fold")  # type: ignore[arg-type]
    for m in sorted(rows, key=lambda m: (m.variant, m.device_serial)):
        ins = m.instructions
        est = ins.get("estimate") or {}
        n = ins.get("per_invoke")
        t.add_row(escape(m.variant), m.device_serial, f"{n:,}" if n is not None else "-",
                  f"{ins['load']:,}" if ins.get("load") is not None else "-", mix_text(ins.get("classes") or {}),
                  f"{ins['thumb_share']:.0%}" if ins.get("thumb_share") is not None else "-",
                  f"{est['ms']:.3g}" if est.get("ms") is not None else "-",
                  f"{est.get('core')} @ {est.get('clock_mhz', 0):.0f} MHz" if est else "(no cost model)",
                  f"{m.stats.p50:.3g}" if m.stats.p50 is not None else "-")
    console.print(t)
    console.print("est. = an estimate for a real core from the counted instructions (devices/*.toml [cost_model]), "
                  "not a measurement; emulated = wall clock under qemu with the counting plugin", markup=False)

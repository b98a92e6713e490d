"""``ek.bench``: measure variants on devices over adb — the function ``edgekit bench`` calls.

    import edgekit as ek

    variants = ek.load_variants("out/demo")
    ms = ek.bench(variants, emulator="armv7-lowend", params=ek.BenchParams(runs=20, threads=1))
    ms = ek.bench(["out/demo/variants/int8", "model.tflite"], device="0123456789ABCDEF", resume=True)

Every Measurement is stored in ``OUT/bench.sqlite`` the moment it exists (``out`` defaults to the
variants' OUT, ``./out`` for bare .tflite files). Pass listeners (:mod:`edgekit.bench.listeners`)
to watch the sweep, e.g. ``listeners=[edgekit.bench.ui.ProgressListener()]``.

A device that fails or stops answering does not lose the others' results: the sweep finishes, then
:class:`BenchIncomplete` (an EdgekitError; exit code 3 when a device was lost) carries what was measured.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

from edgekit.bench.listeners import BenchListener
from edgekit.bench.params import BenchParams
from edgekit.errors import EdgekitError
from edgekit.measurement import Measurement


class BenchIncomplete(EdgekitError):
    """Some device could not finish; ``measurements`` holds what the sweep has (also stored)."""

    def __init__(self, message: str, hint: str, exit_code: int, measurements: list[Measurement], result: Any):
        super().__init__(message, hint, exit_code=exit_code)
        self.measurements = measurements
        self.result = result


def _as_list(x: Any) -> list[Any]:
    if x is None:
        return []
    if isinstance(x, (str, Path)) or not isinstance(x, Iterable):
        return [x]
    return list(x)


def refuse_jobs_on_a_phone(d: Any, params: BenchParams) -> None:
    """``--jobs`` above 1 only on the emulated device: on a phone, measured latency is the headline."""
    if params.jobs > 1 and not d.info.get("emulated"):
        raise EdgekitError(f"--jobs {params.jobs} measures several models at once, which would skew the "
                           f"latency of the real phone {d.serial}",
                           "use --jobs 1 on a phone (only the emulated device, whose headline is counted, takes more)")


def bench(
    variants_or_paths: Any,
    *,
    device: str | Sequence[str] | None = None,
    emulator: str | bool | None = None,
    params: BenchParams | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    listeners: Sequence[BenchListener] = (),
) -> list[Measurement]:
    """Measure every variant on every device with every thread count of ``params``.

    variants_or_paths: Variant objects (``ek.optimize``, ``ek.load_variants``) or paths as the CLI
    takes them (OUT, OUT/variants, a variant folder, .tflite files) — one or a list.
    device: adb serial(s); default the only device adb sees. emulator: a profile name (or True for
    the default profile): start or reuse the emulated device. Returns the sweep's measurements
    (those skipped by ``resume`` included), in the order of the store.
    """
    from edgekit.bench.device import ARM32_ABIS, emulator_device, open_devices
    from edgekit.bench.evalset import resolve_eval_set
    from edgekit.bench.store import DB_FILE, Store
    from edgekit.bench.sweep import Sweep, plan
    from edgekit.bench.targets import resolve_targets

    params = BenchParams() if params is None else params
    if not isinstance(params, BenchParams):
        raise EdgekitError(f"params must be edgekit.BenchParams, not {type(params).__name__}",
                           "e.g. params=ek.BenchParams(runs=20, threads=1)")
    serials = [str(s) for s in _as_list(device)]
    if emulator not in (None, False) and serials:
        raise EdgekitError("give either --device or --emulator, not both")
    targets, default_out = resolve_targets(_as_list(variants_or_paths))
    out_dir = Path(out) if out is not None else default_out
    if params.runner == "benchmark_model":
        from edgekit.bench.benchmark_model import find_binary

        find_binary(params.benchmark_binary)  # fail before touching devices
    ev = resolve_eval_set(params, out_dir, targets)

    if emulator not in (None, False):
        devs = [emulator_device(None if emulator is True else str(emulator))]
    else:
        devs = open_devices(serials)
    for d in devs:
        d.describe()
        d.check_abi(params.allow_abi)
        if d.info.get("abi") not in ARM32_ABIS:
            sys.stderr.write(f"edgekit: warning: device {d.serial} has ABI {d.info.get('abi')}, not armeabi-v7a "
                             "(benchmarked because of --allow-abi)\n")
        refuse_jobs_on_a_phone(d, params)
        if params.metric == "instructions":
            from edgekit.bench.counted import require

            require(d)  # a real phone: the metric is unavailable there (exit 2)
        if params.runner == "python":
            from edgekit.bench.runtime import ensure

            ensure(d, show=True)   # first contact: pushed once, with a progress bar; one line if it cannot be

    seen: dict[str, str] = {}
    for d in devs:
        other = seen.setdefault(d.identity, d.serial)
        if other != d.serial:
            raise EdgekitError(f"devices {other} and {d.serial} are the same device {d.identity} (one adb address each)",
                               "pass one of them with --device")
    with Store(out_dir / DB_FILE) as store:
        sweep_plan = plan(targets, devs, params, ev, done=store.done_keys() if resume else ())
        result = Sweep(sweep_plan, store, listeners).run()
    if result.errors:
        lost = "; ".join(result.errors.values())
        raise BenchIncomplete(
            f"{lost} — {len(result.measurements)} measurement(s) saved in {out_dir / DB_FILE}",
            "fix the device (reconnect, restart the emulator) and re-run with --resume" if result.lost else "",
            3 if result.lost else 2, result.measurements, result,
        )
    return result.measurements

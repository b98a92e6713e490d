"""Latency and memory of a trial's variant, through the bench stage (``edgekit.bench.api.bench``).

* Emulated device (the default when a budget needs latency or memory): one counted run
  (``--metric instructions``: guest instructions by class on the emulated Cortex-A7, deterministic)
  turned into an **estimated** latency by the device profile's cost model (:mod:`edgekit.costmodel`);
  ``latency_kind`` is ``"est."``.
* A real phone (``--device SERIAL``): wall-clock p50 of timed runs, ``latency_kind`` ``"measured"``.

Memory is the runner process's peak on the device (MiB, ``Measurement.peak_memory_mb``: Python,
NumPy and the runtime included; under emulation qemu's own memory too), labelled as such.
Every measurement lands in ``OUT/bench.sqlite`` like any ``edgekit bench`` run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError

COUNTED_RUNS = 2
PHONE_RUNS, PHONE_WARMUP = 20, 3


class Measurer:
    def __init__(self, out: Path, *, device: str | None = None, emulator: str | None = None):
        self.out = Path(out)
        self.device = device
        self.emulator = emulator
        self.serial: str | None = None

    def open(self) -> None:
        """Start (or reuse) the emulated device, or check the phone answers — before any training."""
        from edgekit.bench.device import emulator_device, open_devices

        if self.device is not None:
            d = open_devices([self.device])[0]
        else:
            d = emulator_device(self.emulator)
            from edgekit.bench.counted import require

            require(d)
        self.serial = d.serial

    def params(self) -> Any:
        from edgekit.bench.params import BenchParams

        if self.device is not None:
            return BenchParams(runs=PHONE_RUNS, warmup=PHONE_WARMUP, threads=1)
        return BenchParams(runs=COUNTED_RUNS, warmup=0, metric="instructions", threads=1)

    def measure(self, variant: Any) -> dict[str, Any]:
        from edgekit.bench.api import bench

        if self.serial is None:
            self.open()
        ms = bench([variant], device=self.serial, params=self.params(), out=self.out)
        if not ms:
            raise EdgekitError(f"the device returned no measurement for {variant.name}")
        m = ms[-1]
        if m.status != "ok":
            raise EdgekitError(f"{variant.name} on {m.device_serial}: {m.status}: {m.reason}")
        out: dict[str, Any] = {"memory": m.peak_memory_mb, "device": m.device_serial}
        if self.device is None:
            est = (m.instructions or {}).get("estimate") or {}
            out.update(latency=est.get("ms"), latency_kind="est.", instructions=(m.instructions or {}).get("per_invoke"),
                       cost_model=f"{est.get('core')} @ {est.get('clock_mhz', 0):.0f} MHz" if est else None)
            if est.get("ms") is None:
                raise EdgekitError(f"{variant.name}: the counted run gave no estimate "
                                   f"(profile {m.device.get('profile')!r} has no [cost_model]?)")
        else:
            out.update(latency=m.stats.p50, latency_kind="measured")
        return out

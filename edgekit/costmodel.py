"""Estimated latency on a real core from counted guest instructions (issue 6).

A device profile may carry a ``[cost_model]`` table (see ``devices/README.md``)::

    [cost_model]
    core = "Cortex-A7"
    clock_mhz = 1300
    sources = ["...", "..."]          # where the cycle figures come from
    [cost_model.cycles]               # average cycles per executed instruction of each class
    alu = 0.75
    ...

``estimate(classes, model)`` = sum(count[class] * cycles[class]) * calibration / clock, where the
optional ``calibration`` (default 1) is a single factor fitted on published latencies of real phones
(``benchmarks/cost_model.py``, calibration rows only; docs/cost-model.md). It is an **estimate**:
a per-class average cost, blind to cache misses, dependency stalls and dual-issue pairing of the
actual code. Use it to compare variants and to gate; never present it as a measured phone latency
(every label says "est.").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from edgekit.errors import EdgekitError

if TYPE_CHECKING:
    from edgekit.emulator.profiles import Profile

ESTIMATE_LABEL = "est."


@dataclass(frozen=True)
class CostModel:
    core: str
    clock_mhz: float
    cycles: dict[str, float]
    sources: tuple[str, ...] = ()
    profile: str | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    calibration: float = 1.0

    @property
    def label(self) -> str:
        """``est. Cortex-A7 @1.3 GHz``: what every estimated latency is labelled with."""
        return f"{ESTIMATE_LABEL} {self.core} @{self.clock_mhz / 1000:g} GHz"

    def as_dict(self) -> dict[str, Any]:
        return {"core": self.core, "clock_mhz": self.clock_mhz, "cycles": dict(self.cycles),
                "sources": list(self.sources), "profile": self.profile, "calibration": self.calibration}


def _number(v: Any) -> bool:
    """A finite TOML number (TOML's booleans are not numbers here, nor inf / nan)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def from_table(table: Mapping[str, Any], where: str = "cost_model", profile: str | None = None) -> CostModel:
    """Validate a ``[cost_model]`` table (one-line errors naming ``where``) into a :class:`CostModel`."""
    from edgekit.emulator.counting import CLASSES

    if not isinstance(table, Mapping):
        raise EdgekitError(f"{where}: [cost_model] must be a table")
    core = table.get("core")
    clock = table.get("clock_mhz")
    cycles = table.get("cycles")
    if not isinstance(core, str) or not core:
        raise EdgekitError(f"{where}: cost_model.core must name the core, e.g. \"Cortex-A7\"")
    if not _number(clock) or clock <= 0:
        raise EdgekitError(f"{where}: cost_model.clock_mhz must be a positive number, not {clock!r}")
    if not isinstance(cycles, Mapping) or not cycles:
        raise EdgekitError(f"{where}: [cost_model.cycles] must give cycles per instruction class",
                           hint=f"one number per class: {', '.join(CLASSES)}")
    out: dict[str, float] = {}
    for k, v in cycles.items():
        if not _number(v) or v < 0:
            raise EdgekitError(f"{where}: cost_model.cycles.{k} must be a number >= 0, not {v!r}")
        out[str(k)] = float(v)
    unknown = [c for c in out if c not in CLASSES]
    if unknown:
        raise EdgekitError(f"{where}: cost_model.cycles has unknown class {', '.join(unknown)}",
                           hint=f"the counted classes are {', '.join(CLASSES)}")
    missing = [c for c in CLASSES if c not in out]
    if missing:
        raise EdgekitError(f"{where}: cost_model.cycles lacks {', '.join(missing)}",
                           hint=f"give cycles for every class: {', '.join(CLASSES)}")
    calibration = table.get("calibration", 1.0)
    if not _number(calibration) or calibration <= 0:
        raise EdgekitError(f"{where}: cost_model.calibration must be a positive number, not {calibration!r}")
    sources = table.get("sources", [])
    if isinstance(sources, str):
        sources = [sources]
    if not isinstance(sources, (list, tuple)):
        raise EdgekitError(f"{where}: cost_model.sources must be a list of strings (where the cycle figures come from)")
    return CostModel(core=core, clock_mhz=float(clock), cycles=out, sources=tuple(str(s) for s in sources),
                     profile=profile, notes=str(table.get("notes", "")), calibration=float(calibration))


def load(profile: str | Path | Profile) -> CostModel | None:
    """The cost model of a device profile (name, path or loaded Profile), or None when it has none."""
    from edgekit.emulator.profiles import Profile, load_profile

    p = profile if isinstance(profile, Profile) else load_profile(profile)
    if p.cost_model is None:
        return None
    return from_table(p.cost_model, where=f"device profile {p.path or p.name}", profile=p.name)


def estimate(classes: Mapping[str, int | float], model: CostModel) -> dict[str, Any]:
    """Cycles and milliseconds (an estimate) for the given per-class instruction counts."""
    cycles = 0.0
    for cls, n in classes.items():
        if cls == "total":
            continue
        cycles += float(n) * model.cycles.get(cls, model.cycles.get("other", 1.0))
    cycles *= model.calibration
    ms = cycles / (model.clock_mhz * 1e3)
    return {"estimate": True, "core": model.core, "clock_mhz": model.clock_mhz, "cycles": round(cycles),
            "ms": ms, "profile": model.profile, "calibration": model.calibration, "label": model.label}


def label_of(est: Mapping[str, Any]) -> str:
    """The label of an ``estimate()`` result (also of one stored before labels were): ``est. Cortex-A7 @1.3 GHz``."""
    if est.get("label"):
        return str(est["label"])
    return f"{ESTIMATE_LABEL} {est.get('core') or '?'} @{float(est.get('clock_mhz') or 0) / 1000:g} GHz"


def mix(classes: Mapping[str, int | float]) -> dict[str, float]:
    """Fraction of each class in the total."""
    total = float(sum(v for k, v in classes.items() if k != "total")) or 1.0
    return {k: float(v) / total for k, v in classes.items() if k != "total"}


def mix_text(classes: Mapping[str, int | float], top: int = 4) -> str:
    """``neon_float 41% · ldst 22% · alu 18% · simd_ldst 9%`` (largest classes first)."""
    m = sorted(mix(classes).items(), key=lambda kv: -kv[1])
    return " · ".join(f"{k} {v:.0%}" for k, v in m[:top] if v > 0)


def format_count(n: int | float | None) -> str:
    if n is None:
        return "—"
    n = float(n)
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.3f}{unit}".replace(".000", "")
    return f"{n:.0f}"

"""The metric registry: everything edgekit knows about each number it reports, gates or prints.

One entry per metric (:data:`METRICS`, in display order): size, gzip size, accuracy, accuracy drop,
latency, memory, instructions and estimated latency. Report (axes, limits, columns), gate (budget
keys, parsers, values, changes) and the command summaries all read it, so adding a metric is one
entry here. Formatting API (stable; other stages format through it)::

    from edgekit.metrics import METRICS, fmt_size, fmt_ms, fmt_mib

    METRICS["size"].format(210_000)          # '210.0 kB'    sizes are decimal: 1 kB = 1000 B
    METRICS["memory"].format(12.5)           # '12.5 MiB'    memory is binary, and labelled so
    METRICS["latency"].format(9.0)           # '9.00 ms'
    METRICS["accuracy"].format(0.905)        # '90.50%'
    METRICS["instructions"].format(1234)     # '1,234 instructions'
    METRICS["size"].format_delta(10_000)     # '10.0 kB'     a difference ("over by ...")
    METRICS["size"].change(230e3, 210e3)     # '+9.5%'       vs a baseline (pp for accuracy, exact counts)
    METRICS["size"].parse("300kB")           # 300000.0      limit/budget text -> base unit
    METRICS["size"].within(value, limit)     # True when the value meets its limit (exact or with tolerance)
    fmt_size(n_bytes), fmt_ms(ms), fmt_mib(mib), fmt_accuracy(fraction)   # the same formatters, by name

Base units: bytes, fraction 0..1, milliseconds, MiB, instructions per invoke. A missing value
formats as ``—``. Parsers raise :class:`UnitError` (a ValueError) whose message says what is accepted.

:class:`Selection` says which number a metric means for a variant (raw or gzip size, host or device
accuracy, the device, thread count and latency percentile); ``Metric.read(record, sel, baseline)``
reads it from a results record (:class:`edgekit.results.VariantRecord`) as ``(value, why missing)``.
:func:`register` adds a metric (the built-in ones are registered the same way). The parsers and
formatters live in :mod:`edgekit.report.units`, the readers in :mod:`edgekit.report.readers`;
importing this module loads neither numpy nor rich.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

from edgekit.errors import EdgekitError
from edgekit.report.readers import (
    read_accuracy, read_accuracy_drop, read_emulated_latency, read_estimated_latency, read_gzip_size, read_instructions,
    read_latency, read_memory, read_size,
)
from edgekit.report.units import (  # noqa: F401  (re-exported: the stable formatting API)
    NONE, UnitError, change_exact, change_pct, change_points, fmt_accuracy, fmt_count, fmt_estimate_ms, fmt_mib,
    fmt_ms, fmt_points, fmt_size, is_missing, parse_accuracy, parse_accuracy_drop, parse_instructions,
    parse_latency_ms, parse_memory_mib, parse_size,
)

# ---------------------------------------------------------------------------- selection

SIZES = ("raw", "gzip")
ACCURACIES = ("host", "device")
PERCENTILES = ("p50", "p90", "p99", "mean")
LATENCY_SOURCES = ("auto", "estimate", "wall")
EMULATED_LABEL = "emulated (qemu)"


@dataclass
class Selection:
    """Which number a metric means for a variant: raw or gzip size, host or device accuracy, and
    which device measurement (device matched by serial, profile, model or codename).

    Fields:
        size        str       "raw" | "gzip" (the size metric)
        accuracy    str       "host" (eval.json) | "device" (on-device top-1)
        device      str|null  serial, profile, model or codename (null: the only device measured)
        threads     int|null  thread count of the measurement (null: the fewest measured)
        percentile  str       "p50" | "p90" | "p99" | "mean" (the latency metric)
        latency_source  str   "auto" (emulated device: the estimate; real phone: measured) | "estimate" | "wall"
        estimate_label  str|null  filled in: "est. Cortex-A7 @1.3 GHz" when latency is the estimate
        emulated    bool|null filled in: the selected device is emulated (memory is then the model's share)
    """

    size: str = "raw"
    accuracy: str = "host"
    device: str | None = None
    threads: int | None = None
    percentile: str = "p50"
    latency_source: str = "auto"
    estimate_label: str | None = None
    emulated: bool | None = None

    def validate(self) -> "Selection":
        if self.size not in SIZES:
            raise EdgekitError(f"--size must be raw or gzip, not {self.size!r}")
        if self.accuracy not in ACCURACIES:
            raise EdgekitError(f"--accuracy must be host or device, not {self.accuracy!r}")
        if self.percentile not in PERCENTILES:
            raise EdgekitError(f"--percentile must be p50, p90, p99 or mean, not {self.percentile!r}")
        if self.latency_source not in LATENCY_SOURCES:
            raise EdgekitError(f"latency source must be auto, estimate or wall, not {self.latency_source!r}")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1):
            raise EdgekitError(f"--threads must be a whole number of at least 1, not {self.threads!r}")
        return self

    def copy(self) -> "Selection":
        return Selection(**asdict(self))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def label(self, metric: str) -> str:
        return METRICS[metric].label_for(self)

    def short(self, metric: str) -> str:
        """A narrow column header."""
        return METRICS[metric].short_for(self)

    def device_label(self) -> str:
        parts = [self.device] if self.device else []
        if self.threads:
            parts.append(f"{self.threads} thread{'s' if self.threads != 1 else ''}")
        return ", ".join(parts) or "any device"


# ---------------------------------------------------------------------------- the registry

Reader = Callable[[Any, Selection, Any], "tuple[float | None, str | None]"]


@dataclass(frozen=True)
class Metric:
    """One entry of the registry: everything report, gate and the summaries know about a metric.

    Fields:
        name          str       "size", "accuracy_drop" ...: axis name; the limit key is max_/min_ + name
        label         str       label template, filled from a Selection: "size ({size})", "latency {percentile}"
        unit          str       base unit: bytes | fraction | points | ms | MiB | instructions
        better        str       "lower" | "higher"
        parse         callable  limit/budget text (or a number in base units) -> base unit; UnitError if bad
        format        callable  value -> text ("210.0 kB"; "—" when missing)
        format_delta  callable  a difference -> text ("over the limit by 10.0 kB")
        change        callable  (new, old) -> text vs a baseline ("+12.0%", "-0.30 pp", "+1,234 (+0.80%)")
        read          callable  (VariantRecord, Selection, float-baseline record) -> (value, why missing)
        device        bool      always needs a device measurement
        exact         bool      compared without tolerance (deterministic counts)
        selected_by   tuple     Selection fields that change which number it is
        short         str       narrow column header ("" = the label)
        aliases       tuple     other names accepted for it (``mem`` for memory)
    """

    name: str
    label: str
    unit: str
    better: str
    parse: Callable[[object], float]
    format: Callable[[float | None], str]
    format_delta: Callable[[float | None], str]
    change: Callable[[float | None, float | None], str]
    read: Reader
    device: bool = False
    exact: bool = False
    selected_by: tuple[str, ...] = ()
    short: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def direction(self) -> int:
        """+1 when lower is better, -1 when higher is better (costs are value * direction)."""
        return 1 if self.better == "lower" else -1

    @property
    def limit_key(self) -> str:
        """The limit / budget key: ``max_size``, ``min_accuracy`` ..."""
        return ("max_" if self.better == "lower" else "min_") + self.name

    def needs_device(self, sel: Selection) -> bool:
        return self.device or ("accuracy" in self.selected_by and sel.accuracy == "device")

    def tolerance(self, limit: float) -> float:
        """How far past ``limit`` a value may be and still meet it: 0 for exact metrics, float noise otherwise."""
        if self.exact:
            return 0.0
        return 1e-9 * max(1.0, abs(limit)) if self.better == "lower" else 1e-12

    def miss(self, value: float, limit: float) -> float:
        """By how much ``value`` breaks ``limit`` (positive when worse than the limit)."""
        return (value - limit) * self.direction

    def within(self, value: float, limit: float) -> bool:
        """Whether ``value`` meets ``limit`` (``max_*``: at most; ``min_*``: at least)."""
        return self.miss(value, limit) <= self.tolerance(limit)

    def label_for(self, sel: Selection) -> str:
        """The label with the selection filled in: ``size (gzip)``, ``latency p90``; the headline
        latency of an emulated device ``latency, est. Cortex-A7 @1.3 GHz`` (or ``latency p50,
        emulated (qemu)`` without an estimate), its memory ``memory, model's share (emulated)``."""
        if self.name == "latency" and sel.latency_source == "estimate":
            return f"latency, {sel.estimate_label or 'est.'}"
        text = self.label.format(size=sel.size, accuracy=sel.accuracy, percentile=sel.percentile)
        if self.name == "latency" and sel.emulated:
            return f"{text}, {EMULATED_LABEL}"
        if self.name == "memory" and sel.emulated:
            return "memory, model's share (peak − empty run, emulated)"
        return text

    def short_for(self, sel: Selection) -> str:
        if self.name == "size":
            return "gzip size" if sel.size == "gzip" else "size"
        if self.name == "accuracy":
            return "dev. acc." if sel.accuracy == "device" else "accuracy"
        if self.name == "latency" and sel.latency_source == "estimate":
            return "est. ms"
        if self.name == "latency":
            return (sel.percentile if sel.percentile != "mean" else "mean lat.") + (" emul." if sel.emulated else "")
        if self.name == "memory" and sel.emulated:
            return "model mem."
        return self.short or self.label_for(sel)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label_for(Selection()), "unit": self.unit, "better": self.better,
                "limit": self.limit_key, "device": self.device, "exact": self.exact}


def _parse_bytes(text: object) -> float:
    return float(parse_size(text))


_ENTRIES = [
    Metric("size", "size ({size})", "bytes", "lower", _parse_bytes, fmt_size, fmt_size, change_pct, read_size,
           selected_by=("size",)),
    Metric("gzip_size", "gzip size", "bytes", "lower", _parse_bytes, fmt_size, fmt_size, change_pct, read_gzip_size,
           short="gzip size", aliases=("gzip",)),
    Metric("accuracy", "accuracy ({accuracy})", "fraction", "higher", parse_accuracy, fmt_accuracy, fmt_points, change_points,
           read_accuracy, selected_by=("accuracy",), aliases=("acc",)),
    Metric("accuracy_drop", "accuracy drop ({accuracy}) vs float", "points", "lower", parse_accuracy_drop, fmt_points, fmt_points,
           change_points, read_accuracy_drop, selected_by=("accuracy",), short="acc. drop", aliases=("drop",)),
    Metric("latency", "latency {percentile}", "ms", "lower", parse_latency_ms, fmt_ms, fmt_ms, change_pct, read_latency,
           device=True, selected_by=("device", "threads", "percentile"), aliases=("time",)),
    Metric("memory", "peak memory", "MiB", "lower", parse_memory_mib, fmt_mib, fmt_mib, change_pct, read_memory,
           device=True, selected_by=("device", "threads"), short="memory", aliases=("mem", "peak_memory")),
    Metric("instructions", "instructions per invoke", "instructions", "lower", parse_instructions, fmt_count,
           fmt_count, change_exact, read_instructions, device=True, exact=True, selected_by=("device", "threads"),
           short="instr./invoke", aliases=("instr",)),
    Metric("estimated_latency", "est. latency", "ms", "lower", parse_latency_ms, fmt_estimate_ms, fmt_ms, change_pct,
           read_estimated_latency, device=True, exact=True, selected_by=("device", "threads"), short="est. ms",
           aliases=("estimate",)),
    Metric("emulated_latency", "latency {percentile}, " + EMULATED_LABEL, "ms", "lower", parse_latency_ms, fmt_ms, fmt_ms,
           change_pct, read_emulated_latency, device=True, selected_by=("device", "threads", "percentile"),
           short="qemu ms", aliases=("qemu", "wall")),
]
METRICS: dict[str, Metric] = {}
LIMIT_KEYS: dict[str, Metric] = {}
UNITS: dict[str, str] = {}
_ALIASES: dict[str, str] = {}


def register(m: Metric) -> Metric:
    """Add a metric: it becomes a report axis, column and limit (``m.limit_key``), a gate budget key, and
    formats everywhere. The built-in entries above are registered this way."""
    if m.better not in ("lower", "higher"):
        raise ValueError(f"metric {m.name!r}: better must be 'lower' or 'higher', not {m.better!r}")
    METRICS[m.name] = m
    LIMIT_KEYS[m.limit_key] = m
    UNITS[m.name] = m.unit
    _ALIASES.update({a: m.name for a in (m.name, *m.aliases)})
    return m


for _m in _ENTRIES:
    register(_m)


def metric(name: str) -> Metric:
    """The metric called ``name`` (or an alias such as ``mem``); EdgekitError naming the known ones."""
    key = _ALIASES.get(str(name).strip().lower().replace("-", "_").replace(" ", "_"))
    if key is None:
        raise EdgekitError(f"unknown metric {name!r}", f"choose from {', '.join(METRICS)}")
    return METRICS[key]


def fmt(name: str, value: float | None) -> str:
    """``fmt("size", 210_000)`` -> ``'210.0 kB'``."""
    return METRICS[name].format(value)


def parse_limit(key: str, value: object) -> tuple[Metric, float]:
    """A limit (``max_size = "300kB"``) -> (metric, value in base units); EdgekitError when unknown or bad."""
    m = LIMIT_KEYS.get(key)
    if m is None:
        raise EdgekitError(f"unknown limit {key!r}", f"use {', '.join(LIMIT_KEYS)}")
    try:
        return m, m.parse(value)
    except UnitError as exc:
        raise EdgekitError(f"{key}: {exc}") from None


def needs_device(metrics: list[str], sel: Selection) -> bool:
    return any(METRICS[m].needs_device(sel) for m in metrics)


def resolve_selection(results: Any, sel: Selection, metrics: list[str]) -> Selection:
    """A validated copy of ``sel`` with device and threads filled in when ``metrics`` need a device and
    the measurements leave no choice (one device; the fewest threads measured); EdgekitError when ambiguous."""
    sel = sel.copy().validate()
    if not needs_device(metrics, sel):
        return sel
    meas = results.measured()
    if not meas:
        return sel  # every device metric will be missing; reported per variant
    if sel.device is not None:
        meas = [d for d in meas if d.matches(sel.device)]
        if not meas:
            known = sorted({d.name for d in results.measured()})
            raise EdgekitError(f"no measurements on device {sel.device!r}", f"measured devices: {', '.join(known)}")
    else:
        devices = sorted({d.identity for d in meas})   # one device, whatever adb address it had
        if len(devices) > 1:
            known = sorted({f"{d.name} ({d.identity})" for d in meas})
            raise EdgekitError(f"measurements from {len(devices)} devices", f"choose one with --device: {', '.join(known)}")
        sel.device = meas[0].name
    if sel.threads is None:  # several thread counts (bench sweeps 1,2 by default): the fewest, shown in every label
        sel.threads = min(d.threads for d in meas)
    return headline(sel, [d for d in meas if d.matches(sel.device, sel.threads)])


def headline(sel: Selection, meas: list[Any]) -> Selection:
    """The per-kind headline rule, filled into ``sel``: on an emulated device latency is the cost
    model's estimate (when the measurements carry one; labelled ``est. <core> @<GHz>``) and memory
    the model's share; on a real phone both are the measured ones."""
    sel.emulated = any(d.emulated for d in meas) if meas else None
    est = next(((d.instructions or {}).get("estimate") for d in meas
                if d.emulated and ((d.instructions or {}).get("estimate") or {}).get("ms") is not None), None)
    if sel.latency_source == "auto":
        sel.latency_source = "estimate" if est else "wall"
    if sel.latency_source == "estimate" and est:
        from edgekit.costmodel import label_of

        sel.estimate_label = label_of(est)
    return sel

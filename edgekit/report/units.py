"""Units of the metric registry (:mod:`edgekit.metrics`): parse limit/budget text, format values.

Sizes: ``300kB``, ``300 kB``, ``1.5MB``, ``2 MiB``, ``512KiB``, ``4096`` (bytes), ``B``.
Decimal prefixes (k/K, M, G) are powers of 1000; binary ones (Ki, Mi, Gi) powers of 1024. Sizes
print in decimal units (``210.0 kB``, like size-limit); memory prints in MiB, labelled.
Latency: ``20ms``, ``0.02 s``, ``1500us``; a bare number is milliseconds.
Memory: as sizes, returned in MiB (the unit of ``Measurement.peak_memory_mb``); a bare number is MiB.
Accuracy: ``0.85`` or ``85%``. Accuracy drop: ``0.01``, ``1%`` or ``1pp`` — absolute, in accuracy
points (``1%`` = 0.01 = one percentage point), never relative.
Instructions: ``150000000``, ``150M``, ``1.2G``, ``80k`` (1000-based).

Use it through the registry (``METRICS["size"].format(n)``); the functions are the registry's parts.
"""

from __future__ import annotations

import math
import re
from typing import Any

# ---------------------------------------------------------------------------- parsing

_NUM = r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_RE = re.compile(r"^\s*(" + _NUM + r")\s*([A-Za-zµ%]*)\s*$")
_COUNT = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([-+]?[0-9]+))?\s*([kKMG]?)\s*$")

SIZE_UNITS = {
    "": 1, "B": 1,
    "k": 1000, "K": 1000, "kB": 1000, "KB": 1000, "kb": 1000,
    "M": 1000**2, "MB": 1000**2,
    "G": 1000**3, "GB": 1000**3,
    "Ki": 1024, "KiB": 1024, "kiB": 1024,
    "Mi": 1024**2, "MiB": 1024**2,
    "Gi": 1024**3, "GiB": 1024**3,
}
TIME_UNITS = {"": 1.0, "ms": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001, "ns": 1e-6}
COUNT_FACTORS = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9}


class UnitError(ValueError):
    """A value that does not parse; the message says what is accepted."""


def _split(text: object, what: str, accepted: str) -> tuple[float, str]:
    if isinstance(text, bool):
        raise UnitError(f"bad {what} {text!r} (expected {accepted})")
    if isinstance(text, (int, float)):
        if not math.isfinite(text) or text < 0:
            raise UnitError(f"bad {what} {text!r} (expected a non-negative number)")
        return float(text), ""
    if not isinstance(text, str):
        raise UnitError(f"bad {what} {text!r} (expected {accepted})")
    m = _RE.match(text)
    if not m:
        raise UnitError(f"bad {what} {text!r} (expected {accepted})")
    return float(m.group(1)), m.group(3)


def parse_size(text: object) -> int:
    """Bytes from ``300kB``, ``2 MiB``, ``1.5MB`` or a bare number of bytes (kB = 1000 B, KiB = 1024 B)."""
    value, unit = _split(text, "size", "a size like '300 kB', '2 MiB', '1.5MB' or bytes")
    factor = SIZE_UNITS.get(unit)
    if factor is None:
        raise UnitError(f"bad size unit {unit!r} in {text!r} (use B, kB, MB, GB, KiB, MiB or GiB)")
    return int(round(value * factor))


def parse_memory_mib(text: object) -> float:
    """MiB from a size with a unit (``64 MiB``, ``80MB``) or a bare number of MiB."""
    value, unit = _split(text, "memory", "a size like '64 MiB' or '80MB'")
    return value if unit == "" else parse_size(text) / 1024**2


def parse_latency_ms(text: object) -> float:
    """Milliseconds from ``20ms``, ``0.5s``, ``1500us`` or a bare number of ms."""
    value, unit = _split(text, "latency", "a time like '20ms', '0.5s' or '1500us'")
    factor = TIME_UNITS.get(unit.lower() if unit != "µs" else unit)
    if factor is None:
        raise UnitError(f"bad latency unit {unit!r} in {text!r} (use ms, s or us)")
    return value * factor


def parse_accuracy(text: object) -> float:
    """A fraction 0..1 from ``0.85`` or ``85%``."""
    value, unit = _split(text, "accuracy", "a fraction like 0.85 or a percentage like '85%'")
    if unit == "%":
        value /= 100.0
    elif unit:
        raise UnitError(f"bad accuracy unit {unit!r} in {text!r} (use a fraction like 0.85 or '85%')")
    if value > 1:
        raise UnitError(f"accuracy {text!r} is above 1 (write 0.85 or '85%')")
    return value


def parse_accuracy_drop(text: object) -> float:
    """Absolute accuracy points: ``0.01``, ``1%`` or ``1pp`` all mean 0.01 (never relative)."""
    value, unit = _split(text, "accuracy drop", "points like 0.01, '1%' or '1pp'")
    if unit in ("%", "pp"):
        value /= 100.0
    elif unit:
        raise UnitError(f"bad accuracy-drop unit {unit!r} in {text!r} (use 0.01, '1%' or '1pp')")
    if value > 1:
        raise UnitError(f"accuracy drop {text!r} is above 1 (write 0.01 or '1%')")
    return value


def parse_instructions(text: object) -> float:
    """Instructions per invoke from ``150000000``, ``"150M"``, ``"1.2G"``, ``"80k"`` (1000-based)."""
    accepted = "an instruction count like 150000000, '150M', '1.2G' or '80k'"
    if isinstance(text, bool) or not isinstance(text, (int, float, str)):
        raise UnitError(f"bad instruction count {text!r} (expected {accepted})")
    if isinstance(text, (int, float)):
        if text < 0 or text != text or text != int(text):
            raise UnitError(f"bad instruction count {text!r} (expected a whole non-negative number, e.g. {accepted})")
        return float(text)
    m = _COUNT.match(text.replace(",", "").replace("_", ""))
    if not m:
        raise UnitError(f"bad instruction count {text!r} (expected {accepted})")
    return float(round(float(m.group(1)) * (10 ** int(m.group(2) or 0)) * COUNT_FACTORS[m.group(3)]))


# ---------------------------------------------------------------------------- formatting

NONE = "—"


def is_missing(v: Any) -> bool:
    """None or NaN."""
    return v is None or (isinstance(v, float) and math.isnan(v))


def fmt_size(n: float | None) -> str:
    """Decimal units, like size-limit: ``812 B``, ``210.0 kB``, ``1.50 MB``."""
    if is_missing(n):
        return NONE
    n = float(n)
    sign, n = ("-" if n < 0 else ""), abs(n)
    if n < 1000:
        return f"{sign}{n:.0f} B"
    if n < 1000**2:
        return f"{sign}{n / 1000:.1f} kB"
    if n < 1000**3:
        return f"{sign}{n / 1000**2:.2f} MB"
    return f"{sign}{n / 1000**3:.2f} GB"


def fmt_ms(v: float | None) -> str:
    if is_missing(v):
        return NONE
    a = abs(v)
    if a >= 100:
        return f"{v:.0f} ms"
    if a >= 10:
        return f"{v:.1f} ms"
    if a >= 1 or v == 0:
        return f"{v:.2f} ms"
    return f"{v:.3g} ms"


def fmt_mib(v: float | None) -> str:
    return NONE if is_missing(v) else f"{v:.1f} MiB"


def fmt_accuracy(v: float | None) -> str:
    return NONE if is_missing(v) else f"{v * 100:.2f}%"


def fmt_points(v: float | None) -> str:
    """Accuracy points: 0.03 -> ``3.00 pp``."""
    return NONE if is_missing(v) else f"{v * 100:.2f} pp"


def fmt_count(v: float | None, word: str = "instruction") -> str:
    if is_missing(v):
        return NONE
    n = int(round(v))
    return f"{n:,} {word}{'s' if abs(n) != 1 else ''}"


def fmt_estimate_ms(v: float | None) -> str:
    return NONE if is_missing(v) else f"{fmt_ms(v)} (est.)"


def change_pct(new: float | None, old: float | None) -> str:
    """``+12.3%`` / ``-4.0%`` / ``±0.0%``; ``—`` when either is missing or old is 0."""
    if is_missing(new) or is_missing(old):
        return NONE
    if old == 0:
        return "±0.0%" if new == 0 else NONE
    ch = (new - old) / abs(old) * 100
    return "±0.0%" if abs(ch) < 0.05 else f"{ch:+.1f}%"


def change_points(new: float | None, old: float | None) -> str:
    """``+0.30 pp``: the difference of two fractions in percentage points."""
    if is_missing(new) or is_missing(old):
        return NONE
    d = (new - old) * 100
    return "±0.00 pp" if abs(d) < 0.005 else f"{d:+.2f} pp"


def change_exact(new: float | None, old: float | None) -> str:
    """``+1,234 (+0.80%)``: the exact integer difference and the relative change."""
    if is_missing(new) or is_missing(old):
        return NONE
    d = int(round(new)) - int(round(old))
    if d == 0:
        return "±0 (±0.00%)"
    pct = (d / old * 100) if old else float("inf")
    return f"{d:+,} ({pct:+.2f}%)"


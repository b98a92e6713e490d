"""edgekit: get trained models onto low-spec 32-bit ARM Android devices.

One record flows through the stages: a :class:`Variant` (``.tflite`` + manifest + host evaluation)
becomes :class:`Measurement` s on a device, which become :class:`Results`, a :class:`Report`
(Pareto front + recommendation) and a gate verdict (:class:`GateResult`)::

    import edgekit as ek

    variants = ek.optimize("model.h5", "data.npz", recipe="recipe.toml", out="out")
    measurements = ek.bench(variants, emulator="armv7-lowend", params=ek.BenchParams(runs=20))
    report = ek.report("out", max_size="300kB", min_accuracy=0.85)
    verdict = ek.gate("out", "edgekit.toml")

The CLI commands call exactly these functions. Everything is imported on first use, so
``import edgekit`` needs neither TensorFlow nor adb (the core install: inspect, report, gate).
"""

from __future__ import annotations

import importlib
from typing import Any

from edgekit._version import __version__

# public name -> "module:attribute"; loaded on first access (PEP 562)
_API = {
    "optimize": "edgekit.optimize.run:optimize",
    "bench": "edgekit.bench.api:bench",
    "BenchParams": "edgekit.bench.params:BenchParams",
    "load_results": "edgekit.results:load_results",
    "report": "edgekit.report.api:report",
    "gate": "edgekit.gate.api:gate",
    "load_variants": "edgekit.variant:load_variants",
    "Variant": "edgekit.variant:Variant",
    "Measurement": "edgekit.measurement:Measurement",
    "Results": "edgekit.results:Results",
    "Report": "edgekit.report.core:Report",
    "GateResult": "edgekit.gate.core:GateResult",
    "EdgekitError": "edgekit.errors:EdgekitError",
}

# the extra (pyproject.toml) a name needs beyond the core install
_EXTRA = {"optimize": "optimize", "bench": "bench", "BenchParams": "bench"}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    target = _API.get(name)
    if target is None:
        raise AttributeError(f"module 'edgekit' has no attribute {name!r}")
    module, attr = target.split(":")
    extra = _EXTRA.get(name)
    if extra is not None:
        from edgekit.extras import ExtraMissing, missing_distributions, require_extra

        missing = missing_distributions(extra)
        if missing:
            raise ExtraMissing(f"edgekit.{name}", extra, missing)
        try:
            value = getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            top = (exc.name or "").partition(".")[0]
            if not top or top == "edgekit":
                raise
            raise ExtraMissing(f"edgekit.{name}", extra, [top]) from None
        if callable(value) and not isinstance(value, type):
            value = require_extra(extra, f"edgekit.{name}()", value)
    else:
        value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

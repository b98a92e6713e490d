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

from edgekit.facade import API, PACKAGES, resolve

__all__ = ["__version__", *API]


def __getattr__(name: str) -> Any:
    if name in PACKAGES:  # the stage package itself, callable as its API function (edgekit.facade)
        return importlib.import_module(f"{__name__}.{name}")
    value = resolve(name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

"""The public Python API's names and how they load: ``import edgekit as ek; ek.optimize(...)``.

Four API functions share their name with a stage package: ``ek.optimize``, ``ek.bench``, ``ek.report``
and ``ek.gate``. Python binds a subpackage to its parent's attribute once it is imported
(``import edgekit.report.core`` sets ``edgekit.report`` to the package), so those four packages are
themselves callable (:func:`callable_package`): ``ek.report(...)`` calls
:func:`edgekit.report.api.report` whichever object the attribute holds, and ``import
edgekit.report.core`` keeps working. The other names (``ek.BenchParams``, ``ek.load_results`` ...)
are loaded on first use.

Names that need an extra beyond the core install say so in one line (:class:`edgekit.extras.ExtraMissing`).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

# public name -> "module:attribute"
API = {
    "optimize": "edgekit.optimize.run:optimize",
    "bench": "edgekit.bench.api:bench",
    "BenchParams": "edgekit.bench.params:BenchParams",
    "load_results": "edgekit.results:load_results",
    "report": "edgekit.report.api:report",
    "gate": "edgekit.gate.api:gate",
    "search": "edgekit.search.api:search",
    "load_variants": "edgekit.variant:load_variants",
    "Variant": "edgekit.variant:Variant",
    "Measurement": "edgekit.measurement:Measurement",
    "Results": "edgekit.results:Results",
    "Report": "edgekit.report.core:Report",
    "GateResult": "edgekit.gate.core:GateResult",
    "EdgekitError": "edgekit.errors:EdgekitError",
}
# API names that are also stage packages (the package is callable as the function)
PACKAGES = ("optimize", "bench", "report", "gate", "search")
# the extra (pyproject.toml) a name needs beyond the core install
EXTRA = {"optimize": "optimize", "bench": "bench", "BenchParams": "bench", "search": "search"}

_resolved: dict[str, Any] = {}


def resolve(name: str) -> Any:
    """The object behind public name ``name`` (functions that need an extra check it when called)."""
    if name in _resolved:
        return _resolved[name]
    target = API.get(name)
    if target is None:
        raise AttributeError(f"module 'edgekit' has no attribute {name!r}")
    module, attr = target.split(":")
    extra = EXTRA.get(name)
    if extra is None:
        value = getattr(importlib.import_module(module), attr)
    else:
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
    _resolved[name] = value
    return value


class CallablePackage(types.ModuleType):
    """A stage package that is also its API function: ``edgekit.report(...)`` is ``edgekit.report.api.report(...)``."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return resolve(self.__name__.rpartition(".")[2])(*args, **kwargs)


def callable_package(package: str) -> None:
    """Make the (already imported) package ``package`` callable as its API function; see the module doc."""
    sys.modules[package].__class__ = CallablePackage

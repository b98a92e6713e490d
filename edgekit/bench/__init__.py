"""``edgekit bench``: measure variants on devices over adb.

Modules: ``api`` (``bench()``, what the CLI calls), ``params`` (BenchParams), ``targets`` and
``evalset`` (what is measured, with which evaluation set), ``sweep`` (planning + variants x devices
x threads, resume), ``listeners`` (the typed event protocol; ``store`` and ``ui`` implement it),
``runner`` (both runners -> Measurement), ``device`` (bench devices on :mod:`edgekit.adb`),
``device_script`` (the python runner, runs on the device), ``benchmark_model`` (TFLite's native
binary: flags and output parser), ``stats`` (summary, noise, drift), ``counted`` (instruction counts).

``edgekit.bench`` itself is callable and means :func:`edgekit.bench.api.bench`: the facade's
``ek.bench`` is this package once any ``edgekit.bench.*`` module was imported before it was first
used (Python binds a subpackage to its parent's attribute), and must still measure.
"""

from edgekit.facade import callable_package

callable_package(__name__)

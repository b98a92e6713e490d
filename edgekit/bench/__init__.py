"""``edgekit bench``: measure variants on devices over adb.

Modules: ``store`` (OUT/bench.sqlite), ``stats`` (summary, noise, drift), ``benchmark_model``
(TFLite's native binary: runner flags and output parser), ``device_script`` (the python runner,
runs on the device), ``device`` (adbutils: devices, quoting), ``runner`` (both runners ->
Measurement), ``sweep`` (variants x devices x threads, resume), ``cli`` + ``ui`` (the command).
"""

"""``edgekit search``: the best variants within a budget, found by an Optuna study over a search space.

Modules: ``space`` (the search space as TOML data, validated before any training), ``trial`` (one
trial: the chain built and written by the optimise stage's own code, scored on the validation split),
``device`` (latency and memory through the bench stage), ``study`` (Optuna storage, resuming,
trial accounting, the front), ``summary`` (``OUT/search.json`` and the per-trial line), ``api`` (the
entry point, :func:`edgekit.search.api.search`).

This package's ``__init__`` imports nothing heavy. The package is callable: ``edgekit.search(...)``
is :func:`edgekit.search.api.search` (see :mod:`edgekit.facade`).
"""

from edgekit.facade import callable_package

callable_package(__name__)

"""Gate: judge results against budgets from pyproject.toml / edgekit.toml or a dict (exit 0 pass,
1 broken, 2 config).

    from edgekit.gate.api import gate
    from edgekit.gate.render import render_text
    result = gate("out", "edgekit.toml", baseline="baseline.json")
    print(render_text(result)); raise SystemExit(result.exit_code)

Modules: ``config`` (budgets: read, validate), ``locate`` (FILE:LINE of a budget), ``core`` (checks,
GateResult), ``render`` (text, Markdown, JUnit, JSON), ``api`` (``gate()``). Metric knowledge —
budget keys, parsers, formats, change texts — is the registry's (:mod:`edgekit.metrics`).

The package is callable: ``edgekit.gate(...)`` is :func:`edgekit.gate.api.gate` (so the facade's
``ek.gate`` works whether it resolves to the function or, once imported, to this package).
"""

from __future__ import annotations

from edgekit.facade import callable_package

callable_package(__name__)

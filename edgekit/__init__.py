"""edgekit: get trained models onto low-spec 32-bit ARM Android devices.

Stages: optimise (Variants) -> benchmark (Measurements) -> report (Pareto front) -> gate (budgets).
"""

__version__ = "0.1.0"

"""Pareto front with numpy.

``costs`` is an (n, d) float array where smaller is better on every column (callers negate the
columns where larger is better). Rules:

* A dominates B when A is no worse on every axis and strictly better on at least one.
* Values are compared after rounding to 6 decimals (bytes, ms, MiB and accuracy fractions), so
  float noise does not split ties.
* Ties: variants with identical values on every axis do not dominate each other. If one of them is
  on the front, all are, and each lists the others in ``ties``.
* The dominator named for a dominated variant is a front member (one always exists): the first
  one that dominates it in front order — axes compared in the order given (lexicographically),
  then by input position.

The front is found by a sort-and-cull: after a lexicographic sort, the first remaining point
cannot be dominated, so it joins the front and removes every point it dominates. Cost is
O(n · |front| · d) vectorised, which keeps 10k variants well under a second.
"""

from __future__ import annotations

import numpy as np


def pareto(costs: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """Return (on_front bool[n], dominator int[n] (-1 on the front), ties: groups of indices)."""
    costs = np.asarray(costs, dtype=float)
    n = costs.shape[0]
    on_front = np.zeros(n, dtype=bool)
    dominator = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return on_front, dominator, []
    if costs.ndim != 2 or costs.shape[1] == 0:
        on_front[:] = True
        return on_front, dominator, [list(range(n))] if n > 1 else []
    c = np.round(costs, 6)
    # lexicographic order: first axis primary; np.lexsort takes the primary key last
    keys = [np.arange(n)] + [c[:, j] for j in range(c.shape[1] - 1, -1, -1)]
    order = np.lexsort(keys)
    rem = order  # remaining candidate indices, kept in lexicographic order
    rem_c = c[order]
    while rem.size:
        p = rem[0]
        pc = rem_c[0]
        on_front[p] = True
        rest_c = rem_c[1:]
        ge = np.all(rest_c >= pc, axis=1)
        gt = np.any(rest_c > pc, axis=1)
        dominated = ge & gt
        dom_idx = rem[1:][dominated]
        dominator[dom_idx] = p
        keep = ~dominated
        rem = rem[1:][keep]
        rem_c = rest_c[keep]
    # ties among front members: identical rounded rows
    ties: list[list[int]] = []
    f_idx = np.flatnonzero(on_front)
    if f_idx.size > 1:
        _, inverse, counts = np.unique(c[f_idx], axis=0, return_inverse=True, return_counts=True)
        inverse = np.asarray(inverse).reshape(-1)
        for g in np.flatnonzero(counts > 1):
            ties.append(sorted(f_idx[inverse == g].tolist()))
    return on_front, dominator, ties


def pareto_bruteforce(costs: np.ndarray) -> np.ndarray:
    """Reference O(n²) front mask (for tests)."""
    c = np.round(np.asarray(costs, dtype=float), 6)
    n = len(c)
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if i != j and np.all(c[j] <= c[i]) and np.any(c[j] < c[i]):
                mask[i] = False
                break
    return mask

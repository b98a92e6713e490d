"""``OUT/search.json`` (schema ``edgekit.search/1``): the study as the report and the benchmark read it,
and the one line per trial the progress prints.

Written after every trial (atomically), so a killed search leaves a readable file. Sizes are gzip -9
bytes of the .tflite (``size``; ``file_size`` is the file itself); ``accuracy`` and ``drop`` in trial
metrics are on the validation split; ``test_accuracy`` / ``test_drop`` come from the variants'
``eval.json`` (the test set, evaluated once for the front members and the baseline); ``latency`` is
an estimate when ``latency_kind`` is ``"est."``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgekit import atomic
from edgekit.clock import utc_now

FILE = "search.json"
SCHEMA = "edgekit.search/1"


def _state(t: Any) -> str:
    return t.state.name.lower()


def check_one_study(out: Path, name: str) -> None:
    """One OUT holds one study: trial variants are named ``trial-NNNN`` in every study, so a second study
    in the same OUT would overwrite the first one's variants and ``search.json``."""
    from edgekit.errors import EdgekitError

    try:
        held = json.loads((Path(out) / FILE).read_text()).get("study")
    except (OSError, ValueError, AttributeError):
        return
    if held and held != name:
        raise EdgekitError(f"{out} holds the search study {held!r}; this run is study {name!r} (another space, "
                           "budget, objective, seed, model or data)",
                           "give this search its own --out (or remove OUT to start again)")


def _test_accuracy(out: Path, variant: str | None, study: str | None = None) -> float | None:
    from edgekit.errors import EdgekitError
    from edgekit.variant import Variant

    if not variant:
        return None
    try:
        v = Variant.load(out / "variants" / variant)
    except (EdgekitError, OSError, ValueError):
        return None
    if study is not None and getattr(v.manifest, "study", None) not in (None, study):
        return None   # another study's variant of the same name
    ev = v.evaluation
    if ev is None or ev.status != "ok" or ev.sha256 != v.sha256:
        return None
    return ev.accuracy


def trial_row(t: Any) -> dict[str, Any]:
    a = t.user_attrs
    return {"number": t.number, "state": _state(t), "family": a.get("family"), "description": a.get("description"),
            "variant": a.get("variant"), "chain": a.get("chain"), "metrics": a.get("metrics") or {},
            "feasible": bool(a.get("feasible")), "suspect": a.get("suspect") or [], "error": a.get("error"),
            "pruned": a.get("pruned"),
            "worker": a.get("worker"),
            # a pruned trial's values are Optuna's last reported one (the validation accuracy), not the objectives
            "values": list(t.values) if t.values is not None and _state(t) == "complete" else None,
            "seconds": (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start else None}


def build(out: Path, st: Any, ctx: Any, seconds: float) -> dict[str, Any]:
    from edgekit.search import study as study_mod
    from edgekit.search.trial import BASELINE

    trials = st.get_trials(deepcopy=False)
    objectives = ctx.budget.objectives
    base = dict(ctx.baseline_metrics)
    base_test = _test_accuracy(out, BASELINE, ctx.study_name)
    base.update(variant=BASELINE, test_accuracy=base_test)
    rows = [trial_row(t) for t in trials if study_mod.counted(t)]
    front = []
    for t in study_mod.front(trials, objectives):
        row = trial_row(t)
        acc = _test_accuracy(out, row["variant"], ctx.study_name)
        row["test_accuracy"] = acc
        row["test_drop"] = None if acc is None or base_test is None else base_test - acc
        size = row["metrics"].get("size")
        row["ratio"] = base["size"] / size if size and base.get("size") else None
        lat, blat = row["metrics"].get("latency"), base.get("latency")
        row["latency_ratio"] = blat / lat if lat and blat else None
        front.append(row)
    return {
        "schema": SCHEMA,
        "study": ctx.study_name,
        "storage": ctx.storage,
        "updated": utc_now(),
        "seconds": round(seconds, 1),
        "space": ctx.space.path,
        "space_families": ctx.space.describe(),
        "budget": ctx.budget.as_dict(),
        "validation": {"share": ctx.space.validation, "n": int(len(ctx.plan.dataset.y_test)),
                       "train_n": int(len(ctx.plan.dataset.y_train))},
        "target": ctx.trials,
        "finished": len(rows),
        "baseline": base,
        "trials": rows,
        "front": front,
        "best_so_far": {o: study_mod.best_so_far(trials, o) for o in objectives},
    }


def write(out: Path, st: Any, ctx: Any, seconds: float) -> Path:
    path = Path(out) / FILE
    atomic.write_json(path, build(Path(out), st, ctx, seconds))
    return path


def load(out: str | Path) -> dict[str, Any]:
    return json.loads((Path(out) / FILE).read_text())


def _best(st: Any, ctx: Any) -> str:
    from edgekit.optimize.summary import kb
    from edgekit.search import study as study_mod

    members = study_mod.front(st.get_trials(deepcopy=False), ctx.budget.objectives)
    if not members:
        return "no trial within budget yet"
    o = ctx.budget.objectives[0]
    sign = 1 if study_mod.DIRECTIONS[o] == "minimize" else -1
    t = min(members, key=lambda t: sign * t.user_attrs["metrics"][o])
    m = t.user_attrs["metrics"]
    what = {"size": lambda: f"{kb(m['size'])} gzip", "latency": lambda: f"{m.get('latency_kind', '')} {m['latency']:.3g} ms".strip(),
            "memory": lambda: f"{m['memory']:.1f} MiB", "accuracy": lambda: f"val {m['accuracy']:.2%}"}[o]()
    return f"best within budget: trial {t.number} ({what})"


def trial_line(t: Any, st: Any, ctx: Any) -> str:
    """``pruned(0.91) → ptq-int8: 24.1 kB gzip, val 89.50 % (-0.40 pp) within budget | best within budget: ...``"""
    from edgekit.optimize.summary import kb

    a = t.user_attrs
    desc = a.get("description") or "?"
    m = a.get("metrics") or {}
    state = _state(t)
    if state == "complete":
        parts = [f"{kb(m['size'])} gzip", f"val {m['accuracy']:.2%} ({-m['drop'] * 100:+.2f} pp)"]
        if m.get("latency") is not None:
            parts.append(f"{m.get('latency_kind', '')} {m['latency']:.3g} ms".strip())
        if m.get("memory") is not None:
            parts.append(f"{m['memory']:.1f} MiB peak")
        what = ", ".join(parts) + (" — within budget" if a.get("feasible") else
                                   f" — suspect: {'; '.join(a['suspect'])}" if a.get("suspect") else " — over budget")
    elif state == "pruned":
        what = f"pruned: {a.get('pruned', 'hopeless')}"
    else:
        what = f"failed: {a.get('error', 'interrupted')}"
    return f"{desc}: {what} | {_best(st, ctx)}"

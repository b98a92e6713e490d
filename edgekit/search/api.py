"""``ek.search``: the best variants within a budget, found by an Optuna study over a search space.

    import edgekit as ek
    result = ek.search(out="out/search-size", max_accuracy_drop="1pp", objectives=["size"], trials=40)
    result = ek.search("model.h5", "data.npz", out="out", objectives=["size", "latency"],
                       max_latency="20ms", storage="postgresql://u:pw@db:5432/edgekit")

Order of work, so that bad input fails before any training and nothing is lost:
1. budgets, objectives and the search space are checked (:mod:`edgekit.search.space`), the study's
   database is opened (an unreachable one is one line), the device is started or checked;
2. the data is loaded and a validation split carved from the *training* data (``validation`` in the
   space's settings, default 10 %); the model and every chain shape the space allows are checked by
   the optimise stage's own planner (:func:`edgekit.optimize.plan.plan`);
3. the float32 baseline is built (the built-in teacher trains here, on the training split only) and
   scored on the validation split; trials run until the study has ``trials`` finished trials or
   ``timeout`` has passed (:mod:`edgekit.search.trial`); after every trial ``OUT/search.json`` is
   rewritten;
4. at the end each member of the front on this machine, and the baseline, is evaluated once on the
   test set (``eval.json``, as for every variant), so ``edgekit report`` / ``bench`` / ``gate`` see them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.search import summary
from edgekit.search.study import DIRECTIONS
from edgekit.search.trial import BASELINE, Budget

DB_FILE = "search.sqlite"
MIN_MODEL_BYTES = 1000      # no .tflite with a graph fits below this (header, tensors, one op, its buffers)


@dataclass
class SearchResult:
    """What ``ek.search`` found: the front (best feasible trials), every trial, the baseline.

    ``front`` rows: ``number``, ``variant``, ``description``, ``metrics`` (validation split; ``size``
    is gzip bytes), ``test_accuracy`` (this machine's members), ``ratio`` (float32 gzip / its gzip).
    """

    study: str
    storage: str
    front: list[dict[str, Any]]
    trials: list[dict[str, Any]]
    baseline: dict[str, Any]
    path: Path
    finished: int = 0
    notes: list[str] = field(default_factory=list)


def make_budget(objectives: Sequence[str] | str, max_accuracy_drop: Any, max_size: Any, max_latency: Any,
                max_memory: Any) -> Budget:
    from edgekit.report import units

    objs = [o.strip() for o in (objectives.split(",") if isinstance(objectives, str) else objectives) if o.strip()]
    if not objs:
        raise EdgekitError("no --objective given", f"one or several of {', '.join(DIRECTIONS)}")
    for o in objs:
        if o not in DIRECTIONS:
            raise EdgekitError(f"--objective {o!r} is not one of {', '.join(DIRECTIONS)}")
    if len(set(objs)) != len(objs):
        raise EdgekitError("an --objective is given twice")
    try:
        drop = None if max_accuracy_drop is None else units.parse_accuracy_drop(max_accuracy_drop)
        size = None if max_size is None else units.parse_size(max_size)
        lat = None if max_latency is None else units.parse_latency_ms(max_latency)
        mem = None if max_memory is None else units.parse_memory_mib(max_memory)
    except units.UnitError as exc:
        raise EdgekitError(str(exc)) from None
    if drop is not None and drop >= 1:
        raise EdgekitError(f"--max-accuracy-drop {max_accuracy_drop} allows every model (it is absolute: 1pp = 0.01)")
    if size is not None and size < MIN_MODEL_BYTES:
        raise EdgekitError(f"impossible budget: --max-size {max_size} — no .tflite model fits in {size} B "
                           f"(the file format alone needs about {MIN_MODEL_BYTES} B)", "give a larger --max-size")
    if lat is not None and lat <= 0:
        raise EdgekitError(f"impossible budget: --max-latency {max_latency} — no model runs in {lat:g} ms",
                           "give a positive latency, e.g. 20ms")
    if mem is not None and mem <= 0:
        raise EdgekitError(f"impossible budget: --max-memory {max_memory} — no process runs in {mem:g} MiB",
                           "give a positive memory, e.g. 64MiB")
    return Budget(objs, drop, size, lat, mem)


def _split(ds: Any, share: float, seed: int) -> Any:
    """(training split, validation split as the "test" arrays) — the test set is not in it."""
    from edgekit.optimize.data.dataset import Dataset

    n = len(ds.x_train)
    n_val = int(round(n * share))
    if n_val < ds.num_classes or n - n_val < ds.num_classes:
        raise EdgekitError(f"the training data ({n} examples) is too small to hold out a validation share of {share}",
                           "give more training data or change validation in the space's [settings]")
    perm = np.random.default_rng(seed).permutation(n)
    tr, va = np.sort(perm[n_val:]), np.sort(perm[:n_val])
    return Dataset(ds.x_train[tr], ds.y_train[tr], ds.x_train[va], ds.y_train[va], ds.num_classes,
                   list(ds.class_names), ds.name, ds.x_unlabelled)


def _check_recipe(sp: Any, settings: dict[str, Any]) -> Any:
    """The baseline plus one chain per shape each family allows: what the planner checks before training."""
    import itertools

    from edgekit.optimize.recipe import Recipe
    from edgekit.passes import PASSES
    from edgekit.search.space import variant_spec

    variants = [variant_spec(BASELINE, [])]
    for fam in sp.families:
        for i, combo in enumerate(itertools.product(*[s.options() for s in fam.steps])):
            chain = [{"pass": name, **{k: d.extremes()[0] for k, d in s.params.items() if k in PASSES[name].params}}
                     for s, name in zip(fam.steps, combo) if name]
            variants.append(variant_spec(f"{fam.name}-shape{i}", chain, f"{sp.path}, family {fam.name!r}", sp.settings))
    return Recipe(sp.path, variants, settings)


class _BuilderProgress:
    """The optimise stage's progress calls inside a trial: live status only (the trial is the step)."""

    def __init__(self, inner: Any):
        self.inner = inner

    def status(self, key: str, message: str, fraction: float | None = None) -> None:
        self.inner.status(key, message, fraction)

    def done(self, key: str, message: str) -> None:
        self.inner.note(f"{key}: {message}")

    def note(self, text: str) -> None:
        self.inner.note(text)

    def add_total(self, n: int) -> None:
        pass


def search(model: Any = None, data: Any = None, *, out: str | Path = "out", space: Any = None,
           objectives: Sequence[str] | str = ("size",), max_accuracy_drop: Any = "1pp", max_size: Any = None,
           max_latency: Any = None, max_memory: Any = None, trials: int = 40, timeout: float | None = None,
           storage: str | None = None, study: str | None = None, device: str | None = None,
           emulator: str | None = None, seed: int | None = None, image_size: Any = None, progress: Any = None) -> SearchResult:
    """Search ``space`` (a TOML path, a :class:`edgekit.search.space.Space`, or None: the built-in
    space) for the variants of ``model`` (as :func:`edgekit.optimize.run.optimize` takes it) that meet
    the budget, optimising ``objectives`` (size, latency, memory, accuracy; several give a Pareto
    front). ``trials`` counts finished trials in the study (a re-run continues it); ``timeout``
    (seconds) stops starting new ones. ``storage``: an Optuna RDB URL (default ``OUT/search.sqlite``).
    ``device`` (adb serial) / ``emulator`` (profile): where latency and memory come from when a budget
    or objective needs them (default: the emulated device's counted estimate).
    """
    from edgekit.search import space as space_mod
    from edgekit.search import study as study_mod
    from edgekit.search.device import Measurer

    t_start = time.monotonic()
    budget = make_budget(objectives, max_accuracy_drop, max_size, max_latency, max_memory)
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise EdgekitError(f"--trials {trials!r} must be a positive number of trials")
    if timeout is not None and timeout <= 0:
        raise EdgekitError(f"--timeout {timeout!r} must be positive")
    sp = space if isinstance(space, space_mod.Space) else space_mod.load(space)
    budget.margin = sp.accuracy_margin
    out = Path(out)
    from edgekit.optimize.plan import check_writable

    check_writable(out)
    url = study_mod.storage_url(storage, str((out / DB_FILE).resolve()))

    from edgekit.optimize import data as data_mod
    from edgekit.optimize.chain import Builder, NoProgress
    from edgekit.optimize.plan import DEFAULT_DATA, plan

    seed = int(sp.settings.get("seed", 0)) if seed is None else seed   # an explicit seed wins over the space's
    full = data_mod.load_data(DEFAULT_DATA if model is None and data is None else data, image_size=image_size) \
        if data is not None or model is None else None
    if full is None:
        raise EdgekitError("edgekit search needs --data (training data to search on and a test set to report)")
    split = _split(full, sp.validation, seed)
    settings = {k: v for k, v in sp.settings.items() if k in ("teacher_epochs", "student_epochs")}
    p = plan(model=model, data=split, recipe=_check_recipe(sp, settings), out=out, seed=seed, force=True)
    from edgekit.digest import sha256_json

    inputs = {"space": sp.text, "seed": seed, "base": p.base_key, "data": full.fingerprint()}
    name = study or "search-" + sha256_json({**inputs, "budget": budget.as_dict()})[:12]
    summary.check_one_study(out, name)
    rdb = study_mod.open_storage(url)
    from edgekit.emulator.profiles import DEFAULT_PROFILE

    needs_device = budget.needs_device or device is not None or emulator is not None
    terms = {"budget": budget.as_dict(),
             "latency and memory from": None if not needs_device else "a phone (measured)" if device is not None
             else f"the emulated device, profile {emulator or DEFAULT_PROFILE} (est.)",
             "inputs": "space, seed, model and data " + sha256_json(inputs)[:12]}
    study_mod.check_terms(rdb, terms, name)   # before any training
    measurer = None
    if needs_device:
        measurer = Measurer(out, device=device, emulator=emulator)
        measurer.open()
    shown = progress if progress is not None else NoProgress()
    if not hasattr(shown, "note"):
        raise EdgekitError("progress must be an edgekit.progress.StepProgress (or offer status/done/note)")
    builder = Builder(p, out, _BuilderProgress(shown))

    from edgekit.search import trial as trial_mod
    from edgekit.search.space import variant_spec

    ctx = trial_mod.Context(p, builder, sp, budget, out, name, trials, 0.0, np.zeros((0, 0)), measurer, shown,
                            study_mod.redact(url))
    base_v = variant_spec(BASELINE, [])
    shown.status(BASELINE, "the float32 baseline", None)
    base_variant = _baseline(ctx, base_v)
    ev, outputs = _validate_outputs(ctx, base_variant)
    ctx.val_accuracy, ctx.val_outputs = ev.accuracy, outputs
    base_m = {"size": base_variant.manifest.gzip_size_bytes, "file_size": base_variant.size_bytes,
              "accuracy": ev.accuracy}
    if measurer is not None:
        base_m.update(measurer.measure(base_variant))
    ctx.baseline_metrics = base_m

    salt = "" if storage is None else study_mod.worker_id()   # workers sharing a study draw different points
    st = study_mod.create_study(rdb, name, budget.objectives, seed, trials, families=[f.name for f in sp.families],
                                seed_salt=salt,
                                prune_below=trial_mod.prune_threshold(ctx))
    study_mod.check_terms(st, terms)
    st.set_user_attr("baseline", {"worker": study_mod.worker_id(), **base_m})
    killed = study_mod.recover_killed(st)
    notes = [f"trial {n} was running in a killed worker: failed and queued again" for n in killed]
    _remove_orphans(out, st)
    for text in notes:
        shown.note(text)
    done_before = study_mod.finished(st)
    shown.add_total(max(0, trials - done_before))
    if done_before:
        shown.note(f"study {name}: {done_before} of {trials} trials already finished")
    summary.write(out, st, ctx, time.monotonic() - t_start)
    if hasattr(shown, "start_steps"):
        shown.start_steps()     # the ETA times trials, not the baseline's teacher before them
    _loop(ctx, st, trials, timeout, t_start, shown, notes, salt)
    result = _finish(ctx, st, full, time.monotonic() - t_start)
    result.notes.extend(notes)
    return result


def _remove_orphans(out: Path, st: Any) -> None:
    """Remove this study's trial variants in OUT whose trial failed without counting (its worker was
    killed after writing it; the trial is queued again): report, bench and gate would show a variant no
    trial stands for."""
    from optuna.trial import TrialState

    from edgekit.optimize.writer import remove_variant
    from edgekit.search import study as study_mod
    from edgekit.variant import Variant

    vroot = out / "variants"
    if not vroot.is_dir():
        return
    trials = {t.number: t for t in st.get_trials(deepcopy=False)}
    for d in sorted(vroot.glob("trial-*")):
        try:
            m = Variant.load(d).manifest
        except (EdgekitError, OSError, ValueError):
            continue
        t = trials.get(m.trial) if m.study == st.study_name else None
        if t is not None and t.state == TrialState.FAIL and not study_mod.counted(t):
            remove_variant(out, d.name)


def _baseline(ctx: Any, v: Any) -> Any:
    from edgekit.digest import sha256_file
    from edgekit.search.trial import build_and_write, inputs_key
    from edgekit.variant import Variant

    vdir = ctx.out / "variants" / BASELINE
    try:
        old = Variant.load(vdir)
        if old.manifest.inputs_key == inputs_key(ctx, v) and sha256_file(old.path) == old.sha256:
            ctx.builder.base()   # the teacher (cached) for the trials
            return old
    except (EdgekitError, OSError, ValueError):
        pass
    variant, ok, reason, _ = build_and_write(ctx, v, None)
    if not ok:
        raise EdgekitError(f"the float32 baseline does not load in the device runtime: {reason}")
    return variant


def _validate_outputs(ctx: Any, variant: Any):
    from edgekit.optimize.evaluate import evaluate

    ev, outputs = evaluate(variant.path, ctx.plan.dataset, baseline=None)
    if ev.status != "ok" or outputs is None:
        raise EdgekitError(f"the float32 baseline failed on the validation split: {ev.error}")
    if ev.suspect:
        raise EdgekitError(f"the float32 baseline is suspect on the validation split: {'; '.join(ev.suspect)}",
                           "check the model and the data (edgekit inspect, --input-range) before searching")
    return ev, outputs


def _loop(ctx: Any, st: Any, trials: int, timeout: float | None, t_start: float, shown: Any, notes: list[str],
          salt: str = "") -> None:
    from edgekit.digest import sha256_json
    from edgekit.search import study as study_mod
    from edgekit.search.trial import Duplicate, Surplus, TrialFailed, run_trial, variant_name

    sampling = study_mod.Sampling(st, seed=int(sha256_json([len(st.get_trials(deepcopy=False)), salt])[:7], 16))
    while study_mod.finished(st) < trials:
        if timeout is not None and time.monotonic() - t_start >= timeout:
            notes.append(f"--timeout reached after {study_mod.finished(st)} finished trials")
            shown.note(notes[-1])
            break
        seen: list[Any] = []
        st.optimize(lambda t: run_trial(ctx, t), n_trials=1, catch=(TrialFailed, Duplicate, Surplus),
                    callbacks=[lambda s, t: seen.append(t)], gc_after_trial=False, show_progress_bar=False)
        t = seen[-1] if seen else None
        if t is None:
            break
        if t.user_attrs.get("surplus"):
            # the last trials run elsewhere: wait for them (a dead worker's is failed and queued again)
            _wait_for_others(st, ctx)
            continue
        if not sampling.record("duplicate_of" in t.user_attrs, t.params.get("family")):
            notes.append(f"the space has no untried points left ({study_mod.RANDOM_TRIES} random draws in a row "
                         "were all tried)")
            shown.note(notes[-1])
            break
        if "duplicate_of" in t.user_attrs:
            continue
        summary.write(ctx.out, st, ctx, time.monotonic() - t_start)   # first: a stop at the report loses nothing
        shown.done(variant_name(t.number), summary.trial_line(t, st, ctx))


def _wait_for_others(st: Any, ctx: Any, limit_s: float = 3600) -> None:
    """The front is final once no trial runs: wait for other workers' trials in flight (a dead
    worker's trial is failed by the heartbeat after its grace period)."""
    import optuna
    from optuna.trial import TrialState

    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        optuna.storages.fail_stale_trials(st)
        running = st.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not running:
            return
        ctx.progress.status("study", f"waiting for {len(running)} trial(s) of other workers", None)
        time.sleep(2)


def _finish(ctx: Any, st: Any, full: Any, seconds: float) -> SearchResult:
    """The test set, once per front member on this machine (and the baseline): eval.json."""
    from edgekit.optimize.evaluate import evaluate, write_eval
    from edgekit.search import study as study_mod
    from edgekit.variant import Variant

    _wait_for_others(st, ctx)
    _remove_orphans(ctx.out, st)   # trials another worker's heartbeat failed meanwhile
    trials = st.get_trials(deepcopy=False)
    members = study_mod.front(trials, ctx.budget.objectives)
    base = Variant.load(ctx.out / "variants" / BASELINE)
    base_ev, base_out = evaluate(base.path, full, baseline=None)
    if base.evaluation is None or base.evaluation.sha256 != base.sha256:
        write_eval(base.dir, base_ev)
    for t in members:
        vdir = ctx.out / "variants" / str(t.user_attrs.get("variant"))
        try:
            v = Variant.load(vdir)
        except (EdgekitError, OSError, ValueError):
            continue   # made by a worker on another machine
        if v.manifest.study != ctx.study_name or v.manifest.trial != t.number:
            continue
        if v.evaluation is None or v.evaluation.sha256 != v.sha256:
            ctx.progress.status(v.name, "evaluating on the test set", None)
            ev, _ = evaluate(v.path, full, baseline=BASELINE, baseline_outputs=base_out)
            write_eval(v.dir, ev)
    path = summary.write(ctx.out, st, ctx, seconds)
    doc = summary.load(ctx.out)
    return SearchResult(ctx.study_name, ctx.storage, doc["front"], doc["trials"], doc["baseline"], path,
                        finished=study_mod.finished(st))

"""The Optuna study behind ``edgekit search``: storage, resuming, trial accounting, the front.

* Storage: ``OUT/search.sqlite`` by default, or ``--storage postgresql://...`` shared by several
  workers. Both with Optuna's heartbeat, so a trial whose worker died is failed and its parameters
  re-queued (:class:`optuna.storages.RetryFailedTrialCallback`); a worker on this host that was
  killed is recognised at once (its pid is gone) instead of after the grace period.
* ``--trials N`` is the number of *finished* trials in the study (complete, pruned, or failed with an
  error), whoever ran them: a re-run after a kill runs only the rest, and two workers share the N.
* Trial bookkeeping lives in user attributes: ``worker``, ``family``, ``chain``, ``chain_key``,
  ``variant``, ``metrics``, ``feasible``, ``constraints``; ``error``, ``duplicate_of`` and
  ``surplus`` mark trials that were not counted or did not finish.
"""

from __future__ import annotations

import copy
import os
import re
import socket
import time
import warnings
from typing import Any, Iterable

from edgekit.errors import EdgekitError

HEARTBEAT_S = 15
GRACE_S = 60
FAMILY_TRIES = 10      # draws in a row in TPE's family that all repeat a tried point: the family is random too
RANDOM_TRIES = 50      # random draws in a row that all repeat a tried point: the space is exhausted
KILLED = "killed"       # user attribute of a trial failed because its worker died (queued again, not counted)
DIRECTIONS = {"size": "minimize", "latency": "minimize", "memory": "minimize", "accuracy": "maximize"}


def worker_id() -> str:
    """``host[/pid-namespace]:pid``: containers that share a hostname (host networking) but not a process
    table must not take each other's live trials for dead ones (:func:`recover_killed`)."""
    try:
        ns = f"/{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        ns = ""
    return f"{socket.gethostname()}{ns}:{os.getpid()}"


def redact(url: str) -> str:
    """The URL without its password."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def storage_url(storage: str | None, out_sqlite: str) -> str:
    if storage is None:
        return f"sqlite:///{out_sqlite}"
    if not isinstance(storage, str) or not re.match(r"^(sqlite|postgresql(\+psycopg2)?)://", storage):
        raise EdgekitError(f"--storage {storage!r} is not a sqlite:/// or postgresql:// URL",
                           "e.g. --storage postgresql://user:password@host:5432/edgekit, or omit it for OUT/search.sqlite")
    if storage.startswith("postgresql://"):   # SQLAlchemy 2.1's default driver for it is psycopg 3; edgekit pins psycopg2
        storage = "postgresql+psycopg2://" + storage[len("postgresql://"):]
    return storage


def open_storage(url: str) -> Any:
    """An Optuna RDB storage (tables created when new); an unreachable database is one EdgekitError."""
    import optuna
    import sqlalchemy.exc

    kwargs: dict[str, Any] = {}
    if url.startswith("postgresql"):
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            raise EdgekitError("--storage postgresql:// needs the PostgreSQL driver psycopg2",
                               "pip install 'edgekit[search]'") from None
        kwargs = {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
    quiet()
    retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3)
    for attempt in range(6):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT_S,
                                              grace_period=GRACE_S, heartbeat_stale_trial_callback=retry)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as exc:
            # another worker is creating Optuna's tables in a new database at the same moment; after 15 s it is
            # something else (PostgreSQL >= 15: "permission denied for schema public" for a plain user)
            if attempt == 5:
                raise EdgekitError(f"cannot set up the study database {redact(url)}: {_first_line(exc)}",
                                   "the database user needs to create tables in it (GRANT CREATE ON SCHEMA public)") from None
            time.sleep(1 + attempt)
        except (sqlalchemy.exc.SQLAlchemyError, OSError, ImportError) as exc:
            raise EdgekitError(f"cannot open the study database {redact(url)}: {_first_line(exc)}",
                               "check the URL, that the server runs and accepts connections from this host") from None
        except RuntimeError as exc:   # Optuna: the tables were made by another version of its schema
            raise EdgekitError(f"cannot use the study database {redact(url)}: {_first_line(exc)}",
                               "use the Optuna version that made it (or `optuna storage upgrade`), or another database") from None
    raise AssertionError("unreachable")


def _first_line(exc: BaseException) -> str:
    why = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return why[0] if why else type(exc).__name__


def quiet() -> None:
    """Optuna's own log lines and experimental-feature warnings off: edgekit prints one line per trial."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def create_study(storage: Any, name: str, objectives: list[str], seed: int, trials: int, seed_salt: str = "",
                 prune_below: float | None = None, families: list[str] = ()) -> Any:
    import optuna

    from edgekit.digest import sha256_json

    directions = [DIRECTIONS[o] for o in objectives]
    existing = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
    n_before = existing[name].n_trials if name in existing else 0
    # one worker's sampling is reproducible; several workers (or a resumed run) draw different points
    sampler_seed = int(sha256_json([seed, n_before, seed_salt])[:8], 16)
    # constraints come from Trial.set_constraint (one per budget limit; <= 0 is within budget)
    # multivariate + group: a trial's parameters are drawn jointly, per group of parameters that occur
    # together (a family and its optional steps): independent TPE draws each one alone and misses how they
    # interact (a student's width with its epochs, sparsity with clusters). constant_liar: workers on one
    # storage do not all draw the point the running trials are already trying.
    sampler = optuna.samplers.TPESampler(seed=sampler_seed, n_startup_trials=max(4, min(10, trials // 4)),
                                         multivariate=True, group=True, constant_liar=True)
    # one objective: Optuna's ThresholdPruner on the validation accuracy reported after the Keras passes;
    # several objectives (Optuna has no pruning there): the same threshold, checked in the trial itself
    pruner = (optuna.pruners.ThresholdPruner(lower=prune_below) if prune_below is not None and len(objectives) == 1
              else optuna.pruners.NopPruner())
    study = optuna.create_study(storage=storage, study_name=name, directions=directions, sampler=sampler,
                                pruner=pruner, load_if_exists=True)
    if [d.name.lower() for d in study.directions] != directions:
        raise EdgekitError(f"study {name!r} exists with other objectives", "use another --study name")
    if n_before == 0 and len(families) > 1:
        # every family gets one of the first (random) trials, its other parameters drawn as usual: a family
        # that random startup happened to miss, or drew only in its worst corner, TPE never returns to
        # (2026-12-07: 5 of 40 trials drew the student family, all pruned ones; no plain student was tried)
        for fam in families:
            study.enqueue_trial({"family": fam}, user_attrs={"startup": "one trial per family"}, skip_if_exists=True)
    return study


def check_terms(study_or_storage: Any, terms: dict[str, Any], name: str | None = None) -> None:
    """What a study was made with — the budget, the measuring device, a digest of its inputs (space, seed,
    model, data) — stays its own: a run that asks for others (``--study NAME`` again with other inputs,
    a worker with another device profile) would put values of another meaning on its front. Given a
    storage and ``name``: checked before any training, against the study if it exists; given the study:
    checked, and the terms it lacks (a study from before a term was kept) recorded."""
    import optuna

    if name is not None:
        found = [s for s in optuna.get_all_study_summaries(study_or_storage) if s.study_name == name]
        old = found[0].user_attrs.get("terms") if found else None
        study = None
    else:
        study = study_or_storage
        old = study.user_attrs.get("terms")
        name = study.study_name
    old = old or {}
    diff = [k for k in terms if k in old and old[k] != terms[k]]
    if diff:
        k = diff[0]
        raise EdgekitError(f"study {name!r} was made with {k} {_term(old[k])}; this run asks for {_term(terms[k])}",
                           "use the study's own budget, device and inputs, or another --study / --out")
    if study is not None and any(k not in old for k in terms):
        study.set_user_attr("terms", {**old, **terms})


def _term(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items() if v is not None) or "none"
    return str(value) if value is not None else "none"


class Sampling:
    """The sampler of the next draw. TPE proposes a point already tried once it has settled on it (a family
    of few points, ties in the objective) and, told nothing new, proposes it again. After a duplicate the
    next draw stays in the family TPE chose, its other parameters random; after FAMILY_TRIES such draws
    in a row that were all tried, the family too is random; after a new point, TPE again. The space
    counts as exhausted after RANDOM_TRIES fully random draws in a row that were all tried (2026-12-07: a
    latency search stopped after 11 of 40 trials, TPE having proposed one quantised chain 25 times in a
    row; with fully random draws after a duplicate, TPE's next proposals in the student family were
    duplicates again and the random ones went mostly to other families)."""

    def __init__(self, study: Any, seed: int) -> None:
        import optuna

        self.study = study
        self.guided = study.sampler
        self.random = optuna.samplers.RandomSampler(seed=seed)
        self.family_random = optuna.samplers.RandomSampler(seed=seed + 1)
        self.family: str | None = None
        self.in_family = 0   # draws in a row within TPE's family that were duplicates
        self.misses = 0      # fully random draws in a row that were duplicates

    def record(self, duplicate: bool, family: str | None = None) -> bool:
        """After a draw (``family``: the one it drew): False once the space looks exhausted."""
        import optuna

        if not duplicate:
            self.in_family = self.misses = 0
            self.study.sampler = self.guided
            return True
        if self.study.sampler is self.guided:
            self.family = family
        elif self.study.sampler is self.random:
            self.misses += 1
        else:
            self.in_family += 1
        if self.family is not None and self.in_family < FAMILY_TRIES:
            with warnings.catch_warnings():   # experimental since Optuna 2.4, unchanged since
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self.study.sampler = optuna.samplers.PartialFixedSampler({"family": self.family}, self.family_random)
        else:
            self.study.sampler = self.random
        return self.misses < RANDOM_TRIES


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_killed(study: Any) -> list[int]:
    """Fail the running trials of dead workers on this host and re-queue their parameters."""
    import optuna
    from optuna.trial import TrialState

    host = worker_id().rpartition(":")[0]   # this host and process namespace: where a pid can be checked
    failed = []
    retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = str(t.user_attrs.get("worker", ""))
        whost, _, pid = worker.rpartition(":")
        if whost == host and pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            try:
                study._storage.set_trial_user_attr(t._trial_id, "error", f"worker {worker} was killed during the trial")
                study._storage.set_trial_user_attr(t._trial_id, KILLED, True)
                study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
            except Exception:   # another worker got there first
                continue
            # the retry copies the trial's user attributes into the queued one: all but the kill, which the
            # re-run would otherwise carry into search.json and the report when it completes
            dead = copy.copy(study._storage.get_trial(t._trial_id))
            dead.user_attrs = {k: v for k, v in dead.user_attrs.items() if k not in ("error", KILLED)}
            retry(study, dead)
            failed.append(t.number)
    return failed


def counted(t: Any) -> bool:
    """A finished trial that counts towards --trials."""
    from optuna.trial import TrialState

    if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    # a trial failed for its killed worker is queued again and not counted; one that failed on its own
    # (a chain that breaks, a variant over the device's memory cap: "out of memory: killed by ...") counts
    killed = t.user_attrs.get(KILLED) or "was killed during the trial" in str(t.user_attrs.get("error", ""))
    return t.state == TrialState.FAIL and "error" in t.user_attrs and not killed


def finished(study: Any) -> int:
    return sum(1 for t in study.get_trials(deepcopy=False) if counted(t))


def surplus(study: Any, number: int, target: int) -> bool:
    """True when trials numbered below ``number`` (finished or still running) already make ``target``."""
    from optuna.trial import TrialState

    ahead = 0
    for t in study.get_trials(deepcopy=False):
        if t.number >= number:
            continue
        if counted(t) or (t.state == TrialState.RUNNING and not t.user_attrs.get("surplus")):
            ahead += 1
    return ahead >= target


def duplicate_of(study: Any, number: int, key: str) -> int | None:
    """An earlier trial of the same chain: finished (a counted failure too: a chain that broke breaks
    again) or running."""
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False):
        if t.number == number or t.user_attrs.get("chain_key") != key:
            continue
        if t.state == TrialState.RUNNING or counted(t):
            return t.number
    return None


def front(trials: Iterable[Any], objectives: list[str]) -> list[Any]:
    """The feasible completed trials no other feasible one dominates (ties: the earlier trial), by trial number."""
    from optuna.trial import TrialState

    pool = [t for t in trials if t.state == TrialState.COMPLETE and t.user_attrs.get("feasible")]
    sign = [1 if DIRECTIONS[o] == "minimize" else -1 for o in objectives]
    vals = {t.number: [s * v for s, v in zip(sign, t.values)] for t in pool}

    def dominates(a: list[float], b: list[float]) -> bool:
        return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))

    out = []
    for t in pool:
        v = vals[t.number]
        if any(dominates(vals[o.number], v) or (vals[o.number] == v and o.number < t.number) for o in pool if o is not t):
            continue
        out.append(t)
    return sorted(out, key=lambda t: t.number)


def best_so_far(trials: Iterable[Any], objective: str) -> list[tuple[int, float | None]]:
    """(trial number, best feasible value of ``objective`` up to it) for every counted trial."""
    sign = 1 if DIRECTIONS[objective] == "minimize" else -1
    best: float | None = None
    out = []
    for t in sorted(trials, key=lambda t: t.number):
        if not counted(t):
            continue
        m = (t.user_attrs.get("metrics") or {}).get(objective)
        if t.user_attrs.get("feasible") and m is not None and (best is None or sign * m < sign * best):
            best = m
        out.append((t.number, best))
    return out

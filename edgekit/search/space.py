"""Search spaces: TOML files declaring technique families and the ranges of their parameters.

::

    [settings]                      # optional
    validation = 0.1                # share of the training data held out to score trials
    accuracy_margin = 0.003         # held back from --max-accuracy-drop on that split (0.3 pt)
    teacher_epochs = 15             # built-in default model only

    [[family]]
    name = "pruned"
    chain = [
      { pass = ["prune", "prune-2:4"], sparsity = [0.5, 0.95], epochs = 2 },
      { pass = "cluster", optional = true, clusters = { low = 4, high = 64, log = true }, epochs = 0 },
      { pass = ["ptq-int8", "qat"], calibration = { choices = [64, 256, 1024] } },
    ]

A step's ``pass`` is one pass or a list to choose from; ``optional = true`` lets a trial leave the
step out. A parameter is a fixed value, a range ``[low, high]`` (integers if both ends are, else
numbers) or ``{ low, high, log, step }``, or ``{ choices = [...] }``; it applies to every chosen pass
that takes it. A trial picks a family, then each step's pass and parameters (names like
``pruned.0.sparsity`` in the study).

Everything is checked here, before any training: unknown passes and parameters, values outside a
pass's legal range at either end of a range, and every chain the space allows (each combination of
pass choices, optional steps and categorical values) against the recipe rules — a space that allows
an illegal chain is refused, naming the family and the chain.
"""

from __future__ import annotations

import itertools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError
from edgekit.optimize.recipe import NAME_RE, RecipeError, VariantSpec, read_toml_file
from edgekit.optimize.recipe import parse as parse_recipe
from edgekit.passes import PASSES, lookup

SETTINGS = {"validation": float, "accuracy_margin": float, "teacher_epochs": int, "student_epochs": int, "seed": int}
# The validation winner's curse: over every completed trial of the two benchmark studies of 2026-12-07
# (docs/search.md), test drop − validation drop was +0.14 ± 0.21 pt and +0.18 ± 0.27 pt, and both
# winners, chosen at the budget's edge, lost 0.33 and 0.63 pt more on test. A trial must therefore
# meet the accuracy budget less this margin on the validation split (at most half the budget).
DEFAULT_MARGIN = 0.003
MAX_COMBINATIONS = 20000   # chains checked per family (structures x categorical values)


class SpaceError(EdgekitError):
    pass


@dataclass(frozen=True)
class Dim:
    """One searched (or fixed) parameter value."""

    kind: str                  # "fixed" | "int" | "float" | "choice"
    value: Any = None          # fixed
    low: Any = None
    high: Any = None
    log: bool = False
    step: Any = None
    choices: tuple = ()

    def extremes(self) -> list[Any]:
        if self.kind == "fixed":
            return [self.value]
        if self.kind == "choice":
            return list(self.choices)
        return [self.low, self.high]

    def suggest(self, trial: Any, name: str) -> Any:
        if self.kind == "fixed":
            return self.value
        if self.kind == "choice":
            return trial.suggest_categorical(name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(name, self.low, self.high, log=self.log, step=self.step or 1)
        # the chain gets 4 significant digits (readable names and recipes); the study keeps the raw value
        return float(f"{trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step):.4g}")

    def describe(self) -> str:
        if self.kind == "fixed":
            return repr(self.value)
        if self.kind == "choice":
            return "{" + ", ".join(map(str, self.choices)) + "}"
        return f"{self.low}..{self.high}" + (" (log)" if self.log else "")


@dataclass
class StepSpace:
    passes: tuple[str, ...]
    optional: bool
    params: dict[str, Dim]

    def options(self) -> list[str | None]:
        return [*self.passes, *([None] if self.optional else [])]


@dataclass
class Family:
    name: str
    steps: list[StepSpace]


@dataclass
class Space:
    path: str
    families: list[Family]
    settings: dict[str, Any] = field(default_factory=dict)
    text: str = ""

    @property
    def validation(self) -> float:
        return float(self.settings.get("validation", 0.1))

    @property
    def accuracy_margin(self) -> float:
        return float(self.settings.get("accuracy_margin", DEFAULT_MARGIN))

    def family(self, name: str) -> Family:
        return next(f for f in self.families if f.name == name)

    def sample(self, trial: Any) -> tuple[str, list[dict[str, Any]]]:
        """(family name, chain as recipe tables) for an Optuna trial (define-by-run)."""
        names = [f.name for f in self.families]
        fam = self.family(trial.suggest_categorical("family", names) if len(names) > 1 else names[0])
        chain: list[dict[str, Any]] = []
        for i, step in enumerate(fam.steps):
            options = step.options()
            if len(options) > 1:
                picked = trial.suggest_categorical(f"{fam.name}.{i}.pass", ["none" if o is None else o for o in options])
                name = None if picked == "none" else picked
            else:
                name = options[0]
            if name is None:
                continue
            params = {k: d.suggest(trial, f"{fam.name}.{i}.{k}") for k, d in step.params.items() if k in PASSES[name].params}
            chain.append({"pass": name, **params})
        return fam.name, chain

    def describe(self) -> list[str]:
        lines = []
        for f in self.families:
            steps = []
            for s in f.steps:
                head = "|".join(s.passes) + ("?" if s.optional else "")
                args = ", ".join(f"{k}={d.describe()}" for k, d in s.params.items())
                steps.append(f"{head}({args})" if args else head)
            lines.append(f"{f.name}: {' → '.join(steps) or 'float32'}")
        return lines


def variant_spec(name: str, chain: list[dict[str, Any]], where: str = "search space",
                 settings: dict[str, Any] | None = None) -> VariantSpec:
    """A chain (recipe tables) as a validated VariantSpec, through the recipe parser itself; the space's
    ``student_epochs`` setting is the epochs of a distill step that gives none, as in a recipe."""
    return parse_recipe(recipe_text(name, chain, settings), where).variants[0]


CHAIN_SETTINGS = ("student_epochs",)   # space settings that shape a chain: the recipe's own setting of that name


def recipe_text(name: str, chain: list[dict[str, Any]], settings: dict[str, Any] | None = None) -> str:
    """A one-variant recipe (TOML) for ``chain``: what a trial's chain would be as a hand-written recipe."""
    given = {k: v for k, v in (settings or {}).items() if k in CHAIN_SETTINGS}
    head = "".join(["[settings]\n", *(f"{k} = {_toml(v)}\n" for k, v in given.items()), "\n"]) if given else ""
    items = ", ".join("{ " + ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in step.items()) + " }" for step in chain)
    return f'{head}[[variant]]\nname = {_toml(name)}\nchain = [{items}]\n'


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))


# --------------------------------------------------------------------------- parsing + validation

def _dim(raw: Any, ctx: str) -> Dim:
    if isinstance(raw, list):
        if len(raw) != 2 or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in raw):
            raise SpaceError(f"{ctx}: a list must be a range [low, high] of two numbers, not {raw!r}",
                             "write choices as { choices = [...] }")
        raw = {"low": raw[0], "high": raw[1]}
    if not isinstance(raw, dict):
        return Dim("fixed", value=raw)
    extra = set(raw) - {"low", "high", "log", "step", "choices"}
    if extra:
        raise SpaceError(f"{ctx}: unknown key {sorted(extra)[0]!r}", "a range has low, high, log, step; a choice has choices")
    if "choices" in raw:
        ch = raw["choices"]
        if set(raw) != {"choices"} or not isinstance(ch, list) or not ch:
            raise SpaceError(f"{ctx}: choices must be a non-empty list (and nothing else in the table)")
        if len(set(map(json.dumps, ch))) != len(ch):
            raise SpaceError(f"{ctx}: choices list a value twice")
        return Dim("choice", choices=tuple(ch))
    lo, hi = raw.get("low"), raw.get("high")
    nums = [x for x in (lo, hi) if isinstance(x, (int, float)) and not isinstance(x, bool)]
    if len(nums) != 2:
        raise SpaceError(f"{ctx}: a range needs numeric low and high, got {raw!r}")
    if lo > hi:
        raise SpaceError(f"{ctx}: empty range — low {lo} is above high {hi}")
    log = raw.get("log", False)
    if not isinstance(log, bool) or (log and lo <= 0):
        raise SpaceError(f"{ctx}: log must be true/false and a log range needs low > 0")
    kind = "int" if isinstance(lo, int) and isinstance(hi, int) else "float"
    step = raw.get("step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0 or (log and step)):
        raise SpaceError(f"{ctx}: step must be a positive number (and not combined with log)")
    return Dim(kind, low=lo, high=hi, log=log, step=step)


def _step(raw: Any, ctx: str) -> StepSpace:
    if isinstance(raw, str):
        raw = {"pass": raw}
    if not isinstance(raw, dict):
        raise SpaceError(f"{ctx}: a step is a table like {{ pass = \"prune\", sparsity = [0.5, 0.95] }}")
    raw = dict(raw)
    names = raw.pop("pass", None)
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise SpaceError(f"{ctx}: 'pass' must name a pass or list the passes to choose from")
    passes = []
    for n in names:
        spec = lookup(n)
        if spec is None:
            raise SpaceError(f"{ctx}: unknown pass {n!r}", f"known passes: {', '.join(PASSES)}")
        if spec.name in passes:
            raise SpaceError(f"{ctx}: pass {n!r} listed twice")
        passes.append(spec.name)
    optional = raw.pop("optional", False)
    if not isinstance(optional, bool):
        raise SpaceError(f"{ctx}: optional must be true or false")
    params: dict[str, Dim] = {}
    for key, value in raw.items():
        pctx = f"{ctx}, parameter {key!r}"
        takers = [p for p in passes if key in PASSES[p].params]
        if not takers:
            raise SpaceError(f"{ctx}: unknown parameter {key!r}",
                             f"{'/'.join(passes)} take{'s' if len(passes) == 1 else ''} "
                             f"{', '.join(sorted({k for p in passes for k in PASSES[p].params})) or 'no parameters'}")
        dim = _dim(value, pctx)
        for p in takers:
            spec = PASSES[p].params[key]
            if dim.kind == "float" and spec.type is int:
                raise SpaceError(f"{pctx}: {p} takes an integer; give an integer range")
            for v in dim.extremes():
                problem = spec.validate(v)
                if problem:
                    raise SpaceError(f"{pctx}: {p}: {problem}")
        params[key] = dim
    return StepSpace(tuple(passes), optional, params)


def _check_chains(fam: Family, where: str, settings: dict[str, Any]) -> None:
    """Every chain the family allows must be a legal recipe chain."""
    structures = list(itertools.product(*[s.options() for s in fam.steps]))
    total = 0
    for combo in structures:
        cats: list[tuple[int, str, Dim]] = [(i, k, d) for i, (s, name) in enumerate(zip(fam.steps, combo)) if name
                                            for k, d in s.params.items() if k in PASSES[name].params]
        value_sets = [d.choices if d.kind == "choice" else (d.extremes()[0],) for _, _, d in cats]
        for values in itertools.product(*value_sets):
            total += 1
            if total > MAX_COMBINATIONS:
                raise SpaceError(f"{where}: family {fam.name!r} allows more than {MAX_COMBINATIONS} chain shapes",
                                 "split it into several families or use ranges instead of long choice lists")
            chosen = dict(zip([(i, k) for i, k, _ in cats], values))
            chain = [{"pass": name, **{k: v for (i2, k), v in chosen.items() if i2 == i}}
                     for i, name in enumerate(combo) if name]
            try:
                variant_spec(fam.name, chain, where, settings)
            except RecipeError as exc:
                shown = " → ".join(c["pass"] for c in chain) or "float32"
                raise SpaceError(f"{where}: family {fam.name!r} allows an illegal chain {shown} "
                                 f"({exc.message.split(': ', 2)[-1]})",
                                 "make the step optional only where every order is legal, or split the family")


def parse(text: str, path: str = "<space>") -> Space:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpaceError(f"search space {path} is not valid TOML: {exc}", "fix the syntax")
    unknown = set(doc) - {"family", "settings"}
    if unknown:
        raise SpaceError(f"search space {path}: unknown section {sorted(unknown)[0]!r}", "use [settings] and [[family]] tables")
    settings = doc.get("settings", {})
    for key, value in settings.items():
        if key == "checks":   # numerical-fault thresholds, as in a recipe (docs/checks.md)
            from edgekit.checks import thresholds

            thresholds(value, f"search space {path}: [settings.checks]", SpaceError)
            continue
        kind = SETTINGS.get(key)
        if kind is None:
            raise SpaceError(f"search space {path}: unknown setting {key!r}", f"known settings: {', '.join(SETTINGS)}, checks")
        ok = isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool) and value >= 0
        if not ok or (key == "validation" and not 0 < value < 0.9) or (key == "student_epochs" and value < 1) \
                or (key == "accuracy_margin" and not value < 0.1):
            raise SpaceError(f"search space {path}: setting {key!r} = {value!r} is out of range",
                             "validation is a share between 0 and 0.9, accuracy_margin between 0 and 0.1 (absolute: "
                             "0.003 = 0.3 pt), student_epochs at least 1; the others are non-negative integers")
    entries = doc.get("family", [])
    if not isinstance(entries, list) or not entries:
        raise SpaceError(f"search space {path} is empty: it declares no [[family]]",
                         "add [[family]] tables with a name and a chain of steps (see docs/search.md)")
    families: list[Family] = []
    for entry in entries:
        name = entry.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name) or "." in name:
            raise SpaceError(f"search space {path}: family name {name!r} is missing or not a plain name",
                             "use letters, digits, '_', '+' and '-'")
        if any(f.name == name for f in families):
            raise SpaceError(f"search space {path}: family {name!r} is declared twice")
        extra = set(entry) - {"name", "chain"}
        if extra:
            raise SpaceError(f"search space {path}: family {name!r}: unknown key {sorted(extra)[0]!r}", "a family has name and chain")
        chain = entry.get("chain", [])
        if not isinstance(chain, list):
            raise SpaceError(f"search space {path}: family {name!r}: chain must be a list of steps")
        steps = [_step(s, f"search space {path}: family {name!r}, step {i + 1}") for i, s in enumerate(chain)]
        fam = Family(name, steps)
        _check_chains(fam, f"search space {path}", settings)
        families.append(fam)
    return Space(path, families, settings, text)


def load(path: str | Path | None) -> Space:
    """A search space file, or the built-in default space when ``path`` is None."""
    text, where = read_toml_file(path, "edgekit.search.spaces", "search space", "--space", SpaceError)
    return parse(text, "default space" if path is None else where)

"""Recipes: TOML files listing the variants to produce, each a chain of passes with parameters.

::

    [settings]                      # optional
    teacher_epochs = 15             # built-in default model only

    [settings.checks]               # optional: numerical-fault thresholds (edgekit.checks, docs/checks.md)
    min_agreement = 0.9             # also max_kl, max_class_share, min_output_std

    [[variant]]
    name = "prune80-int8"
    chain = ["prune(0.8)", "ptq-int8"]          # or "prune(sparsity=0.8) -> ptq-int8"
                                                # or [{pass = "prune", sparsity = 0.8}, "ptq-int8"]

Everything is checked here, before any training starts: unknown passes and parameters, illegal
values, illegal orders. Errors name the recipe line, the variant, the pass and the parameter.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError
from edgekit.passes import PASSES, lookup

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
SETTINGS = {"teacher_epochs": int, "student_epochs": int, "seed": int}
FAMILY = ("block", "width", "depth", "resolution")   # distill's built-in student family (edgekit.optimize.student)


@dataclass(frozen=True)
class Step:
    name: str
    params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"pass": self.name, "params": dict(self.params)}

    def label(self, every: bool = False) -> str:
        """``prune(0.8)``: the pass and its primary parameter; ``every``: the primary parameter and each
        one that is not the pass's default, by name (a search trial's sampled chain:
        ``distill(width=27, temperature=2.52)``, where the short label would say ``distill(2.52)``)."""
        spec = PASSES[self.name]
        if every:
            given = {k: v for k, v in self.params.items() if k == spec.primary or spec.params[k].default != v}
            args = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in given.items())
            return f"{self.name}({args})" if args else self.name
        if spec.primary and spec.primary in self.params:
            return f"{self.name}({self.params[spec.primary]})"
        return self.name


@dataclass
class VariantSpec:
    name: str
    chain: list[Step]
    line: int | None = None

    @property
    def keras_steps(self) -> list[Step]:
        return [s for s in self.chain if PASSES[s.name].kind == "keras"]

    @property
    def export(self) -> Step | None:
        last = self.chain[-1] if self.chain else None
        return last if last and PASSES[last.name].kind == "export" else None

    @property
    def base(self) -> str:
        return "student" if self.chain and self.chain[0].name == "distill" else "model"

    def chain_key(self) -> str:
        return json.dumps([s.to_dict() for s in self.chain], sort_keys=True)

    def describe(self, every: bool = False) -> str:
        return " → ".join(s.label(every) for s in self.chain) or "float32"


@dataclass
class Recipe:
    path: str
    variants: list[VariantSpec]
    settings: dict[str, Any] = field(default_factory=dict)

    def baseline(self) -> VariantSpec | None:
        """The float32 baseline (the one rule: :func:`edgekit.variant.choose_baseline`, in recipe order)."""
        from edgekit.variant import choose_baseline

        name = choose_baseline((v.name, v.chain) for v in self.variants)
        return next((v for v in self.variants if v.name == name), None)


class RecipeError(EdgekitError):
    pass


def _line_of(text: str, name: str) -> int | None:
    pat = re.compile(r'^\s*name\s*=\s*["\']' + re.escape(name) + r'["\']', re.M)
    m = pat.search(text)
    return text.count("\n", 0, m.start()) + 1 if m else None


def _where(path: str, line: int | None) -> str:
    return f"{path}:{line}" if line else path


def _parse_value(raw: str) -> Any:
    raw = raw.strip()
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw.strip("'\"")


def _parse_step_text(text: str) -> tuple[str, list[Any], dict[str, Any]]:
    m = re.fullmatch(r"\s*([A-Za-z0-9:_+-]+)\s*(?:\((.*)\))?\s*", text)
    if not m:
        raise ValueError(f"cannot read pass {text!r} (expected name or name(args))")
    name, args = m.group(1), m.group(2)
    positional: list[Any] = []
    named: dict[str, Any] = {}
    if args and args.strip():
        for part in args.split(","):
            if "=" in part:
                k, v = part.split("=", 1)
                named[k.strip()] = _parse_value(v)
            else:
                positional.append(_parse_value(part))
    return name, positional, named


def _raw_steps(chain: Any) -> list[tuple[str, list[Any], dict[str, Any]]]:
    if isinstance(chain, str):
        parts = [p for p in re.split(r"\s*(?:->|→|>>)\s*", chain.strip()) if p]
        return [_parse_step_text(p) for p in parts]
    if not isinstance(chain, list):
        raise ValueError("chain must be a list of passes or a string like 'prune(0.8) -> ptq-int8'")
    out = []
    for item in chain:
        if isinstance(item, str):
            out.append(_parse_step_text(item))
        elif isinstance(item, dict):
            item = dict(item)
            name = item.pop("pass", None)
            if not isinstance(name, str):
                raise ValueError(f"chain entry {item!r} has no 'pass' name")
            out.append((name, [], item))
        else:
            raise ValueError(f"chain entry {item!r} is neither a pass name nor a table")
    return out


def parse(text: str, path: str = "<recipe>") -> Recipe:
    """Parse and validate a recipe; raises RecipeError naming line, variant, pass and parameter."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"recipe {path} is not valid TOML: {exc}", "fix the syntax")
    unknown_top = set(doc) - {"variant", "settings"}
    if unknown_top:
        raise RecipeError(f"recipe {path}: unknown section {sorted(unknown_top)[0]!r}", "use [settings] and [[variant]] entries")
    settings = doc.get("settings", {})
    for key, value in settings.items():
        if key == "checks":
            from edgekit.checks import thresholds

            thresholds(value, f"recipe {path}: [settings.checks]", RecipeError)
            continue
        if key not in SETTINGS:
            raise RecipeError(f"recipe {path}: unknown setting {key!r}", f"known settings: {', '.join(SETTINGS)}, checks")
        if not isinstance(value, SETTINGS[key]) or isinstance(value, bool) or value < 0:
            raise RecipeError(f"recipe {path}: setting {key!r} must be a non-negative integer, not {value!r}")
        if key == "student_epochs" and value < 1:
            raise RecipeError(f"recipe {path}: setting 'student_epochs' must be at least 1, not {value!r}",
                              "a distilled student needs at least one epoch")
    entries = doc.get("variant", [])
    if not isinstance(entries, list) or not entries:
        raise RecipeError(f"recipe {path} lists no variants", "add [[variant]] tables with name and chain")
    defaults = _setting_defaults(settings)
    variants: list[VariantSpec] = []
    seen: set[str] = set()
    for entry in entries:
        name = entry.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise RecipeError(f"recipe {path}: variant name {name!r} is missing or not a safe folder name",
                              "use letters, digits, '.', '_', '+' and '-'")
        line = _line_of(text, name)
        where = _where(path, line)
        if name in seen:
            raise RecipeError(f"{where}: variant {name!r} is listed twice", "give every variant its own name")
        seen.add(name)
        extra = set(entry) - {"name", "chain"}
        if extra:
            raise RecipeError(f"{where}: variant {name!r}: unknown key {sorted(extra)[0]!r}", "a variant has only name and chain")
        try:
            raw = _raw_steps(entry.get("chain", []))
        except ValueError as exc:
            raise RecipeError(f"{where}: variant {name!r}: {exc}")
        variants.append(VariantSpec(name, _validate_chain(raw, name, where, defaults), line))
    return Recipe(path, variants, settings)


def _setting_defaults(settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Pass parameters a recipe's [settings] set for every step that does not give them itself."""
    if "student_epochs" in settings:
        return {"distill": {"epochs": settings["student_epochs"]}}
    return {}


def _validate_chain(raw, variant: str, where: str, defaults: dict[str, dict[str, Any]] | None = None) -> list[Step]:
    steps: list[Step] = []
    for idx, (pname, positional, named) in enumerate(raw):
        spec = lookup(pname)
        ctx = f"{where}: variant {variant!r}, pass {pname!r}"
        if spec is None:
            raise RecipeError(f"{ctx}: unknown pass", f"known passes: {', '.join(PASSES)}")
        if len(positional) > 1 or (positional and not spec.primary):
            raise RecipeError(f"{ctx}: too many positional values", "name them, e.g. prune(sparsity=0.8, epochs=2)")
        if positional:
            if spec.primary in named:
                raise RecipeError(f"{ctx}: parameter {spec.primary!r} given twice")
            named = {spec.primary: positional[0], **named}
        params: dict[str, Any] = {}
        for key, value in named.items():
            if key not in spec.params:
                raise RecipeError(f"{ctx}: unknown parameter {key!r}",
                                  f"{spec.name} takes {', '.join(spec.params) or 'no parameters'}")
            problem = spec.params[key].validate(value)
            if problem:
                raise RecipeError(f"{ctx}, parameter {key!r}: {problem}")
            params[key] = float(value) if spec.params[key].type is float else value
        family = [k for k in FAMILY if k in named]
        if spec.name == "distill" and params.get("student", "default") != "default" and family:
            raise RecipeError(f"{ctx}, parameter {family[0]!r}: it shapes the built-in student, not a student "
                              f"from a file ({params['student']})", f"drop {family[0]} or student")
        for key, p in spec.params.items():
            default = (defaults or {}).get(spec.name, {}).get(key, p.default)
            if key not in params and default is not None:
                params[key] = default
        steps.append(Step(spec.name, params))
    _check_order(steps, variant, where)
    return _resolve_auto(steps)


def _check_order(steps: list[Step], variant: str, where: str) -> None:
    names = [s.name for s in steps]
    for i, step in enumerate(steps):
        ctx = f"{where}: variant {variant!r}, pass {step.name!r}"
        spec = PASSES[step.name]
        if spec.kind == "export" and i != len(steps) - 1:
            raise RecipeError(f"{ctx}: illegal order — {step.name} produces the .tflite and must be the last pass",
                              f"move it to the end of the chain (after {names[-1]})")
        if step.name == "distill" and i != 0:
            raise RecipeError(f"{ctx}: illegal order — distill replaces the model with a student and must come first")
        if step.name in ("prune", "prune-2:4") and "cluster" in names[:i]:
            raise RecipeError(f"{ctx}: illegal order — pruning after clustering destroys the clusters",
                              "prune first, then cluster (sparsity-preserving clustering keeps the zeros)")
        if step.name in names[:i] or (step.name.startswith("prune") and any(n.startswith("prune") for n in names[:i])):
            raise RecipeError(f"{ctx}: illegal order — the chain already has a {step.name.split('-')[0]} pass")
    for step in steps:
        ctx = f"{where}: variant {variant!r}, pass {step.name!r}"
        pruned = any(n.startswith("prune") for n in names)
        if step.name == "cluster" and step.params.get("preserve_sparsity") == "yes" and not pruned:
            raise RecipeError(f"{ctx}, parameter 'preserve_sparsity': 'yes' needs a prune pass before cluster")
        if step.name == "qat":
            pre = step.params.get("preserve")
            if pre in ("sparsity", "sparsity+clusters") and not pruned:
                raise RecipeError(f"{ctx}, parameter 'preserve': {pre!r} needs a prune pass before qat")
            if pre in ("clusters", "sparsity+clusters") and "cluster" not in names:
                raise RecipeError(f"{ctx}, parameter 'preserve': {pre!r} needs a cluster pass before qat")


def _resolve_auto(steps: list[Step]) -> list[Step]:
    """Turn 'auto' into the collaborative scheme the earlier passes call for."""
    out: list[Step] = []
    for step in steps:
        prior = [s.name for s in out]
        pruned = any(n.startswith("prune") for n in prior)
        params = dict(step.params)
        if step.name == "cluster" and params.get("preserve_sparsity") == "auto":
            params["preserve_sparsity"] = "yes" if pruned else "no"
        if step.name == "qat" and params.get("preserve") == "auto":
            clustered = "cluster" in prior
            params["preserve"] = ("sparsity+clusters" if pruned and clustered else "sparsity" if pruned
                                  else "clusters" if clustered else "none")
        out.append(Step(step.name, params))
    return out


def read_toml_file(path: str | Path | None, package: str, what: str, option: str,
                   error: type[EdgekitError]) -> tuple[str, str]:
    """(text, where) of a user's TOML file, or of ``package``'s default.toml when ``path`` is None.

    A missing or unreadable file is ``error`` in one line (``what`` names the kind of file, ``option``
    the flag that gives it). Recipes and search spaces are read this way.
    """
    if path is None:
        return resources.files(package).joinpath("default.toml").read_text(), f"default {what}"
    path = Path(path)
    try:
        return path.read_text(), str(path)
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist", f"give a TOML file or omit {option} for the default")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {what} {path}: {exc}")


def load(path: str | Path | None) -> Recipe:
    """Load a recipe file, or the built-in default recipe when ``path`` is None."""
    return parse(*read_toml_file(path, "edgekit.optimize.recipes", "recipe", "--recipe", RecipeError))

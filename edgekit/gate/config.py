"""Budgets: read and validate ``[tool.edgekit.budgets]`` (pyproject.toml), ``[budgets]`` (edgekit.toml)
or a dict of the same shape.

Shape (documented in docs/report-gate.md, "Gate")::

    [tool.edgekit.budgets]          # in edgekit.toml: [budgets]
    # defaults for every rule (optional; a rule may override each)
    size = "gzip"                   # raw | gzip            (default raw)
    accuracy = "host"               # host | device         (default host)
    percentile = "p90"              # p50 | p90 | p99 | mean (default p50)
    device = "lowend-armv7"         # device profile, serial or model (default: the only one measured)
    threads = 1                     # (default: the fewest threads measured)
    missing = "fail"                # fail | skip — a check whose metric is missing (default fail)
    allow_suspect = false           # true: judge suspect variants (docs/checks.md) like the others (default false)
    float_baseline = "float32"      # the float baseline variant (default: eval.json baseline / empty chain)

    [[tool.edgekit.budgets.rule]]   # in edgekit.toml: [[budgets.rule]]
    variants = "int8*"              # a name or glob, or a list of them; each must match a variant
    max_size = "300 kB"             # any limit of the metric registry (edgekit.metrics.LIMIT_KEYS):
    max_latency = "20 ms"           #   max_size, max_gzip_size, min_accuracy, max_accuracy_drop,
    min_accuracy = 0.85             #   max_latency, max_memory, max_instructions, max_estimated_latency

Every problem is an :class:`EdgekitError` (exit 2) naming where it is — ``FILE:LINE`` for a file,
``budgets.rule[1].max_size`` for a dict: an unknown key, a bad unit or value, a rule without
``variants`` or without any limit, a pattern matching no variant.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from edgekit.errors import EdgekitError
from edgekit.gate.locate import DictLocator, FileLocator, Locator
from edgekit.metrics import LIMIT_KEYS as METRIC_LIMITS, ACCURACIES, PERCENTILES, SIZES, UnitError

SELECT_KEYS = ("size", "accuracy", "percentile", "device", "threads")
DEFAULT_KEYS = SELECT_KEYS + ("missing", "allow_suspect", "float_baseline")
CHOICES = {"size": SIZES, "accuracy": ACCURACIES, "percentile": PERCENTILES, "missing": ("fail", "skip")}


def limit_keys() -> tuple[str, ...]:
    """Budget keys: the limit key of every metric in the registry (max_size, min_accuracy ...)."""
    return tuple(METRIC_LIMITS)


def rule_keys() -> tuple[str, ...]:
    return ("variants",) + limit_keys() + SELECT_KEYS + ("missing", "allow_suspect")


@dataclass
class Rule:
    """One ``[[budgets.rule]]``: the variants it matches and its limits in base units.

    Fields:
        index       int   0-based position among the rules
        patterns    list  [str] variant names or globs
        limits      dict  {budget key: value in base units (bytes, fraction, ms, MiB, instructions)}
        limit_text  dict  {budget key: the value as written}
        select      dict  size, accuracy, percentile, device, threads (the defaults merged in)
        missing     str   "fail" | "skip": a check whose metric is missing
        allow_suspect bool  true: a suspect variant is judged on its values; false: its every check fails
        where       str   where the rule is: "edgekit.toml:12" or "budgets.rule[2]"
        key_where   dict  {key: where that key is}
    """

    index: int
    patterns: list[str]
    limits: dict[str, float]
    limit_text: dict[str, str]
    select: dict[str, Any]
    missing: str
    where: str
    key_where: dict[str, str] = field(default_factory=dict)
    allow_suspect: bool = False


@dataclass
class Budgets:
    """Validated budgets and where they came from.

    Fields:
        source          str       the budgets file, or "budgets" for a dict
        rules           list      [Rule] in the order written
        float_baseline  str|null  the float baseline variant of accuracy drops (default: the results' baseline)
        defaults        dict      the table's defaults (size, accuracy, percentile, device, threads, missing ...)
        path            Path|null the budgets file (null for a dict)
        locate          Locator   names places in the budgets (FILE:LINE or a dotted path)
    """

    source: str
    rules: list[Rule]
    float_baseline: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    locate: Locator | None = field(default=None, repr=False, compare=False)


# ----------------------------------------------------------------------------- finding and loading


def find_config(explicit: str | Path | None = None, cwd: Path | None = None) -> Path:
    if explicit is not None:
        p = Path(explicit)
        if not p.is_file():
            raise EdgekitError(f"config file {p} does not exist", "pass an edgekit.toml or a pyproject.toml with [tool.edgekit.budgets]")
        return p
    cwd = cwd or Path.cwd()
    if (cwd / "edgekit.toml").is_file():
        return cwd / "edgekit.toml"
    pp = cwd / "pyproject.toml"
    if pp.is_file():
        try:
            data = tomllib.loads(pp.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            data = {}
        if "budgets" in data.get("tool", {}).get("edgekit", {}):
            return pp
    raise EdgekitError("no budgets found: no edgekit.toml and no [tool.edgekit.budgets] in pyproject.toml here",
                       "write one (see docs/report-gate.md) or pass --config FILE")


def _budget_table(data: Mapping[str, Any]) -> tuple[Any, str] | None:
    tool = data.get("tool", {}).get("edgekit", {}) if isinstance(data.get("tool"), dict) else {}
    if isinstance(tool, dict) and "budgets" in tool:
        return tool["budgets"], "tool.edgekit.budgets"
    if "budgets" in data:
        return data["budgets"], "budgets"
    return None


def load_budgets(path: str | Path) -> Budgets:
    """Parse and validate the budgets in ``path`` (syntax and units; patterns are checked by :func:`match_rules`)."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgekitError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EdgekitError(f"{path}: invalid TOML: {exc}")
    found = _budget_table(data)
    if found is None:
        hint = "add [tool.edgekit.budgets] with [[tool.edgekit.budgets.rule]] entries" if path.name == "pyproject.toml" \
            else "add [budgets] with [[budgets.rule]] entries (see docs/report-gate.md)"
        raise EdgekitError(f"{path}: no budgets table", hint)
    table, section = found
    budgets = budgets_from_table(table, FileLocator(path, text, section), str(path))
    budgets.path = path
    return budgets


def budgets_from_dict(data: Mapping[str, Any]) -> Budgets:
    """Budgets from a dict shaped like the TOML table (``{"size": "gzip", "rule": [{"variants": "*", ...}]}``),
    or a whole document holding one (``{"budgets": {...}}``, ``{"tool": {"edgekit": {"budgets": {...}}}}``)."""
    if not isinstance(data, Mapping):
        raise EdgekitError(f"budgets must be a dict, not {type(data).__name__}", "pass a path, None or a dict like the [budgets] table")
    found = _budget_table(data) if "rule" not in data else None
    table = found[0] if found else data
    return budgets_from_table(table, DictLocator(), "budgets")


def budgets_from_table(table: Any, loc: Locator, source: str) -> Budgets:
    def err(where: str, msg: str, hint: str | None = None) -> EdgekitError:
        return EdgekitError(f"{where}: {msg}", hint)

    section, rule_table = loc.section, loc.rule_section
    if not isinstance(table, Mapping):
        raise err(loc.table(), f"{section} must be a table")
    defaults: dict[str, Any] = {}
    for key, value in table.items():
        if key == "rule":
            continue
        where = loc.default(key)
        if key not in DEFAULT_KEYS:
            if key in METRIC_LIMITS:
                raise err(where, f"limit {key!r} outside a rule", f"put it in a [[{rule_table}]] with variants = \"...\"")
            close = _close(key, DEFAULT_KEYS + ("rule",))
            raise err(where, f"unknown key {key!r} in [{section}]",
                      f"did you mean {close!r}?" if close else f"known keys: {', '.join(DEFAULT_KEYS)} and [[{rule_table}]]")
        defaults[key] = _check_select(key, value, where, err)
    rules_raw = table.get("rule", [])
    if isinstance(rules_raw, Mapping):
        rules_raw = [rules_raw]
    if not isinstance(rules_raw, list) or not rules_raw:
        raise err(loc.table(), f"no [[{rule_table}]] entries", f"add [[{rule_table}]] with variants = \"*\" and a limit such as max_size = \"300 kB\"")
    rules = [_rule(i, raw, loc, defaults, err) for i, raw in enumerate(rules_raw)]
    return Budgets(source, rules, float_baseline=defaults.get("float_baseline"), defaults=defaults, locate=loc)


def _rule(i: int, raw: Any, loc: Locator, defaults: dict[str, Any], err: Any) -> Rule:
    head = loc.rule(i)
    if not isinstance(raw, Mapping):
        raise err(head, f"rule {i + 1} must be a table")
    key_where = {str(k): loc.rule_key(i, str(k)) for k in raw}
    known = rule_keys()
    for k in raw:
        if k not in known:
            close = _close(str(k), known)
            raise err(key_where[k], f"unknown key {k!r} in rule {i + 1}", f"did you mean {close!r}?" if close else f"known keys: {', '.join(known)}")
    if "variants" not in raw:
        raise err(head, f"rule {i + 1} has no 'variants'", "add variants = \"*\" (a name or glob, or a list of them)")
    pats = raw["variants"]
    if isinstance(pats, str):
        pats = [pats]
    if not isinstance(pats, list) or not pats or not all(isinstance(p, str) and p for p in pats):
        raise err(key_where["variants"], f"rule {i + 1}: variants must be a name or glob, or a list of them")
    limits, limit_text = {}, {}
    for k, metric in METRIC_LIMITS.items():
        if k in raw:
            try:
                limits[k] = metric.parse(raw[k])
            except UnitError as exc:
                raise err(key_where[k], f"{k}: {exc}") from None
            limit_text[k] = str(raw[k])
    if not limits:
        raise err(head, f"rule {i + 1} ({', '.join(pats)}) sets no limit", f"add one of {', '.join(limit_keys())}")
    select = {k: defaults.get(k) for k in SELECT_KEYS}
    for k in SELECT_KEYS:
        if k in raw:
            select[k] = _check_select(k, raw[k], key_where[k], err)
    missing = _check_select("missing", raw["missing"], key_where["missing"], err) if "missing" in raw else defaults.get("missing", "fail")
    allow = _check_select("allow_suspect", raw["allow_suspect"], key_where["allow_suspect"], err) \
        if "allow_suspect" in raw else defaults.get("allow_suspect", False)
    return Rule(i, list(pats), limits, limit_text, select, missing, head, key_where, allow)


def _check_select(key: str, value: Any, where: str, err: Any) -> Any:
    if key in CHOICES:
        if value not in CHOICES[key]:
            raise err(where, f"{key} = {value!r}: choose {' or '.join(repr(c) for c in CHOICES[key])}")
        return value
    if key == "allow_suspect":
        if not isinstance(value, bool):
            raise err(where, f"allow_suspect = {value!r}: must be true or false")
        return value
    if key == "threads":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise err(where, f"threads = {value!r}: must be a whole number ≥ 1")
        return value
    if key in ("device", "float_baseline"):
        if not isinstance(value, str) or not value:
            raise err(where, f"{key} = {value!r}: must be a non-empty string")
    return value


def _close(key: str, known: tuple[str, ...]) -> str | None:
    import difflib

    m = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return m[0] if m else None


def match_rules(budgets: Budgets, names: list[str]) -> list[tuple[Rule, list[str]]]:
    """Each rule with the variant names it matches (sorted); a pattern matching nothing is an error."""
    out = []
    for rule in budgets.rules:
        matched: list[str] = []
        for pat in rule.patterns:
            hits = [n for n in names if fnmatch.fnmatchcase(n, pat)]
            if not hits:
                where = budgets.locate.rule_key(rule.index, "variants", needle=pat) if budgets.locate else rule.where
                shown = ", ".join(names[:8]) + (f", … ({len(names)} in all)" if len(names) > 8 else "")
                raise EdgekitError(f"{where}: pattern {pat!r} in rule {rule.index + 1} matches no variant", f"variants: {shown}")
            matched.extend(h for h in hits if h not in matched)
        out.append((rule, sorted(matched)))
    return out

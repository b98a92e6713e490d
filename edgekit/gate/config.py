"""Budgets: read and validate ``[tool.edgekit.budgets]`` (pyproject.toml) or ``[budgets]`` (edgekit.toml).

Shape (documented in docs/report-gate.md, "Gate")::

    [tool.edgekit.budgets]          # in edgekit.toml: [budgets]
    # defaults for every rule (optional; a rule may override each)
    size = "gzip"                   # raw | gzip            (default raw)
    accuracy = "host"               # host | device         (default host)
    percentile = "p90"              # p50 | p90 | p99 | mean (default p50)
    device = "lowend-armv7"         # device profile, serial or model (default: the only one measured)
    threads = 1                     # (default: the fewest threads measured)
    missing = "fail"                # fail | skip — a check whose metric is missing (default fail)
    float_baseline = "float32"      # the float baseline variant (default: eval.json baseline / empty chain)

    [[tool.edgekit.budgets.rule]]   # in edgekit.toml: [[budgets.rule]]
    variants = "int8*"              # a name or glob, or a list of them; each must match a variant
    max_size = "300 kB"             # units: B kB MB GB KiB MiB GiB (kB = 1000 B)
    max_latency = "20 ms"           # ms, s, us
    min_accuracy = 0.85             # or "85%"
    max_accuracy_drop = "1pp"       # vs the float baseline, absolute: 0.01 = "1%" = "1pp"
    max_memory = "64 MiB"
    max_instructions = "150M"       # guest instructions per invoke (counted runs), exact
    max_estimated_latency = "40 ms" # the cost-model estimate for the device profile's core

Every problem is an :class:`EdgekitError` (exit 2) naming the file and line: an unknown key, a bad
unit or value, a rule without ``variants`` or without any limit, a pattern matching no variant.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError
from edgekit.report import units
from edgekit.report.instructions import parse_instructions

SELECT_KEYS = ("size", "accuracy", "percentile", "device", "threads")
DEFAULT_KEYS = SELECT_KEYS + ("missing", "float_baseline")
LIMIT_KEYS = ("max_size", "max_latency", "min_accuracy", "max_accuracy_drop", "max_memory",
              "max_instructions", "max_estimated_latency")
RULE_KEYS = ("variants",) + LIMIT_KEYS + SELECT_KEYS + ("missing",)

PARSERS = {
    "max_size": lambda v: float(units.parse_size(v)),
    "max_latency": units.parse_latency_ms,
    "min_accuracy": units.parse_accuracy,
    "max_accuracy_drop": units.parse_accuracy_drop,
    "max_memory": units.parse_memory_mib,
    "max_instructions": parse_instructions,        # per invoke, counted runs (edgekit bench --metric instructions)
    "max_estimated_latency": units.parse_latency_ms,   # the device profile's cost-model estimate
}
CHOICES = {
    "size": ("raw", "gzip"),
    "accuracy": ("host", "device"),
    "percentile": ("p50", "p90", "p99", "mean"),
    "missing": ("fail", "skip"),
}


@dataclass
class Rule:
    index: int                      # 0-based position among the rules
    patterns: list[str]
    limits: dict[str, float]        # key -> value in base units (bytes, ms, fraction, MiB)
    limit_text: dict[str, str]      # key -> as written
    select: dict[str, Any]          # size, accuracy, percentile, device, threads (defaults merged)
    missing: str
    line: int                       # line of the rule header
    key_lines: dict[str, int] = field(default_factory=dict)


@dataclass
class Budgets:
    path: Path
    rules: list[Rule]
    float_baseline: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)

    def where(self, line: int) -> str:
        return f"{self.path}:{line}"


# ----------------------------------------------------------------------------- line lookup

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")


def _norm(header: str) -> str:
    return ".".join(p.strip().strip("\"'") for p in header.split("."))


class _Lines:
    """Find the line of a table, an array-of-tables entry, or a key inside one, by scanning text."""

    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.headers: list[tuple[int, str, bool]] = []  # (line no, name, is_array)
        for no, line in enumerate(self.lines, 1):
            m = _HEADER.match(line)
            if m:
                self.headers.append((no, _norm(m.group(2)), m.group(1) == "[["))

    def table(self, name: str, index: int | None = None) -> tuple[int, int]:
        """(header line, end line exclusive) of table ``name`` (``index``-th entry if an array)."""
        count = -1
        for k, (no, hname, is_arr) in enumerate(self.headers):
            if hname != name:
                continue
            count += 1
            if index is None or (is_arr and count == index):
                end = self.headers[k + 1][0] if k + 1 < len(self.headers) else len(self.lines) + 1
                return no, end
        return 0, 0

    def key(self, table: str, key: str, index: int | None = None, needle: str | None = None) -> int:
        start, end = self.table(table, index)
        if not start:
            return self._anywhere(key) or 1
        pat = re.compile(r"^\s*[\"']?" + re.escape(key) + r"[\"']?\s*=")
        for no in range(start + 1, end):
            if pat.match(self.lines[no - 1]):
                if needle is None:
                    return no
                for k in range(no, end):  # a value spread over several lines (lists)
                    if needle in self.lines[k - 1]:
                        return k
                return no
        return start

    def _anywhere(self, key: str) -> int:
        pat = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
        for no, line in enumerate(self.lines, 1):
            if pat.match(line):
                return no
        return 0


# ----------------------------------------------------------------------------- loading


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


def load_budgets(path: str | Path) -> Budgets:
    """Parse and validate the budgets in ``path`` (syntax and units; patterns are checked by :func:`match_rules`)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise EdgekitError(f"cannot read {path}: {exc.strerror}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EdgekitError(f"{path}: invalid TOML: {exc}")
    lines = _Lines(text)
    tool = data.get("tool", {}).get("edgekit", {}) if isinstance(data.get("tool"), dict) else {}
    if isinstance(tool, dict) and "budgets" in tool:
        table, section = tool["budgets"], "tool.edgekit.budgets"
    elif "budgets" in data:
        table, section = data["budgets"], "budgets"
    else:
        hint = "add [tool.edgekit.budgets] with [[tool.edgekit.budgets.rule]] entries" if path.name == "pyproject.toml" \
            else "add [budgets] with [[budgets.rule]] entries (see docs/report-gate.md)"
        raise EdgekitError(f"{path}: no budgets table", hint)
    if not isinstance(table, dict):
        raise EdgekitError(f"{path}:{lines.key(section.rsplit('.', 1)[0] if '.' in section else '', section.rsplit('.', 1)[-1])}: "
                           f"{section} must be a table")

    def err(line: int, msg: str, hint: str | None = None) -> EdgekitError:
        return EdgekitError(f"{path}:{line}: {msg}", hint)

    rule_table = f"{section}.rule"
    defaults: dict[str, Any] = {}
    for key, value in table.items():
        if key == "rule":
            continue
        line = lines.key(section, key)
        if key not in DEFAULT_KEYS:
            close = _close(key, DEFAULT_KEYS + ("rule",))
            if key in LIMIT_KEYS:
                raise err(line, f"limit {key!r} outside a rule", f"put it in a [[{rule_table}]] with variants = \"...\"")
            raise err(line, f"unknown key {key!r} in [{section}]", f"did you mean {close!r}?" if close else f"known keys: {', '.join(DEFAULT_KEYS)} and [[{rule_table}]]")
        defaults[key] = _check_select(key, value, line, err)
    rules_raw = table.get("rule", [])
    if isinstance(rules_raw, dict):
        rules_raw = [rules_raw]
    if not isinstance(rules_raw, list) or not rules_raw:
        raise err(lines.table(section)[0] or 1, f"no [[{rule_table}]] entries", f"add [[{rule_table}]] with variants = \"*\" and a limit such as max_size = \"300 kB\"")
    rules: list[Rule] = []
    for i, raw in enumerate(rules_raw):
        head = lines.table(rule_table, i)[0] or 1
        if not isinstance(raw, dict):
            raise err(head, f"rule {i + 1} must be a table")
        key_lines = {k: lines.key(rule_table, k, i) for k in raw}
        for k in raw:
            if k not in RULE_KEYS:
                close = _close(k, RULE_KEYS)
                raise err(key_lines[k], f"unknown key {k!r} in rule {i + 1}", f"did you mean {close!r}?" if close else f"known keys: {', '.join(RULE_KEYS)}")
        if "variants" not in raw:
            raise err(head, f"rule {i + 1} has no 'variants'", "add variants = \"*\" (a name or glob, or a list of them)")
        pats = raw["variants"]
        if isinstance(pats, str):
            pats = [pats]
        if not isinstance(pats, list) or not pats or not all(isinstance(p, str) and p for p in pats):
            raise err(key_lines["variants"], f"rule {i + 1}: variants must be a name or glob, or a list of them")
        limits, limit_text = {}, {}
        for k in LIMIT_KEYS:
            if k in raw:
                try:
                    limits[k] = PARSERS[k](raw[k])
                except units.UnitError as exc:
                    raise err(key_lines[k], f"{k}: {exc}") from None
                limit_text[k] = str(raw[k])
        if not limits:
            raise err(head, f"rule {i + 1} ({', '.join(pats)}) sets no limit", f"add one of {', '.join(LIMIT_KEYS)}")
        select = {k: defaults.get(k) for k in SELECT_KEYS}
        for k in SELECT_KEYS:
            if k in raw:
                select[k] = _check_select(k, raw[k], key_lines[k], err)
        missing = _check_select("missing", raw["missing"], key_lines["missing"], err) if "missing" in raw else defaults.get("missing", "fail")
        rules.append(Rule(i, pats, limits, limit_text, select, missing, head, key_lines))
    return Budgets(path, rules, float_baseline=defaults.get("float_baseline"), defaults=defaults)


def _check_select(key: str, value: Any, line: int, err: Any) -> Any:
    if key in CHOICES:
        if value not in CHOICES[key]:
            raise err(line, f"{key} = {value!r}: choose {' or '.join(repr(c) for c in CHOICES[key])}")
        return value
    if key == "threads":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise err(line, f"threads = {value!r}: must be a whole number ≥ 1")
        return value
    if key in ("device", "float_baseline"):
        if not isinstance(value, str) or not value:
            raise err(line, f"{key} = {value!r}: must be a non-empty string")
        return value
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
                line = _Lines(budgets.path.read_text()).key(_rule_table(budgets), "variants", rule.index, needle=pat)
                shown = ", ".join(names[:8]) + (f", … ({len(names)} in all)" if len(names) > 8 else "")
                raise EdgekitError(f"{budgets.path}:{line}: pattern {pat!r} in rule {rule.index + 1} matches no variant",
                                   f"variants: {shown}")
            matched.extend(h for h in hits if h not in matched)
        out.append((rule, sorted(matched)))
    return out


def _rule_table(budgets: Budgets) -> str:
    text = budgets.path.read_text()
    return "tool.edgekit.budgets.rule" if re.search(r"^\s*\[\[\s*tool\.edgekit\.budgets\.rule\s*\]\]", text, re.M) else "budgets.rule"
